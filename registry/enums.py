"""Every closed vocabulary of the registry: roles, tiers, stages, kinds, data categories.

Each enum's value is what is stored in the database and in seed/import files; its
``label`` is what people read.  Keep new values appended, never renamed: stored rows and
audit events refer to them.
"""

from __future__ import annotations

import enum


class LabelledEnum(str, enum.Enum):  # noqa: UP042 - custom __new__ carries a label
    """A string enum whose members carry a human label: ``Member = ("value", "Label")``."""

    def __new__(cls, value: str, label: str):
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.label = label
        return obj

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(m.value, m.label) for m in cls]

    @classmethod
    def values(cls) -> list[str]:
        return [m.value for m in cls]

    @classmethod
    def answers(cls) -> list[tuple[str, str]]:
        """The choices a person may give: without "not recorded" (kept for imported records)."""
        return [(m.value, m.label) for m in cls if m.value not in NOT_RECORDED]

    def __str__(self) -> str:
        return self.value


class Role(LabelledEnum):
    ADMIN = ("admin", "Admin")
    COMPLIANCE = ("compliance", "Compliance officer")
    OWNER = ("owner", "Product owner")
    EXECUTIVE = ("executive", "Executive")


# Values that stand for "the source did not say" (imported records), never chosen on a form.
NOT_RECORDED = frozenset({"unknown", "not_assessed"})


class Tier(LabelledEnum):
    # An imported system whose risk questions nobody has answered yet: no tier, no GO.
    NOT_ASSESSED = ("not_assessed", "Not assessed")
    LOW = ("low", "Low")
    MEDIUM = ("medium", "Medium")
    HIGH = ("high", "High")
    UNACCEPTABLE = ("unacceptable", "Unacceptable")

    @property
    def rank(self) -> int:
        return list(Tier).index(self)


class Stage(LabelledEnum):
    IDEA = ("idea", "Idea")
    PILOT = ("pilot", "Pilot")
    PRODUCTION = ("production", "Production")
    RETIRED = ("retired", "Retired")
    UNKNOWN = ("unknown", "Not recorded")


# The pilot → production funnel's stages, in order (retired is not a step forward).
FUNNEL = (Stage.IDEA, Stage.PILOT, Stage.PRODUCTION)


class Kind(LabelledEnum):
    PREDICTIVE_MODEL = ("predictive_model", "Predictive model")
    GENERATIVE_ASSISTANT = ("generative_assistant", "Generative assistant")
    AGENT = ("agent", "Agent that acts in other systems")
    OPTIMISER = ("optimiser", "Optimisation / planning")
    PERCEPTION = ("perception", "Perception (vision, speech, documents)")
    OTHER = ("other", "Other")
    UNKNOWN = ("unknown", "Not recorded")


class Sourcing(LabelledEnum):
    IN_HOUSE = ("in_house", "Built in-house")
    VENDOR = ("vendor", "Bought from a vendor")
    BOTH = ("both", "Co-developed (in-house team and a vendor)")
    UNKNOWN = ("unknown", "Not recorded")


class Autonomy(LabelledEnum):
    HUMAN_IN_THE_LOOP = ("human_in_the_loop", "Human-in-the-loop (a person approves every output)")
    HUMAN_ON_THE_LOOP = ("human_on_the_loop", "Human-on-the-loop (acts, a person monitors and can intervene)")
    FULLY_AUTOMATED = ("fully_automated", "Fully automated")
    UNKNOWN = ("unknown", "Not recorded")


class Affected(LabelledEnum):
    INTERNAL_STAFF = ("internal_staff", "Internal staff")
    CUSTOMERS = ("customers", "Customers")
    PUBLIC = ("public", "The public")
    CHILDREN = ("children", "Children (under 18)")
    ORGANISATIONS = ("organisations", "Organisations (companies, grantees, other entities)")


# Who counts as outside the organisation (customer-facing generative AI, full automation).
EXTERNAL = frozenset({Affected.CUSTOMERS, Affected.PUBLIC, Affected.CHILDREN, Affected.ORGANISATIONS})


class DataCategory(LabelledEnum):
    PERSONAL = ("personal", "Personal data")
    HEALTH = ("health", "Health data")
    FINANCIAL = ("financial", "Financial data")
    BIOMETRIC = ("biometric", "Biometric data")
    CHILDREN = ("children", "Children's data")
    CONFIDENTIAL_BUSINESS = ("confidential_business", "Confidential business data")
    PUBLIC = ("public", "Public data")


# Data categories that make a system at least medium tier on their own.
SENSITIVE_DATA = frozenset(
    {
        DataCategory.PERSONAL,
        DataCategory.HEALTH,
        DataCategory.FINANCIAL,
        DataCategory.BIOMETRIC,
        DataCategory.CHILDREN,
    }
)


