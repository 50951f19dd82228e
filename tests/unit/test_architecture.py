"""The code's shape, as a newcomer would check it: no import circle among the modules of
``registry/``, no import inside a function except an optional dependency, domains that call
downward only, views that do not import each other, and events that all have a handler."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from registry import events
from registry.handlers import register_handlers

ROOT = Path(__file__).resolve().parents[2] / "registry"

# Imported inside a function on purpose: WeasyPrint needs the system's Pango at import time, and
# everything but PDF rendering works without it (renders run in forked children that import it).
OPTIONAL_IMPORTS = {"weasyprint", "weasyprint.text.fonts"}
# boto3 only where FILE_STORE_URL names an S3 store (the `s3` extra).
OPTIONAL_IMPORTS |= {"boto3", "botocore.config", "botocore.exceptions"}
# pandas and openpyxl only where an uploaded inventory is read (registry/imports/reader.py): a web process
# that never imports a file does not load them (about 50 MiB less resident memory per process).
OPTIONAL_IMPORTS |= {"pandas", "openpyxl", "openpyxl.utils.cell"}

# Shared by every domain: the schema (models) and the pure rule modules, which import only the
# foundation, models and other rule modules.
RULE_MODULES = {"registry.inventory.tiering", "registry.readiness.questions", "registry.controls.applicability",
                "registry.controls.staleness", "registry.decisions.recommendation", "registry.reliability.passk",
                "registry.value.rules"}
FOUNDATION = {"registry.config", "registry.db", "registry.enums", "registry.errors", "registry.events",
              "registry.records", "registry.templating", "registry.migrate", "registry.models"}
# Domains from the bottom up: a module may import its own domain and any lower one.
LAYERS = ["files", "audit", "auth", "state", "inventory", "readiness", "controls", "monitoring", "incidents", "reliability",
          "value", "decisions",
          "review", "reports", "exports", "imports", "portfolio", "seed", "api", "ops"]
TOP = {"registry", "registry.cli", "registry.web", "registry.handlers", "registry.jobs", "registry.wsgi"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(ROOT.rglob("*.py"))}


MODULES = _modules()


def _resolve(node: ast.ImportFrom | ast.Import) -> list[str]:
    """The registry modules an import statement loads (``from registry.x import y`` may name a module y)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.startswith("registry")]
    if not node.module or not node.module.startswith("registry"):
        return []
    return [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module for a in node.names]


def _top_level_imports(tree: ast.Module) -> set[str]:
    found = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update(_resolve(node))
    return found


def _function_imports(tree: ast.Module) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Import):
                    out += [(sub.lineno, a.name) for a in sub.names]
                elif isinstance(sub, ast.ImportFrom):
                    out.append((sub.lineno, sub.module or "."))
    return out


GRAPH = {name: {m for m in _top_level_imports(tree) if m in MODULES and m != name} for name, tree in MODULES.items()}


def test_no_import_circle_among_registry_modules():
    visiting, done, cycles = set(), set(), []

    def visit(name: str, path: list[str]) -> None:
        if name in done:
            return
        if name in visiting:
            cycles.append(path[path.index(name):] + [name])
            return
        visiting.add(name)
        for target in sorted(GRAPH[name]):
            # a package's __init__ importing its own submodules is not a circle back to it
            visit(target, [*path, target])
        visiting.discard(name)
        done.add(name)

    for name in sorted(GRAPH):
        visit(name, [name])
    assert not cycles, "import circles: " + "; ".join(" → ".join(c) for c in cycles)


def test_no_import_inside_a_function_but_optional_dependencies():
    found = [f"{name}:{line} imports {target}" for name, tree in MODULES.items()
             for line, target in _function_imports(tree) if target not in OPTIONAL_IMPORTS]
    assert not found, "\n".join(found)


def _domain(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in LAYERS else None


def _shared(name: str) -> bool:
    return name in FOUNDATION or name in RULE_MODULES or name.endswith(".models") or name.endswith(".__init__")


def test_domains_call_downward_only():
    wrong = []
    for name, targets in GRAPH.items():
        if name in TOP or name.endswith(".views"):
            continue
        for target in targets:
            if target.endswith(".views") or target in TOP:
                wrong.append(f"{name} imports {target} (views and the app's top are imported by nobody below)")
                continue
            if _shared(name):
                if not _shared(target):
                    wrong.append(f"{name} (schema, rules or foundation) imports {target}")
                continue
            if _shared(target):
                continue
            mine, theirs = _domain(name), _domain(target)
            if mine is None or theirs is None:
                wrong.append(f"{name} imports {target}: place both in a layer")
            elif LAYERS.index(theirs) > LAYERS.index(mine):
                wrong.append(f"{name} ({mine}) imports the higher {target} ({theirs})")
    assert not wrong, "\n".join(sorted(wrong))


def test_views_do_not_import_each_other_nor_the_package_root():
    wrong = [f"{name} imports {target}" for name, targets in GRAPH.items() if name.endswith(".views")
             for target in targets if target.endswith(".views") or target == "registry"]
    assert not wrong, "\n".join(wrong)


def test_services_do_not_reach_for_flask():
    """Services take settings as arguments or from the session's info; only views, the web
    helpers, the CLI and the job entry points know Flask."""
    wrong = []
    for name, tree in MODULES.items():
        if name in TOP or name.endswith((".views", ".forms")) or name == "registry.templating" \
                or name == "registry.errors":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in {"flask", "flask_login"}:
                wrong.append(f"{name} imports {node.module}")
    assert not wrong, "\n".join(wrong)


PUBLISHED = re.compile(r"""publish\(\s*\w+\s*,\s*["']([\w.]+)["']""")


def test_every_published_event_is_declared_and_handled():
    register_handlers()
    published = {m for p in ROOT.rglob("*.py") for m in PUBLISHED.findall(p.read_text())}
    assert published, "the pattern no longer finds publish() calls"
    assert published <= set(events.EVENTS), f"undeclared events: {published - set(events.EVENTS)}"
    unhandled = [name for name in events.EVENTS if not events.handlers_for(name)]
    assert not unhandled, f"declared events without a handler: {unhandled}"


def test_publishing_an_unknown_or_unhandled_event_fails_loudly(monkeypatch):
    with pytest.raises(KeyError):
        events.publish(None, "system.renamed_by_mistake")
    monkeypatch.setattr(events, "_handlers", {})
    with pytest.raises(RuntimeError, match="no handler"):
        events.publish(None, "metric.changed", actor=None, system=None, metric_id=1, change="deleted")
