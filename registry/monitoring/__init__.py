"""After the baseline: observations of each baseline metric, its drift rule and drift alerts."""
