"""Incidents of a system in use: severity, status, who was affected, root cause, lessons, failure mode."""