class DecisionDomain(LabelledEnum):
    """Areas of decisions about people.  All but the last three are EU AI Act Annex III areas
    (``ANNEX_III``, with their points); every one counts for OMB M-25-21 when the system's output
    is a principal basis for the decision."""

    EMPLOYMENT = ("employment", "Employment, hiring and work management")
    CREDIT = ("credit", "Creditworthiness and lending to people")
    INSURANCE = ("insurance", "Life or health insurance pricing or claims")
    EDUCATION = ("education", "Education: admission, assessment, exams")
    ESSENTIAL_SERVICES = ("essential_services", "Access to essential public benefits and services, or emergency dispatch")
    LAW_ENFORCEMENT = ("law_enforcement", "Law enforcement")
    MIGRATION = ("migration", "Migration, asylum and border control, by or for public authorities")
    JUSTICE = ("justice", "Justice and democratic processes")
    MEDICAL = ("medical", "Medical diagnosis or treatment")
    OTHER_INSURANCE = ("other_insurance", "Other insurance (motor, property, travel) pricing or claims")
    TRAVEL_DOCUMENTS = ("travel_documents", "Verifying travel documents at the border")


ANNEX_III = {
    DecisionDomain.EMPLOYMENT: "4",
    DecisionDomain.CREDIT: "5(b)",
    DecisionDomain.INSURANCE: "5(c)",
    DecisionDomain.EDUCATION: "3",
    DecisionDomain.ESSENTIAL_SERVICES: "5(a)",
    DecisionDomain.LAW_ENFORCEMENT: "6",
    DecisionDomain.MIGRATION: "7",
    DecisionDomain.JUSTICE: "8",
}


class DecisionRole(LabelledEnum):
    """How much the output weighs in the decisions or actions it feeds (OMB M-25-21 "principal
    basis"; EU AI Act Art. 6(3) for a narrow or preparatory task)."""

    PRINCIPAL = ("principal", "A principal basis: the decision or action follows its output, or it weighs most")
    MATERIAL = ("material", "One input among others: a person weighs it with other grounds and decides")
    PREPARATORY = ("preparatory", "A narrow or preparatory task only (sorting, formatting, flagging for a person's "
                                  "own assessment)")


class SafetyHarm(LabelledEnum):
    """Harm that is not a decision about a person."""

    PEOPLE = ("people", "Safety of people (injury, health)")
    PROPERTY = ("property", "Safety of property or the environment")
    CRITICAL_INFRASTRUCTURE = ("critical_infrastructure", "Operation of critical infrastructure (energy, water, "
                                                          "transport, digital, nuclear)")
    REGULATED_PRODUCT = ("regulated_product", "A regulated product or its safety component (medical device, "
                                              "machinery, vehicle, aircraft: EU AI Act Annex I)")
    HIGH_VALUE_ASSETS = ("high_value_assets", "Classified information or high-value assets")


class BiometricUse(LabelledEnum):
    VERIFICATION = ("verification", "Verification: confirms a person is who they claim (1:1)")
    IDENTIFICATION = ("identification", "Identification of people from their biometrics (1:N, remote)")
    CATEGORISATION = ("categorisation", "Categorising people by sensitive or protected traits from biometrics (age, "
                                        "sex, disability…; inferring race, religion, politics or orientation is "
                                        "prohibited: answer that above)")
    EMOTION = ("emotion", "Recognising emotions (outside work and education)")


class EUClass(LabelledEnum):
    """The EU AI Act class the rules derive (``registry.inventory.tiering.eu_class``)."""

    PROHIBITED = ("prohibited", "Prohibited practice (Art. 5)")
    HIGH_RISK_ANNEX_I = ("high_risk_annex_i", "High-risk: regulated product or safety component (Art. 6(1), Annex I)")
    HIGH_RISK_ANNEX_III = ("high_risk_annex_iii", "High-risk (Art. 6(2), Annex III)")
    ANNEX_III_NOT_HIGH = ("annex_iii_not_high", "Annex III area, not high-risk: preparatory task (Art. 6(3); "
                                                "record the assessment, Art. 6(4))")
    LIMITED = ("limited", "Limited risk: transparency obligations (Art. 50)")
    MINIMAL = ("minimal", "Minimal risk")


EU_HIGH_RISK = frozenset({EUClass.HIGH_RISK_ANNEX_I, EUClass.HIGH_RISK_ANNEX_III})


class DeclaredRegime(LabelledEnum):
    """Under which rules a declared determination was made, so it is compared with the same one."""

    OMB = ("omb_m_25_21", "OMB M-25-21 high-impact")
    EU = ("eu_ai_act", "EU AI Act high-risk")
    OTHER = ("other", "its own classification")


class ProhibitedPractice(LabelledEnum):
    """Practices that may not be deployed at all (EU AI Act Art. 5)."""

    NONE = ("none", "None of these")
    SOCIAL_SCORING = ("social_scoring", "Social scoring of people")
    MANIPULATION = ("manipulation", "Manipulation exploiting vulnerabilities (age, disability, situation)")
    FACE_SCRAPING = ("face_scraping", "Untargeted scraping of facial images")
    EMOTION_AT_WORK = ("emotion_at_work", "Emotion recognition at work or in education")
    BIOMETRIC_CATEGORISATION = ("biometric_categorisation", "Inferring race, religion, politics or orientation from biometrics")
    PREDICTIVE_POLICING = ("predictive_policing", "Predicting crime by individual profiling alone")


