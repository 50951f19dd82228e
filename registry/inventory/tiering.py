"""The risk-tier rules: questionnaire answers and profile -> tier, with the reasons why.

One pure function, ``assess_tier``, holds every rule; the system page shows its reasons,
and ``tests/unit/test_tiering.py`` is the table of cases it must satisfy (many drawn from the
2025 US Federal AI Use Case Inventory).  The EU AI Act class and the OMB M-25-21 high-impact
flag are derived from the same inputs, stored beside the tier, and explained.

Rules v2 (``RULES_VERSION``), strongest first; all matching reasons are kept, the highest tier wins:
- unacceptable: a prohibited practice (EU AI Act Art. 5).
- high:
  - EU high-risk: an Annex III area of decisions about people (unless the system only does a
    narrow or preparatory task and does not profile people, Art. 6(3)); remote biometric
    identification, categorisation by sensitive traits, emotion recognition (Annex III 1); a
    regulated product or its safety component (Art. 6(1), Annex I); a principal basis for
    operating critical infrastructure (Annex III 2);
  - OMB M-25-21 high-impact: the output is a principal basis for decisions or actions with a
    legal, material or significant effect on people, organisations or safety.  Whether it is a
    principal basis is asked; until it is answered the system is taken as one (the reason says
    so) and the flag is "not determined";
  - fully automated with legal or similarly significant effects.
- medium: an Annex III area in a preparatory role only; other decisions about people, harm to
  safety or high-value assets, or legal effects, with a person deciding; biometric
  verification; children; generative AI or agents talking to people outside; sensitive data;
  agents; full automation whose output acts on people or organisations (outside, or inside
  when it acts on them directly) without review.
- low: none of the above.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from registry.enums import (
    ANNEX_III,
    EU_HIGH_RISK,
    EXTERNAL,
    SENSITIVE_DATA,
    Affected,
    Autonomy,
    BiometricUse,
    DataCategory,
    DecisionDomain,
    DecisionRole,
    EUClass,
    Kind,
    ProhibitedPractice,
    SafetyHarm,
    Tier,
)

RULES_VERSION = 2

# The questionnaire: key -> question text.  Answers live in AISystem.risk_answers.
QUESTIONS = {
    "prohibited_practice": "Does the system perform any of these practices?",
    "decision_domains": "Does its output influence decisions about people in any of these areas?",
    "decision_role": "How much does its output weigh in the decisions or actions it feeds?",
    "legal_effect": "Can its output have legal, material or similarly significant effects on a person or an "
    "organisation (a contract, a refund, a benefit, a job, a price, a licence, a grant)?",
    "safety_harms": "Could its output or actions harm any of these?",
    "biometric_uses": "Does it use biometrics (face, voice, fingerprint, gait) in any of these ways?",
    "acts_on_people": "Does its output act directly on people or organisations (messages them, changes their access, "
    "accounts, schedules or payments)?",
    "interacts_directly": "Do people interact with it directly (a chat, a voice, content it generates that they see "
    "without a person editing it)?",
    "profiling": "Does it profile people: evaluate or predict their performance, economic situation, health, "
    "preferences, behaviour, reliability or location?",
}

RIGHTS_BIOMETRICS = frozenset({BiometricUse.IDENTIFICATION, BiometricUse.CATEGORISATION, BiometricUse.EMOTION})


@dataclass(frozen=True)
class RiskInputs:
    kind: Kind
    autonomy: Autonomy
    affects: frozenset[Affected]
    data_categories: frozenset[DataCategory]
    prohibited_practice: ProhibitedPractice = ProhibitedPractice.NONE
    decision_domains: frozenset[DecisionDomain] = frozenset()
    legal_effect: bool = False
    decision_role: DecisionRole | None = None  # None: not answered
    safety_harms: frozenset[SafetyHarm] = frozenset()
    biometric_uses: frozenset[BiometricUse] = frozenset()
    profiling: bool = False
    acts_on_people: bool = False
    interacts_directly: bool | None = None  # None: not answered (inferred from kind and who it affects)

    @classmethod
    def build(cls, *, kind, autonomy, affects, data_categories, risk_answers) -> RiskInputs:
        answers = risk_answers or {}
        role = answers.get("decision_role")
        return cls(
            kind=Kind(kind),
            autonomy=Autonomy(autonomy),
            affects=frozenset(Affected(a) for a in affects or ()),
            data_categories=frozenset(DataCategory(c) for c in data_categories or ()),
            prohibited_practice=ProhibitedPractice(answers.get("prohibited_practice") or "none"),
            decision_domains=frozenset(DecisionDomain(d) for d in answers.get("decision_domains") or ()),
            legal_effect=bool(answers.get("legal_effect", False)),
            decision_role=DecisionRole(role) if role else None,
            safety_harms=frozenset(SafetyHarm(h) for h in answers.get("safety_harms") or ()),
            biometric_uses=frozenset(BiometricUse(b) for b in answers.get("biometric_uses") or ()),
            profiling=bool(answers.get("profiling", False)),
            acts_on_people=bool(answers.get("acts_on_people", False)),
            interacts_directly=(None if answers.get("interacts_directly") is None
                                else bool(answers["interacts_directly"])),
        )

    @property
    def fully_automated(self) -> bool:
        return self.autonomy is Autonomy.FULLY_AUTOMATED

    @property
    def role(self) -> DecisionRole | None:
        """The answered role; unanswered, a fully automated system's output is taken as the decision
        (a principal basis).  A fully automated step answered as preparatory (a tagger whose output
        a person then assesses) keeps its answer."""
        if self.decision_role is None and self.fully_automated:
            return DecisionRole.PRINCIPAL
        return self.decision_role

    @property
    def talks_to(self) -> frozenset[Affected]:
        """The people outside the organisation it interacts with directly (EU AI Act Art. 50(1)).
        Unanswered, a generative assistant or an agent that affects people outside is taken to
        talk to them; answered "no" (e.g. it drafts replies a person edits and sends), it does not."""
        people = self.affects & (EXTERNAL - {Affected.ORGANISATIONS})
        if self.interacts_directly is None:
            return people if self.kind in {Kind.GENERATIVE_ASSISTANT, Kind.AGENT} else frozenset()
        return people if self.interacts_directly else frozenset()

@dataclass(frozen=True)
class TierAssessment:
    tier: Tier
    reasons: list[str] = field(default_factory=list)
    eu_class: EUClass | None = EUClass.MINIMAL  # None: not assessed
    eu_basis: str = ""
    omb_high_impact: bool | None = False  # None: not determined (the role question is unanswered)
    omb_basis: str = ""

    @property
    def eu_ai_act_class(self) -> str:
        """The class as people read it, with the Annex point when there is one."""
        return f"{self.eu_class.label}: {self.eu_basis}" if self.eu_basis else self.eu_class.label

    @property
    def omb_label(self) -> str:
        if self.omb_high_impact is None:
            return "Not determined"
        return "Yes" if self.omb_high_impact else "No"


NOT_ASSESSED = TierAssessment(
    tier=Tier.NOT_ASSESSED, reasons=["The risk questions have not been answered yet (an imported record)."],
    eu_class=None, eu_basis="", omb_high_impact=None, omb_basis="")


def _labels(items) -> str:
    ordered = sorted(items, key=lambda m: list(type(m)).index(m))
    return ", ".join(m.label.lower() if i else m.label for i, m in enumerate(ordered))


def _lower(items) -> str:
    return _labels(items).lower()


def _who(affected: frozenset[Affected]) -> str:
    return _lower(affected) if affected else "people"


def assess_tier(inputs: RiskInputs) -> TierAssessment:
    found: list[tuple[Tier, str]] = []
    role = inputs.role
    principal = role is DecisionRole.PRINCIPAL
    unknown = role is None
    external = inputs.affects & EXTERNAL
    annex_iii = inputs.decision_domains & ANNEX_III.keys()
    other_domains = inputs.decision_domains - annex_iii
    eu, eu_basis = eu_class(inputs)
    omb, omb_basis = omb_high_impact(inputs)

    if inputs.prohibited_practice is not ProhibitedPractice.NONE:
        found.append((Tier.UNACCEPTABLE, f"Prohibited practice: {inputs.prohibited_practice.label}."))

    # High: EU high-risk.
    if annex_iii and eu is EUClass.HIGH_RISK_ANNEX_III:
        if inputs.profiling and role is DecisionRole.PREPARATORY:
            found.append((Tier.HIGH, f"Profiles people in an Annex III area ({_lower(annex_iii)}): always "
                                     "high-risk, even for a preparatory task (EU AI Act Art. 6(3))."))
        else:
            found.append((Tier.HIGH, f"Influences decisions about people in an Annex III area: {_lower(annex_iii)}."))
    if inputs.biometric_uses & RIGHTS_BIOMETRICS:
        found.append((Tier.HIGH, f"Biometrics: {_lower(inputs.biometric_uses & RIGHTS_BIOMETRICS)} "
                                 "(EU AI Act Annex III 1)."))
    if SafetyHarm.REGULATED_PRODUCT in inputs.safety_harms:
        found.append((Tier.HIGH, "A regulated product or its safety component (EU AI Act Art. 6(1), Annex I)."))
    if SafetyHarm.CRITICAL_INFRASTRUCTURE in inputs.safety_harms and (principal or unknown):
        found.append((Tier.HIGH, "Operates critical infrastructure: its output is a principal basis for actions "
                                 f"in its operation{_assumed(unknown)} (EU AI Act Annex III 2)."))
    # High: OMB high-impact (or possibly so, until the role is answered).
    if omb is True:
        found.append((Tier.HIGH, f"OMB M-25-21 high-impact: {omb_basis}"))
    elif omb is None:
        found.append((Tier.HIGH, f"Possibly OMB M-25-21 high-impact: {omb_basis}"))
    if inputs.legal_effect and inputs.fully_automated:
        found.append((Tier.HIGH, "Acts fully automatically with legal or similarly significant effects on "
                                 f"{_who(inputs.affects)}."))

    # Medium.
    if annex_iii and eu is EUClass.ANNEX_III_NOT_HIGH:
        found.append((Tier.MEDIUM, f"Annex III area ({_lower(annex_iii)}) in a preparatory role only: not high-risk "
                                   "under EU AI Act Art. 6(3); record that assessment (Art. 6(4))."))
    if other_domains and not (principal or unknown):
        found.append((Tier.MEDIUM, f"Influences decisions about people in: {_lower(other_domains)}, with a person "
                                   "deciding."))
    harms = inputs.safety_harms - {SafetyHarm.REGULATED_PRODUCT}
    if harms and not (principal or unknown):
        found.append((Tier.MEDIUM, f"Could cause harm to {_harms(harms)}; a person decides on its output."))
    if inputs.legal_effect and not inputs.fully_automated and not (principal or unknown):
        found.append((Tier.MEDIUM, "Output can have legal or similarly significant effects, with a person deciding."))
    if BiometricUse.VERIFICATION in inputs.biometric_uses:
        found.append((Tier.MEDIUM, "Biometric verification (1:1): biometric data, though excluded from "
                                   "EU AI Act Annex III 1(a)."))
    if Affected.CHILDREN in inputs.affects:
        found.append((Tier.MEDIUM, "Used by or about children."))
    if inputs.talks_to:
        what = {Kind.AGENT: "Agent", Kind.GENERATIVE_ASSISTANT: "Generative AI"}.get(inputs.kind, "AI system")
        found.append((Tier.MEDIUM, f"{what} that talks to {_lower(inputs.talks_to)}."))
    sensitive = inputs.data_categories & SENSITIVE_DATA
    if sensitive:
        found.append((Tier.MEDIUM, f"Touches sensitive data: {_lower(sensitive)}."))
    if inputs.kind is Kind.AGENT:
        found.append((Tier.MEDIUM, "Agent that takes actions in other systems."))
    if inputs.fully_automated and (external or inputs.acts_on_people):
        found.append((Tier.MEDIUM, f"Fully automated: its output acts on {_who(inputs.affects)} without review."))
    elif inputs.autonomy is Autonomy.HUMAN_ON_THE_LOOP and inputs.acts_on_people and external:
        found.append((Tier.MEDIUM, f"Acts on {_lower(external)} before a person reviews it (a person monitors and "
                                   "can intervene)."))

    if found:
        tier = max((t for t, _ in found), key=lambda t: t.rank)
        reasons = [r for t, r in sorted(found, key=lambda f: -f[0].rank)]
    else:
        tier = Tier.LOW
        reasons = ["No prohibited practice, no decisions about people or organisations, no harm to safety, no "
                   "sensitive data, not generative AI talking to people outside, not an agent, not fully automated "
                   "on people."]
    return TierAssessment(tier=tier, reasons=reasons, eu_class=eu, eu_basis=eu_basis, omb_high_impact=omb,
                          omb_basis=omb_basis)


HARM_NOUNS = {
    SafetyHarm.PEOPLE: "people's safety or health",
    SafetyHarm.PROPERTY: "property or the environment",
    SafetyHarm.CRITICAL_INFRASTRUCTURE: "the operation of critical infrastructure",
    SafetyHarm.REGULATED_PRODUCT: "a regulated product's safety",
    SafetyHarm.HIGH_VALUE_ASSETS: "classified information or high-value assets",
}


def _harms(harms) -> str:
    """Safety harms as words that fit after "harm to" (labels are written for the form)."""
    nouns = [HARM_NOUNS[h] for h in SafetyHarm if h in harms]
    return nouns[0] if len(nouns) == 1 else ", ".join(nouns[:-1]) + " and " + nouns[-1]


def _assumed(unknown: bool) -> str:
    return " (taken as a principal basis until the question is answered)" if unknown else ""


def eu_class(inputs: RiskInputs) -> tuple[EUClass, str]:
    """The EU AI Act class and the article or Annex point it rests on."""
    if inputs.prohibited_practice is not ProhibitedPractice.NONE:
        return EUClass.PROHIBITED, ""
    if SafetyHarm.REGULATED_PRODUCT in inputs.safety_harms:
        return EUClass.HIGH_RISK_ANNEX_I, ""
    points = []
    if inputs.biometric_uses & RIGHTS_BIOMETRICS:
        points.append("1")
    if SafetyHarm.CRITICAL_INFRASTRUCTURE in inputs.safety_harms and inputs.role in (DecisionRole.PRINCIPAL, None):
        points.append("2")
    annex_iii = sorted({ANNEX_III[d] for d in inputs.decision_domains & ANNEX_III.keys()})
    preparatory_only = inputs.role is DecisionRole.PREPARATORY and not inputs.profiling
    if annex_iii and not preparatory_only:
        points.extend(annex_iii)
    if points:
        return EUClass.HIGH_RISK_ANNEX_III, "Annex III " + ", ".join(sorted(set(points)))
    if annex_iii:
        return EUClass.ANNEX_III_NOT_HIGH, "Annex III " + ", ".join(annex_iii)
    if inputs.talks_to or (inputs.interacts_directly and inputs.affects):
        return EUClass.LIMITED, ""
    return EUClass.MINIMAL, ""


def omb_high_impact(inputs: RiskInputs) -> tuple[bool | None, str]:
    """OMB M-25-21 (appendix, Section 5): high-impact when the output serves as a principal basis
    for decisions or actions with a legal, material, binding or significant effect on rights or
    safety, of an individual or an entity.  Returns (flag, why); the flag is None when the
    output has such effects but whether it is a principal basis is not answered."""
    effects = []
    if inputs.prohibited_practice is not ProhibitedPractice.NONE:
        effects.append(f"a practice the EU AI Act prohibits ({inputs.prohibited_practice.label.lower()})")
    if inputs.decision_domains:
        effects.append(f"decisions about people in {_lower(inputs.decision_domains)}")
    if inputs.legal_effect:
        effects.append(f"legal or similarly significant effects on {_who(inputs.affects)}")
    if inputs.safety_harms:
        effects.append(f"harm to {_harms(inputs.safety_harms)}")
    if inputs.biometric_uses & RIGHTS_BIOMETRICS:
        effects.append(f"rights through biometrics ({_lower(inputs.biometric_uses & RIGHTS_BIOMETRICS)})")
    if not effects:
        return False, "its output has no legal, material or significant effect on rights or safety."
    what = "; ".join(effects)
    role = inputs.role
    if role is None:
        return None, (f"its output feeds {what}; whether it is a principal basis is not answered, so it is taken as "
                      "one until it is.")
    if role is DecisionRole.PRINCIPAL:
        how = "acting fully automatically on" if inputs.fully_automated else "a principal basis for"
        return True, f"{how} {what}."
    how = {DecisionRole.MATERIAL: "a person weighs it with other grounds and decides",
           DecisionRole.PREPARATORY: "it does a narrow or preparatory task for a person's own assessment"}[role]
    return False, f"its output feeds {what}, but it is not a principal basis: {how}."


OMB_HIGH_IMPACT = "omb_high_impact"
EU_HIGH_RISK_FLAG = "eu_high_risk"
FLAGS = {OMB_HIGH_IMPACT: "OMB M-25-21 high-impact (or not yet determined)",
         EU_HIGH_RISK_FLAG: "EU AI Act high-risk"}


def system_flags(eu_class: EUClass | str | None, omb_high_impact: bool | None) -> frozenset[str]:
    """The flags a system carries.  An OMB flag that is not determined yet (the principal-basis
    question is unanswered) counts as set, as the tier does.  A system the current rules have not
    assessed yet (no EU class recorded: computed under earlier rules) carries none: nothing was
    determined, so nothing is claimed."""
    if eu_class is None:
        return frozenset()
    flags = set()
    if omb_high_impact is not False:
        flags.add(OMB_HIGH_IMPACT)
    if eu_class is not None and EUClass(eu_class) in EU_HIGH_RISK:
        flags.add(EU_HIGH_RISK_FLAG)
    return frozenset(flags)


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
