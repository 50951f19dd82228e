"""Which column fills which registry field, and how a file's values become the registry's.

A mapping is data: ``{"columns": {field: header}, "fallbacks": {field: header}, "values": {field:
{file value: registry value}}, "key": [headers], "fallback_key": [headers], "declared_regime": …}``.
Known layouts ship in ``seed_data/import_layouts/`` and are recognised by their headers; any
other file gets a suggested mapping by header similarity, which a person edits and may save by
name (``ImportMapping``).  ``convert_row`` turns one row into registry values plus the problems
found, each naming the row's column.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

import yaml

from registry.config import ROOT
from registry.enums import DataCategory, DecisionDomain, DeclaredRegime, Kind, Sourcing, Stage
from registry.inventory.units import UNLISTED_FLAG

LAYOUT_DIR = ROOT / "seed_data" / "import_layouts"

# Registry fields an import can fill: field -> (label, kind, limit).  Kinds: text, line (one line),
# enum, list, bool, date, email.
FIELDS: dict[str, tuple[str, str, int]] = {
    "name": ("Name", "line", 300),
    "purpose": ("Purpose", "text", 4000),
    "business_process": ("Business process", "line", 300),
    "business_unit": ("Business unit", "line", 300),
    "organisation": ("Organisation / agency", "line", 200),
    "external_id": ("External id", "line", 200),
    "contact": ("Contact (accountable owner's email)", "email", 320),
    "stage": ("Lifecycle stage", "enum", 0),
    "kind": ("Kind of system", "enum", 0),
    "sourcing": ("Built or bought", "enum", 0),
    "vendor_name": ("Vendor", "line", 200),
    "data_categories": ("Data touched", "list", 0),
    "declared": ("Declared high-impact determination", "bool", 0),
    "declared_justification": ("Its justification", "text", 4000),
    "declared_regime": ("Declared under (per row; else the mapping's)", "enum", 0),
    "declared_source": ("The declared determination's source", "line", 300),
    "topic_area": ("Topic area", "line", 120),
    "outputs": ("Outputs", "text", 4000),
    "operational_date": ("Operational date", "date", 0),
    "decisions_influenced": ("Decisions it influences", "text", 2000),
}
ENUMS = {"stage": Stage, "kind": Kind, "sourcing": Sourcing, "declared_regime": DeclaredRegime}
# Missing these is flagged on the imported record (it is imported all the same).
FLAGGED_WHEN_MISSING = ("name", "purpose", "business_process", "business_unit", "stage", "kind", "sourcing",
                        "data_categories")
SYNONYMS = {
    "name": ["name", "system name", "use case name", "title", "ai system", "model name"],
    "purpose": ["purpose", "description", "problem solved", "what it does", "use case description"],
    "business_process": ["business process", "process"],
    "business_unit": ["business unit", "department", "bureau", "division", "team", "unit"],
    "organisation": ["organisation", "organization", "agency", "agency name", "company", "entity"],
    "external_id": ["id", "external id", "use case id", "identifier", "reference", "ref"],
    "contact": ["owner", "owner email", "contact", "contact email", "accountable owner", "email"],
    "stage": ["stage", "development stage", "lifecycle stage", "status", "phase"],
    "kind": ["kind", "type", "classification", "ai type", "technique", "category"],
    "sourcing": ["sourcing", "built or bought", "contracting usage", "procurement", "source"],
    "vendor_name": ["vendor", "vendor name", "supplier", "provider"],
    "data_categories": ["data", "data categories", "has pii", "personal data", "pii"],
    "declared": ["high impact", "is high impact", "high risk", "risk classification"],
    "declared_justification": ["justification", "hi justification", "high impact justification", "rationale"],
    "topic_area": ["topic", "topic area", "domain", "area"],
    "outputs": ["outputs", "system outputs", "output"],
    "operational_date": ["operational date", "deployment date", "go live", "date deployed", "launch date"],
    "decisions_influenced": ["decisions", "decisions influenced", "benefits"],
}


@dataclass(frozen=True)
class Layout:
    key: str
    name: str
    signature: frozenset[str]
    mapping: dict


def _norm(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", header.lower()).strip()


def load_layouts(directory: Path = LAYOUT_DIR) -> list[Layout]:
    layouts = []
    for path in sorted(directory.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        mapping = {k: data.get(k) for k in ("columns", "fallbacks", "values", "key", "fallback_key", "declared_regime",
                                            "source_label", "registry_match", "domain_hints") if k in data}
        layouts.append(Layout(data["layout"], data["name"], frozenset(_norm(h) for h in data["signature"]), mapping))
    return layouts


RECOGNISED_SHARE = 0.8  # of a layout's signature headers; another year's file may lack a column or two


def recognise(headers: list[str], layouts: list[Layout] | None = None) -> Layout | None:
    """The known layout the file has: its key columns and most of its signature headers (the
    layout with the largest share, if any reaches ``RECOGNISED_SHARE``)."""
    present = {_norm(h) for h in headers}
    best, best_share = None, 0.0
    for layout in layouts if layouts is not None else load_layouts():
        if not {_norm(h) for h in layout.mapping.get("key") or []} <= present:
            continue
        share = len(layout.signature & present) / len(layout.signature)
        if share >= RECOGNISED_SHARE and share > best_share:
            best, best_share = layout, share
    return best


def fit_to(mapping: dict, headers: list[str]) -> tuple[dict, list[str]]:
    """A known layout's mapping for a file that lacks some of its columns: those fields are left
    out (with a note each) instead of making the mapping unusable."""
    present = set(headers)
    columns = mapping.get("columns") or {}
    absent = {name: header for name, header in columns.items() if header and header not in present}
    if not absent:
        return mapping, []
    fitted = {**mapping, "columns": {k: v for k, v in columns.items() if k not in absent},
              "fallbacks": {k: v for k, v in (mapping.get("fallbacks") or {}).items() if v in present},
              "fallback_key": [h for h in mapping.get("fallback_key") or [] if h in present]}
    notes = [f"The file has no column “{header}”: {FIELDS[name][0].lower()} is not imported."
             for name, header in absent.items() if name in FIELDS]
    return fitted, notes


def suggest(headers: list[str]) -> dict:
    """A mapping by header similarity: each field to the best-matching unused header (or none)."""
    by_norm = {_norm(h): h for h in headers}
    columns, used = {}, set()
    for name, synonyms in SYNONYMS.items():
        best, score = None, 0.0
        for normed, header in by_norm.items():
            if header in used:
                continue
            ratio = max(difflib.SequenceMatcher(None, normed, s).ratio() for s in synonyms)
            if normed in synonyms:
                ratio = 1.0
            if ratio > score:
                best, score = header, ratio
        if best is not None and score >= 0.8:
            columns[name] = best
            used.add(best)
    key = [columns["external_id"]] if "external_id" in columns else [columns["name"]] if "name" in columns else []
    return {"columns": columns, "fallbacks": {}, "values": {}, "key": key, "fallback_key": [],
            "declared_regime": DeclaredRegime.OTHER.value, "source_label": ""}


def check_mapping(mapping: dict, headers: list[str]) -> list[str]:
    """What is wrong with a mapping for this file (empty: usable)."""
    shape = {"columns": dict, "fallbacks": dict, "values": dict, "key": list, "fallback_key": list}
    wrong = [k for k, kind in shape.items() if mapping.get(k) is not None and not isinstance(mapping.get(k), kind)]
    wrong += [f"values.{k}" for k, v in (mapping.get("values") or {}).items() if not isinstance(v, dict)] \
        if isinstance(mapping.get("values"), dict) else []
    if wrong or any(not isinstance(h, str) for h in (mapping.get("columns") or {}).values()
                    if isinstance(mapping.get("columns"), dict)):
        return [f"The mapping's {', '.join(wrong) or 'columns'} do not have the expected shape."]
    if mapping.get("declared_regime") not in (None, *DeclaredRegime.values()):
        return [f"declared_regime must be one of {', '.join(DeclaredRegime.values())}."]
    strings = [*(mapping.get("fallbacks") or {}).values(), *(mapping.get("key") or []),
               *(mapping.get("fallback_key") or [])]
    if any(not isinstance(v, str) for v in strings) or not isinstance(mapping.get("source_label") or "", str):
        return ["The mapping's fallbacks, key, fallback_key and source_label must be column names or text."]
    match = mapping.get("registry_match")
    if match is not None and not (isinstance(match, dict) and set(match) == {"registry", "id"}
                                  and all(isinstance(v, str) for v in match.values())):
        return ["registry_match must name the registry column and the system id column: {registry: …, id: …}."]
    hints = mapping.get("domain_hints")
    if hints is not None and not (isinstance(hints, dict) and all(
            isinstance(v, list) and all(d in DecisionDomain.values() for d in v) for v in hints.values())):
        return [f"domain_hints must map topic areas to lists of: {', '.join(DecisionDomain.values())}."]
    unknown = set(mapping) - {"columns", "fallbacks", "values", "key", "fallback_key", "declared_regime",
                              "source_label", "registry_match", "domain_hints"}
    if unknown:
        return [f"Unknown mapping entries: {', '.join(sorted(map(str, unknown)))}."]
    problems = []
    present = set(headers)
    for name, header in {**(mapping.get("columns") or {}), **(mapping.get("fallbacks") or {})}.items():
        if name not in FIELDS:
            problems.append(f"“{name}” is not a field an import can fill.")
        elif header and header not in present:
            problems.append(f"{FIELDS[name][0]}: the file has no column “{header}”.")
    if not (mapping.get("columns") or {}).get("name"):
        problems.append("Map a column to the system's name.")
    missing_key = [h for h in mapping.get("key") or [] if h not in present]
    if not mapping.get("key"):
        problems.append("Choose the column(s) that identify a record (the external key), e.g. an id.")
    elif missing_key:
        problems.append(f"The external key uses columns the file does not have: {', '.join(missing_key)}.")
    return problems


# --- values ---------------------------------------------------------------------------------------------

# Slashes are read month first (the US order of the federal files); dots day first (European).
# An ambiguous day/month order per file is not detected yet: map such a column with care.
DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%m/%d/%Y",
                "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M", "%m/%d/%y", "%d.%m.%Y",
                "%Y/%m/%d", "%m/%Y", "%Y-%m", "%b-%y", "%B %Y", "%b %Y", "%d %B %Y", "%d %b %Y", "%B %d, %Y", "%Y")
LIST_LITERAL = re.compile(r"^\[(.*)\]$", re.S)
EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")
EMAIL_IN = re.compile(r"[^@\s,;<>()\"']+@[^@\s,;<>()\"']+\.[^@\s,;<>()\"']+")


DAY_FIRST = tuple(f.replace("%m/%d/", "%d/%m/") for f in DATE_FORMATS)
SLASHED = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/\d{2,4}\b")


def day_first(cells) -> bool | None:
    """The day/month order of a column's slashed dates: True (25/03/2024 somewhere), False (03/25/2024
    somewhere), None when no cell tells (every day ≤ 12: read month first, as the US files are)."""
    firsts = seconds = False
    for cell in cells:
        match = SLASHED.match(cell)
        if match:
            firsts = firsts or int(match.group(1)) > 12
            seconds = seconds or int(match.group(2)) > 12
    if firsts and not seconds:
        return True
    if seconds and not firsts:
        return False
    return None


@lru_cache(maxsize=4096)  # real files repeat a few hundred distinct dates thousands of times
def parse_date(text: str, dayfirst: bool = False) -> date | None:
    text = text.strip()
    for fmt in DAY_FIRST if dayfirst else DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    if re.fullmatch(r"\d{5}(\.0+)?", text):  # an Excel serial day number
        serial = int(float(text))
        if 20000 < serial < 80000:
            return date.fromordinal(date(1899, 12, 30).toordinal() + serial)
    return None


def split_list(text: str) -> list[str]:
    """A list-like cell: "['a) Sex', 'b) Age']", "a; b", "a, b" or lines."""
    match = LIST_LITERAL.match(text.strip())
    if match:
        return [p.strip().strip("'\"").strip() for p in re.split(r"['\"]\s*,\s*['\"]", match.group(1)) if p.strip(" '\"")]
    parts = re.split(r"[;\n]", text) if re.search(r"[;\n]", text) else text.split(",")
    return [p.strip() for p in parts if p.strip()]


@dataclass
class Converted:
    values: dict = field(default_factory=dict)
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (severity, column, message)
    missing: list[str] = field(default_factory=list)


def _lookup(values: dict, cell: str):
    """A value map's entry for a cell: exact first, then ignoring case and spacing."""
    if cell in values:
        return True, values[cell]
    normed = _norm(cell)
    for key, value in values.items():
        if _norm(str(key)) == normed:
            return True, value
    return False, None


