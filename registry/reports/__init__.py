"""Audit PDFs: rendered once from a decision's frozen snapshot, stored, verified, exported in bulk."""
