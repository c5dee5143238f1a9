"""The project's own CSV template: one column per canonical field, matched by name."""

from __future__ import annotations

import pandas as pd

from dashboard.issues import Issue
from dashboard.readers.mapping import CanonicalExtract, map_columns, normalise_header
from dashboard.readers.reading import Table


def read_template(table: Table, mapping: dict[str, str] | None = None) -> CanonicalExtract:
    """The project's own CSV template: one column per canonical field, by name."""
    sources, issues = map_columns(table, {}, mapping, {}, "template")
    columns = {name: src for name, src in sources.items() if isinstance(src, str)}
    extract = _select(table, columns, "template")
    extract.issues += issues
    if table.duplicate_headers:
        extract.issues.append(
            Issue.error(
                "duplicate_header",
                f"the header names these columns twice: {', '.join(table.duplicate_headers)}; "
                "give each column its own name, or remove the extra one",
                column=", ".join(table.duplicate_headers),
            )
        )
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


def looks_like_template(table: Table) -> bool:
    normal = {normalise_header(c) for c in table.frame.columns}
    return "participant_id" in normal and "enrolled_on" in normal


def has_participant_id(table: Table) -> bool:
    return "participant_id" in {normalise_header(c) for c in table.frame.columns}