VALUE_MAPPED = ("stage", "kind", "sourcing", "declared", "data_categories")  # fields whose values a mapping translates
BOOL_DEFAULTS = {"yes": True, "true": True, "no": False, "false": False}


def value_choices(name: str) -> list[tuple[str, str]]:
    """What a file's value of a value-mapped field can become (value, label)."""
    if name in ENUMS:
        return list(ENUMS[name].answers()) + [(v, lbl) for v, lbl in ENUMS[name].choices()
                                              if v not in dict(ENUMS[name].answers())]
    if name == "declared":
        return [("true", "Yes: declared high-impact"), ("false", "No: declared not high-impact")]
    return list(DataCategory.choices())


def known_value(name: str, cell: str, mapped_values: dict):
    """(found, value) for one cell of a value-mapped field: the mapping's entry, else what the
    registry recognises by itself (an enum's value or label; yes/no; data category labels)."""
    found, value = _lookup(mapped_values, cell)
    if found:
        return found, value
    if name in ENUMS:
        return _lookup({v: v for v in ENUMS[name].values()} | {lbl: v for v, lbl in ENUMS[name].choices()}, cell)
    if name == "declared":
        return _lookup(BOOL_DEFAULTS, cell) if not mapped_values else (False, None)
    if name == "data_categories":
        by_name = {v: v for v in DataCategory.values()} | {lbl: v for v, lbl in DataCategory.choices()}
        items = [_lookup(by_name, p)[1] for p in split_list(cell)]
        return (True, items) if items and None not in items else (False, None)
    return False, None


