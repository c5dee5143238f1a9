"""REDCap exports (DESIGN.md 4.1), raw ("CSV / Microsoft Excel (raw data)") or with labels.

- The record id is the first column, whatever its name (`record_id`, `study_id`, `row`,
  or its label, "Record ID" / "Study ID", in a label export).
- The data access group is the site: `redcap_data_access_group` (raw, the group's unique
  name such as `erasmus_mc`, read as "erasmus mc" so the site aliases match) or
  "Data Access Group" (labels: the group's name).
- Longitudinal and repeating projects spread a record over several rows
  (`redcap_event_name`, `redcap_repeat_instrument`, `redcap_repeat_instance`; "Event Name",
  "Repeat Instrument", "Repeat Instance" in a label export). The rows of a record are folded
  into one participant: per field the first filled value, in file order; a field filled
  with different values on different rows is reported.
- Checkbox fields are `field___code` (raw) or "Label (choice=Option)" (labels); a mapping
  to `field` reads the ticked options.
Dates are ISO; decimal commas come quoted and multi-line values are quoted, which
`reading.py` handles. Values stay text for `validation.py`.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from dashboard.issues import Issue, located
from dashboard.readers.mapping import CanonicalExtract, Checkbox, extract_from, header_key, map_columns, reader_notes
from dashboard.readers.reading import Table

DAG_COLUMNS = ("redcap_data_access_group", "Data Access Group")
ROW_COLUMNS = (  # the columns that make several rows of one record
    "redcap_event_name",
    "redcap_repeat_instrument",
    "redcap_repeat_instance",
    "Event Name",
    "Repeat Instrument",
    "Repeat Instance",
)
# REDCap's own columns in a label export (a raw export has `redcap_...` columns instead).
LABEL_BOOKKEEPING = ("Event Name", "Repeat Instrument", "Repeat Instance", "Data Access Group", "Survey Identifier")
# First-column names of a raw export's record id that no other format uses.
RECORD_ID_NAMES = ("record_id", "study_id", "subject_id", "recordid", "studyid", "redcap_id")
# The default labels of the record id field in a label export (case as REDCap writes them:
# Castor's older exports say "Record Id").
RECORD_ID_LABELS = ("Record ID", "Study ID")
RAW_CHECKBOX = re.compile(r"^(?P<variable>[A-Za-z][A-Za-z0-9_]*?)___(?P<code>[A-Za-z0-9_]+)$")
LABEL_CHECKBOX = re.compile(r"^(?P<variable>.+?) \(choice=(?P<label>.*)\)$")

EXPLAIN = {
    "redcap_event_name": "the event: the rows of a record are read as one participant",
    "redcap_repeat_instrument": "the repeating form: the rows of a record are read as one participant",
    "redcap_repeat_instance": "the repeat number: the rows of a record are read as one participant",
    "event name": "the event: the rows of a record are read as one participant",
    "repeat instrument": "the repeating form: the rows of a record are read as one participant",
    "repeat instance": "the repeat number: the rows of a record are read as one participant",
}


def _key(header: str) -> str:
    return " ".join(str(header).strip().casefold().split())


def has_redcap_bookkeeping(table: Table) -> bool:
    """A column only REDCap writes: `redcap_...` (raw), or in a label export "Event Name",
    "Repeat Instrument", "Data Access Group", ... or a form's "Complete?"."""
    keys = [_key(c) for c in table.frame.columns]
    labels = {_key(c) for c in LABEL_BOOKKEEPING}
    return any(k.startswith("redcap_") or k in labels or k.startswith("complete?") for k in keys)


def looks_like_redcap(table: Table) -> bool:
    """A record-id first column (`record_id`, `study_id`, "Record ID") or `field___code` checkboxes."""
    columns = list(table.frame.columns)
    first = str(columns[0]).strip() if columns else ""
    return first.casefold() in RECORD_ID_NAMES or first in RECORD_ID_LABELS or any(RAW_CHECKBOX.match(str(c)) for c in columns)


def is_label_export(table: Table) -> bool:
    keys = {_key(c) for c in table.frame.columns}
    return not any(k.startswith("redcap_") for k in keys) and (
        bool(keys & {_key(c) for c in LABEL_BOOKKEEPING})
        or any(k.startswith("complete?") for k in keys)
        or any(LABEL_CHECKBOX.match(str(c)) for c in table.frame.columns)
        or str(table.frame.columns[0]).strip() in RECORD_ID_LABELS
    )


