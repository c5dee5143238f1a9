"""Shared test constants and small builders."""

import datetime as dt
from pathlib import Path

import pandas as pd

from dashboard.fields import FIELD_NAMES

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT.parent / "shared" / "samples"
TODAY = dt.date(2026, 11, 21)


def template_csv(*rows: str, header: str = "participant_id,site,screened_on,enrolled_on,arm") -> bytes:
    """A small template extract: a header and rows, CRLF as Excel writes it."""
    return ("\r\n".join([header, *rows]) + "\r\n").encode("utf-8")

# The current snapshot of a trial that has no data yet.
NO_CURRENT = pd.DataFrame(columns=["trial", *FIELD_NAMES, "source_row"])


def iso(dates: pd.Series) -> list:
    """Dates as ISO text (None where missing), as a test writes them."""
    return [None if pd.isna(d) else d.date().isoformat() for d in dates]


def messages(issues, code):
    """The messages of the issues of one rule."""
    return [i.message for i in issues if i.code == code]
