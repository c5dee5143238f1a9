"""Tables the upload page shows: the validation report and the preview of the change.
Pure: data in, DataFrames out."""

from __future__ import annotations

import pandas as pd

from dashboard.config import OTHER_REASON, REASON_FIELDS, Trial
from dashboard.downloads import csv_bytes
from dashboard.fields import BY_NAME, DATE_FIELDS
from dashboard.ingest import Checked
from dashboard.issues import Issue

PREVIEW_FIELDS = ["participant_id", "site", "screened_on", "screening_outcome", "enrolled_on", "arm", "status"]


def field_meaning(name: str) -> str:
    return BY_NAME[name].meaning


LOCATION_PREFIX = r"^row \d+(?:, `[^`]*`)?: "


def issue_kind(issue: Issue) -> str:
    """'error' blocks the upload, 'decision' needs the coordinator's confirmation, 'note' informs."""
    if issue.is_error:
        return "error"
    return "decision" if issue.needs_confirmation else "note"


def file_description(checked: Checked) -> str:
    """'Castor EDC export · semicolon-separated · UTF-8 · **2 rows**', saying only what is known."""
    labels = {"template": "Project template", "castor": "Castor EDC export", "redcap": "REDCap export"}
    parts = [labels.get(checked.format or "", "format not recognised")]
    if checked.delimiter == "xlsx":
        parts.append("Excel workbook")
    elif checked.delimiter:
        parts.append(f"{checked.delimiter}-separated")
    if checked.encoding and checked.encoding != "xlsx":
        parts.append(checked.encoding)
    if checked.encoding:  # the file was read: its rows are known
        parts.append(f"**{checked.rows:,} row{'s' if checked.rows != 1 else ''}**")
    return " · ".join(parts)


def error_banner(count: int) -> str:
    """The one line above the problems, its words agreeing with the count."""
    if count == 1:
        return "**1 problem must be fixed before this file can be stored.** Correct it in the EDC (or the file) and upload the new export. Nothing has been stored."
    return f"**{count} problems must be fixed before this file can be stored.** Correct them in the EDC (or the file) and upload the new export. Nothing has been stored."


def is_file_problem(issue: Issue) -> bool:
    """A problem of the whole file (it cannot be read) or of a whole column."""
    return issue.is_error and (issue.row is None or issue.code == "unreadable")


def file_problems(issues: list[Issue]) -> list[Issue]:
    """Problems of the whole file or of a whole column: each is shown as a sentence."""
    return [i for i in issues if is_file_problem(i)]


def row_problems(issues: list[Issue]) -> list[Issue]:
    """The rest: problems of a row, and the notes, for the table."""
    return [i for i in issues if not is_file_problem(i)]


def issue_table(issues: list[Issue]) -> pd.DataFrame:
    """Every problem, errors first, then decisions, then notes, each by row: kind, row,
    column, value, and the problem in words (without the row and column, which have
    columns of their own here)."""
    frame = pd.DataFrame(
        [{"kind": issue_kind(i), "row": i.row, "column": i.column or "", "value": i.value or "", "problem": i.message} for i in issues],
        columns=["kind", "row", "column", "value", "problem"],
    )
    frame["row"] = frame["row"].astype("Int64")
    frame["problem"] = frame["problem"].str.replace(LOCATION_PREFIX, "", regex=True)
    order = frame["kind"].map({"error": 0, "decision": 1, "note": 2})
    frame = frame.assign(_order=order).sort_values(["_order", "row"], kind="stable", na_position="first").drop(columns="_order")
    # A problem of no single row says so in words, never "None".
    frame["row"] = frame["row"].map(lambda r: "" if pd.isna(r) else str(int(r))).astype(object)
    return frame


def report_csv(issues: list[Issue]) -> bytes:
    """The whole report as the CSV a coordinator downloads (formula-like cells neutralised)."""
    return csv_bytes(issue_table(issues))


def per_site_table(checked: Checked) -> pd.DataFrame:
    """New, changed, missing and unchanged participants per site of the extract."""
    diff = checked.diff
    counts = diff.per_site if diff else {}
    rows = []
    for site in checked.sites:
        in_file = int((checked.participants["site"] == site).sum())
        site_counts = counts.get(site, {"new": 0, "changed": 0, "missing": 0})
        unchanged = in_file - site_counts["new"] - site_counts["changed"]
        rows.append({"site": site, "participants in file": in_file, **site_counts, "unchanged": unchanged})
    return pd.DataFrame(rows).rename(columns={"missing": "no longer in extract"})


def participant_preview(rows: pd.DataFrame) -> pd.DataFrame:
    shown = rows[PREVIEW_FIELDS].copy()
    for name in set(PREVIEW_FIELDS) & set(DATE_FIELDS):
        shown[name] = pd.to_datetime(shown[name]).dt.strftime("%d-%m-%Y").fillna("")
    return shown


def change_table(changed: dict[str, dict], trial: Trial | None = None) -> pd.DataFrame:
    """One row per changed field: participant, field, old value -> new value. `changed` is a
    Diff's (id -> field -> (old, new)) or its stored JSON form (id -> field -> {old, new}).
    With the `trial`, a reason's code is shown as its label."""
    rows = []
    for pid, fields in changed.items():
        for name, values in fields.items():
            old, new = (values["old"], values["new"]) if isinstance(values, dict) else values
            if trial is not None and name in REASON_FIELDS:
                old, new = trial.reason_label(name, old), trial.reason_label(name, new)
            rows.append({"participant": pid, "field": name, "old": old or "", "new": new or ""})
    return pd.DataFrame(rows, columns=["participant", "field", "old", "new"])


LEAVE_AS_OTHER = "(leave it as other)"


def reason_options(trial: Trial, name: str) -> dict[str, str]:
    """What a coordinator picks from to map a typed reason: {label shown: code}, `other` last."""
    codes = [*trial.reasons.get(name, {}), OTHER_REASON]
    return {trial.reason_label(name, code): code for code in codes}
