"""Excel and CSV exports of the inventory and portfolio (systems, controls, decisions)."""
