"""HTML forms for systems, tier overrides, baseline metrics and the admin's list of units.

Forms only collect and lightly check input; ``SystemSchema`` and the services hold the
rules, and their field errors are attached back to these fields by ``attach_errors``.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    FloatField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from registry.enums import (
    Affected,
    Autonomy,
    BiometricUse,
    DataCategory,
    DecisionDomain,
    DecisionRole,
    DeclaredRegime,
    Kind,
    MetricDirection,
    ProhibitedPractice,
    SafetyHarm,
    Sourcing,
    Stage,
    Tier,
)
from registry.inventory.tiering import QUESTIONS
from registry.inventory.units import MAX_LENGTH as UNIT_MAX_LENGTH


def options(pairs: list[tuple[str, str]]) -> list[SelectChoice]:
    """(value, label) pairs as WTForms choices."""
    return [SelectChoice(value, label) for value, label in pairs]


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class SystemForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=300)])
    purpose = TextAreaField("Purpose", validators=[DataRequired(), Length(max=4000)],
                            description="What the system does and why, in plain words.")
    business_process = StringField("Business process it supports", validators=[DataRequired(), Length(max=300)])
    # The service says why an unlisted unit is refused (``check_unit``), in its words, for every caller.
    business_unit = SelectField("Business unit", validators=[DataRequired(message="Choose the unit the system belongs to.")],
                                validate_choice=False,
                                description="Its unit is not listed? An administrator adds units.")
    accountable_owner = SelectField("Accountable owner", validators=[DataRequired()],
                                    description="A named person, not a team: answers for the system in production.")
    technical_owner = SelectField("Technical owner", validators=[Optional()])
    sourcing = RadioField("Built or bought", choices=options(Sourcing.answers()), validators=[InputRequired()])
    vendor_name = StringField("Vendor", validators=[Optional(), Length(max=200)],
                              description="Required when the system is bought.")
    kind = SelectField("Kind of system", choices=options(Kind.answers()), validators=[DataRequired()])
    stage = SelectField("Lifecycle stage", choices=options(Stage.answers()), validators=[DataRequired()])
    affects = CheckboxesField("Who it affects", choices=options(Affected.choices()),
                              validators=[DataRequired(message="Say who the system affects.")])
    decisions_influenced = TextAreaField("Decisions it influences", validators=[Length(max=2000)])
    autonomy = RadioField("Autonomy", choices=options(Autonomy.answers()), validators=[InputRequired()])
    data_categories = CheckboxesField("Data touched", choices=options(DataCategory.choices()))
    prohibited_practice = RadioField(QUESTIONS["prohibited_practice"], choices=options(ProhibitedPractice.choices()),
                                     default="none", validators=[InputRequired()])
    decision_domains = CheckboxesField(QUESTIONS["decision_domains"], choices=options(DecisionDomain.choices()))
    legal_effect = RadioField(QUESTIONS["legal_effect"], choices=options([("no", "No"), ("yes", "Yes")]), default="no",
                              validators=[InputRequired()])
    safety_harms = CheckboxesField(QUESTIONS["safety_harms"], choices=options(SafetyHarm.choices()))
    biometric_uses = CheckboxesField(QUESTIONS["biometric_uses"], choices=options(BiometricUse.choices()))
    decision_role = RadioField(QUESTIONS["decision_role"], choices=options(DecisionRole.choices()),
                               validators=[Optional()])
    profiling = RadioField(QUESTIONS["profiling"], choices=options([("no", "No"), ("yes", "Yes")]), default="no",
                           validators=[InputRequired()])
    acts_on_people = RadioField(QUESTIONS["acts_on_people"], choices=options([("no", "No"), ("yes", "Yes")]),
                                default="no", validators=[InputRequired()])
    interacts_directly = RadioField(QUESTIONS["interacts_directly"],
                                    choices=options([("", "Not answered"), ("no", "No"), ("yes", "Yes")]),
                                    default="", validators=[Optional()])
    declared = RadioField("Declared determination",
                          choices=options([("", "None declared"), ("yes", "Declared high-impact or high-risk"),
                                           ("no", "Declared not high-impact or high-risk")]), default="",
                          validators=[Optional()])
    declared_regime = SelectField("Under which rules", choices=options(DeclaredRegime.choices()),
                                  default=DeclaredRegime.OTHER.value, validators=[Optional()])
    declared_justification = TextAreaField("Its justification", validators=[Length(max=4000)])
    declared_source = StringField("Who made it, where", validators=[Length(max=300)],
                                  description="E.g. “Agency AI use case inventory 2025” or “Legal, risk memo of March 2026”.")
    version = HiddenField()

    def set_people(self, people: list[tuple[str, str]]) -> None:
        self.accountable_owner.choices = options([("", "Choose a person…")] + people)
        self.technical_owner.choices = options([("", "None named")] + people)

    def set_units(self, names: list[str], current: str | None = None) -> None:
        """The listed units, and the system's own unit when the list lacks it (an imported one)."""
        extra = [(current, f"{current} (not on the list)")] if current and current not in names else []
        self.business_unit.choices = options([("", "Choose a unit…")] + [(n, n) for n in names] + extra)

    def payload(self) -> dict:
        return {
            "name": self.name.data,
            "purpose": self.purpose.data,
            "business_process": self.business_process.data,
            "business_unit": self.business_unit.data,
            "accountable_owner": self.accountable_owner.data or None,
            "technical_owner": self.technical_owner.data or None,
            "sourcing": self.sourcing.data,
            "vendor_name": self.vendor_name.data or None,
            "kind": self.kind.data,
            "stage": self.stage.data,
            "affects": self.affects.data or [],
            "decisions_influenced": self.decisions_influenced.data or "",
            "autonomy": self.autonomy.data,
            "data_categories": self.data_categories.data or [],
            "risk": {
                "prohibited_practice": self.prohibited_practice.data or "none",
                "decision_domains": self.decision_domains.data or [],
                "legal_effect": self.legal_effect.data == "yes",
                "decision_role": self.decision_role.data or None,
                "safety_harms": self.safety_harms.data or [],
                "biometric_uses": self.biometric_uses.data or [],
                "profiling": self.profiling.data == "yes",
                "acts_on_people": self.acts_on_people.data == "yes",
                "interacts_directly": {"yes": True, "no": False}.get(self.interacts_directly.data or ""),
            },
            "declared": (None if not self.declared.data else
                         {"high_impact": self.declared.data == "yes",
                          "regime": self.declared_regime.data or DeclaredRegime.OTHER.value,
                          "justification": self.declared_justification.data or "",
                          "source": self.declared_source.data or ""}),
        }

    def fill(self, payload: dict) -> None:
        for key in ("name", "purpose", "business_process", "business_unit", "accountable_owner", "technical_owner",
                    "sourcing", "vendor_name", "kind", "stage", "affects", "decisions_influenced", "autonomy",
                    "data_categories"):
            getattr(self, key).data = payload.get(key)
        risk = payload.get("risk") or {}
        self.prohibited_practice.data = risk.get("prohibited_practice", "none")
        self.decision_domains.data = risk.get("decision_domains", [])
        self.legal_effect.data = "yes" if risk.get("legal_effect") else "no"
        self.decision_role.data = risk.get("decision_role")
        self.safety_harms.data = risk.get("safety_harms", [])
        self.biometric_uses.data = risk.get("biometric_uses", [])
        self.profiling.data = "yes" if risk.get("profiling") else "no"
        self.acts_on_people.data = "yes" if risk.get("acts_on_people") else "no"
        declared = payload.get("declared") or {}
        self.declared.data = "" if not declared else ("yes" if declared.get("high_impact") else "no")
        self.declared_justification.data = declared.get("justification", "")
        self.declared_regime.data = declared.get("regime", DeclaredRegime.OTHER.value)
        self.declared_source.data = declared.get("source", "")
        direct = risk.get("interacts_directly")
        self.interacts_directly.data = "" if direct is None else ("yes" if direct else "no")

    def validate_decision_role(self, field) -> None:
        """Asked whenever the output feeds decisions or actions with effects: the answer decides the
        OMB M-25-21 flag (and the EU AI Act Art. 6(3) derogation)."""
        weighty = (self.decision_domains.data or self.legal_effect.data == "yes" or self.safety_harms.data
                   or set(self.biometric_uses.data or []) - {BiometricUse.VERIFICATION.value}
                   or (self.prohibited_practice.data or "none") != "none")
        if weighty and not field.data and self.autonomy.data != "fully_automated":
            raise ValidationError("Say how much its output weighs in those decisions or actions.")


