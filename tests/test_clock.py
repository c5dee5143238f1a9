"""The pinned clock: the suite's own seam for "today", and what a wrong pin says."""

import datetime as dt

import pytest

from dashboard import clock, service


def test_a_pinned_date_is_today_everywhere_and_keeps_the_time_of_day(monkeypatch):
    monkeypatch.setenv(clock.PIN_VARIABLE, "2031-02-03")
    assert clock.today() == service.today() == dt.date(2031, 2, 3)
    pinned, real = clock.now(), dt.datetime.now()
    seconds_apart = abs(pinned.hour * 3600 + pinned.minute * 60 + pinned.second - (real.hour * 3600 + real.minute * 60 + real.second))
    assert seconds_apart <= 2 or seconds_apart >= 86398  # the real time of day (around midnight, either side)


def test_without_a_pin_today_is_the_calendar_date(monkeypatch):
    monkeypatch.delenv(clock.PIN_VARIABLE)
    assert clock.today() == dt.date.today()


def test_a_pin_that_is_not_a_date_is_named(monkeypatch):
    monkeypatch.setenv(clock.PIN_VARIABLE, "21-11-2026")
    with pytest.raises(ValueError, match="PUMP_TODAY='21-11-2026' is not a date"):
        clock.today()
