"""The tier rules as a table of realistic systems: each row is what a reviewer would expect."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.enums import Affected, Autonomy, DataCategory, DecisionDomain, Kind, ProhibitedPractice, Tier
from registry.inventory.tiering import RiskInputs, assess_tier


def case(kind, autonomy, affects, data, *, prohibited="none", domains=(), legal=False):
    return RiskInputs.build(kind=kind, autonomy=autonomy, affects=affects, data_categories=data,
                            risk_answers={"prohibited_practice": prohibited, "decision_domains": list(domains),
                                          "legal_effect": legal})


CASES = [
    # (description, inputs, expected tier, a phrase the reasons must contain, EU class prefix, OMB high-impact)
    ("hiring resume screener", case("predictive_model", "human_in_the_loop", ["public"], ["personal"], domains=["employment"]),
     Tier.HIGH, "employment and hiring", "High-risk", True),
    ("consumer credit pre-approval", case("predictive_model", "fully_automated", ["customers"], ["personal", "financial"],
     domains=["credit"], legal=True), Tier.HIGH, "credit and lending", "High-risk", True),
    ("customer-facing support chatbot", case("generative_assistant", "human_on_the_loop", ["customers"], ["personal"]),
     Tier.MEDIUM, "talks to customers", "Limited risk", False),
    ("internal meeting summariser", case("generative_assistant", "human_in_the_loop", ["internal_staff"],
     ["confidential_business"]), Tier.LOW, "No prohibited practice", "Minimal risk", False),
    ("social scoring of citizens", case("predictive_model", "fully_automated", ["public"], ["personal"],
     prohibited="social_scoring"), Tier.UNACCEPTABLE, "Social scoring", "Prohibited", True),
    ("medical triage tool", case("predictive_model", "human_in_the_loop", ["public"], ["health", "personal"],
     domains=["medical"]), Tier.HIGH, "medical diagnosis", "High-risk", True),
    ("agent that issues refunds", case("agent", "fully_automated", ["customers"], ["personal", "financial"], legal=True),
     Tier.HIGH, "legal or similarly significant", "Limited risk", True),
    ("agent that drafts refunds for approval", case("agent", "human_in_the_loop", ["customers"], ["financial"]),
     Tier.MEDIUM, "Agent that takes actions", "Limited risk", False),
    ("internal coding assistant", case("generative_assistant", "human_in_the_loop", ["internal_staff"],
     ["confidential_business"]), Tier.LOW, "No prohibited practice", "Minimal risk", False),
    ("parcel-delivery chatbot", case("generative_assistant", "human_on_the_loop", ["customers"], ["personal"]),
     Tier.MEDIUM, "talks to customers", "Limited risk", False),
    ("dealership sales assistant", case("generative_assistant", "fully_automated", ["customers", "public"], []),
     Tier.MEDIUM, "Fully automated with effects", "Limited risk", False),
    ("city-services assistant on benefits", case("generative_assistant", "human_on_the_loop", ["public"], ["personal"],
     domains=["essential_services"]), Tier.HIGH, "essential public", "High-risk", True),
    ("fraud detection on card payments", case("predictive_model", "human_on_the_loop", ["customers"],
     ["financial", "personal"]), Tier.MEDIUM, "sensitive data", "Minimal risk", False),
    ("claims triage for insurance", case("predictive_model", "human_in_the_loop", ["customers"], ["personal", "health"],
     domains=["insurance"]), Tier.HIGH, "insurance", "High-risk", True),
    ("contract review for legal team", case("generative_assistant", "human_in_the_loop", ["internal_staff"],
     ["confidential_business"]), Tier.LOW, "No prohibited practice", "Minimal risk", False),
    ("procurement optimiser", case("optimiser", "human_on_the_loop", ["internal_staff"], ["confidential_business"]),
     Tier.LOW, "No prohibited practice", "Minimal risk", False),
    ("shift scheduling for staff", case("optimiser", "human_on_the_loop", ["internal_staff"], ["personal"],
     domains=["employment"]), Tier.HIGH, "employment", "High-risk", True),
    ("demand forecasting", case("predictive_model", "fully_automated", ["internal_staff"], ["public", "confidential_business"]),
     Tier.LOW, "No prohibited practice", "Minimal risk", False),
    ("emotion recognition of call-centre staff", case("perception", "fully_automated", ["internal_staff"],
     ["biometric", "personal"], prohibited="emotion_at_work"), Tier.UNACCEPTABLE, "Emotion recognition", "Prohibited", True),
    ("face verification for car-sharing sign-up", case("perception", "fully_automated", ["customers"], ["biometric"],
     domains=["biometric_identification"]), Tier.HIGH, "biometric identification", "High-risk", True),
    ("children's learning app tutor", case("generative_assistant", "human_on_the_loop", ["public"], ["children"]),
     Tier.MEDIUM, "children", "Limited risk", False),
    ("exam proctoring flags", case("perception", "human_in_the_loop", ["public"], ["biometric"], domains=["education"]),
     Tier.HIGH, "education", "High-risk", True),
    ("dynamic pricing shown to public", case("optimiser", "fully_automated", ["public"], []),
     Tier.MEDIUM, "Fully automated with effects on the public", "Minimal risk", False),
    ("invoice extraction reviewed by clerks", case("perception", "human_in_the_loop", ["internal_staff"],
     ["confidential_business"]), Tier.LOW, "No prohibited practice", "Minimal risk", False),
    ("loan letters drafted, human signs", case("generative_assistant", "human_in_the_loop", ["internal_staff"], [],
     legal=True), Tier.MEDIUM, "legal or similarly significant effects, with a person", "Minimal risk", True),
]


@pytest.mark.parametrize(("description", "inputs", "tier", "phrase", "eu", "omb"), CASES, ids=[c[0] for c in CASES])
def test_tier_rules(description, inputs, tier, phrase, eu, omb):
    result = assess_tier(inputs)
    assert result.tier is tier, f"{description}: {result.reasons}"
    assert any(phrase.lower() in r.lower() for r in result.reasons), result.reasons
    assert result.eu_ai_act_class.startswith(eu), result.eu_ai_act_class
    assert result.omb_high_impact is omb


def test_at_least_twenty_cases_cover_every_tier():
    assert len(CASES) >= 20
    assert {c[2] for c in CASES} == set(Tier)


def test_highest_reason_comes_first():
    result = assess_tier(case("agent", "fully_automated", ["customers"], ["personal"], domains=["credit"]))
    assert result.tier is Tier.HIGH
    assert "credit" in result.reasons[0].lower()
    assert len(result.reasons) >= 3  # every matching rule is explained, not only the winner


profiles = st.builds(
    lambda kind, autonomy, affects, data, prohibited, domains, legal: case(
        kind, autonomy, affects, data, prohibited=prohibited, domains=domains, legal=legal),
    st.sampled_from(Kind.values()), st.sampled_from(Autonomy.values()),
    st.lists(st.sampled_from(Affected.values()), min_size=1, unique=True),
    st.lists(st.sampled_from(DataCategory.values()), unique=True),
    st.sampled_from(ProhibitedPractice.values()),
    st.lists(st.sampled_from(DecisionDomain.values()), unique=True), st.booleans(),
)


@given(profiles)
def test_tier_is_monotonic_and_explained(inputs):
    """Adding a risk factor never lowers the tier, and every tier comes with reasons."""
    base = assess_tier(inputs)
    assert base.reasons
    worse = RiskInputs(kind=inputs.kind, autonomy=inputs.autonomy, affects=inputs.affects,
                       data_categories=inputs.data_categories | {DataCategory.HEALTH},
                       prohibited_practice=inputs.prohibited_practice,
                       decision_domains=inputs.decision_domains, legal_effect=True)
    assert assess_tier(worse).tier.rank >= base.tier.rank
    if inputs.prohibited_practice is not ProhibitedPractice.NONE:
        assert base.tier is Tier.UNACCEPTABLE
