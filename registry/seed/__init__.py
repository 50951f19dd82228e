"""Loading data: the demo portfolio from seed_data/ and synthetic portfolios for benchmarks."""
