"""The risk-tier rules: questionnaire answers and profile -> tier, with the reasons why.

One pure function, ``assess_tier``, holds every rule; the system page shows its reasons,
and ``tests/unit/test_tiering.py`` is the table of cases it must satisfy.  The EU AI Act
class and the OMB M-25-21 "high-impact" flag are derived from the same inputs.

Rules, strongest first (all matching reasons are kept, the highest tier wins):
- unacceptable: a prohibited practice (EU AI Act Art. 5).
- high: influences decisions about people in a sensitive area (Annex III), or acts fully
  automatically with legal or similarly significant effects on people.
- medium: generative AI talking to customers or the public; sensitive data touched; an
  agent that acts in other systems; fully automated with effects on customers or public.
- low: none of the above (internal aid, human review, no sensitive data).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from registry.enums import (
    SENSITIVE_DATA,
    Affected,
    Autonomy,
    DataCategory,
    DecisionDomain,
    Kind,
    ProhibitedPractice,
    Tier,
)

# The questionnaire: key -> question text.  Answers live in AISystem.risk_answers.
QUESTIONS = {
    "prohibited_practice": "Does the system perform any of these practices?",
    "decision_domains": "Does it influence decisions about people in any of these areas?",
    "legal_effect": "Can its output have legal or similarly significant effects on a person "
    "(a contract, a refund, a benefit, a job, a price)?",
}


@dataclass(frozen=True)
class RiskInputs:
    kind: Kind
    autonomy: Autonomy
    affects: frozenset[Affected]
    data_categories: frozenset[DataCategory]
    prohibited_practice: ProhibitedPractice = ProhibitedPractice.NONE
    decision_domains: frozenset[DecisionDomain] = frozenset()
    legal_effect: bool = False

    @classmethod
    def build(cls, *, kind, autonomy, affects, data_categories, risk_answers) -> RiskInputs:
        answers = risk_answers or {}
        return cls(
            kind=Kind(kind),
            autonomy=Autonomy(autonomy),
            affects=frozenset(Affected(a) for a in affects or ()),
            data_categories=frozenset(DataCategory(c) for c in data_categories or ()),
            prohibited_practice=ProhibitedPractice(answers.get("prohibited_practice") or "none"),
            decision_domains=frozenset(DecisionDomain(d) for d in answers.get("decision_domains") or ()),
            legal_effect=bool(answers.get("legal_effect", False)),
        )


@dataclass(frozen=True)
class TierAssessment:
    tier: Tier
    reasons: list[str] = field(default_factory=list)
    eu_ai_act_class: str = ""
    omb_high_impact: bool = False


def _labels(items) -> str:
    ordered = sorted(items, key=lambda m: list(type(m)).index(m))
    return ", ".join(m.label.lower() if i else m.label for i, m in enumerate(ordered))


def assess_tier(inputs: RiskInputs) -> TierAssessment:
    found: list[tuple[Tier, str]] = []
    external = inputs.affects & {Affected.CUSTOMERS, Affected.PUBLIC}
    fully_automated = inputs.autonomy is Autonomy.FULLY_AUTOMATED

    if inputs.prohibited_practice is not ProhibitedPractice.NONE:
        found.append((Tier.UNACCEPTABLE, f"Prohibited practice: {inputs.prohibited_practice.label}."))

    if inputs.decision_domains:
        found.append((Tier.HIGH, f"Influences decisions about people in: {_labels(inputs.decision_domains)}."))
    if inputs.legal_effect and fully_automated:
        found.append((Tier.HIGH, "Acts fully automatically with legal or similarly significant effects on people."))

    if inputs.kind in {Kind.GENERATIVE_ASSISTANT, Kind.AGENT} and external:
        what = "Agent" if inputs.kind is Kind.AGENT else "Generative AI"
        found.append((Tier.MEDIUM, f"{what} that talks to {_labels(external).lower()}."))
    sensitive = inputs.data_categories & SENSITIVE_DATA
    if sensitive:
        found.append((Tier.MEDIUM, f"Touches sensitive data: {_labels(sensitive).lower()}."))
    if inputs.kind is Kind.AGENT:
        found.append((Tier.MEDIUM, "Agent that takes actions in other systems."))
    if fully_automated and external:
        found.append((Tier.MEDIUM, f"Fully automated with effects on {_labels(external).lower()}."))
    if inputs.legal_effect and not fully_automated:
        found.append((Tier.MEDIUM, "Output can have legal or similarly significant effects, with a person in or on the loop."))

    if found:
        tier = max((t for t, _ in found), key=lambda t: t.rank)
        reasons = [r for t, r in sorted(found, key=lambda f: -f[0].rank)]
    else:
        tier = Tier.LOW
        reasons = ["No prohibited practice, no sensitive decisions about people, no sensitive data, "
                   "not customer-facing generative AI, not an agent."]
    return TierAssessment(
        tier=tier,
        reasons=reasons,
        eu_ai_act_class=eu_ai_act_class(tier, inputs),
        omb_high_impact=omb_high_impact(inputs),
    )


def eu_ai_act_class(tier: Tier, inputs: RiskInputs) -> str:
    if tier is Tier.UNACCEPTABLE:
        return "Prohibited practice (Art. 5)"
    if inputs.decision_domains:
        return "High-risk (Art. 6, Annex III)"
    if inputs.kind in {Kind.GENERATIVE_ASSISTANT, Kind.AGENT} and inputs.affects & {Affected.CUSTOMERS, Affected.PUBLIC}:
        return "Limited risk: transparency obligations (Art. 50)"
    return "Minimal risk"


def omb_high_impact(inputs: RiskInputs) -> bool:
    """OMB M-25-21: output is a principal basis for decisions with legal, material or
    significant effects on rights or safety."""
    return bool(inputs.decision_domains) or inputs.legal_effect or inputs.prohibited_practice is not ProhibitedPractice.NONE


def effective_tier(computed: Tier, override: Tier | None, *, confirmed: bool = False) -> Tier:
    """The tier every rule uses.

    - A prohibited practice is never overridden: while the answers say UNACCEPTABLE, so does the
      effective tier, whatever override was recorded before.
    - An override above the computed tier applies at once; one below it applies only once a
      second compliance officer has ``confirmed`` it (until then the computed tier applies).
    """
    computed = Tier(computed)
    if computed is Tier.UNACCEPTABLE or override is None:
        return computed
    if override_waits_for_confirmation(computed, override, confirmed):
        return computed
    return Tier(override)


def override_waits_for_confirmation(computed: Tier, override: Tier | None, confirmed: bool) -> bool:
    """Whether an override lowers the computed tier without a second officer's confirmation yet."""
    return (override is not None and not confirmed and Tier(computed) is not Tier.UNACCEPTABLE
            and Tier(override).rank < Tier(computed).rank)


def override_lapses(against: Tier | None, computed: Tier, override: Tier | None) -> bool:
    """An override lapses when the rules give a higher tier than the one it was made against
    and the override would now hold the system below them (an override that still raises the
    tier caps nothing and stays; the computed tier's change is a material change all the same)."""
    return (override is not None and against is not None and Tier(computed).rank > Tier(against).rank
            and Tier(override).rank < Tier(computed).rank)
