"""Refuse direct identifiers of patients (DESIGN.md 4.3): the dashboard holds
pseudonymised study data only, so a file with names, addresses, phone numbers, e-mail
addresses, dates of birth, photographs, BSN or social security numbers is refused whole,
before anything of it reaches the database."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from dashboard.issues import Issue

# Header words (after splitting on punctuation and camelCase) that name a direct identifier.
IDENTIFYING_WORDS = {
    "name": "a name",
    "names": "names",
    "naam": "a name",
    "surname": "a name",
    "firstname": "a name",
    "lastname": "a name",
    "fullname": "a name",
    "voornaam": "a name",
    "achternaam": "a name",
    "voorletters": "initials",
    "initials": "initials",
    "address": "an address",
    "adres": "an address",
    "street": "an address",
    "straat": "an address",
    "postcode": "a postcode",
    "zipcode": "a postcode",
    "zip": "a postcode",
    "woonplaats": "an address",
    "phone": "a phone number",
    "telephone": "a phone number",
    "telefoon": "a phone number",
    "telefoonnummer": "a phone number",
    "mobile": "a phone number",
    "mobiel": "a phone number",
    "email": "an e-mail address",
    "mail": "an e-mail address",
    "dob": "a date of birth",
    "birthdate": "a date of birth",
    "birthday": "a date of birth",
    "geboortedatum": "a date of birth",
    "bsn": "a BSN",
    "ssn": "a social security number",
    "burgerservicenummer": "a BSN",
    "socialsecurity": "a social security number",
    "mrn": "a hospital patient number",
    "patientnummer": "a hospital patient number",
    "ziekenhuisnummer": "a hospital patient number",
    "photo": "a photograph",
    "mugshot": "a photograph",
}
# Phrases that identify where each word alone does not.
IDENTIFYING_PHRASES = {
    "date of birth": "a date of birth",
    "birth date": "a date of birth",
    "geboorte datum": "a date of birth",
    "social security": "a social security number",
    "e mail": "an e-mail address",
    "zip code": "a postcode",
    "post code": "a postcode",
}
# EDC bookkeeping columns whose headers contain such a word but hold no patient data.
SAFE_COLUMNS = {
    "redcap_event_name",
    "redcap_repeat_instrument",
    "redcap_data_access_group",
    "site name",
    "institute name",
    "site_name",
    "randomization group name",
    "event name",
    "form name",
    "arm name",
}

EMAIL = r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}"
BSN_WEIGHTS = np.array([9, 8, 7, 6, 5, 4, 3, 2, -1])

HOW_TO_DEIDENTIFY = {
    "castor": (
        "In Castor, export again and leave out these variables (Export > choose the variables), "
        "or ask the study admin to mark them as identifying so exports skip them."
    ),
    "redcap": (
        "In REDCap, use Data Exports > 'De-identified' or tick 'Remove all tagged Identifier fields', "
        "and leave out these fields."
    ),
}
DEFAULT_HOW_TO = "Remove these columns from the file and upload it again."


def header_words(header: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", header)
    return [w for w in re.split(r"[^0-9a-z]+", spaced.casefold()) if w]


def identifying_header(header: str) -> str | None:
    """What kind of identifier a column header names, or None."""
    if header.strip().casefold() in SAFE_COLUMNS:
        return None
    words = header_words(header)
    joined = f" {' '.join(words)} "
    for phrase, kind in IDENTIFYING_PHRASES.items():
        if f" {phrase} " in joined:
            return kind
    return next((IDENTIFYING_WORDS[w] for w in words if w in IDENTIFYING_WORDS), None)


def passes_eleven_test(values: pd.Series) -> pd.Series:
    """True where a value is an 8- or 9-digit number that passes the BSN eleven-test."""
    digits = values.str.strip().str.fullmatch(r"\d{8,9}").fillna(False)
    result = pd.Series(False, index=values.index)
    if not digits.any():
        return result
    padded = values[digits].str.strip().str.zfill(9)
    total = _digit_matrix(padded) @ BSN_WEIGHTS
    result[digits] = (total % 11 == 0) & (total != 0)
    return result


def _digit_matrix(padded: pd.Series) -> np.ndarray:
    raw = np.frombuffer("".join(padded.to_numpy()).encode("ascii"), dtype=np.uint8)
    return (raw - ord("0")).reshape(-1, 9).astype(int)


def find_identifiers(frame: pd.DataFrame, id_column: str | None, fmt: str | None) -> list[Issue]:
    """One error per column of the file that holds direct identifiers."""
    how_to = HOW_TO_DEIDENTIFY.get(fmt or "", DEFAULT_HOW_TO)
    issues = []
    for column in frame.columns:
        values = frame[column]
        kind = identifying_header(checkbox_variable(column, values))
        reason = f"its name says it holds {kind}" if kind else None
        if reason is None:
            emails = values.str.contains(EMAIL, regex=True).fillna(False)  # also inside free text
            if emails.any():
                reason = f"it holds e-mail addresses (row {int(emails.idxmax()) + 2})"
        if reason is None and (column == id_column or _all_long_numbers(values)):
            bsn = passes_eleven_test(values)
            if bsn.any():
                reason = f"it holds numbers that pass the BSN eleven-test (row {int(bsn.idxmax()) + 2})"
        if reason:
            issues.append(
                Issue.error(
                    "identifier",
                    f"`{column}`: {reason}. Direct identifiers of patients may not be stored here, "
                    f"so the file is refused. {how_to}",
                    column=column,
                )
            )
    return issues


CHECKBOX_HEADER = r"^(?P<variable>.+?)(?:#.*|___.*| \(choice=.*\))$"
CHECKBOX_VALUES = {"", "0", "1", "Checked", "Unchecked"}


def checkbox_variable(header: str, values: pd.Series) -> str:
    """For a checkbox column ('reason#No fixed address', 'reason___3', 'Reason (choice=Other)')
    that holds only ticks, the variable's name: the option label is not patient data."""
    found = re.match(CHECKBOX_HEADER, header)
    if found and set(values.unique()) <= CHECKBOX_VALUES:
        return found["variable"]
    return header


def _all_long_numbers(values: pd.Series) -> bool:
    filled = values[values.str.strip() != ""]
    return bool(len(filled)) and bool(filled.str.strip().str.fullmatch(r"\d{8,9}").all())