def checkboxes(columns, labels: bool) -> dict[str, Checkbox]:
    """Checkbox fields by folded name: `field___code` columns, or "Label (choice=Option)"."""

    pattern, part = (LABEL_CHECKBOX, "label") if labels else (RAW_CHECKBOX, "code")
    groups: dict[str, list[tuple[str, str]]] = {}
    names: dict[str, str] = {}
    for column in columns:
        found = pattern.match(str(column))
        if found:
            key = header_key(found["variable"])
            names.setdefault(key, found["variable"].strip())
            groups.setdefault(key, []).append((column, found[part].strip()))
    return {key: Checkbox(names[key], tuple(options)) for key, options in groups.items()}


def read_redcap(table: Table, mapping: dict[str, str] | None = None) -> CanonicalExtract:
    """A REDCap export as canonical fields (text), one participant per record."""

    labels = is_label_export(table)
    defaults = {"participant_id": (str(table.frame.columns[0]),), "site": DAG_COLUMNS}
    boxes = checkboxes(table.frame.columns, labels)
    sources, issues = map_columns(table, defaults, mapping, boxes, "redcap")
    extract = extract_from(table, sources, "redcap")
    site = extract.columns.get("site")
    if site is not None and _key(site) == "redcap_data_access_group":
        # A raw export gives the group's unique name: "Erasmus MC" becomes erasmus_mc.
        extract.fields["site"] = extract.fields["site"].str.replace("_", " ", regex=False)
    issues += reader_notes(table, sources, boxes, EXPLAIN)
    row_columns = {_key(c) for c in ROW_COLUMNS} & {_key(c) for c in table.frame.columns}
    if row_columns and "participant_id" in extract.fields:
        issues += _fold(extract)
    extract.issues = issues
    return extract


def _fold(extract: CanonicalExtract) -> list[Issue]:
    """Fold the rows of each record into one participant, in place: per field the first
    filled value; the row number is the record's first row. Rows without a record id stay
    apart, so that validation reports each of them."""
    fields, rows = extract.fields, extract.rows
    ids = fields["participant_id"]
    position = pd.Series(np.arange(len(fields)), index=fields.index).astype(str)
    key = ids.where(ids != "", "\x00" + position).to_numpy()
    filled = fields.mask(fields == "")
    grouped = filled.groupby(key, sort=False)
    folded = grouped.first()
    first_index = pd.Series(fields.index, index=fields.index).groupby(key, sort=False).first()
    notes = _conflicts(filled, key, rows, grouped, extract.columns)
    # The row each value was taken from, so that a problem names the row that holds it.
    value_rows = pd.DataFrame({name: rows for name in fields.columns}, index=fields.index).where(filled.notna())
    cell_rows = value_rows.groupby(key, sort=False).first()
    folded.index = pd.Index(first_index.loc[folded.index].to_numpy())
    cell_rows.index = folded.index
    extract.fields = folded.fillna("")[list(fields.columns)]
    extract.rows = pd.Series(folded.index + 2, index=folded.index)
    extract.cell_rows = cell_rows[list(fields.columns)]
    if len(folded) < len(fields):
        notes.insert(
            0,
            Issue.warning(
                "folded_rows",
                f"the {len(fields)} rows hold {len(folded)} participants (events or repeating forms); "
                "each participant is read once, with the first filled value of each column",
                needs_confirmation=False,
            ),
        )
    return notes


def _conflicts(filled: pd.DataFrame, key: np.ndarray, rows: pd.Series, grouped, columns: dict[str, str]) -> list[Issue]:
    """A warning per record and field filled with different values on different rows."""
    counts = grouped.nunique().drop(columns=["participant_id"], errors="ignore")
    found = counts.gt(1).stack()
    found = found[found]
    issues = []
    for name in found.index.get_level_values(1).unique():
        records = found.xs(name, level=1).index
        values = pd.DataFrame({"key": key, "value": filled[name], "row": rows}).dropna()
        values = values[values["key"].isin(records)].drop_duplicates(["key", "value"])
        for record, group in values.groupby("key", sort=False):
            listed = ", ".join(f"{v!r} (row {int(r)})" for v, r in zip(group["value"], group["row"], strict=True))
            first_row, first_value = int(group["row"].iloc[0]), group["value"].iloc[0]
            issues.append(
                Issue.warning(
                    "conflicting_values",
                    located(first_row, columns[name])
                    + f"record {record!r} has different values on its rows: {listed}; {first_value!r} is used. "
                    "Correct the record in REDCap so the field is filled once.",
                    first_row,
                    columns[name],
                    first_value,
                )
            )
    return issues
