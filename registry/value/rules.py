"""The value case's rule for production: at medium and high tier, a budgeted run cost and a named
maintenance team, or the system does not go to production (the go/no-go rules call this; it is the
one definition).  Pure: no session, no Flask."""

from __future__ import annotations

from registry.enums import Tier
from registry.value.models import ValueCase

# The tiers at which the gaps below block production.
GATED_TIERS = frozenset({Tier.MEDIUM, Tier.HIGH})

NO_RUN_COST = ("No annual run cost (compute, licences) in the value case: record the budgeted figure "
               "(0 if it truly costs nothing to run).")
NO_FUNDER = "The value case does not say whose budget funds the run cost."
NO_TEAM = "No team named for maintenance (people, retraining, monitoring) in the value case."


def value_case_gaps(case: ValueCase | None, tier: Tier | str | None) -> list[str]:
    """What is missing for production at ``tier`` (empty: nothing, or the tier does not ask).

    "Budgeted run cost": a recorded figure (None is not an answer; 0 is) and, when above 0, who funds
    it.  "Named team": the maintenance team filled in.  A missing value case misses both."""
    if tier is None or Tier(tier) not in GATED_TIERS:
        return []
    gaps = []
    run_cost = case.annual_run_cost if case is not None else None
    if run_cost is None:
        gaps.append(NO_RUN_COST)
    elif run_cost > 0 and not (case.run_funded_by or "").strip():
        gaps.append(NO_FUNDER)
    if case is None or not (case.maintenance_team or "").strip():
        gaps.append(NO_TEAM)
    return gaps
