"""The one clock of the dashboard: every "now" and "today" comes from here.

`PUMP_TODAY=YYYY-MM-DD` pins the calendar date (the time of day stays the real one, so
writes keep their order). The tests pin it, so that the suite passes on any day; a
demonstration can pin it to show the programme as it was on a day.
"""

from __future__ import annotations

import datetime as dt
import os

PIN_VARIABLE = "PUMP_TODAY"


def _pinned_date() -> dt.date | None:
    text = os.environ.get(PIN_VARIABLE, "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError as error:
        raise ValueError(f"{PIN_VARIABLE}={text!r} is not a date (YYYY-MM-DD)") from error


def now() -> dt.datetime:
    """Local wall-clock time to the second, on the pinned date when one is set."""
    real = dt.datetime.now().replace(microsecond=0)
    pinned = _pinned_date()
    return real if pinned is None else dt.datetime.combine(pinned, real.time())


def today() -> dt.date:
    return now().date()
