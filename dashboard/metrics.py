"""Accrual metrics of DESIGN.md section 5, computed from participant rows (pure pandas).

Every page and the command line use these, so they agree: accrual is the participants
with `enrolled_on` on or before the as-of date; months open run from the site's
activation (else its first enrolment) in months of 30.44 days.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from dashboard.config import Programme, Trial
from dashboard.forecast import Forecast, forecast_completion, status_from_probability

DAYS_PER_MONTH = 30.44


def as_timestamp(day: dt.date) -> pd.Timestamp:
    return pd.Timestamp(day)


def enrolled_by(participants: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """The participants accrued by the end of `as_of`."""
    enrolled = pd.to_datetime(participants["enrolled_on"])
    return participants[enrolled.notna() & (enrolled <= as_timestamp(as_of))]


def screened_by(participants: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Participants registered by `as_of`: screened then, or enrolled without a screening date."""
    first_seen = pd.to_datetime(participants["screened_on"]).fillna(pd.to_datetime(participants["enrolled_on"]))
    return participants[first_seen.notna() & (first_seen <= as_timestamp(as_of))]


def months_between(start: dt.date | None, end: dt.date) -> float:
    if start is None or end < start:
        return 0.0
    return (end - start).days / DAYS_PER_MONTH


def site_months_open(trial: Trial, site: str, first_enrolment: dt.date | None, as_of: dt.date) -> float:
    plan = trial.sites.get(site)
    start = (plan.activated_on if plan else None) or first_enrolment
    end = min(as_of, plan.closed_on) if plan and plan.closed_on else as_of
    return months_between(start, end)


def site_rows(trial_code: str, trial: Trial, participants: pd.DataFrame, as_of: dt.date, last_extract: dict[str, dt.date]) -> list[dict]:
    """Per site of the trial (those with zero recruits too): enrolled, months open, rate."""
    enrolled = enrolled_by(participants, as_of)
    rows = []
    for site in trial.sites:
        at_site = enrolled[enrolled["site"] == site]
        dates = pd.to_datetime(at_site["enrolled_on"])
        first = dates.min().date() if len(dates) else None
        months = site_months_open(trial, site, first, as_of)
        rows.append(
            {
                "site": site,
                "enrolled": len(at_site),
                "months_open": round(months, 2),
                "rate_per_month": round(len(at_site) / months, 2) if months > 0 else None,
                "last_enrolment_on": dates.max().date().isoformat() if len(dates) else None,
                "last_extract_on": last_extract[site].isoformat() if site in last_extract else None,
            }
        )
    return rows


def trial_forecast(trial: Trial, enrolled: int, as_of: dt.date, certainty: float) -> Forecast | None:
    """The Bayesian completion forecast, from the trial's opening; None before it opens."""
    if as_of < trial.opened_on:
        return None
    target = trial.target_on(as_of)
    planned_days = (trial.planned_end_on(as_of) - trial.opened_on).days
    elapsed = (as_of - trial.opened_on).days
    return forecast_completion(target, min(enrolled, target), elapsed, planned_days, certainty)


def trial_summary(
    programme: Programme, trial_code: str, participants: pd.DataFrame, as_of: dt.date, last_extract: dict[str, dt.date]
) -> dict:
    """The per-trial block of `summary --json` (DESIGN.md section 6)."""
    trial = programme.trials[trial_code]
    mine = participants[participants["trial"] == trial_code]
    enrolled = len(enrolled_by(mine, as_of))
    target = trial.target_on(as_of)
    # Without any extract there is nothing to forecast from: say so rather than predict from zero.
    has_data = bool(last_extract)
    forecast = trial_forecast(trial, enrolled, as_of, programme.forecast_prior_certainty) if has_data else None
    thresholds = programme.status_thresholds
    return {
        "trial": trial_code,
        "title": trial.title,
        "target": target,
        "planned_end_on": trial.planned_end_on(as_of).isoformat(),
        "enrolled": enrolled,
        "percent_of_target": round(100 * enrolled / target, 1),
        "screened": len(screened_by(mine, as_of)),
        "expected_by_now": round(expected_by(trial, as_of), 1),
        "sites": site_rows(trial_code, trial, mine, as_of, last_extract),
        "forecast": None if forecast is None else {**forecast.dates(as_of), "p_on_time": round(forecast.p_on_time, 4)},
        "status": None if forecast is None else status_from_probability(forecast.p_on_time, thresholds.green, thresholds.amber),
    }


def expected_by(trial: Trial, day: dt.date) -> float:
    """The planned accrual curve: linear from opening to the planned end of the protocol
    version in force on `day`, reaching that version's target."""
    if day < trial.opened_on:
        return 0.0
    end = trial.planned_end_on(day)
    share = min(1.0, (day - trial.opened_on).days / max(1, (end - trial.opened_on).days))
    return trial.target_on(day) * share


def cumulative_accrual(participants: pd.DataFrame, as_of: dt.date, by: str | None = None) -> pd.DataFrame:
    """One row per enrolment day (and `by` group): the running total of enrolments."""
    enrolled = enrolled_by(participants, as_of).assign(enrolled_on=lambda f: pd.to_datetime(f["enrolled_on"]))
    keys = ["enrolled_on"] + ([by] if by else [])
    daily = enrolled.groupby(keys).size().rename("enrolled").reset_index().sort_values("enrolled_on")
    daily["cumulative"] = daily.groupby(by)["enrolled"].cumsum() if by else daily["enrolled"].cumsum()
    return daily


def expected_curve(trial: Trial, as_of: dt.date) -> pd.DataFrame:
    """The planned curve at monthly steps from opening to as-of, following amendments."""
    days = pd.date_range(trial.opened_on, as_of, freq="MS").union([pd.Timestamp(trial.opened_on), pd.Timestamp(as_of)])
    return pd.DataFrame({"day": days, "expected": [expected_by(trial, d.date()) for d in days]})
