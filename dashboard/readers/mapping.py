"""What every reader shares: the canonical extract it returns, how headers are matched,
checkbox variables, and the mapping of file columns onto canonical fields (defaults, study
variables named like fields, the trial's mapping on top), with the notes shown at upload.

The format readers (template.py, castor.py, redcap.py) import this module; it imports none
of them, so the package has no import circle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from dashboard.fields import BY_NAME, FIELD_NAMES, REQUIRED_COLUMNS
from dashboard.issues import Issue
from dashboard.readers.reading import Table

# Values of a checkbox option column that mean "ticked" (Castor and REDCap raw: 1; REDCap labels: Checked).
TICKED = ("1", "checked", "true", "yes", "ja")
# How many names a note lists before it says "and N more".
NOTE_LIMIT = 25


@dataclass
class CanonicalExtract:
    fields: pd.DataFrame  # canonical field name -> text values; only the fields the file has
    rows: pd.Series  # spreadsheet row number of each record (aligned with `fields`)
    columns: dict[str, str]  # canonical field -> file column header
    format: str
    file_columns: list[str] = field(default_factory=list)  # every column of the file, for mapping
    issues: list[Issue] = field(default_factory=list)
    # Where a record spans several rows (REDCap events): the row each field's value came from.
    cell_rows: pd.DataFrame | None = None

    def rows_of_cells(self) -> pd.DataFrame:
        """The spreadsheet row of every field's value (the record's row unless folded)."""
        names = list(self.fields.columns)
        base = pd.DataFrame({name: self.rows for name in names}, index=self.rows.index)
        return base if self.cell_rows is None else self.cell_rows.reindex(columns=names).fillna(base).astype(int)


def normalise_header(header: str) -> str:
    """'Enrolled On ' -> 'enrolled_on', so template headers match however Excel cased them."""
    return re.sub(r"[^0-9a-z]+", "_", header.strip().casefold()).strip("_")


def missing_required(extract: CanonicalExtract, site_given: bool) -> list[str]:
    required = list(REQUIRED_COLUMNS) + ([] if site_given else ["site"])
    return [name for name in required if name not in extract.columns]


def header_key(header: str) -> str:
    """'Record Creation date ' and 'record_creation_date' -> 'record creation date': how EDC
    headers are matched."""
    return " ".join(str(header).strip().casefold().replace("_", " ").split())


@dataclass(frozen=True)
class Checkbox:
    """A checkbox variable spread over one column per option (Castor `variable#Option`,
    REDCap `variable___code` or `Label (choice=Option)`): read as the ticked options."""

    variable: str
    options: tuple[tuple[str, str], ...]  # (file column, option label)


Source = str | Checkbox


def map_columns(
    table: Table,
    defaults: dict[str, tuple[str, ...]],
    mapping: dict[str, str] | None,
    checkboxes: dict[str, Checkbox],
    fmt: str,
) -> tuple[dict[str, Source], list[Issue]]:
    """The file column (or checkbox variable) each canonical field is read from.

    In order: the format's defaults (the first candidate header the file has), then study
    variables whose names are canonical field names, then `mapping`, which overrides both.
    A mapping to a column the file lacks is an error, and the field is then not read at all:
    the default is never silently used instead. A mapping to "" means "not from this file"
    (e.g. to ignore a site column and use the site given at upload)."""
    columns = list(table.frame.columns)
    by_key: dict[str, str] = {}
    by_normal: dict[str, str] = {}
    for column in columns:
        by_key.setdefault(header_key(column), column)
        by_normal.setdefault(normalise_header(column), column)
    sources: dict[str, Source] = {}
    for name, candidates in defaults.items():
        found = next((by_key[header_key(c)] for c in candidates if header_key(c) in by_key), None)
        if found is not None:
            sources[name] = found
    claimed = set(sources.values())
    for name in FIELD_NAMES:
        column = by_normal.get(name)
        if name not in sources and column is not None and column not in claimed:
            sources[name] = column
    issues: list[Issue] = []
    offered = ", ".join(columns)
    for name, wanted in (mapping or {}).items():
        wanted = (wanted or "").strip()
        if name not in BY_NAME:
            issues.append(
                Issue.error(
                    "unknown_mapping_field",
                    f"the mapping for {fmt} files names `{name}`, which is not a field; the fields are {', '.join(FIELD_NAMES)}",
                    column=wanted or None,
                )
            )
            continue
        if not wanted:
            sources.pop(name, None)
            continue
        found: Source | None = wanted if wanted in table.frame.columns else by_key.get(header_key(wanted))
        if found is None:
            found = checkboxes.get(header_key(wanted))
        if found is None:
            sources.pop(name, None)
            issues.append(
                Issue.error(
                    "mapped_column_missing",
                    f"`{name}` is mapped to the column `{wanted}`, which this file does not have. "
                    f"Columns on offer: {offered}. Choose one of them for `{name}`, or export the file again with `{wanted}`.",
                    column=wanted,
                )
            )
            continue
        sources[name] = found
    return sources, issues


def extract_from(table: Table, sources: dict[str, Source], fmt: str, frame: pd.DataFrame | None = None) -> CanonicalExtract:
    """The canonical fields of `sources`, as text, row numbers as in the spreadsheet."""
    frame = table.frame if frame is None else frame
    data = {name: frame[src] if isinstance(src, str) else checkbox_text(frame, src) for name, src in sources.items()}
    fields = pd.DataFrame(data, index=frame.index, columns=list(sources))
    rows = pd.Series(frame.index + 2, index=frame.index)
    columns = {name: src if isinstance(src, str) else src.variable for name, src in sources.items()}
    return CanonicalExtract(fields, rows, columns, fmt, list(table.frame.columns))


def checkbox_text(frame: pd.DataFrame, box: Checkbox) -> pd.Series:
    """The labels of the ticked options, joined by '; ' ('' when none is ticked)."""
    text = pd.Series("", index=frame.index, dtype=object)
    for column, label in box.options:
        ticked = frame[column].str.strip().str.casefold().isin(TICKED).to_numpy()
        text = text.mask(ticked & (text != ""), text + "; " + label).mask(ticked & (text == ""), label)
    return text.astype(str)


def reader_notes(
    table: Table, sources: dict[str, Source], checkboxes: dict[str, Checkbox], explain: dict[str, str]
) -> list[Issue]:
    """Two notes for the coordinator: which column each field was read from, and which
    columns were not read (checkbox variables counted once). Shown, never blocking."""
    read = ", ".join(f"`{src if isinstance(src, str) else src.variable}` as {name}" for name, src in sources.items())
    notes = [Issue.warning("columns_read", f"read {read or 'no column'}", needs_confirmation=False)]
    used = {src for src in sources.values() if isinstance(src, str)}
    used |= {column for src in sources.values() if isinstance(src, Checkbox) for column, _ in src.options}
    in_box = {column: box for box in checkboxes.values() for column, _ in box.options}
    unread: list[str] = []
    for column in table.frame.columns:
        if column in used:
            continue
        box = in_box.get(column)
        if box is None:
            unread.append(f"{column} ({explain[header_key(column)]})" if header_key(column) in explain else column)
        elif box.options[0][0] == column:
            unread.append(f"{box.variable} ({len(box.options)} checkbox options)")
    if unread:
        shown = ", ".join(unread[:NOTE_LIMIT]) + (f" and {len(unread) - NOTE_LIMIT} more" if len(unread) > NOTE_LIMIT else "")
        notes.append(
            Issue.warning(
                "ignored_columns",
                f"these columns are not read (map one to a field if it holds one): {shown}",
                needs_confirmation=False,
            )
        )
    return notes
