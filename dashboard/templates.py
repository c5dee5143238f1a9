"""Downloads that help a coordinator send good files: the CSV template, its data
dictionary, and a REDCap data dictionary that builds a matching REDCap instrument."""

from __future__ import annotations

import csv
import io

from dashboard.config import Trial
from dashboard.downloads import neutralise
from dashboard.fields import FIELDS, REQUIRED_COLUMNS

REDCAP_COLUMNS = [
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
]
REDCAP_FORM = "pump_enrolment"


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([[neutralise(cell) for cell in row] for row in rows])
    return out.getvalue().encode("utf-8")


def template_csv() -> bytes:
    """The header of the project's template and one example row."""
    return _csv([[f.name for f in FIELDS], [f.example for f in FIELDS]])


def data_dictionary_csv(trial: Trial) -> bytes:
    """One row per canonical field: its type, whether it is required, what it means and
    the values it accepts for this trial."""
    rows = [["field", "type", "required", "meaning", "allowed values"]]
    for field in FIELDS:
        required = "yes" if field.name in REQUIRED_COLUMNS else ("unless chosen at upload" if field.name == "site" else "no")
        rows.append([field.name, _kind(field.kind), required, field.meaning, _allowed(field, trial)])
    return _csv(rows)


def _kind(kind: str) -> str:
    return {"date": "date (day-month-year or YYYY-MM-DD)", "integer": "whole number", "choice": "one of the values"}.get(kind, kind)


def _allowed(field, trial: Trial) -> str:
    if field.name == "arm":
        return "; ".join(f"{code} ({arm.label})" for code, arm in trial.arms.items())
    if field.name == "site":
        return "; ".join(trial.sites)
    return "; ".join(field.choices)


def redcap_dictionary_csv(trial: Trial) -> bytes:
    """A REDCap data dictionary (Project Setup > Data Dictionary upload) whose raw export
    is read by the dashboard as it is: field names are the canonical fields, choice codes
    are the canonical codes. The site comes from REDCap's data access groups."""
    rows = [REDCAP_COLUMNS]
    rows.append(_redcap_row("record_id", "text", "Study number (pseudonymised, never a patient number)", required=True))
    for field in FIELDS:
        if field.name in ("participant_id", "site"):
            continue
        if field.kind == "date":
            rows.append(_redcap_row(field.name, "text", field.meaning, validation="date_dmy"))
        elif field.kind == "integer":
            rows.append(_redcap_row(field.name, "text", field.meaning, validation="integer", minimum="0"))
        elif field.kind == "choice":
            choices = trial.arms if field.name == "arm" else {c: None for c in field.choices}
            labels = " | ".join(f"{code}, {arm.label if arm else code.replace('_', ' ')}" for code, arm in choices.items())
            rows.append(_redcap_row(field.name, "radio", field.meaning, choices=labels))
        else:
            rows.append(_redcap_row(field.name, "notes" if field.name.endswith("reason") else "text", field.meaning))
    return _csv(rows)


def _redcap_row(name: str, kind: str, label: str, choices: str = "", validation: str = "", minimum: str = "", required: bool = False) -> list[str]:
    row = dict.fromkeys(REDCAP_COLUMNS, "")
    row.update(
        {
            "Variable / Field Name": name,
            "Form Name": REDCAP_FORM,
            "Field Type": kind,
            "Field Label": label[0].upper() + label[1:],
            "Choices, Calculations, OR Slider Labels": choices,
            "Text Validation Type OR Show Slider Number": validation,
            "Text Validation Min": minimum,
            "Required Field?": "y" if required else "",
        }
    )
    return list(row.values())