class MetricDirection(LabelledEnum):
    HIGHER_IS_BETTER = ("higher", "Higher is better")
    LOWER_IS_BETTER = ("lower", "Lower is better")


class Question(LabelledEnum):
    """The five scaling-readiness questions (shared/seeds/001), in the order they are asked."""

    OUTCOME = ("outcome", "Outcome and baseline")
    OWNERSHIP = ("ownership", "Ownership in production")
    DRIFT = ("drift", "Drift")
    HUMAN_WORKFLOW = ("human_workflow", "Human workflow")
    ROLLBACK = ("rollback", "Rollback")


class AnswerStatus(LabelledEnum):
    DRAFT = ("draft", "Draft")
    SUBMITTED = ("submitted", "Submitted for review")
    ACCEPTED = ("accepted", "Accepted")
    RETURNED = ("returned", "Returned with a comment")


class CheckFrequency(LabelledEnum):
    CONTINUOUS = ("continuous", "Continuously")
    HOURLY = ("hourly", "Hourly")
    DAILY = ("daily", "Daily")
    WEEKLY = ("weekly", "Weekly")
    MONTHLY = ("monthly", "Monthly")
    QUARTERLY = ("quarterly", "Quarterly")


class ControlStatus(LabelledEnum):
    NOT_STARTED = ("not_started", "Not started")
    IN_PROGRESS = ("in_progress", "In progress")
    IMPLEMENTED = ("implemented", "Implemented")
    NOT_APPLICABLE = ("not_applicable", "Not applicable")
    WAIVED = ("waived", "Waived")  # waivable controls only: reason, who granted it, expiry


class EvidenceKind(LabelledEnum):
    FILE = ("file", "File")
    LINK = ("link", "Link")


class Verdict(LabelledEnum):
    GO = ("go", "GO")
    CONDITIONAL_GO = ("conditional_go", "CONDITIONAL GO")
    NO_GO = ("no_go", "NO-GO")

    @property
    def rank(self) -> int:
        """Higher is better: NO-GO 0, CONDITIONAL GO 1, GO 2."""
        return {"no_go": 0, "conditional_go": 1, "go": 2}[self.value]


# Months until a decision must be re-reviewed, by effective tier.
REVIEW_MONTHS = {"not_assessed": 6, "low": 24, "medium": 12, "high": 6, "unacceptable": 6}


# -- after the baseline: drift, incidents, the value case and stopping (issue 16) -------------

class DriftReference(LabelledEnum):
    BASELINE = ("baseline", "the baseline")
    TARGET = ("target", "the target")


class BandKind(LabelledEnum):
    ABSOLUTE = ("absolute", "Absolute (in the metric's unit)")
    RELATIVE = ("relative", "Relative (% of the reference)")


class AlertStatus(LabelledEnum):
    OPEN = ("open", "Open")
    RESOLVED = ("resolved", "Resolved")


class ObservationSource(LabelledEnum):
    FORM = ("form", "Typed in")
    CSV = ("csv", "Uploaded CSV")
    API = ("api", "JSON API")
    DEMO = ("demo", "Demo data")


class Severity(LabelledEnum):
    CRITICAL = ("critical", "Critical")
    MAJOR = ("major", "Major")
    MINOR = ("minor", "Minor")


class IncidentStatus(LabelledEnum):
    OPEN = ("open", "Open")
    MITIGATED = ("mitigated", "Mitigated")
    CLOSED = ("closed", "Closed")


class FailureMode(LabelledEnum):
    """The eight production failure modes (shared/seeds/000): the category list for incidents."""

    HALLUCINATION = ("hallucination", "Hallucination")
    PROMPT_INJECTION = ("prompt_injection", "Prompt injection and jailbreaking")
    CONTEXT_WINDOW = ("context_window", "Context window limitations")
    NON_DETERMINISM = ("non_determinism", "Non-determinism")
    COST_LATENCY = ("cost_latency", "Cost and latency explosions")
    BIAS_FAIRNESS = ("bias_fairness", "Bias and fairness issues")
    PRIVACY_LEAKAGE = ("privacy_leakage", "Privacy and data leakage")
    MULTI_STEP_REASONING = ("multi_step_reasoning", "Multi-step reasoning failures")
    OTHER = ("other", "Other (none of the eight)")


class StopReason(LabelledEnum):
    """Why a pilot was stopped (shared/seeds/002: when to stop rather than proceed)."""

    DATA_QUALITY = ("data_quality", "Insurmountable data quality issues")
    COSTS_ABOVE_VALUE = ("costs_above_value", "Costs exceed the business value")
    ADOPTION = ("adoption", "Stakeholders resist adoption")
    PERFORMANCE = ("performance", "Performance below the business minimum")
    OTHER = ("other", "Another reason (given in the note)")
