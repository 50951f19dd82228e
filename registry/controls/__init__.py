"""Control catalogues (NIST AI RMF and others, as data), per-system assessments and evidence."""
