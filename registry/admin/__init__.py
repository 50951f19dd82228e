"""Admin pages: users and roles."""
