"""Forms of the import pages: the upload, the mapping editor and the commit."""

from __future__ import annotations

import hashlib
from collections import Counter

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, RadioField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional

from registry.enums import DeclaredRegime
from registry.imports.mapping import FIELDS, VALUE_MAPPED, known_value, value_choices
from registry.imports.reader import Table
from registry.inventory.forms import options

MAX_VALUE_ROWS = 40  # distinct values shown per value-mapped column (the commonest first)


class UploadForm(FlaskForm):
    file = FileField("Inventory file", description="CSV, Excel (.xlsx) or older Excel (.xls); at most 20 MB and "
                                                   "50,000 rows. Nothing is written until you confirm the preview.")
    sheet = StringField("Sheet", validators=[Optional(), Length(max=200)],
                        description="For an Excel workbook: the sheet to read. Leave blank for the first sheet.")
    mapping = SelectField("Mapping", validate_choice=True,
                          description="Leave it to recognise a known layout by its headers, or choose one.")


class CommitForm(FlaskForm):
    scope = RadioField("What to import", default="all", validate_choice=True, choices=options([
        ("all", "Every row, or nothing if any row has an error"),
        ("valid", "Only the valid rows; skip the rows with errors (listed in a report)"),
    ]))


def value_rows(table: Table, mapping: dict) -> list[tuple[str, str, int, str]]:
    """(field, file value, rows, form field name) for each distinct value of the value-mapped
    columns, commonest first, at most ``MAX_VALUE_ROWS`` per field."""
    rows = []
    columns = mapping.get("columns") or {}
    for name in VALUE_MAPPED:
        header = columns.get(name)
        if not header or header not in table.headers:
            continue
        counts = Counter(" ".join(r.get(header, "").split()) for r in table.rows)
        counts.pop("", None)
        for cell, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_VALUE_ROWS]:
            digest = hashlib.sha256(f"{name}\0{cell}".encode()).hexdigest()[:12]
            rows.append((name, cell, n, f"v_{name}_{digest}"))
    return rows


def _form_value(name: str, value) -> str:
    if name == "declared":
        return "" if value is None else ("true" if value else "false")
    if name == "data_categories":  # a list of categories: "none" for an empty one, else joined by "+"
        return "+".join(value) if value else "none"
    return value or ""


def _choices(name: str, default: str) -> list[tuple[str, str]]:
    choices = [("", "— not mapped —")]
    if name == "data_categories":
        labels = dict(value_choices(name))
        choices.append(("none", "None of the listed kinds of data"))
        if "+" in default:  # an existing mapping to several categories
            choices.append((default, " + ".join(labels.get(c, c) for c in default.split("+"))))
    return options(choices + value_choices(name))


def mapping_form(table: Table, mapping: dict, name: str, formdata=None, *, save: bool = False) -> FlaskForm:
    """The editor for ``mapping`` on this file: a column per registry field, the key, and a value
    map for each distinct value of the stage, kind, sourcing, declared and data columns."""
    headers = options([(h, h) for h in table.headers])
    columns = mapping.get("columns") or {}

    class MappingForm(FlaskForm):
        mapping_name = StringField("Mapping name", validators=[DataRequired(), Length(max=120)],
                                   description="Records are matched on it (with the key) when a file is imported "
                                               "again: keep the same name for files of the same layout.")
        save = BooleanField("Save this mapping under its name, for the next file of this layout")
        key = SelectMultipleField("External key", choices=headers, validators=[DataRequired()],
                                  description="The column(s) that identify a record, e.g. an id (with an agency "
                                              "or company column where ids repeat across them).")
        fallback_key = SelectMultipleField("Fallback key", choices=headers, validators=[Optional()],
                                           description="Used where the key is blank or repeated, e.g. the name.")
        declared_regime = SelectField("The declared determination is under", choices=options(DeclaredRegime.choices()),
                                      validate_choice=True)

    for field_name, (label, _kind, _limit) in FIELDS.items():
        setattr(MappingForm, f"col_{field_name}", SelectField(
            label, choices=[*options([("", "— not in the file —")]), *headers], validate_choice=True,
            default=columns.get(field_name, "")))
    rows = value_rows(table, mapping)
    maps = mapping.get("values") or {}
    for field_name, cell, _n, form_name in rows:
        found, value = known_value(field_name, cell, maps.get(field_name) or {})
        default = _form_value(field_name, value) if found else ""
        setattr(MappingForm, form_name, SelectField(cell, choices=_choices(field_name, default), default=default,
                                                    validate_choice=True))
    form = MappingForm(formdata=formdata, data=None if formdata else {
        "mapping_name": name, "save": save, "key": mapping.get("key") or [], "fallback_key": mapping.get("fallback_key") or [],
        "declared_regime": mapping.get("declared_regime") or DeclaredRegime.OTHER.value})
    form.value_rows = rows
    return form


def mapping_from_form(form, base: dict, headers: list[str]) -> dict:
    """The mapping the editor describes (the base mapping's fallbacks and source label kept where
    they still fit the file)."""
    columns = {name: getattr(form, f"col_{name}").data for name in FIELDS if getattr(form, f"col_{name}").data}
    values = {k: dict(v) for k, v in (base.get("values") or {}).items() if isinstance(v, dict)}
    for field_name, cell, _n, form_name in form.value_rows:
        if (base.get("columns") or {}).get(field_name) != columns.get(field_name):
            continue  # the column changed: its values are shown again on the next edit
        chosen = getattr(form, form_name).data
        entries = values.setdefault(field_name, {})
        if not chosen:
            entries.pop(cell, None)
        elif field_name == "data_categories":
            entries[cell] = [] if chosen == "none" else chosen.split("+")
        elif field_name == "declared":
            entries[cell] = chosen == "true"
        else:
            entries[cell] = chosen
    present = set(headers)
    return {
        "columns": columns,
        "fallbacks": {k: v for k, v in (base.get("fallbacks") or {}).items() if v in present and k in columns},
        "values": {k: v for k, v in values.items() if v and k in columns},
        "key": list(form.key.data or []),
        "fallback_key": list(form.fallback_key.data or []),
        "declared_regime": form.declared_regime.data,
        "source_label": base.get("source_label") or "",
    }
