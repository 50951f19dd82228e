"""Declared vs computed: a high-impact / high-risk determination made outside the registry (an
agency's or a business unit's own label, e.g. from an imported inventory) beside the one the tier
rules compute.  A declaration says under which rules it was made (``DeclaredRegime``) and is
compared with the registry's determination under the same rules:

- OMB M-25-21: the OMB flag (None: not determined, the principal-basis question is unanswered);
- EU AI Act: high-risk (Annex I or III) or prohibited;
- own classification: either of the two.

The one definition of "computed", of when the two disagree, and of how the disagreement reads;
the system page, the review queue (``disagreement_clause``, in SQL) and the PDF snapshot use it.
A system not yet assessed under the current rules (no EU class recorded) has no computed
determination, so nothing is said to disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, false, or_, true

from registry.enums import EU_HIGH_RISK, DeclaredRegime, EUClass
from registry.inventory.models import AISystem

EU_HIGH = EU_HIGH_RISK | {EUClass.PROHIBITED}


def computed_high(regime: DeclaredRegime | str, eu_class: EUClass | str | None,
                  omb_high_impact: bool | None) -> bool | None:
    """The registry's determination under ``regime``; None when it has none (not determined, or
    not computed under the current rules)."""
    if eu_class is None:
        return None
    eu_high = EUClass(eu_class) in EU_HIGH
    regime = DeclaredRegime(regime)
    if regime is DeclaredRegime.EU:
        return eu_high
    if regime is DeclaredRegime.OMB:
        return omb_high_impact
    if eu_high or omb_high_impact:
        return True
    return None if omb_high_impact is None else False


@dataclass(frozen=True)
class Determination:
    declared: bool | None
    computed: bool | None
    message: str  # "" when they agree, nothing is declared or nothing is computed

    @property
    def disagrees(self) -> bool:
        return bool(self.message)


LABELS = {DeclaredRegime.OMB: ("high-impact", "not high-impact"),
          DeclaredRegime.EU: ("high-risk", "not high-risk"),
          DeclaredRegime.OTHER: ("high-impact or high-risk", "neither high-impact nor high-risk")}


def determination(system) -> Determination:
    """``system``: an AISystem, or a row with the same attribute names."""
    regime = DeclaredRegime(system.declared_regime or DeclaredRegime.OTHER)
    computed = computed_high(regime, system.eu_class, system.omb_high_impact)
    declared = system.declared_high_impact
    if declared is None or computed is None or declared == computed:
        return Determination(declared, computed, "")
    yes, no = LABELS[regime]
    eu = (f"EU AI Act: {EUClass(system.eu_class).label}" + (f", {system.eu_basis}" if system.eu_basis else ""))
    omb = (system.omb_basis or "").rstrip(".")
    if regime is DeclaredRegime.EU:
        why = eu
    elif regime is DeclaredRegime.OMB:
        why = omb
    else:
        why = omb if system.omb_high_impact or not computed else eu
    message = f"Declared {yes if declared else no} ({regime.label}), computed {yes if computed else no}"
    return Determination(declared, computed, f"{message}: {why}." if why else f"{message}.")


def disagreement_clause():
    """SQL for ``determination(...).disagrees``: the declared determination is the opposite of the
    computed one under the same rules, both known."""
    recorded = AISystem.eu_class.is_not(None)
    eu_high = AISystem.eu_class.in_(list(EU_HIGH))
    omb_true, omb_false = AISystem.omb_high_impact.is_(true()), AISystem.omb_high_impact.is_(false())
    computed_true = {DeclaredRegime.OMB: omb_true, DeclaredRegime.EU: eu_high,
                     DeclaredRegime.OTHER: or_(eu_high, omb_true)}
    computed_false = {DeclaredRegime.OMB: omb_false, DeclaredRegime.EU: ~eu_high,
                      DeclaredRegime.OTHER: and_(~eu_high, omb_false)}
    return and_(recorded, or_(*(
        and_(AISystem.declared_regime == regime,
             or_(and_(AISystem.declared_high_impact.is_(false()), computed_true[regime]),
                 and_(AISystem.declared_high_impact.is_(true()), computed_false[regime])))
        for regime in DeclaredRegime)))
