"""The canonical participant fields (DESIGN.md section 3): the project's own template
uses exactly these, and every reader maps its format onto them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # "text", "date", "integer" or "choice"
    meaning: str
    choices: tuple[str, ...] = ()
    example: str = ""


SCREENING_OUTCOMES = ("eligible", "ineligible", "declined", "pending")
STATUSES = (
    "screening",
    "enrolled",
    "on_treatment",
    "follow_up",
    "completed",
    "withdrawn",
    "lost_to_follow_up",
    "deceased",
)

FIELDS: tuple[Field, ...] = (
    Field("participant_id", "text", "pseudonymised study number, unique within the trial (required)", example="PUMP-EMC-001"),
    Field("site", "text", "site code or alias, e.g. EMC or NKI (required unless the site is given at upload)", example="EMC"),
    Field("screened_on", "date", "date the patient was screened or registered", example="2024-03-04"),
    Field("screening_outcome", "choice", "outcome of screening", SCREENING_OUTCOMES, example="eligible"),
    Field("screen_fail_reason", "text", "reason, for ineligible or declined patients", example="extrahepatic disease"),
    Field("consented_on", "date", "informed consent date", example="2024-03-11"),
    Field("enrolled_on", "date", "inclusion or randomisation date: this is accrual", example="2024-03-18"),
    Field("arm", "choice", "allocation, one of the trial's configured arms (control, haip)", example="haip"),
    Field("status", "choice", "participant status", STATUSES, example="on_treatment"),
    Field("withdrawn_on", "date", "date of withdrawal", example=""),
    Field("withdrawal_reason", "text", "reason for withdrawal", example=""),
    Field("pump_implanted_on", "date", "date the HAIP pump was placed", example="2024-04-02"),
    Field("treatment_started_on", "date", "first day of HAIP floxuridine", example="2024-04-23"),
    Field("treatment_ended_on", "date", "last day of HAIP treatment", example=""),
    Field("cycles_completed", "integer", "number of HAIP cycles completed (typically 6)", example="2"),
    Field("converted_on", "date", "resection or transplant after downstaging", example=""),
)

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
DATE_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.kind == "date")
BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}

# Columns a file must have (site only when it is not given at upload).
REQUIRED_COLUMNS: tuple[str, ...] = ("participant_id", "enrolled_on")

# Fields compared between extracts to describe what changed for a participant.
COMPARED_FIELDS: tuple[str, ...] = tuple(n for n in FIELD_NAMES if n != "participant_id")

# Words coordinators use for the canonical choices (Dutch and EDC labels).
STATUS_ALIASES: dict[str, str] = {
    "screening": "screening",
    "screened": "screening",
    "in screening": "screening",
    "enrolled": "enrolled",
    "included": "enrolled",
    "geincludeerd": "enrolled",
    "randomised": "enrolled",
    "randomized": "enrolled",
    "on treatment": "on_treatment",
    "on_treatment": "on_treatment",
    "in behandeling": "on_treatment",
    "follow up": "follow_up",
    "follow-up": "follow_up",
    "follow_up": "follow_up",
    "completed": "completed",
    "complete": "completed",
    "afgerond": "completed",
    "withdrawn": "withdrawn",
    "withdrawal": "withdrawn",
    "teruggetrokken": "withdrawn",
    "lost to follow-up": "lost_to_follow_up",
    "lost to follow up": "lost_to_follow_up",
    "lost_to_follow_up": "lost_to_follow_up",
    "lost": "lost_to_follow_up",
    "deceased": "deceased",
    "died": "deceased",
    "overleden": "deceased",
}

OUTCOME_ALIASES: dict[str, str] = {
    "eligible": "eligible",
    "geschikt": "eligible",
    "ineligible": "ineligible",
    "not eligible": "ineligible",
    "screen fail": "ineligible",
    "screen failure": "ineligible",
    "ongeschikt": "ineligible",
    "declined": "declined",
    "refused": "declined",
    "weigert": "declined",
    "pending": "pending",
    "in afwachting": "pending",
}
