"""Declared vs computed: a high-impact / high-risk determination made outside the registry (an
agency's or a business unit's own label, e.g. from an imported inventory) beside the one the tier
rules compute.  The one definition of "computed high", of when the two disagree, and of how the
disagreement reads; the system page, the review queue (in SQL) and the PDF snapshot use it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, false, or_, true

from registry.enums import EU_HIGH_RISK, EUClass
from registry.inventory.models import AISystem


def computed_high(eu_class: EUClass | str | None, omb_high_impact: bool | None) -> bool | None:
    """High-impact under OMB M-25-21 or high-risk under the EU AI Act, by the rules.  None: not
    determined (the principal-basis question is unanswered and the EU class is not high-risk), or
    not computed yet."""
    if eu_class is not None and EUClass(eu_class) in EU_HIGH_RISK:
        return True
    if omb_high_impact is None or eu_class is None:
        return None
    return bool(omb_high_impact)


@dataclass(frozen=True)
class Determination:
    declared: bool | None
    computed: bool | None
    message: str  # "" when they agree or nothing is declared

    @property
    def disagrees(self) -> bool:
        return bool(self.message)


def _label(value: bool | None) -> str:
    return {True: "high-impact", False: "not high-impact", None: "not determined"}[value]


def determination(system: AISystem) -> Determination:
    computed = computed_high(system.eu_class, system.omb_high_impact)
    declared = system.declared_high_impact
    if declared is None or computed is None or declared == computed:
        return Determination(declared, computed, "")
    if computed and not system.omb_high_impact:  # high through the EU AI Act class alone
        why = f"EU AI Act {EUClass(system.eu_class).label}" + (f", {system.eu_basis}" if system.eu_basis else "")
    else:
        why = (system.omb_basis or "").rstrip(".")
    message = f"Declared {_label(declared)}, computed {_label(computed)}"
    return Determination(declared, computed, f"{message}: {why}." if why else f"{message}.")


def disagreement_clause():
    """SQL for ``determination(...).disagrees``: the declared determination is the opposite of
    the computed one, both known."""
    high_class = AISystem.eu_class.in_(list(EU_HIGH_RISK))
    computed_true = or_(high_class, and_(AISystem.eu_class.is_not(None), AISystem.omb_high_impact.is_(true())))
    computed_false = and_(AISystem.eu_class.is_not(None), ~high_class, AISystem.omb_high_impact.is_(false()))
    return or_(and_(AISystem.declared_high_impact.is_(false()), computed_true),
               and_(AISystem.declared_high_impact.is_(true()), computed_false))
