"""Readers: map a format's columns onto the canonical fields of `fields.py`.

A reader takes a `Table` (text, the file's own headers) and returns a `CanonicalExtract`:
the canonical columns as text, the spreadsheet row of each record and, for every
canonical field, the file column it came from (so messages name the coordinator's
column). What a value means is decided by `validation.py`, the same for every format.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from dashboard.fields import FIELD_NAMES, REQUIRED_COLUMNS
from dashboard.issues import Issue
from dashboard.reading import Table

FORMATS = ("template", "castor", "redcap")


@dataclass
class CanonicalExtract:
    fields: pd.DataFrame  # canonical field name -> text values; only the fields the file has
    rows: pd.Series  # spreadsheet row number of each record (aligned with `fields`)
    columns: dict[str, str]  # canonical field -> file column header
    format: str
    file_columns: list[str] = field(default_factory=list)  # every column of the file, for mapping
    issues: list[Issue] = field(default_factory=list)


def normalise_header(header: str) -> str:
    """'Enrolled On ' -> 'enrolled_on', so template headers match however Excel cased them."""
    return re.sub(r"[^0-9a-z]+", "_", header.strip().casefold()).strip("_")


def read_template(table: Table, mapping: dict[str, str] | None = None) -> CanonicalExtract:
    """The project's own CSV template: one column per canonical field, by name."""
    by_normal = {normalise_header(c): c for c in table.frame.columns}
    columns = {name: by_normal[name] for name in FIELD_NAMES if name in by_normal}
    columns.update(mapping or {})
    extract = _select(table, columns, "template")
    unknown = [c for c in table.frame.columns if c not in columns.values()]
    if unknown:
        extract.issues.append(
            Issue.warning(
                "ignored_columns",
                f"these columns are not template fields and are not stored: {', '.join(unknown)}",
                needs_confirmation=False,
            )
        )
    return extract


def _select(table: Table, columns: dict[str, str], fmt: str) -> CanonicalExtract:
    frame = pd.DataFrame({name: table.frame[col] for name, col in columns.items()}, index=table.frame.index)
    rows = pd.Series(table.frame.index + 2, index=table.frame.index)
    return CanonicalExtract(frame, rows, dict(columns), fmt, list(table.frame.columns))


def missing_required(extract: CanonicalExtract, site_given: bool) -> list[str]:
    required = list(REQUIRED_COLUMNS) + ([] if site_given else ["site"])
    return [name for name in required if name not in extract.columns]


Reader = Callable[[Table, dict[str, str] | None], CanonicalExtract]
READERS: dict[str, Reader] = {"template": read_template}


def detect_format(table: Table) -> str | None:
    """The format a file is in, judged from its headers; None when it is not clear."""
    normal = {normalise_header(c) for c in table.frame.columns}
    if "participant_id" in normal and "enrolled_on" in normal:
        return "template"
    for fmt, looks_like in DETECTORS:
        if looks_like(table):
            return fmt
    if "participant_id" in normal:
        return "template"
    return None


# Filled in by the EDC readers: (format, predicate on the table), tried in order.
DETECTORS: list[tuple[str, Callable[[Table], bool]]] = []
