"""pyproject.toml and the hashed locks (requirements/*.lock, made by scripts/lock) agree, and the runtime
dependencies are what the runtime imports.  A failure here: run scripts/lock (docs/install.md)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = [Requirement(r) for r in PROJECT["dependencies"]]
EXTRAS = {name: [Requirement(r) for r in reqs] for name, reqs in PROJECT["optional-dependencies"].items()}
BUILD = [Requirement(line) for line in (ROOT / "requirements/build.in").read_text().splitlines()
         if line.strip() and not line.startswith("#")]
# What each lock installs (scripts/lock resolves exactly these).
LOCKS = {"run.lock": RUNTIME + EXTRAS["s3"] + BUILD, "dev.lock": RUNTIME + EXTRAS["s3"] + EXTRAS["dev"] + BUILD}

# Runtime dependencies that registry/ does not import by name, and why each is needed all the same.
NOT_IMPORTED = {
    "python-calamine": "pandas' engine for the imported .xls files (registry/imports/reader.py names it)",
    "psycopg": "SQLAlchemy's driver for DATABASE_URL=postgresql+psycopg://…",
    "gunicorn": "the production server (scripts/run, gunicorn.conf.py, the container image)",
    "email-validator": "WTForms' Email() validator needs it (the admin's new-account form)",
}
IMPORT_NAMES = {"argon2-cffi": "argon2", "pyyaml": "yaml"}  # where the import differs from the package's name


@dataclass
class Pin:
    version: str
    marker: str | None
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)


def _parse_lock(name: str) -> dict[str, Pin]:
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for line in (ROOT / "requirements" / name).read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$", line):
            current = pins[canonicalize_name(match[1])] = Pin(match[2], match[3])
        elif current and (match := re.match(r"^\s+--hash=(sha256:[0-9a-f]{64})", line)):
            current.hashes.append(match[1])
        elif current and (match := re.match(r"^\s+#\s+(?:via\s+)?(\S.*)$", line)) and match[1] != "via":
            current.via.append(match[1])
        elif line.strip() and not line.lstrip().startswith("#"):
            pytest.fail(f"requirements/{name}: unexpected line {line!r}")
    return pins


PINS = {name: _parse_lock(name) for name in LOCKS}


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_requirement_is_pinned_with_a_version_it_allows(lock):
    pins = PINS[lock]
    wrong = []
    for req in LOCKS[lock]:
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            wrong.append(f"{req} is not in the lock")
        elif not req.specifier.contains(pin.version, prereleases=True):
            wrong.append(f"{req} but the lock pins {pin.version}")
    assert not wrong, f"requirements/{lock} disagrees with pyproject.toml (run scripts/lock): " + "; ".join(wrong)


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_the_lock_names_as_direct_only_what_pyproject_asks_for(lock):
    """A dependency removed from pyproject.toml must leave the lock too (it is not re-resolved otherwise)."""
    direct = {name for name, pin in PINS[lock].items()
              if any(v.startswith("readiness-registry") or v.startswith("-r requirements/build.in") for v in pin.via)}
    assert direct == {canonicalize_name(r.name) for r in LOCKS[lock]}


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_pin_is_exact_and_hashed(lock):
    unhashed = [name for name, pin in PINS[lock].items() if not pin.hashes]
    assert PINS[lock] and not unhashed, f"requirements/{lock}: no hashes for {unhashed}"


def test_run_lock_and_dev_lock_pin_the_same_versions():
    run, dev = PINS["run.lock"], PINS["dev.lock"]
    assert set(run) <= set(dev)
    assert {n: run[n].version for n in run} == {n: dev[n].version for n in run}


def test_the_runtime_lock_holds_no_development_tool():
    tools = {canonicalize_name(r.name) for r in EXTRAS["dev"]} - {canonicalize_name(r.name) for r in RUNTIME + EXTRAS["s3"]}
    assert tools and not tools & set(PINS["run.lock"])


def _third_party_imports() -> set[str]:
    found = set()
    for path in (ROOT / "registry").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m != "registry" and m not in sys.stdlib_module_names}


def test_every_runtime_dependency_is_imported_by_the_runtime_or_says_why_not():
    imported = _third_party_imports()
    runtime = {canonicalize_name(r.name) for r in RUNTIME}
    unused = [name for name in sorted(runtime - set(NOT_IMPORTED))
              if IMPORT_NAMES.get(name, name.replace("-", "_")) not in imported]
    assert not unused, f"runtime dependencies registry/ does not import (move them to an extra, or to NOT_IMPORTED " \
                       f"with the reason): {unused}"
    assert set(NOT_IMPORTED) <= runtime, "NOT_IMPORTED names a package that is no runtime dependency"


def test_everything_the_runtime_imports_is_in_the_runtime_lock():
    providers = packages_distributions()
    missing = [module for module in sorted(_third_party_imports())
               if not {canonicalize_name(d) for d in providers.get(module, [])} & set(PINS["run.lock"])]
    assert not missing, f"registry/ imports {missing}, which requirements/run.lock does not install"


def test_a_web_process_does_not_load_the_spreadsheet_readers(tmp_path):
    """pandas and openpyxl are imported where an uploaded file is read (about 50 MiB a process otherwise)."""
    code = "import sys, registry; registry.create_app(); print(sorted({'pandas', 'openpyxl'} & set(sys.modules)))"
    env = {**os.environ, "REGISTRY_ENV": "development", "DATABASE_URL": f"sqlite:///{tmp_path / 'r.sqlite3'}",
           "AUDIT_KEY": "k" * 32, "REDIS_URL": ""}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
