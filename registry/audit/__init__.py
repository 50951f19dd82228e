"""The tamper-evident audit trail: every change, login and export as a hash-chained event."""
