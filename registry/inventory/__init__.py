"""The inventory: AI systems, their risk tier and their baseline metrics."""
