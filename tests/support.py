"""Shared test constants and small builders."""

import datetime as dt
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT.parent / "shared" / "samples"
TODAY = dt.date(2026, 11, 21)


def template_csv(*rows: str, header: str = "participant_id,site,screened_on,enrolled_on,arm") -> bytes:
    """A small template extract: a header and rows, CRLF as Excel writes it."""
    return ("\r\n".join([header, *rows]) + "\r\n").encode("utf-8")
