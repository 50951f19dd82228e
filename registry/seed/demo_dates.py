"""Demo dates relative to the day the demo is loaded, so it tells the same story whenever it is.

Each demo file says on which day its dates were written (``as_of``).  Loaded on another day,
every date in it (a YAML date anywhere) moves by the same number of days: a decision taken
ten weeks ago, evidence eleven months old, a rehearsal six weeks back, an expiry five months
ahead, whatever the calendar says.

In text, a date of the story is written between double braces, and only there:

- ``{{2027-01-29}}`` and ``{{29 January 2027}}`` move by the same number of days;
- calendar periods (``{{September 2026}}``, ``{{Sep 2026}}``, ``{{2026-09}}``, ``{{Jan–Mar 2026}}``,
  ``{{Oct 2025–Jan 2026}}``, ``{{Q1 2026}}``, ``{{H2 2025}}``, ``{{FY 2025}}``, ``{{2025}}``) move by the
  whole months the shift spans, so they stay real months, quarters and years; rounded down,
  a period never ends later than the records it describes (it may read up to a month older).

A year or date outside braces does not move: a real-world event, a ticket or document number.
An unknown form between braces is refused, so a typo fails loudly instead of loading as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from registry.decisions.services import add_months
from registry.errors import ValidationFailed

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}")
_MONTH = r"([A-Z][a-z]+)(?: (\d{4}))?"  # "Sep", "September", "Sep 2026"
_PERIODS = {"Q": 3, "H": 6, "FY ": 12, "": 12}  # months in a quarter, half, (fiscal) year


def day_of(value: Any, what: str) -> date:
    """A YAML date (or an ISO string) as a date; refuses anything else, naming ``what``."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValidationFailed(f"{what}: {value!r} is not a date (YYYY-MM-DD).") from exc


def _month_number(name: str, text: str) -> int:
    for number, month in enumerate(MONTHS, start=1):
        if name in (month, month[:3]):
            return number
    raise ValidationFailed(f"{{{{{text}}}}}: {name!r} is not a month (January or Jan).")


@dataclass(frozen=True)
class Shift:
    """How far a demo file's dates move: ``days`` exactly, periods by whole ``months``."""

    days: int = 0
    months: int = 0

    @classmethod
    def between(cls, as_of: date, today: date) -> Shift:
        months = (today.year - as_of.year) * 12 + today.month - as_of.month
        if add_months(as_of, months) > today:  # not a whole month yet: round down
            months -= 1
        return cls((today - as_of).days, months)

    def apply(self, value: Any) -> Any:
        """``value`` (a YAML tree) with every date moved and every date placeholder written out."""
        if isinstance(value, date):  # a datetime is a date too
            return value + timedelta(days=self.days)
        if isinstance(value, str):
            return PLACEHOLDER.sub(lambda m: self.text(m.group(1)), value)
        if isinstance(value, dict):
            return {k: self.apply(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.apply(v) for v in value]
        return value

    def text(self, text: str) -> str:
        """One placeholder's content, moved, in the form it was written in."""
        if re.fullmatch(r"\d{4}-\d\d-\d\d", text):
            return (day_of(text, f"{{{{{text}}}}}") + timedelta(days=self.days)).isoformat()
        if m := re.fullmatch(r"(\d{1,2}) ([A-Z][a-z]+) (\d{4})", text):
            day = date(int(m[3]), _month_number(m[2], text), int(m[1])) + timedelta(days=self.days)
            return f"{day.day} {MONTHS[day.month - 1]} {day.year}"
        if m := re.fullmatch(r"(\d{4})-(\d\d)", text):
            year, month = self._month(int(m[1]), int(m[2]))
            return f"{year:04d}-{month:02d}"
        if m := re.fullmatch(r"(Q|H)([1-4]) (\d{4})|(FY )?(\d{4})", text):
            kind, number, year = (m[1], int(m[2]), int(m[3])) if m[1] else (m[4] or "", 1, int(m[5]))
            size = _PERIODS[kind]
            if number > 12 // size:
                raise ValidationFailed(f"{{{{{text}}}}}: there is no such half-year.")
            year, month = self._month(year, (number - 1) * size + 1)
            return f"{kind}{(month - 1) // size + 1} {year}" if size < 12 else f"{kind}{year}"
        if m := re.fullmatch(rf"{_MONTH}\s*([–-])\s*{_MONTH}", text):
            if not m[5]:
                raise ValidationFailed(f"{{{{{text}}}}}: a month range ends with its year (Jan–Mar 2026).")
            first, last = _month_number(m[1], text), _month_number(m[4], text)
            start = self._month(int(m[2]) if m[2] else int(m[5]) - (first > last), first)
            end = self._month(int(m[5]), last)
            head = self._month_name(m[1], start[1]) + ("" if start[0] == end[0] else f" {start[0]}")
            return f"{head}{m[3]}{self._month_name(m[4], end[1])} {end[0]}"
        if (m := re.fullmatch(_MONTH, text)) and m[2]:
            year, month = self._month(int(m[2]), _month_number(m[1], text))
            return f"{self._month_name(m[1], month)} {year}"
        raise ValidationFailed(f"{{{{{text}}}}}: not a demo date this loader reads (see registry/seed/demo_dates.py).")

    def _month(self, year: int, month: int) -> tuple[int, int]:
        """(year, month) moved by the shift's whole months."""
        index = year * 12 + month - 1 + self.months
        return index // 12, index % 12 + 1

    @staticmethod
    def _month_name(written: str, month: int) -> str:
        """The month's name, as long as the one it replaces (Sep or September)."""
        name = MONTHS[month - 1]
        return name if written in MONTHS else name[:3]


def as_of_load_day(data: dict, today: date | None, what: str) -> dict:
    """The demo file ``data`` (its YAML tree) as seen from ``today``: every date moved by
    ``today - as_of``.  Without ``as_of`` (or ``today``) the dates stay as written; the
    placeholders in its text are written out either way."""
    as_of = data.get("as_of")
    if as_of is not None and not isinstance(as_of, date):
        raise ValidationFailed(f"{what}: 'as_of' must be a date (YYYY-MM-DD), the day its dates were written against.")
    shift = Shift.between(as_of, today) if as_of and today else Shift()
    return shift.apply({k: v for k, v in data.items() if k != "as_of"})