class UnitForm(FlaskForm):
    """Add a unit (also "add to the list" for a unit only systems use), or rename one."""

    name = StringField("Name of the unit", validators=[DataRequired(message="Name the unit."),
                                                       Length(max=UNIT_MAX_LENGTH)])


class MergeForm(FlaskForm):
    """Merge ``source`` (a listed unit, or one only systems use) into the listed unit ``target``."""

    source = HiddenField(validators=[DataRequired(message="The form is incomplete: reload the page.")])
    target = SelectField("Merge into", coerce=int, validate_choice=False,
                         validators=[DataRequired(message="Choose the unit to merge into.")])


class TierOverrideForm(FlaskForm):
    tier = SelectField("Tier", choices=options([("", "Remove the override")] + Tier.answers()), validators=[Optional()])
    reason = TextAreaField("Reason", validators=[DataRequired(message="Write the reason for the override."),
                                                 Length(max=2000)])


class MetricForm(FlaskForm):
    name = StringField("Metric", validators=[DataRequired(), Length(max=200)])
    unit = StringField("Unit", validators=[DataRequired(), Length(max=40)], description="For example %, minutes, EUR.")
    baseline = FloatField("Baseline value", validators=[Optional()])
    measured_on = DateField("Measured on", validators=[Optional()])
    source = StringField("Source", validators=[Optional(), Length(max=300)])
    target = FloatField("Target", validators=[Optional()])
    direction = RadioField("Direction", choices=options(MetricDirection.choices()), validators=[InputRequired()])

    def payload(self) -> dict:
        return {
            "name": self.name.data,
            "unit": self.unit.data,
            "baseline": self.baseline.data,
            "measured_on": self.measured_on.data.isoformat() if self.measured_on.data else None,
            "source": self.source.data or "",
            "target": self.target.data,
            "direction": self.direction.data,
        }


