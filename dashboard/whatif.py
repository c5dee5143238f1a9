"""The what-if calculator of the trial and what-if pages: the per-site multi-centre forecast (forecast/multi.py)
of one trial with its sites as configured, its planned ones, and extra sites opening on chosen days, under a
target, planned end and prior certainty the user may change; the centres needed; the figure. Pure logic."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard import charts
from dashboard.config import Programme, Trial
from dashboard.forecast import Outlook, Site, centres_needed, forecast_sites, median_site_rate
from dashboard.forecast.multi import enrolled_path, extra_site
from dashboard.metrics import DAYS_PER_MONTH, Accrual, multicentre_sites

CENTRES_AFTER_MONTHS = 3  # the trial page's extra centres open this long after the as-of date
MOST_EXTRA = 6
PATH_POINTS = 40


@dataclass(frozen=True)
class Scenario:
    """What the user may change: the target, the planned end, the prior certainty, the chance aimed at, and
    the opening days of extra sites (each at the trial's median site rate)."""

    target: int
    planned_end: dt.date
    certainty: float
    chance: float = 0.8
    extra: tuple[dt.date, ...] = field(default_factory=tuple)
    centres_from: dt.date | None = None  # when extra centres would open (default: the first extra, else 3 months on)


def default_scenario(programme: Programme, trial: Trial, as_of: dt.date) -> Scenario:
    return Scenario(trial.target_on(as_of), trial.planned_end_on(as_of), programme.forecast_prior_certainty)


def _days(trial: Trial, as_of: dt.date, scenario: Scenario) -> tuple[int, int]:
    """(elapsed days, planned days) from the trial's opening."""
    return (as_of - trial.opened_on).days, max((scenario.planned_end - trial.opened_on).days, 1)


def centres_date(scenario: Scenario, as_of: dt.date) -> dt.date:
    if scenario.centres_from:
        return scenario.centres_from
    return scenario.extra[0] if scenario.extra else as_of + dt.timedelta(days=round(CENTRES_AFTER_MONTHS * DAYS_PER_MONTH))


def sites_phrase(sites: list[Site]) -> str:
    """'with EMC, NKI and 2 planned sites' (open or closed sites by name, the planned ones counted)."""
    named = [s.name for s in sites if not s.planned and s.known_rate is None]
    planned = sum(1 for s in sites if s.planned and s.known_rate is None)
    extra = sum(1 for s in sites if s.known_rate is not None)
    parts = named + ([f"{planned} planned site{'s' * (planned != 1)}"] if planned else [])
    parts += [f"{extra} extra site{'s' * (extra != 1)}"] if extra else []
    if not parts:
        return "with no site"
    return "with " + (parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1])


@dataclass(frozen=True)
class WhatIfResult:
    scenario: Scenario
    as_of: dt.date
    enrolled: int
    sites: list[Site]  # open or closed, planned, and the extra ones
    rate_per_month: float  # the median site rate the extra sites recruit at
    now: Outlook | None  # with the sites open (or closed) now only
    planned: Outlook | None  # and the planned ones (None without any)
    extra: Outlook | None  # and the extra ones (None without any)
    centres_needed: int | None
    centres_from: dt.date

    @property
    def headline(self) -> Outlook | None:
        return self.extra or self.planned or self.now


def what_if(trial: Trial, accrual: Accrual, scenario: Scenario, dates: bool = True) -> WhatIfResult:
    """The forecast with the sites there are, with the planned ones, with the extra ones, and the centres needed."""
    as_of = accrual.as_of
    elapsed, planned_days = _days(trial, as_of, scenario)
    enrolled = accrual.enrolled()
    there = multicentre_sites(trial, accrual)
    rate = median_site_rate(scenario.target, planned_days, there) if there else scenario.target / planned_days / max(len(trial.sites), 1)
    extras = [extra_site(rate, (day - as_of).days, name=f"extra {i + 1}") for i, day in enumerate(scenario.extra)]

    def outlook(sites: list[Site]) -> Outlook | None:
        if not sites or as_of < trial.opened_on:
            return None
        return forecast_sites(scenario.target, enrolled, elapsed, planned_days, sites, scenario.certainty, dates=dates)

    open_now = [s for s in there if not s.planned]
    has_planned = len(open_now) < len(there)
    opens = centres_date(scenario, as_of)
    needed = None
    if there and as_of >= trial.opened_on:
        # Counted against the sites configured (planned ones included), not the scenario's extra ones: the number
        # to compare with them.
        needed = centres_needed(scenario.target, enrolled, elapsed, planned_days, there, (opens - as_of).days,
                                scenario.certainty, scenario.chance)
    return WhatIfResult(
        scenario, as_of, enrolled, [*there, *extras], rate * DAYS_PER_MONTH, outlook(open_now),
        outlook(there) if has_planned else None, outlook([*there, *extras]) if extras else None, needed, opens,
    )


