"""gunicorn settings for `scripts/run` in production (REGISTRY_ENV=production); read from the environment.

A worker must outlive the longest audit PDF render (REPORT_TIMEOUT_SECONDS, which stops the render
itself and answers 503): gunicorn's timeout is that limit plus GUNICORN_TIMEOUT_MARGIN seconds, so a
slow render ends as a clean 503 rather than a killed worker and a 502 at the proxy."""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
timeout = int(float(os.environ.get("REPORT_TIMEOUT_SECONDS", "60")) + float(os.environ.get("GUNICORN_TIMEOUT_MARGIN", "30")))
# On SIGTERM (a deploy, a scale-down) requests in flight get this long to finish, renders included.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", str(timeout)))
keepalive = 5  # behind a proxy that keeps connections open
accesslog = "-"
errorlog = "-"
wsgi_app = "registry.wsgi:app"