def date_orders(rows: list[dict[str, str]], mapping: dict) -> dict[str, bool]:
    """Per date column of the mapping, whether its slashed dates are day first (decided once per file)."""
    orders = {}
    for name, header in (mapping.get("columns") or {}).items():
        if header and FIELDS.get(name, ("", ""))[1] == "date":
            orders[header] = bool(day_first(r.get(header, "") for r in rows))
    return orders


def convert_row(row: dict[str, str], mapping: dict, dayfirst: dict[str, bool] | None = None) -> Converted:
    out = Converted()
    columns, fallbacks, value_maps = mapping.get("columns") or {}, mapping.get("fallbacks") or {}, mapping.get("values") or {}
    for name, header in columns.items():
        if not header or name not in FIELDS:
            continue
        label, kind, limit = FIELDS[name]
        cell = row.get(header, "")
        if not cell and fallbacks.get(name):
            header, cell = fallbacks[name], row.get(fallbacks[name], "")
        if not cell:
            out.values[name] = None
            continue
        if kind in ("line", "email"):
            cell = " ".join(cell.split())
        if limit and len(cell) > limit:
            out.problems.append(("error", header, f"{label} is {len(cell):,} characters; at most {limit:,} fit."))
            continue
        mapped_values = value_maps.get(name) or {}
        if kind == "enum":
            found, value = known_value(name, cell, mapped_values)
            allowed = ENUMS[name].values()
            if found and value in (None, "unknown"):  # "not recorded" in the file: missing, and flagged so
                out.values[name] = None
                continue
            if not found or value not in allowed:
                out.problems.append(("error", header, f"“{cell[:80]}” is not a {label.lower()} the mapping knows: "
                                                      f"map it to one of {', '.join(allowed)}."))
                continue
            out.values[name] = value
        elif kind == "list":
            found, items = known_value(name, cell, mapped_values)
            if found and items is None:  # "not recorded" in the file
                out.values[name] = None
                continue
            if not found or not isinstance(items, list) or any(i not in DataCategory.values() for i in items):
                out.problems.append(("error", header, f"“{cell[:80]}” does not map to data categories: map it to "
                                                      f"some of {', '.join(DataCategory.values())}."))
                continue
            out.values[name] = sorted(set(items), key=DataCategory.values().index)
        elif kind == "bool":
            found, value = known_value(name, cell, mapped_values)
            if found and value is None:  # the file says explicitly that it was not recorded
                out.values[name] = None
                continue
            if not found or not isinstance(value, bool):
                out.problems.append(("error", header, f"“{cell[:80]}” is neither yes nor no for {label.lower()}: "
                                                      "map it to true or false."))
                continue
            out.values[name] = value
        elif kind == "date":
            parsed = parse_date(cell, (dayfirst or {}).get(header, False))
            if parsed is None or not (date(1950, 1, 1) <= parsed <= date(2100, 12, 31)):
                out.problems.append(("warning", header, f"“{cell[:40]}” is not a date the importer can read; "
                                                        f"imported without the {label.lower()}."))
                out.values[name] = None
                continue
            out.values[name] = parsed
        elif kind == "email":
            found = EMAIL_IN.search(cell)  # "Jo Smith <jo@x.gov>", "jo@x.gov; al@x.gov": the first address
            if found is None:  # no address: the whole cell is the contact (a team's name, a phone number)
                out.problems.append(("warning", header, f"“{cell[:80]}” is not an email address; kept as the contact."))
            out.values[name] = found.group(0) if found else cell
        else:
            out.values[name] = cell
    topic = out.values.get("topic_area")
    if topic and mapping.get("domain_hints"):  # a hint for the tier questions, never an answer
        found, hinted = _lookup(mapping["domain_hints"], topic)
        if found and hinted:
            out.values["domain_hints"] = list(hinted)
    for name in FLAGGED_WHEN_MISSING:
        if out.values.get(name) in (None, "") and not any(p[1] == columns.get(name) for p in out.problems):
            out.missing.append(name)
    return out


