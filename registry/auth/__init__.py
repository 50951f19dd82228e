"""Accounts, roles, sign-in and the permission rules."""
