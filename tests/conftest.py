import datetime as dt
from pathlib import Path

import pytest

from dashboard.config import load_programme
from dashboard.store import Store

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT.parent / "shared" / "samples"
TODAY = dt.date(2026, 11, 21)

TEMPLATE_HEADER = (
    "participant_id,site,screened_on,screening_outcome,screen_fail_reason,consented_on,enrolled_on,arm,status,"
    "withdrawn_on,withdrawal_reason,pump_implanted_on,treatment_started_on,treatment_ended_on,cycles_completed,converted_on"
)


@pytest.fixture(scope="session")
def programme():
    return load_programme()


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "test.duckdb", lock_wait=5)


def template_csv(*rows: str, header: str = "participant_id,site,screened_on,enrolled_on,arm") -> bytes:
    """A small template extract: a header and rows, CRLF as Excel writes it."""
    return ("\r\n".join([header, *rows]) + "\r\n").encode("utf-8")