def paths(trial: Trial, result: WhatIfResult) -> dict[str, pd.DataFrame]:
    """The number enrolled over time (day, p05, median, p95) from as-of to a little past the planned end or
    the median finish, with the sites there are, and with the planned and extra ones when any."""
    scenario, as_of = result.scenario, result.as_of
    planned_days = _days(trial, as_of, scenario)[1]
    finish = result.headline.median_days if result.headline and result.headline.median_days is not None else 0
    last = max((scenario.planned_end - as_of).days, min(finish, 20 * 365)) * 1.1 + 30
    horizons = np.unique(np.linspace(0, last, PATH_POINTS).round())
    groups = {"sites open now": [s for s in result.sites if not s.planned and s.known_rate is None]}
    if result.planned is not None:
        groups["with the planned sites"] = [s for s in result.sites if s.known_rate is None]
    if result.extra is not None:
        groups["with the extra sites"] = result.sites
    out = {}
    for name, sites in groups.items():
        if not sites:
            continue
        q = enrolled_path(scenario.target, result.enrolled, planned_days, scenario.certainty, sites, horizons)
        days = [pd.Timestamp(as_of + dt.timedelta(days=int(h))) for h in horizons]
        out[name] = pd.DataFrame({"day": days, "p05": q[:, 0], "median": q[:, 1], "p95": q[:, 2]})
    return out


PATH_COLOURS = {"sites open now": "#8a96a3", "with the planned sites": "#0b6e99", "with the extra sites": "#1e8449"}


def figure(title: str, trial: Trial, result: WhatIfResult, height: int = 460) -> go.Figure:
    """The number enrolled over time under each group of sites: median line and 90% band, the target and
    the planned end marked."""
    fig = go.Figure()
    for name, path in paths(trial, result).items():
        colour = PATH_COLOURS[name]
        fig.add_trace(go.Scatter(x=path["day"], y=path["p05"], mode="lines", line=dict(width=0, color=colour),
                                 showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=path["day"], y=path["p95"], mode="lines", fill="tonexty", fillcolor=charts._alpha(colour, 0.15),
                                 line=dict(width=0, color=colour), showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=path["day"], y=path["median"], name=name, mode="lines", line=dict(color=colour, width=4),
                                 hovertemplate=f"{name}: %{{y:.0f}} by %{{x|%b %Y}}<extra></extra>"))
    target = result.scenario.target
    fig.add_hline(y=target, line=dict(color=charts.NEEDED_COLOUR, width=2, dash="dash"),
                  annotation_text=f"target {target}", annotation_position="top left", annotation_font_size=16)
    end = pd.Timestamp(result.scenario.planned_end)
    fig.add_vline(x=end.timestamp() * 1000, line=dict(color=charts.PLAN_COLOUR, width=2, dash="dot"),
                  annotation_text=f"planned end {result.scenario.planned_end:%b %Y}", annotation_position="top right",
                  annotation_font_size=16)
    charts.base_layout(fig, title, result.as_of, height=height, subtitle="median and 90% interval, a rate per site",
                       wrap=charts.HALF + 12)
    fig.update_yaxes(title=dict(text="enrolled", font=dict(size=16)), rangemode="normal")  # the change ahead, not from 0
    return fig


def outlook_line(outlook: Outlook | None, target: int, end: dt.date, as_of: dt.date) -> str:
    """'347 (313–384) by Dec 2027, 99% chance of 300; finishes Aug 2027'."""
    if outlook is None:
        return "no forecast"
    finish = ""
    if outlook.median_days is not None:
        finish = f"; {target} reached {as_of + dt.timedelta(days=int(outlook.median_days)):%b %Y}"
    elif outlook.median_days is None and outlook.p_on_time < 0.5:
        finish = f"; {target} not reached within a century"
    return (f"{outlook.enrolled_by_end_median} ({outlook.enrolled_by_end_p05}–{outlook.enrolled_by_end_p95}) by {end:%b %Y}, "
            f"{outlook.p_on_time:.0%} chance of {target}{finish}")
