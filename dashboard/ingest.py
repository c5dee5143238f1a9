"""From an uploaded file to a checked extract, and from a checked extract to the store.

`check_extract` is pure: bytes in, a `Checked` out (format, validation issues, the
participants and what they change against the current snapshot). `check_file` and
`commit` add the store: the current snapshot, remembered mappings, the write.
Both the upload page and the command line go through these two, so they agree.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from dashboard import service
from dashboard.access import Access
from dashboard.config import REASON_FIELDS, Programme, reason_fingerprint
from dashboard.fields import DATE_FIELDS
from dashboard.identifiers import find_identifiers
from dashboard.issues import Issue
from dashboard.readers import FORMATS, READERS, detect_format
from dashboard.readers.reading import Table, UnreadableFile, read_table, sha256_of
from dashboard.removals import MassRemoval, check_confirmation, mass_removal
from dashboard.store import Store, extract_per_site
from dashboard.validation import Diff, compare, ids_at_other_sites, validate


@dataclass
class Checked:
    file_name: str
    trial: str | None
    sha256: str
    format: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    rows: int = 0
    columns: list[str] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    participants: pd.DataFrame | None = None
    sites: list[str] = field(default_factory=list)
    diff: Diff | None = None
    already_loaded: int | None = None  # id of the extract this very file was loaded as
    mass_removal: MassRemoval | None = None  # set when storing it needs the removals typed
    # The extract current per site when the file was checked: the preview is against them,
    # so the commit refuses if another extract of these sites landed in between.
    based_on: dict[str, int] | None = None
    source: str | None = None  # the configured source it was pulled from (None: a dropped file)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.is_error]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if not i.is_error]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def unmapped(self) -> list[str]:
        """Required canonical fields that no column of the file was mapped to."""
        return [f for i in self.errors if i.code == "missing_columns" for f in (i.column or "").split(", ") if f]

    @property
    def unmatched_reasons(self) -> dict[str, list[str]]:
        """Per reason field, the typed values that match no code (stored as `other`), to be mapped."""
        found: dict[str, list[str]] = {}
        for issue in self.warnings:
            name = issue.code.removeprefix("unmatched_")
            if name in REASON_FIELDS and issue.row is not None:
                found.setdefault(name, []).append(issue.value or "")
        return found

    @property
    def needs_confirmation(self) -> bool:
        return any(i.needs_confirmation for i in self.warnings)

    def enrolment_range(self) -> tuple[str | None, str | None]:
        if self.participants is None or self.participants["enrolled_on"].isna().all():
            return None, None
        dates = self.participants["enrolled_on"].dropna()
        return dates.min().date().isoformat(), dates.max().date().isoformat()

    def to_json(self) -> dict:
        first, last = self.enrolment_range()
        return {
            "ok": self.ok,
            "file": self.file_name,
            "trial": self.trial,
            "format": self.format,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "sha256": self.sha256,
            "rows": self.rows,
            "participants": 0 if self.participants is None else len(self.participants),
            "sites": self.sites,
            "enrolled": 0 if self.participants is None else int(self.participants["enrolled_on"].notna().sum()),
            "first_enrolment": first,
            "last_enrolment": last,
            "errors": [_issue_json(i) for i in self.errors],
            "warnings": [_issue_json(i) for i in self.warnings],
            "needs_confirmation": self.needs_confirmation,
            "unmatched_reasons": self.unmatched_reasons,
            "already_loaded": self.already_loaded,
            "diff": self.diff.counts() if self.diff else None,
            "diff_detail": _diff_json(self.diff),
            "mass_removal": (
                {"removes": self.mass_removal.count, "sentences": self.mass_removal.sentences()} if self.mass_removal else None
            ),
        }


def _issue_json(issue: Issue) -> dict:
    return {k: v for k, v in issue.to_dict().items() if k != "severity"}


def _diff_json(diff: Diff | None) -> dict | None:
    if diff is None:
        return None
    return {
        "new": diff.new,
        "missing": diff.missing,
        "changed": {pid: {f: {"old": o, "new": n} for f, (o, n) in fields.items()} for pid, fields in diff.changed.items()},
        "per_site": diff.per_site,
    }


def check_extract(
    data: bytes,
    file_name: str,
    programme: Programme,
    trial: str,
    today: dt.date,
    current: pd.DataFrame,
    site: str | None = None,
    fmt: str | None = None,
    mappings: dict[str, dict[str, str]] | None = None,
    progress: Callable[[str], None] = lambda step: None,
) -> Checked:
    """Read, validate and compare a file against `current` (the trial's current participants).
    `mappings` holds, per format, the file columns chosen for canonical fields."""
    checked = Checked(file_name=file_name, trial=programme.trial_code(trial), sha256=sha256_of(data))
    if checked.trial is None:
        checked.issues.append(
            Issue.error("unknown_trial", f"{trial!r} is not a trial of the programme; the trials are {', '.join(programme.trials)}")
        )
        return checked
    if fmt is not None and fmt not in FORMATS:
        checked.issues.append(Issue.error("unknown_format", f"{fmt!r} is not a format; choose one of {', '.join(FORMATS)}"))
        return checked
    try:
        progress("Reading the file")
        table = read_table(data)
    except UnreadableFile as exc:
        checked.issues.append(Issue.error("unreadable", f"the file cannot be read: {exc}", row=exc.row))
        return checked
    _describe_table(checked, table)
    if table.rows == 0:
        checked.issues.append(Issue.error("no_rows", "the file has a header but no participant rows"))
        return checked
    checked.format = fmt or detect_format(table)
    if checked.format is None or checked.format not in READERS:
        checked.issues.append(
            Issue.error(
                "unknown_format",
                "the format cannot be told from the columns "
                f"({', '.join(table.frame.columns[:8])}{', ...' if len(table.frame.columns) > 8 else ''}); "
                f"choose it ({', '.join(FORMATS)}) or use the template",
            )
        )
        return checked
    extract = READERS[checked.format](table, (mappings or {}).get(checked.format))
    progress(f"Read {table.rows:,} row{'s' if table.rows != 1 else ''} as {checked.format}; looking for direct identifiers")
    trial_config = programme.trials[checked.trial]
    date_columns = {extract.columns[f]: f for f in DATE_FIELDS if f in extract.columns}
    identifiers = find_identifiers(
        table.frame, extract.columns.get("participant_id"), checked.format, date_columns, trial_config.opened_on
    )
    if identifiers:
        # Refused before anything else is looked at: such a file is never read further.
        checked.issues += identifiers
        return checked
    progress("Checking every rule")
    reasons = {name: (mappings or {}).get(reason_format(name), {}) for name in REASON_FIELDS}
    validated = validate(extract, checked.trial, programme, today, site_given=site, reason_mappings=reasons)
    checked.issues += validated.issues
    if not validated.errors:
        column = extract.columns.get("participant_id", "participant_id")
        checked.issues += ids_at_other_sites(validated.participants, current, validated.sites, column)
    if checked.errors:
        return checked
    checked.participants, checked.sites = validated.participants, validated.sites
    progress("Comparing with the current data")
    replaced = current[current["site"].isin(checked.sites)]
    checked.diff, diff_warnings = compare(validated.participants, replaced)
    checked.issues += diff_warnings
    checked.mass_removal = mass_removal(checked.trial, replaced, validated.participants["participant_id"])
    checked.based_on = extract_per_site(replaced) if "extract_id" in replaced else {}
    return checked


def _describe_table(checked: Checked, table: Table) -> None:
    checked.encoding, checked.delimiter = table.encoding, table.delimiter_name
    checked.rows, checked.columns = table.rows, list(table.frame.columns)


def check_file(
    store: Store,
    programme: Programme,
    data: bytes,
    file_name: str,
    trial: str,
    site: str | None = None,
    fmt: str | None = None,
    today: dt.date | None = None,
    mapping: dict[str, str] | None = None,
    progress: Callable[[str], None] = lambda step: None,
    reason_mapping: dict[str, dict[str, str]] | None = None,
) -> Checked:
    """`check_extract` against what the store holds now, with the trial's remembered
    mapping; `mapping` (canonical field -> column) is the coordinator's choice on top, and
    `reason_mapping` ({reason field: {typed value: code}}) the codes chosen for typed reasons."""
    code = programme.trial_code(trial) or ""
    mappings = trial_mappings(store, programme, code) if code else {}
    if mapping:
        mappings = {f: m if f.startswith(REASON_PREFIX) else {**m, **mapping} for f, m in mappings.items()}
    for name, chosen in (reason_mapping or {}).items():
        mappings[reason_format(name)] = {**mappings.get(reason_format(name), {}), **reason_keys(chosen)}
    current = store.current_participants(code)
    checked = check_extract(data, file_name, programme, trial, today or service.today(), current, site, fmt, mappings, progress)
    if code:
        checked.already_loaded = store.loaded_already(code, checked.sha256)
    return checked


def trial_mappings(store: Store, programme: Programme, trial: str) -> dict[str, dict[str, str]]:
    """Per format: the configured mapping, overridden by what a coordinator chose and saved;
    and per reason field (`reason_format`), the codes chosen for typed reasons, by fingerprint."""
    configured, saved = programme.trials[trial].mappings, store.mappings(trial)
    columns = {fmt: {**configured.get(fmt, {}), **saved.get(fmt, {})} for fmt in FORMATS}
    return {**columns, **{reason_format(name): saved.get(reason_format(name), {}) for name in REASON_FIELDS}}


# Remembered reason codes live beside the column mappings, under a format key of their own.
REASON_PREFIX = "reasons:"


def reason_format(name: str) -> str:
    return REASON_PREFIX + name


def reason_keys(chosen: dict[str, str]) -> dict[str, str]:
    """{typed value: code} as it is remembered: {fingerprint: code}, no text kept."""
    return {reason_fingerprint(value): code for value, code in chosen.items()}


def commit(
    store: Store,
    checked: Checked,
    actor: str,
    accept_warnings: bool = False,
    uploaded_at: dt.datetime | None = None,
    mapping: dict[str, str] | None = None,
    confirm_removals: int | None = None,
    access: Access | None = None,
    reason_mapping: dict[str, dict[str, str]] | None = None,
) -> int:
    """Store a checked extract in one transaction and return its id; raises Refused
    (nothing changed) when it has errors or warnings that were not accepted; `mapping`,
    the columns the coordinator chose, is remembered in the same transaction (and `reason_mapping`,
    the codes chosen for typed reasons, by fingerprint only); an extract that
    removes many participants needs `confirm_removals`, their number (removals.py). The very
    file that is current already stores nothing new: it only confirms that the data is
    still current (a quiet week), and its extract's id is returned. The actor's grant is
    checked first (Store.check_grant, with `access` or the access file in use): a refusal is
    audited and nothing is stored."""
    if checked.already_loaded is not None:
        store.confirm_extract(checked.already_loaded, actor, checked.file_name, uploaded_at, access=access)
        return checked.already_loaded
    store.check_grant(actor, "ingest", access, trial=checked.trial, sites=list(checked.sites), detail={"sha256": checked.sha256})
    # Each refusal for content is one audit entry: its kind and counts, never the file's text.
    if not checked.ok:
        store.refused_content(actor, "ingest", f"the file has {len(checked.errors)} error(s); nothing was stored",
                              "validation errors", trial=checked.trial, errors=len(checked.errors))
    refusal = check_confirmation(checked.mass_removal, confirm_removals)
    if refusal:  # said first: it is the decision that matters most
        store.refused_content(actor, "ingest", refusal, "mass removal", trial=checked.trial, removed=checked.mass_removal.count)
    if checked.needs_confirmation and not accept_warnings:
        count = sum(i.needs_confirmation for i in checked.warnings)
        store.refused_content(actor, "ingest", f"the file has {count} warning(s) that need a decision; "
                              "look at them and confirm (--accept-warnings on the command line)",
                              "warnings not accepted", trial=checked.trial, warnings=count)
    extract = {
        "trial": checked.trial,
        "file_name": checked.file_name,
        "sha256": checked.sha256,
        "format": checked.format,
        "encoding": checked.encoding,
        "delimiter": checked.delimiter,
        "row_count": checked.rows,
        "participant_count": len(checked.participants),
        "warnings_accepted": len(checked.warnings) if accept_warnings else 0,
        "diff": json.dumps({"counts": checked.diff.counts(), **_diff_json(checked.diff)}),
        "uploaded_at": uploaded_at,
        "source": checked.source,
    }
    return store.add_extract(
        extract, checked.sites, checked.participants, actor, mapping=mapping, confirm_removals=confirm_removals, based_on=checked.based_on,
        access=access, reasons={reason_format(n): reason_keys(chosen) for n, chosen in (reason_mapping or {}).items()},
    )