def match_unit(conv: Converted, header: str, matcher) -> None:
    """Give a row's business unit the list's spelling (``matcher``: the file's unit -> the listed
    one, ignoring case and spacing, or None); a unit the list lacks is kept as written, with a
    warning, and the record flagged (``UNLISTED_FLAG``).  Without a matcher (no list yet) nothing changes."""
    unit = conv.values.get("business_unit")
    if not unit or matcher is None:
        return
    listed = matcher(unit)
    if listed is not None:
        conv.values["business_unit"] = listed
        return
    conv.problems.append(("warning", header, f"“{unit[:80]}” is not on the list of business units: imported as "
                                             "written and flagged, for an administrator to add it to the list or "
                                             "merge it into a listed unit."))
    conv.missing.append(UNLISTED_FLAG)


def external_key(row: dict[str, str], mapping: dict, layout_key: str) -> tuple[str | None, str | None]:
    """(primary key, fallback key) of a row: the key columns' values, normalised, prefixed by the
    layout or saved mapping's name so that two layouts never collide.  None where the key columns are blank."""
    layout_key = layout_key[:120]
    def build(headers) -> str | None:
        parts = [" ".join((row.get(h) or "").split()).lower() for h in headers or []]
        if not parts or not all(parts):
            return None
        return f"{layout_key}:" + "|".join(parts)
    primary = build(mapping.get("key"))
    fallback = build(mapping.get("fallback_key"))
    if fallback and len(fallback) > 380:
        fallback = f"{layout_key}:#" + hashlib.sha256(fallback.encode()).hexdigest()
    if primary and len(primary) > 380:
        primary = f"{layout_key}:#" + hashlib.sha256(primary.encode()).hexdigest()
    return primary, fallback
