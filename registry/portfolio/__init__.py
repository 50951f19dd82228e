"""Portfolio: the executive dashboard, its per-system state cache and the portfolio PDF."""
