"""The form a compliance officer records a decision with."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, RadioField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from registry.enums import Verdict
from registry.inventory.forms import options


class DecisionForm(FlaskForm):
    verdict = RadioField("Decision", choices=options(Verdict.choices()))
    rationale = TextAreaField("Rationale", validators=[Length(max=8000)],
                              description="Why this decision. Required; at least 40 characters when it differs from "
                                          "the recommendation.")
    conditions = TextAreaField("Conditions (one per line)", validators=[Length(max=8000)],
                               description="Required for a CONDITIONAL GO: what must be done, by when.")
    # a fingerprint of the recommendation the officer saw (services.basis_fingerprint)
    basis = HiddenField(validators=[InputRequired(message="The form is incomplete: reload the page.")])
    expires_on = DateField("Re-review by", validators=[Optional()],
                           description="Defaults by tier: high 6 months, medium 12, low 24.")

    def payload(self) -> dict:
        return {"verdict": self.verdict.data or "", "rationale": self.rationale.data or "",
                "conditions": self.conditions.data or "",
                "expires_on": self.expires_on.data.isoformat() if self.expires_on.data else None}
