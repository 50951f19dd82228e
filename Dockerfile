# syntax=docker/dockerfile:1
# Readiness Registry: one image for the web server (gunicorn) and the job worker; compose.yaml runs both
# with PostgreSQL and Redis.  See docs/containers.md.
#   docker build -t readiness-registry .
# Nothing secret is baked in: SECRET_KEY, AUDIT_KEY, DATABASE_URL… come from the environment at run time.
FROM python:3.11-slim-bookworm

# WeasyPrint's system libraries (Pango, HarfBuzz with its subsetter) and the fonts of the PDFs' text beyond
# Latin, Greek and Cyrillic (the DejaVu fonts ship in static/fonts; scripts/_fonts.sh names the same three
# packages).  --build-arg PDF_FONTS= makes an image about 145 MB smaller whose PDFs leave that text out.
ARG PDF_FONTS="fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji"
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 fontconfig ${PDF_FONTS} \
 && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# The dependencies first, from the hashed lock (docs/install.md): this layer changes only with the lock.
COPY requirements/run.lock requirements/run.lock
RUN python -m venv .venv \
 && .venv/bin/python -m pip install --quiet --require-hashes -r requirements/run.lock

# Then the application; scripts/_venv.sh installs the project itself and writes the stamp scripts/run
# checks, exactly as on a developer's machine (the lock's packages are already there).
COPY . .
RUN bash -c 'source scripts/_venv.sh run' \
 && .venv/bin/python -m compileall -q registry migrations gunicorn.conf.py \
 && groupadd --system --gid 10001 registry \
 && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/registry registry \
 && mkdir -p instance \
 && chown registry:registry instance

# instance/ is the one directory the app may write (files otherwise go to the file store: PostgreSQL or S3);
# compose.yaml mounts a volume there.
USER 10001:10001
# HOME: gunicorn's control socket goes to $HOME/.gunicorn (the code in /app is read-only for this user).
ENV REGISTRY_ENV=production \
    PORT=5000 \
    HOME=/home/registry \
    PATH="/app/.venv/bin:${PATH}"
EXPOSE 5000

# Liveness only (no database): /readyz is for the load balancer (database, migrations at head, Redis).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '5000'), timeout=4)"]

# scripts/run's production path: refuses to start without SECRET_KEY and AUDIT_KEY or on an old schema
# (REGISTRY_MIGRATE_ON_START=1 migrates first), then execs gunicorn with gunicorn.conf.py on 0.0.0.0:$PORT.
# The worker: `registry worker` (compose.yaml).
CMD ["scripts/run"]
