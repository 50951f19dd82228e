"""The compliance officer's review queue: what waits for them, aggregated in SQL."""
