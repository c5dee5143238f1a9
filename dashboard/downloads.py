"""Every CSV the app or the command line hands out goes through here.

A cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to a
spreadsheet: a crafted participant id would run in the coordinator's Excel. Such text
cells get a leading apostrophe (OWASP's advice), which the spreadsheet shows as text.
Numbers stay numbers: only text cells are touched.
"""

from __future__ import annotations

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The table with every formula-like text cell (and column name) neutralised."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise)
    safe.columns = [neutralise(str(c)) for c in safe.columns]
    return safe


def csv_bytes(frame: pd.DataFrame, **to_csv) -> bytes:
    """UTF-8 CSV (with BOM, so Dutch Excel reads the accents) that a spreadsheet never runs."""
    # CRLF as Excel writes it; the csv module then quotes every cell holding a line break.
    return safe_frame(frame).to_csv(index=False, lineterminator="\r\n", **to_csv).encode("utf-8-sig")
