"""Castor EDC study exports (DESIGN.md 4.1): one row per participant, `;` as Castor
writes them (or `,` / tab after a re-save by Excel), CSV or the Excel export's
'Study results' sheet (`reading.py` reads all of them into a Table).

Castor's own columns come in two vocabularies:

| field          | current export              | older export             |
|----------------|-----------------------------|--------------------------|
| participant_id | `Participant Id`            | `Record Id`              |
| site           | `Site Abbreviation`         | `Institute Abbreviation` |
| screened_on    | `Participant Creation Date` | `Record Creation date`   |
| enrolled_on    | `Randomized On`             | `Randomized On`          |
| arm            | `Randomization Group`       | `Randomization Group`    |

`Participant Status` / `Record Status` is Castor's record state (Not Set, Locked,
Archived...), not the trial status, so it is not read as `status`. Study variables whose
names are canonical field names (`enrolled_on`, `screening_outcome`...) are read as those
fields; anything else, such as the inclusion date of a study without randomisation, needs
the trial's mapping. Values stay text: dates (day first, padded or not, with or without a
time) and user-missing codes (-95 ... -99, years 2995-2999) are judged by `validation.py`.
"""

from __future__ import annotations

from dashboard.readers.mapping import CanonicalExtract, Checkbox, extract_from, header_key, map_columns, reader_notes
from dashboard.readers.reading import Table

# Headers are matched without regard to case, spaces or underscores, so the API and R
# package exports (`record_id`, `institute`, `randomized_on`) read like the CSV exports.
DEFAULTS: dict[str, tuple[str, ...]] = {
    "participant_id": ("Participant Id", "Record Id"),
    "site": ("Site Abbreviation", "Institute Abbreviation", "Institute", "Site"),
    "screened_on": ("Participant Creation Date", "Record Creation date"),
    "enrolled_on": ("Randomized On", "Randomization Date"),
    "arm": ("Randomization Group", "Randomization Group Name"),
}

# Castor's own columns, besides the participant id: any one of them marks a Castor export.
BOOKKEEPING = (
    "Participant Status",
    "Record Status",
    "Site Abbreviation",
    "Institute Abbreviation",
    "Site Name",
    "Institute Name",
    "Participant Creation Date",
    "Record Creation date",
    "Randomization Id",
    "Randomization Group",
    "Randomization Group Name",
    "Randomized On",
    "Institute",
)
ID_HEADERS = ("Participant Id", "Record Id")

# Why a Castor column that is not read is not read, for the note shown at upload.
EXPLAIN = {
    "participant status": "Castor's record state, not the trial status",
    "record status": "Castor's record state, not the trial status",
}


def _keys(headers) -> set[str]:
    return {" ".join(str(h).strip().casefold().replace("_", " ").split()) for h in headers}


BOOKKEEPING_KEYS = _keys(BOOKKEEPING)
ID_KEYS = _keys(ID_HEADERS)


def has_castor_bookkeeping(table: Table) -> bool:
    """A column only Castor writes (`Participant Status`, `Site Abbreviation`, `institute`,
    ...) and none of REDCap's own `redcap_...` columns."""
    keys = _keys(table.frame.columns)
    return bool(keys & BOOKKEEPING_KEYS) and not any(k.startswith("redcap ") for k in keys)


def looks_like_castor(table: Table) -> bool:
    """A `Participant Id` or `Record Id` column (with a space: the template says participant_id)."""
    return any(" ".join(str(c).casefold().split()) in ID_KEYS for c in table.frame.columns)


def checkboxes(columns) -> dict[str, Checkbox]:
    """Checkbox variables: `variable#Option label` columns, by folded variable name."""

    groups: dict[str, list[tuple[str, str]]] = {}
    names: dict[str, str] = {}
    for column in columns:
        variable, sep, label = str(column).partition("#")
        if sep and variable.strip() and label.strip():
            key = header_key(variable)
            names.setdefault(key, variable.strip())
            groups.setdefault(key, []).append((column, label.strip()))
    return {key: Checkbox(names[key], tuple(options)) for key, options in groups.items()}


def read_castor(table: Table, mapping: dict[str, str] | None = None) -> CanonicalExtract:
    """A Castor study export as canonical fields (text), one participant per row."""

    boxes = checkboxes(table.frame.columns)
    sources, issues = map_columns(table, DEFAULTS, mapping, boxes, "castor")
    extract = extract_from(table, sources, "castor")
    extract.issues = issues + reader_notes(table, sources, boxes, EXPLAIN)
    return extract
