# Shared by scripts/run, scripts/test and scripts/bench: create or update .venv from the hashed lock
# (docs/install.md): `run` installs requirements/run.lock, `dev` requirements/dev.lock, then the project
# itself without dependencies.  Reinstalls only when the lock or pyproject.toml changed since the last
# install.  pip's errors show and stop the calling script (set -e).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
venv_mode="${1:-run}"
venv_lock="requirements/${venv_mode}.lock"
if [ ! -f "$venv_lock" ]; then
  echo "No $venv_lock: the modes are run and dev." >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv with $($PYTHON --version)…"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(cat pyproject.toml "$venv_lock" | sha256sum | cut -c1-16)-${venv_mode}"
if [ ! -f "$stamp" ]; then
  echo "Installing $venv_lock and the project into .venv…"
  .venv/bin/python -m pip install --quiet --require-hashes -r "$venv_lock"
  # setuptools comes pinned from the lock, so the build needs nothing from the network.
  .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
  rm -f .venv/.installed-*
  touch "$stamp"
fi
