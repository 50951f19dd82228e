"""Agent reliability: evaluation trials, pass@1 and pass^k, the release gate, compounded step success."""
