"""The value case of a system (value, costs, constraints, who funds the run) and stopping a pilot."""
