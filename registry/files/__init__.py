"""Stored files (evidence, export ZIPs, staged uploads) where every web node and worker sees them."""
