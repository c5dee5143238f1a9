"""Readers: map a format's columns onto the canonical fields of `fields.py`.

A reader takes a `Table` (text, the file's own headers) and returns a `CanonicalExtract`:
the canonical columns as text, the spreadsheet row of each record and, for every
canonical field, the file column it came from (so messages name the coordinator's
column). What a value means is decided by `validation.py`, the same for every format.

Formats: the template (`template.py`), Castor (`castor.py`) and REDCap (`redcap.py`), registered in
READERS and recognised by DETECTORS. Every reader takes the trial's `mapping` ({canonical
field: file column}, from the configuration and the choices remembered at upload), which
overrides its defaults; a mapped column the file lacks is an error naming the columns on
offer, and a field mapped to "" is not read from the file.
"""

from __future__ import annotations

from collections.abc import Callable

from dashboard.readers import castor, redcap
from dashboard.readers.mapping import (
    CanonicalExtract,
    Checkbox,
    header_key,
    map_columns,
    missing_required,
    normalise_header,
)
from dashboard.readers.reading import Table, UnreadableFile, read_table, sha256_of
from dashboard.readers.template import has_participant_id, looks_like_template, read_template

__all__ = [
    "DETECTORS", "FORMATS", "READERS", "CanonicalExtract", "Checkbox", "Table", "UnreadableFile", "detect_format",
    "header_key", "map_columns", "missing_required", "normalise_header", "read_table", "read_template", "sha256_of",
]

FORMATS = ("template", "castor", "redcap")

Reader = Callable[[Table, dict[str, str] | None], CanonicalExtract]
READERS: dict[str, Reader] = {
    "template": read_template,
    "castor": castor.read_castor,
    "redcap": redcap.read_redcap,
}


def detect_format(table: Table) -> str | None:
    """The format a file is in, judged from its headers; None when it is not clear."""
    for fmt, looks_like in DETECTORS:
        if looks_like(table):
            return fmt
    return None


# (format, predicate on the table), tried in order: an EDC's own bookkeeping columns are
# unmistakable and come first; the template's two headers next (a template never has
# those bookkeeping columns); then the weaker signs of each EDC.
DETECTORS: list[tuple[str, Callable[[Table], bool]]] = [
    ("castor", castor.has_castor_bookkeeping),
    ("redcap", redcap.has_redcap_bookkeeping),
    ("template", looks_like_template),
    ("redcap", redcap.looks_like_redcap),
    ("castor", castor.looks_like_castor),
    ("template", has_participant_id),
]


