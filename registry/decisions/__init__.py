"""The go / no-go recommendation, recorded decisions with their frozen snapshots, re-review."""