class VersionedForm(FlaskForm):
    """A form carrying the version of the record it was read from (stale saves are refused).

    The version is required: a form without it could otherwise step around the check."""

    version = HiddenField(validators=[InputRequired(message="The form is incomplete: reload the page."),
                                      Regexp(r"^\d{1,9}$", message="The form is incomplete: reload the page.")])

    def expected_version(self) -> int | None:
        try:
            return int(self.version.data)
        except (TypeError, ValueError):
            return None


class ConfirmOverrideForm(FlaskForm):
    """Confirm the proposal shown: its tier and the system's version when the page was read."""

    tier = HiddenField(validators=[DataRequired()])
    version = HiddenField(validators=[DataRequired()])


class ConfirmForm(FlaskForm):
    """An empty form: a CSRF-protected button (delete, sign out)."""

    version = HiddenField()


_FIELD_ALIASES = {"risk.prohibited_practice": "prohibited_practice", "risk.decision_domains": "decision_domains",
                  "risk.legal_effect": "legal_effect", "baseline_value": "baseline", "target_value": "target"}


def refuse(session, form: FlaskForm, err) -> int:
    """A service refused the form's change (``DomainError``): undo the transaction, show its reasons
    on the fields (or above the form when it names none) and return the status to answer with."""
    session.rollback()
    attach_errors(form, err.errors)
    if not err.errors:
        form.form_errors.append(err.message)
    return err.status


def attach_errors(form: FlaskForm, errors: dict[str, list[str]]) -> None:
    """Put service/schema errors on the matching form fields; others become form errors."""
    for key, messages in errors.items():
        name = _FIELD_ALIASES.get(key, key).split(".")[0]
        field = form._fields.get(name)
        if field is not None:
            field.errors = list(field.errors) + list(messages)
        else:
            form.form_errors.extend(messages)
