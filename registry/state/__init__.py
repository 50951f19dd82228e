"""Per-system facts, the one loader that gathers them, and the state cache built from them."""
