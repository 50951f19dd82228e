"""WSGI entry point for gunicorn: `gunicorn registry.wsgi:app`."""

from registry import create_app

app = create_app()
