"""Jinja filters and globals shared by every page (and later by the PDFs)."""

from __future__ import annotations

from datetime import date, datetime

from flask import Flask, request, url_for

from registry import enums
from registry.inventory.tiering import FLAGS


def _fmt_dt(value: datetime | str | None) -> str:
    """A UTC timestamp to the minute; also takes the ISO strings stored in snapshots."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _fmt_date(value: date | None) -> str:
    return value.isoformat() if value else "—"


def format_number(value: float | None) -> str:
    """Thousands separated; two decimals from 1 up, three significant digits below 1 (0.000123),
    and 1.2e+15 style beyond what a table column holds."""
    if value is None:
        return "—"
    value = float(value)
    if abs(value) >= 1e15:
        return f"{value:.3g}"
    if value.is_integer():
        return f"{int(value):,}"
    if abs(value) < 1:
        return f"{value:.3g}" if abs(value) >= 1e-4 else f"{value:.2e}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _measure(value: float | None, unit: str) -> str:
    """A number with its unit: 61.5%, 52 hours, EUR 1,200 stays 1,200 EUR."""
    if value is None:
        return "not recorded"
    number = format_number(value)
    return f"{number}{unit}" if unit in {"%", "‰"} else f"{number} {unit}"


def _label(value, enum_name: str) -> str:
    if value is None or value == "":
        return "—"
    cls = getattr(enums, enum_name)
    try:
        return cls(value).label
    except ValueError:
        return str(value)


def url_with(**changes) -> str:
    """The current URL with some query parameters replaced (None removes one)."""
    args = request.args.to_dict(flat=False)
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value if isinstance(value, list) else [value]
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def fix_url(system_id: int, target: str) -> str:
    """The page that fixes a blocker (see ``registry.decisions.recommendation.Blocker.target``)."""
    kind, _, key = target.partition(":")
    if kind == "readiness":
        return url_for("readiness.question", system_id=system_id, key=key)
    if kind == "control":
        return url_for("controls.show", system_id=system_id, control_id=int(key))
    if kind == "controls":
        return url_for("controls.index", system_id=system_id)
    if kind == "metrics":
        return url_for("inventory.show", system_id=system_id) + "#metrics"
    if kind == "decisions":
        return url_for("decisions.index", system_id=system_id)
    if kind in ("monitoring", "incidents", "reliability", "value"):  # after the baseline: each its own tab
        return url_for(f"{kind}.index", system_id=system_id)
    return url_for("inventory.edit", system_id=system_id)


def register_filters(env) -> None:
    """The formatting filters, for the app's environment and the PDF renderer's."""
    env.filters.update(dt=_fmt_dt, date=_fmt_date, num=format_number, label=_label, measure=_measure,
                       flag_label=lambda flag: FLAGS.get(flag, flag))


def register(app: Flask) -> None:
    register_filters(app.jinja_env)
    app.jinja_env.globals.update(url_with=url_with, fix_url=fix_url)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
