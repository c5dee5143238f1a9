"""Accrual metrics of DESIGN.md section 5, computed from participant rows (pure pandas).

Every page and the command line use these, so they agree. The definitions:

- accrual: participants with `enrolled_on` on or before the as-of date.
- activation of a site for a trial: its configured `activated_on`, else its first enrolment; a site
  that enrolled before its configured date was evidently open then, so the earlier of the two.
- months open (site): from activation to the as-of date (or the site's closure), in months of 30.44 days.
- rate: enrolled / months open. Recent rate over the last 3 (6) months: enrolments in the 91 (183) days
  ending on the as-of date, per month of that window (shortened to the time the site or trial was open).
- expected by now: the planned curve, linear from the trial's opening to the planned end of the protocol
  version in force, reaching that version's target.
- rate needed: enrolments still needed / months left until the planned end; rate planned: the
  target / months from opening to the planned end.
- screen-fail rate: screened patients found ineligible or declining, of those with a decided outcome.
- stale: a site's last accepted extract for the trial is older than `stale_after_days` (or missing).
- forecast model (declared_model): the configured `forecast_model` of the trial, else of the programme, else
  `multicentre` for a trial with more than one site and `single` for a trial with one. The status, the headline
  finish, the chance on time and the number by the planned end all come from it; `summary --json` names it
  (`forecast_model`: `multi-centre` or `single-rate`, and `forecast_model_text` in words).
- single: forecast.forecast_multicentre, one rate for the trial, with one SitePlan per configured site, its
  planned share (configured, else equal), open from its activation (exact closed form when no site opens
  later; with one site the single-rate model of Gajewski et al. exactly): "since opening". The same model
  fitted to the last `forecast_recent_months` only (forecast.forecast_recent): "at the recent pace".
- multicentre: a rate per site (Jiang et al. 2015, forecast.multi), over the sites the trial has, open or
  closed by the as-of date (basis_sites; a planned site is not counted in the status, it is in the summary's
  `multicentre.with_planned`): since opening, site j's rate Gamma(nP*s_j + m_j, TP + dT_j) from its
  activation; at the recent pace, Gamma(nP*s_j*w_j/T + m_wj, (1 + P)*w_j) from the w_j days it was open in the
  last months (its row in site_forecasts). Its accrual ahead is negative binomial up to its closing; the
  trial's is m plus the sum (convolved), the completion date the first whole day the chance of the target
  reaches 5%, 50%, 95%. For every trial at once on arrays (forecast.multi.outlooks_at_once).
- the configured `status_basis` picks since opening or the recent pace for the status and the headline finish;
  both are reported.
- enrolled by the planned end: the number enrolled by then, under `single` negative binomial under the basis
  forecast's Gamma posterior (forecast.predict_enrolled), under `multicentre` m plus the sum of the sites'
  negative binomials; per site the same with the site's own rate, its prior the plan's rate times its share.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from dashboard.config import Programme, Trial
from dashboard.fields import DATE_FIELDS, STATUSES
from dashboard.forecast import (
    Forecast,
    Outlook,
    Site,
    SitePlan,
    centres_needed,
    day_after,
    exposure_ahead,
    forecast_fan,
    forecast_sites,
    negbin_quantiles,
    negbin_reaching,
    recent_posterior,
    site_fan,
    status_from_probability,
)
from dashboard.forecast.multi import Problem, outlooks_at_once, problem
from dashboard.forecast.pooled import ClosedForm, multicentre_pending, recent_pending, resolve

DAYS_PER_MONTH = 30.44
RECENT_MONTHS = (3, 6)
FAIL_OUTCOMES = ("ineligible", "declined")
DECIDED_OUTCOMES = ("eligible", *FAIL_OUTCOMES)
NO_REASON = "(no reason given)"
NOT_RECORDED = "not recorded"
OFF_STUDY = ("withdrawn", "deceased", "lost_to_follow_up")
PERIODS = {"day": "D", "week": "W-SUN", "month": "M"}  # weeks run Monday to Sunday


def as_timestamp(day: dt.date) -> pd.Timestamp:
    return pd.Timestamp(day)


def _dates(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series(pd.NaT, index=frame.index)
    values = frame[column]
    # Converted once per snapshot (with_dates); a frame from elsewhere is converted here.
    return values if pd.api.types.is_datetime64_any_dtype(values) else pd.to_datetime(values)


def with_dates(participants: pd.DataFrame) -> pd.DataFrame:
    """The participants with every date field as datetime64, converted once for all the metrics."""
    columns = {c: pd.to_datetime(participants[c]) for c in DATE_FIELDS
               if c in participants and not pd.api.types.is_datetime64_any_dtype(participants[c])}
    return participants.assign(**columns) if columns else participants


def _on_or_before(frame: pd.DataFrame, column: str, as_of: dt.date) -> pd.Series:
    dates = _dates(frame, column)
    return dates.notna() & (dates <= as_timestamp(as_of))


def enrolled_by(participants: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """The participants accrued by the end of `as_of`."""
    return participants[_on_or_before(participants, "enrolled_on", as_of)]


def _screened_mask(participants: pd.DataFrame, as_of: dt.date) -> pd.Series:
    first_seen = _dates(participants, "screened_on").fillna(_dates(participants, "enrolled_on"))
    return first_seen.notna() & (first_seen <= as_timestamp(as_of))


def screened_by(participants: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Participants registered by `as_of`: screened then, or enrolled without a screening date."""
    return participants[_screened_mask(participants, as_of)]


def months_between(start: dt.date | None, end: dt.date) -> float:
    if start is None or end < start:
        return 0.0
    return (end - start).days / DAYS_PER_MONTH


def _first_enrolment(enrolled: pd.DataFrame) -> dt.date | None:
    dates = _dates(enrolled, "enrolled_on").dropna()
    return dates.min().date() if len(dates) else None


def site_activation(trial: Trial, site: str, first_enrolment: dt.date | None, as_of: dt.date | None = None) -> dt.date | None:
    """The configured activation (as known on `as_of`), else the first enrolment; the earlier when both exist."""
    plan = trial.site_on(site, as_of)
    known = [d for d in ((plan.activated_on if plan else None), first_enrolment) if d is not None]
    return min(known) if known else None


def site_end(trial: Trial, site: str, as_of: dt.date) -> dt.date:
    """The as-of date, or the site's closure when it closed before."""
    plan = trial.site_on(site, as_of)
    return min(as_of, plan.closed_on) if plan and plan.closed_on else as_of


def recent_rate(accrual: Accrual, end: dt.date, months: int, opened_on: dt.date | None, site: str | None = None) -> float | None:
    """Enrolments (of the site, or of the trial) per month over the `months` months ending on `end`
    (round(months * 30.44) days), the window shortened to the time since `opened_on`; None when not open yet."""
    if opened_on is None or opened_on >= end:
        return None
    window = window_days(months)
    length = min(window, (end - opened_on).days)
    return accrual.count_in(end - dt.timedelta(days=window), end, site) / (length / DAYS_PER_MONTH)


def rate_needed(target: int, enrolled: int, as_of: dt.date, planned_end: dt.date) -> float | None:
    """Enrolments per month needed to reach the target by the planned end; None once it has passed
    with the target not reached (no rate is enough), 0 when the target is reached."""
    remaining = max(target - enrolled, 0)
    if remaining == 0:
        return 0.0
    months_left = (planned_end - as_of).days / DAYS_PER_MONTH
    return remaining / months_left if months_left > 0 else None


def expected_by(trial: Trial, day: dt.date, known_on: dt.date | None = None) -> float:
    """The planned accrual curve: linear from opening to the planned end of the protocol
    version in force on `day`, reaching that version's target. Beyond `known_on` (the as-of
    date of a view) the version in force then: a view never shows an amendment made later."""
    if day < trial.opened_on:
        return 0.0
    version = trial.amendment_on(min(day, known_on) if known_on else day)
    share = min(1.0, (day - trial.opened_on).days / max(1, (version.planned_end_on - trial.opened_on).days))
    return version.target * share


def expected_curve(trial: Trial, as_of: dt.date, until: dt.date | None = None) -> pd.DataFrame:
    """The planned curve at monthly steps from opening to as-of (or on to `until`), following the
    amendments made by as-of: each point is expected_by on that day, so an amendment shows as a step."""
    last = until or as_of
    days = pd.date_range(trial.opened_on, last, freq="MS").union([pd.Timestamp(trial.opened_on), pd.Timestamp(last)])
    for amendment in trial.amendments[1:]:  # both sides of an amendment, so the step is drawn as one
        if trial.opened_on < amendment.effective_on <= min(last, as_of):
            days = days.union([pd.Timestamp(amendment.effective_on - dt.timedelta(days=1)), pd.Timestamp(amendment.effective_on)])
    return pd.DataFrame({"day": days, "expected": [expected_by(trial, d.date(), known_on=as_of) for d in days]})


def cumulative_accrual(participants: pd.DataFrame, as_of: dt.date, by: str | None = None) -> pd.DataFrame:
    """One row per enrolment day (and `by` group): the running total of enrolments."""
    enrolled = enrolled_by(participants, as_of).assign(enrolled_on=lambda f: pd.to_datetime(f["enrolled_on"]))
    keys = ["enrolled_on"] + ([by] if by else [])
    daily = enrolled.groupby(keys).size().rename("enrolled").reset_index().sort_values(keys, ignore_index=True)
    daily["cumulative"] = daily.groupby(by)["enrolled"].cumsum() if by else daily["enrolled"].cumsum()
    return daily


def accrual_per_period(
    participants: pd.DataFrame,
    as_of: dt.date,
    period: str = "month",
    by: str | None = None,
    groups: list[str] | None = None,
    start: dt.date | None = None,
) -> pd.DataFrame:
    """Enrolments per day, week (Monday to Sunday) or month up to `as_of`, every period from `start`
    (default: the first enrolment) shown, empty ones as 0, and with `by` every group in `groups` (default:
    those seen) in every period. Columns: period (its first day), [by], enrolled, cumulative, and
    `complete` (False for the period holding as_of when as_of is not its last day)."""
    freq = PERIODS[period]
    enrolled = enrolled_by(participants, as_of)
    periods_of = pd.to_datetime(enrolled["enrolled_on"]).dt.to_period(freq)
    first = pd.Period(start, freq) if start else (periods_of.min() if len(periods_of) else pd.Period(as_of, freq))
    index = pd.period_range(min(first, pd.Period(as_of, freq)), pd.Period(as_of, freq), freq=freq)
    if by:
        names = groups if groups is not None else sorted(enrolled[by].dropna().unique())
        counts = enrolled.assign(period=periods_of).groupby(["period", by]).size()
        full = pd.MultiIndex.from_product([index, names], names=["period", by])
        frame = counts.reindex(full, fill_value=0).rename("enrolled").reset_index()
        frame["cumulative"] = frame.groupby(by)["enrolled"].cumsum()
    else:
        counts = enrolled.assign(period=periods_of).groupby("period").size()
        frame = counts.reindex(index, fill_value=0).rename("enrolled").rename_axis("period").reset_index()
        frame["cumulative"] = frame["enrolled"].cumsum()
    last = pd.Period(as_of, freq)
    frame["complete"] = (frame["period"] != last) | (last.end_time.date() == as_of)
    frame["period"] = frame["period"].dt.start_time
    frame["enrolled"] = frame["enrolled"].astype(int)
    frame["cumulative"] = frame["cumulative"].astype(int)
    return frame


# ---- the snapshot reduced once: what the summary reads of each trial and site -----------------------

_NO_DAYS = np.array([], dtype="datetime64[D]")


@dataclass(frozen=True)
class Accrual:
    """A trial's participants as of a day, reduced once to what the summary and the forecasts read:
    per site the sorted days of its enrolments on or before `as_of`, and its screening counts. A count
    is then a search in a sorted array, not a filter of a frame (the summary of 150 trials does
    thousands of them). Sites are those in the data, configured or not."""

    as_of: dt.date
    days: dict[str, np.ndarray] = field(default_factory=dict)
    screened: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    decided: dict[str, int] = field(default_factory=dict)

    def _of(self, site: str | None) -> list[np.ndarray]:
        return list(self.days.values()) if site is None else [self.days.get(site, _NO_DAYS)]

    def enrolled(self, site: str | None = None) -> int:
        return sum(len(d) for d in self._of(site))

    def first(self, site: str) -> dt.date | None:
        days = self.days.get(site, _NO_DAYS)
        return days[0].item() if len(days) else None

    def last(self, site: str) -> dt.date | None:
        days = self.days.get(site, _NO_DAYS)
        return days[-1].item() if len(days) else None

    def count_in(self, after: dt.date, upto: dt.date, site: str | None = None) -> int:
        """Enrolments on the days after `after` up to and including `upto`."""
        a, b = np.datetime64(after, "D"), np.datetime64(upto, "D")
        return int(sum(np.searchsorted(d, b, "right") - np.searchsorted(d, a, "right") for d in self._of(site)))

    def screened_count(self, site: str | None = None) -> int:
        return sum(self.screened.values()) if site is None else self.screened.get(site, 0)

    def screen_fail_rate(self, site: str | None = None) -> float | None:
        """As screen_fail_rate: failures of the screened with a decided outcome; None when nobody has one."""
        decided = sum(self.decided.values()) if site is None else self.decided.get(site, 0)
        failed = sum(self.failed.values()) if site is None else self.failed.get(site, 0)
        return failed / decided if decided else None


DAY_OFFSET = 1 << 30  # days since 1970 made positive for packing (any date from about 2.9 million years ago)


def accruals(participants: pd.DataFrame, as_of: dt.date, by_trial: bool = True) -> dict[str, Accrual]:
    """Every trial's Accrual from one pass over the snapshot: the masks computed once for all rows, each
    (trial, site) a whole-number key (its text factorised once), the screening counts one bincount each,
    the enrolment days sorted once by key and day and cut at the keys' edges. Grouping on text columns
    three times cost most of the national summary. Without `by_trial` the rows are one trial's, under
    the key ""."""
    frame = with_dates(participants)
    enrolled = _on_or_before(frame, "enrolled_on", as_of)
    screened = _screened_mask(frame, as_of).to_numpy()
    decided, failed = (mask.to_numpy() for mask in _decided_and_failed(frame, enrolled))
    enrolled = enrolled.to_numpy()
    site_codes, sites = pd.factorize(frame["site"], use_na_sentinel=False)
    trial_codes, trials = pd.factorize(frame["trial"], use_na_sentinel=False) if by_trial else (np.zeros(len(frame), np.intp), [""])
    trials, sites = [str(t) for t in trials], [str(s) for s in sites] or [""]
    keys = trial_codes * len(sites) + site_codes
    size = len(trials) * len(sites)
    screened_n = np.bincount(keys[screened], minlength=size)
    decided_n = np.bincount(keys[screened & decided], minlength=size)
    failed_n = np.bincount(keys[screened & failed], minlength=size)
    parts: dict[str, dict] = {}
    for key in pd.unique(keys):  # in the order the pairs first appear, as a grouping without sorting gives
        trial, site = trials[key // len(sites)], sites[key % len(sites)]
        part = parts.setdefault(trial, {"days": {}, "screened": {}, "decided": {}, "failed": {}})
        part["screened"][site], part["decided"][site], part["failed"][site] = int(screened_n[key]), int(decided_n[key]), int(failed_n[key])
    # One sort of (key, day) packed in one whole number: the key above, the day below.
    days = _dates(frame, "enrolled_on").to_numpy()[enrolled].astype("datetime64[D]").astype(np.int64)
    packed = np.sort((keys[enrolled].astype(np.int64) << 32) | (days + DAY_OFFSET))
    sorted_keys, sorted_days = packed >> 32, ((packed & 0xFFFFFFFF) - DAY_OFFSET).astype("datetime64[D]")
    enrolled_keys = keys[enrolled]
    edges = np.flatnonzero(np.diff(sorted_keys)) + 1
    starts, ends = np.r_[0, edges], np.r_[edges, len(sorted_keys)]
    runs = {int(sorted_keys[a]): sorted_days[a:b] for a, b in zip(starts, ends, strict=True)} if len(sorted_keys) else {}
    for key in pd.unique(enrolled_keys):  # the sites in the order they first appear among the enrolled
        trial, site = trials[key // len(sites)], sites[key % len(sites)]
        parts[trial]["days"][site] = runs[int(key)]
    return {trial: Accrual(as_of=as_of, **part) for trial, part in parts.items()}


def accrual_of(participants: pd.DataFrame, as_of: dt.date) -> Accrual:
    """One trial's Accrual (its rows only)."""
    return accruals(participants, as_of, by_trial=False).get("", Accrual(as_of))


# ---- screening, arms, statuses, milestones ---------------------------------------------------------


def _outcome_in(frame: pd.DataFrame, *outcome_sets) -> list[np.ndarray]:
    """Per set of outcomes, per row: whether its screening outcome, trimmed and in lower case, is one of them.
    The column factorised once and each distinct value (a handful) decided once, not each row (300,000 at
    national scale)."""
    if "screening_outcome" not in frame:
        return [np.full(len(frame), "" in outcomes) for outcomes in outcome_sets]
    codes, values = pd.factorize(frame["screening_outcome"])  # a gap: code -1, the last entry below
    normalised = pd.Index(values, dtype=object).astype(str).str.strip().str.lower()
    return [np.append(normalised.isin(list(outcomes)), "" in outcomes)[codes] for outcomes in outcome_sets]


def _decided_and_failed(frame: pd.DataFrame, enrolled: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Per row: a decided screening outcome (enrolment decides: eligible), and a screen failure
    (ineligible or declined, and not enrolled after all)."""
    decided, failed = _outcome_in(frame, DECIDED_OUTCOMES, FAIL_OUTCOMES)
    return pd.Series(decided, index=frame.index) | enrolled, pd.Series(failed, index=frame.index) & ~enrolled


def screening_funnel(participants: pd.DataFrame, as_of: dt.date) -> list[dict]:
    """screened -> eligible -> consented -> enrolled, each stage within the one before: an enrolled
    participant was eligible and consented whatever the extract says, and a patient who declined was
    eligible (declining is a screen failure all the same)."""
    screened = screened_by(participants, as_of)
    enrolled = _on_or_before(screened, "enrolled_on", as_of)
    consented = _on_or_before(screened, "consented_on", as_of) | enrolled
    eligible = pd.Series(_outcome_in(screened, ("eligible", "declined"))[0], index=screened.index) | consented
    counts = [len(screened), int(eligible.sum()), int(consented.sum()), int(enrolled.sum())]
    return [{"stage": s, "count": c} for s, c in zip(("screened", "eligible", "consented", "enrolled"), counts, strict=True)]


def screen_failures(participants: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    screened = screened_by(participants, as_of)
    _, failed = _decided_and_failed(screened, _on_or_before(screened, "enrolled_on", as_of))
    return screened[failed]


def screen_fail_reasons(participants: pd.DataFrame, as_of: dt.date, trial: Trial | None = None) -> pd.DataFrame:
    """Screen failures by reason, most frequent first (ties alphabetically); columns reason, count, share
    (of all screen failures). With the `trial`, each stored code is shown as its label (Trial.reason_label)."""
    failed = screen_failures(participants, as_of)
    reasons = failed.get("screen_fail_reason", pd.Series(index=failed.index, dtype=object))
    if trial is not None:
        reasons = reasons.map({code: trial.reason_label("screen_fail_reason", code) for code in reasons.dropna().unique()})
    reasons = reasons.fillna("").astype(str).str.strip().replace("", NO_REASON)
    counts = reasons.value_counts().rename_axis("reason").reset_index(name="count")
    counts = counts.sort_values(["count", "reason"], ascending=[False, True], ignore_index=True)
    counts["share"] = counts["count"] / max(1, len(failed))
    return counts


def screen_fail_rate(participants: pd.DataFrame, as_of: dt.date) -> float | None:
    """Screen failures (ineligible or declined) of the screened with a decided outcome (enrolment decides:
    eligible); None when nobody has one."""
    return accrual_of(participants, as_of).screen_fail_rate()


def arm_balance(trial: Trial, participants: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Enrolled per site (every site of the trial) and arm (every arm of the trial, in configured order),
    with `total` and `unallocated` (no arm recorded)."""
    enrolled = enrolled_by(participants, as_of)
    rows = []
    for site in trial.sites:
        at_site = enrolled[enrolled["site"] == site]
        arms = at_site["arm"] if "arm" in at_site else pd.Series(dtype=object)
        row = {"site": site, **{arm: int((arms == arm).sum()) for arm in trial.arms}}
        row["unallocated"] = int(arms.isna().sum())
        row["total"] = len(at_site)
        rows.append(row)
    return pd.DataFrame(rows, columns=["site", *trial.arms, "unallocated", "total"])


def status_breakdown(participants: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Enrolled participants by their current status, in the canonical order, statuses nobody has left
    out; a missing status is `not recorded`."""
    enrolled = enrolled_by(participants, as_of)
    status = enrolled["status"].fillna(NOT_RECORDED) if "status" in enrolled else pd.Series(NOT_RECORDED, index=enrolled.index)
    counts = status.value_counts()
    order = [s for s in (*STATUSES, NOT_RECORDED) if s in counts] + sorted(set(counts.index) - {*STATUSES, NOT_RECORDED})
    return pd.DataFrame({"status": order, "count": [int(counts[s]) for s in order]})


def milestones(trial: Trial, participants: pd.DataFrame, as_of: dt.date) -> list[dict]:
    """HAIP milestones by `as_of`, each with `of`, the participants it applies to (the HAIP arm in a
    randomised trial): pump placed; on HAIP now (started, not ended, not off study); HAIP completed (ended
    without withdrawing first); converted to resection or transplant."""
    enrolled = enrolled_by(participants, as_of)
    haip = enrolled[enrolled["arm"] == "haip"] if trial.is_randomised else enrolled
    group = "in the HAIP arm" if trial.is_randomised else "enrolled"
    started = _on_or_before(haip, "treatment_started_on", as_of)
    ended = _on_or_before(haip, "treatment_ended_on", as_of)
    withdrawn = _on_or_before(haip, "withdrawn_on", as_of)
    status = haip["status"].fillna("") if "status" in haip else pd.Series("", index=haip.index)
    on_now = started & ~ended & ~withdrawn & ~status.isin(OFF_STUDY)
    withdrew_first = withdrawn & (_dates(haip, "withdrawn_on") <= _dates(haip, "treatment_ended_on"))
    completed = ended & ~withdrew_first
    converted = _on_or_before(haip, "converted_on", as_of)
    counts = {
        "pump_placed": ("Pump placed", _on_or_before(haip, "pump_implanted_on", as_of)),
        "on_treatment": ("On HAIP now", on_now),
        "completed": ("HAIP completed", completed),
        "converted": ("Converted", converted),  # to resection or liver transplant
    }
    return [
        {"milestone": key, "label": label, "count": int(mask.sum()), "of": len(haip), "group": group}
        for key, (label, mask) in counts.items()
    ]


# ---- per site ----------------------------------------------------------------------------------------


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def site_rows(
    trial_code: str,
    trial: Trial,
    participants: pd.DataFrame,
    as_of: dt.date,
    last_extract: dict[str, dt.date],
    stale_after_days: int = 14,
) -> list[dict]:
    """Per site of the trial (those with zero recruits too): accrual, rates, screening, freshness."""
    return _site_rows(trial, accrual_of(participants, as_of), last_extract, stale_after_days)


def _site_rows(trial: Trial, accrual: Accrual, last_extract: dict[str, dt.date], stale_after_days: int) -> list[dict]:
    as_of = accrual.as_of
    rows = []
    for site in trial.sites:
        enrolled = accrual.enrolled(site)
        activated = site_activation(trial, site, accrual.first(site), as_of)
        end = site_end(trial, site, as_of)
        months = months_between(activated, end)
        last_enrolment = accrual.last(site)
        extract = last_extract.get(site)
        days_since_extract = (as_of - extract).days if extract else None
        rows.append(
            {
                "site": site,
                "activated_on": activated.isoformat() if activated and activated <= as_of else None,
                "enrolled": enrolled,
                "screened": accrual.screened_count(site),
                "screen_fail_rate": _round(accrual.screen_fail_rate(site), 3),
                "months_open": round(months, 2),
                "rate_per_month": round(enrolled / months, 2) if months > 0 else None,
                **{f"rate_{m}m": _round(recent_rate(accrual, end, m, activated, site)) for m in RECENT_MONTHS},
                "last_enrolment_on": last_enrolment.isoformat() if last_enrolment else None,
                "days_since_last_enrolment": (as_of - last_enrolment).days if last_enrolment else None,
                "last_extract_on": extract.isoformat() if extract else None,
                "days_since_last_extract": days_since_extract,
                "stale": days_since_extract is None or days_since_extract > stale_after_days,
            }
        )
    return rows


def aligned_site_curves(trial: Trial, participants: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Cumulative enrolments per site against months since that site's activation: a point at 0 months,
    one per enrolment day, and one at the as-of date, so an open site with no recruit is a flat line at
    0. Sites not open by as_of have no rows. Columns site, months, cumulative."""
    enrolled = enrolled_by(participants, as_of)
    parts = []
    for site in trial.sites:
        at_site = enrolled[enrolled["site"] == site]
        activated = site_activation(trial, site, _first_enrolment(at_site), as_of)
        if activated is None or activated > as_of:
            continue
        daily = _dates(at_site, "enrolled_on").value_counts().sort_index()
        months = [0.0] + [(d.date() - activated).days / DAYS_PER_MONTH for d in daily.index]
        counts = [0, *daily.cumsum().tolist()]
        months.append(months_between(activated, site_end(trial, site, as_of)))
        counts.append(counts[-1])
        parts.append(pd.DataFrame({"site": site, "months": months, "cumulative": counts}))
    if not parts:
        return pd.DataFrame({"site": pd.Series(dtype=object), "months": pd.Series(dtype=float), "cumulative": pd.Series(dtype=int)})
    return pd.concat(parts, ignore_index=True)


# ---- forecast ----------------------------------------------------------------------------------------


def site_plans(trial: Trial, participants: pd.DataFrame, as_of: dt.date) -> list[SitePlan]:
    """One SitePlan per configured site, its planned share (configured, else equal), in days from as_of: opening at its
    activation (math.inf without one), closing at its configured closure."""
    return _site_plans(trial, accrual_of(participants, as_of))


def _site_plans(trial: Trial, accrual: Accrual) -> list[SitePlan]:
    as_of = accrual.as_of
    plans = []
    for site in trial.sites:
        plan = trial.site_on(site, as_of)
        activated = site_activation(trial, site, accrual.first(site), as_of)
        opens = (activated - as_of).days if activated else math.inf
        closes = (plan.closed_on - as_of).days if plan.closed_on else math.inf
        plans.append(SitePlan(opens_in_days=opens, share=trial.site_share(site), closes_in_days=max(closes, opens)))
    return plans


def _forecast_args(trial: Trial, accrual: Accrual) -> tuple:
    as_of = accrual.as_of
    target = trial.target_on(as_of)
    enrolled = min(accrual.enrolled(), target)
    planned_days = (trial.planned_end_on(as_of) - trial.opened_on).days
    elapsed = (as_of - trial.opened_on).days
    return target, enrolled, elapsed, planned_days, _site_plans(trial, accrual)


def trial_forecast(trial: Trial, participants: pd.DataFrame, as_of: dt.date, certainty: float) -> Forecast | None:
    """The Bayesian completion forecast of the trial (its participants), sites opening at their
    activation; None before the trial opens or when no site has an opening date."""
    return _trial_forecast(trial, accrual_of(participants, as_of), certainty)


def _trial_forecast(trial: Trial, accrual: Accrual, certainty: float) -> Forecast | None:
    return resolve([_forecast_pending(trial, accrual, certainty)])[0]


def _forecast_pending(trial: Trial, accrual: Accrual, certainty: float) -> Forecast | ClosedForm | None:
    if accrual.as_of < trial.opened_on:
        return None
    target, enrolled, elapsed, planned, sites = _forecast_args(trial, accrual)
    try:
        return multicentre_pending(target, enrolled, elapsed, planned, sites, certainty)
    except ValueError:  # no site will ever recruit: nothing to forecast
        return None


def window_days(months: int) -> int:
    """The recent window of `months` months, in days, as recent_rate counts it."""
    return round(months * DAYS_PER_MONTH)


def recent_enrolled(accrual: Accrual, months: int, site: str | None = None) -> int:
    """Enrolments in the `months` months ending on as_of (the days after as_of - window, up to as_of)."""
    return accrual.count_in(accrual.as_of - dt.timedelta(days=window_days(months)), accrual.as_of, site)


def trial_forecast_recent(
    trial: Trial, participants: pd.DataFrame, as_of: dt.date, certainty: float, months: int
) -> Forecast | None:
    """The forecast at the recent pace: the model fitted to the last `months` months (shortened to the
    time open); None when there is nothing to forecast (as trial_forecast)."""
    return _trial_forecast_recent(trial, accrual_of(participants, as_of), certainty, months)


def _trial_forecast_recent(trial: Trial, accrual: Accrual, certainty: float, months: int) -> Forecast | None:
    return resolve([_recent_pending(trial, accrual, certainty, months)])[0]


def _recent_pending(trial: Trial, accrual: Accrual, certainty: float, months: int) -> Forecast | ClosedForm | None:
    if accrual.as_of < trial.opened_on:
        return None
    target, enrolled, elapsed, planned, sites = _forecast_args(trial, accrual)
    recent = min(recent_enrolled(accrual, months), enrolled)
    try:
        return recent_pending(target, enrolled, recent, elapsed, planned, sites, window_days(months), certainty)
    except ValueError:
        return None


def trial_fan(
    trial: Trial, participants: pd.DataFrame, as_of: dt.date, certainty: float, recent_months: int | None = None,
    per_site: bool = False,
) -> pd.DataFrame:
    """The forecast fan from as_of: count, and the dates (Timestamps) by which it is reached with 5%,
    50% and 95% probability; starts with today's count at as_of. Empty when there is no forecast.
    `recent_months`: at the recent pace (trial_forecast_recent's model) instead of since opening.
    `per_site`: the per-site model's (summary's forecast_model `multi-centre`), the sites it has."""
    columns = ["count", "p05", "median", "p95"]
    if as_of < trial.opened_on:
        return pd.DataFrame(columns=columns)
    accrual = accrual_of(participants, as_of)
    target, enrolled, elapsed, planned, sites = _forecast_args(trial, accrual)
    try:
        if per_site:
            rows = _per_site_fan(trial, accrual, certainty, recent_months)
        else:
            posterior = None
            if recent_months is not None:
                recent = min(recent_enrolled(accrual, recent_months), enrolled)
                window = min(window_days(recent_months), elapsed)
                posterior = recent_posterior(target, recent, window, planned, sites, certainty)
            rows = forecast_fan(target, enrolled, elapsed, planned, sites, certainty, posterior=posterior)
    except ValueError:
        return pd.DataFrame(columns=columns)
    start = pd.Timestamp(as_of)
    data = [(enrolled, start, start, start)]
    for count, *days in rows:
        dates = [None if d is None else day_after(as_of, d) for d in days]
        if None in dates:
            break
        data.append((count, *(pd.Timestamp(d) for d in dates)))
    return pd.DataFrame(data, columns=columns)


def _per_site_fan(trial: Trial, accrual: Accrual, certainty: float, recent_months: int | None) -> list[tuple]:
    """forecast.site_fan of the sites the per-site status counts (basis_sites)."""
    sites = basis_sites(trial, accrual, certainty, recent_months)
    if not sites:
        raise ValueError("no site open")
    target, enrolled, _, planned = _outlook_args(trial, accrual)
    return site_fan(target, enrolled, planned, certainty, sites)


def site_forecasts(
    trial: Trial, participants: pd.DataFrame, as_of: dt.date, certainty: float, recent_months: int | None = None
) -> dict[str, dict]:
    """Per site: its planned share and target (share x the trial's target), expected by now (share x the
    planned curve), and the number it enrols by the planned end (median, 90% interval) with the chance of
    reaching its target by then. Each site has its own rate: prior the plan's rate times its share,
    Gamma(s*n*P*w/T, P*w) with w = T (since opening) or the days it was open in the recent window
    (`recent_months`); data its enrolments in those days; negative binomial ahead over the days it is
    open until the planned end."""
    return _site_forecasts(trial, accrual_of(participants, as_of), certainty, recent_months)


def _site_forecasts(trial: Trial, accrual: Accrual, certainty: float, recent_months: int | None = None) -> dict[str, dict]:
    rows, inputs = _site_forecast_inputs(trial, accrual, certainty, recent_months)
    _fill_site_forecasts(rows, inputs, *_negbin_at_once([i[1:5] for i in inputs], [i[1:] for i in inputs]))
    return rows


def _site_forecast_inputs(
    trial: Trial, accrual: Accrual, certainty: float, recent_months: int | None = None
) -> tuple[dict[str, dict], list[tuple]]:
    """site_forecasts's rows with the forecast left blank, and per site that has one the inputs of its
    negative binomial: (site, m, shape, rate, days ahead, its target rounded up)."""
    as_of = accrual.as_of
    target, planned_end = trial.target_on(as_of), trial.planned_end_on(as_of)
    planned = (planned_end - trial.opened_on).days
    expected = expected_by(trial, as_of)
    out, inputs = {}, []
    for site in trial.sites:
        plan = trial.site_on(site, as_of)
        share = trial.site_share(site)
        activated = site_activation(trial, site, accrual.first(site), as_of)
        m = accrual.enrolled(site)
        out[site] = {
            "share": round(share, 4),
            "target": round(share * target, 1),
            "expected_by_now": round(share * expected, 1),
            "enrolled_by_end_median": None,
            "enrolled_by_end_p05": None,
            "enrolled_by_end_p95": None,
            "p_target_by_end": None,
        }
        if activated is None or activated > as_of:
            continue
        end = site_end(trial, site, as_of)
        if recent_months is None:
            data_from, prior_days = activated, planned
        else:
            data_from = max(activated, as_of - dt.timedelta(days=window_days(recent_months)))
            prior_days = max((end - data_from).days, 0)
        days = max((end - data_from).days, 0)
        data = m if recent_months is None else recent_enrolled(accrual, recent_months, site)
        shape = share * target * certainty * prior_days / planned + data
        rate = certainty * prior_days + days
        if not (shape > 0 and rate > 0):
            continue
        stop = min(planned_end, plan.closed_on) if plan.closed_on else planned_end
        ahead = max(0, (stop - max(as_of, activated)).days)
        inputs.append((site, m, shape, rate, ahead, math.ceil(share * target - 1e-9)))
    return out, inputs


def _negbin_at_once(predictions: list[tuple], chances: list[tuple]) -> tuple[np.ndarray, np.ndarray]:
    """negbin_quantiles of every (m, shape, rate, ahead) and negbin_reaching of every (m, shape, rate,
    ahead, needed), one array call each (empty arrays when there are none)."""
    quantiles = negbin_quantiles(*np.array(predictions, dtype=float).T) if predictions else np.empty((0, 3))
    reaching = negbin_reaching(*(np.array(chances, dtype=float)[:, [0, 4, 1, 2, 3]].T)) if chances else np.empty(0)
    return quantiles, reaching


def _fill_site_forecasts(rows: dict[str, dict], inputs: list[tuple], quantiles: np.ndarray, reaching: np.ndarray) -> None:
    for (site, *_), q, p in zip(inputs, quantiles, reaching, strict=True):
        rows[site].update(
            enrolled_by_end_median=int(q[1]),
            enrolled_by_end_p05=int(q[0]),
            enrolled_by_end_p95=int(q[2]),
            p_target_by_end=round(float(p), 4),
        )


# ---- the multi-centre forecast of Jiang et al. 2015: a rate per site, planned sites from their dates ----


def multicentre_sites(trial: Trial, accrual: Accrual, planned: bool = True) -> list[Site]:
    """The trial's sites for forecast.forecast_sites as of the accrual's day: an open (or closed) site with
    its days open and enrolments; a site whose activation (configured or `planned_activation`) is still
    ahead as planned (left out with `planned` False); a site with no date at all left out."""
    as_of = accrual.as_of
    out = []
    for site in trial.sites:
        plan = trial.site_on(site, as_of)
        activated = site_activation(trial, site, accrual.first(site), as_of)
        share = trial.site_share(site)
        if activated is not None and activated <= as_of:
            closes = (plan.closed_on - as_of).days if plan.closed_on else math.inf
            days = max((site_end(trial, site, as_of) - activated).days, 0)
            out.append(Site(days, accrual.enrolled(site), share, closes, site))
            continue
        opens = activated or plan.planned_activation
        if planned and opens is not None:
            closes = (plan.closed_on - as_of).days if plan.closed_on else math.inf
            out.append(Site(min(-(opens - as_of).days, -1e-9), 0, share, closes, site))
    return out


def planned_site_names(trial: Trial, as_of: dt.date, accrual: Accrual | None = None) -> list[str]:
    """The sites not open by as_of with an opening date ahead (planned)."""
    accrual = accrual or Accrual(as_of)
    return [s.name for s in multicentre_sites(trial, accrual) if s.planned]


def _outlook_args(trial: Trial, accrual: Accrual) -> tuple[int, int, int, int]:
    as_of = accrual.as_of
    target = trial.target_on(as_of)
    return target, accrual.enrolled(), (as_of - trial.opened_on).days, (trial.planned_end_on(as_of) - trial.opened_on).days


def trial_outlook(
    trial: Trial, accrual: Accrual, certainty: float, planned: bool = True, dates: bool = True, per_site: bool = True
) -> Outlook | None:
    """Jiang et al.'s forecast of the trial with (or without) its planned sites; None before it opens or
    without any site that recruits."""
    sites = multicentre_sites(trial, accrual, planned)
    if accrual.as_of < trial.opened_on or not sites:
        return None
    target, enrolled, elapsed, planned_days = _outlook_args(trial, accrual)
    return forecast_sites(target, enrolled, elapsed, planned_days, sites, certainty, dates=dates, per_site=per_site)


def trial_centres_needed(trial: Trial, accrual: Accrual, certainty: float, opens_on: dt.date, chance: float = 0.8) -> int | None:
    """forecast.centres_needed for the trial, its planned sites counted, extra sites opening on `opens_on`."""
    sites = multicentre_sites(trial, accrual)
    if accrual.as_of < trial.opened_on or not sites:
        return None
    target, enrolled, elapsed, planned_days = _outlook_args(trial, accrual)
    return centres_needed(target, enrolled, elapsed, planned_days, sites, (opens_on - accrual.as_of).days, certainty, chance)


MULTICENTRE_KEYS = ("enrolled_by_end_median", "enrolled_by_end_p05", "enrolled_by_end_p95", "p_on_time")


def _multicentre(trial: Trial, accrual: Accrual, certainty: float, has_data: bool, now: Outlook | None = None) -> dict | None:
    """The summary's `multicentre` block: the per-site model's number by the planned end and chance on time,
    with the sites open (or closed) now (`now`: computed already, the per-site basis's since opening), and again
    with the planned ones when there are any."""
    if not has_data:
        return None
    now = now or trial_outlook(trial, accrual, certainty, planned=False, dates=False, per_site=False)
    planned = planned_site_names(trial, accrual.as_of, accrual)
    later = trial_outlook(trial, accrual, certainty, planned=True, dates=False, per_site=False) if planned else None

    def numbers(outlook: Outlook | None) -> dict | None:
        return None if outlook is None else {k: round(v, 4) if k == "p_on_time" else v for k, v in outlook.as_dict().items() if k in MULTICENTRE_KEYS}

    return {"model": MULTICENTRE_MODEL, "planned_sites": planned, **(numbers(now) or dict.fromkeys(MULTICENTRE_KEYS)), "with_planned": numbers(later)}


MULTICENTRE_MODEL = "per-site rates (Jiang et al. 2015)"
MODEL_NAMES = {"multicentre": "multi-centre", "single": "single-rate"}  # summary --json's `forecast_model`


def declared_model(programme: Programme, trial: Trial) -> str:
    """The model of the trial's status and headline forecast: the trial's `forecast_model`, else the
    programme's, else `multicentre` (a rate per site) for a trial with more than one site and `single` (one
    rate for the trial) for a trial with one."""
    return trial.forecast_model or programme.forecast_model or ("multicentre" if len(trial.sites) > 1 else "single")


def forecast_model(programme: Programme, trial: Trial) -> str:
    """summary --json's `forecast_model`: `multi-centre` (a rate per site) or `single-rate` (one rate)."""
    return MODEL_NAMES[declared_model(programme, trial)]


def basis_text(status_basis: str, months: int) -> str:
    """The basis of the status in words: the pace it learns from."""
    if status_basis == "recent":
        return f"at the pace of the last {months} months (blended with the plan's pace)"
    return "at the pace since opening"


def model_label(trial_summary: dict, compact: bool = False) -> str:
    """The model and basis of one trial's status in a few words (a projector's line): e.g. `a rate per site, at
    the pace of the last 6 months`; `compact`, fewer still for the meeting's header (`per site, recent pace`)."""
    per_site = trial_summary["forecast_model"] == "multi-centre"
    if compact:
        basis = "recent pace" if trial_summary["forecast_basis"] == "recent" else "since opening"
        return f"{'per site' if per_site else 'one rate'}, {basis}"
    model = "a rate per site" if per_site else "one rate for the trial"
    return f"{model}, {basis_text(trial_summary['forecast_basis'], trial_summary['recent_months'])}"


def trial_model_text(model: str, status_basis: str, months: int, sites: int) -> str:
    """Which model and basis a trial's status and finish come from, in one sentence a committee member reads."""
    basis = basis_text(status_basis, months)
    if model == "multi-centre":
        return (f"Status and finish from a rate per site (Jiang et al. 2015), {basis}: each of its {sites} sites "
                "recruits at its own rate and the trial's total is their sum; the sites it has, open or closed, "
                "not the planned ones.")
    return (f"Status and finish from one rate for the whole trial (Gajewski, Simon & Carlson 2008), {basis}"
            + (", split over its sites by their planned shares and opening dates." if sites > 1 else "."))


def model_text(summary: dict, basis: bool = True) -> str:
    """Which models and basis the statuses and headline forecasts of a summary come from, in one sentence for
    every page's legend and the pack (without `basis`: the model alone, for a legend that says the basis)."""
    by_model: dict[str, list[str]] = {}
    for t in summary.get("trials", []):
        by_model.setdefault(t["forecast_model"], []).append(t["trial"])
    pace = basis_text(summary.get("status_basis", "since_opening"), summary.get("recent_months", 6))
    words = {"multi-centre": "a rate per site, added up for the trial (Jiang et al. 2015; the sites open or closed now, not the planned ones)",
             "single-rate": "one rate for the whole trial (Gajewski, Simon & Carlson 2008)"}
    if len(by_model) <= 1:
        model = next(iter(by_model), "multi-centre")
        return f"Forecast model: {words[model]}" + (f"; basis: {pace}." if basis else ".")
    parts = [f"{', '.join(codes)}: {words[model]}" for model, codes in sorted(by_model.items())]
    return f"Forecast model: {'; '.join(parts)}." + (f" Basis: {pace}." if basis else "")


STORY_MONTHS = 3  # the two forecasts' medians this many months apart or more: the screen says so


def _months_apart(a: dict, b: dict) -> float:
    if a["median"] is None or b["median"] is None:
        return math.inf if a["median"] != b["median"] else 0.0
    return abs((dt.date.fromisoformat(a["median"]) - dt.date.fromisoformat(b["median"])).days) / DAYS_PER_MONTH


def _forecast_dict(forecast: Forecast | None, as_of: dt.date) -> dict | None:
    return None if forecast is None else {**forecast.dates(as_of), "p_on_time": round(forecast.p_on_time, 4)}


def story(s: dict) -> str | None:
    """One line that says why, when the status, the forecast and the pace on a tile seem to tell different
    stories (the two forecasts disagree, or the pace or the plan point the other way than the status);
    None when they agree."""
    if not s.get("has_data") or s.get("forecast") is None or s["enrolled"] >= s["target"]:
        return None
    recent, since = s["forecast_recent"], s["forecast_since_opening"]
    months = s["recent_months"]
    pace, needed, status = s["rate_recent"], s["rate_needed"], s["status"]
    end = f"{dt.date.fromisoformat(s['planned_end_on']):%b %Y}"

    def when(f: dict | None) -> str:
        return f"{dt.date.fromisoformat(f['median']):%b %Y}" if f and f["median"] else "after 2100"

    def rate(value: float | None) -> str:
        return "–" if value is None else f"{value:.1f}/month"

    if recent and since and (s["status_recent"] != s["status_since_opening"] or _months_apart(recent, since) >= STORY_MONTHS):
        basis = "recent pace" if s["forecast_basis"] == "recent" else "pace since opening"
        return (
            f"At the pace of the last {months} months ({rate(pace)}) it finishes {when(recent)}, "
            f"{recent['p_on_time']:.0%} by {end}; at the pace since opening ({rate(s['rate_per_month'])}), "
            f"{when(since)}, {since['p_on_time']:.0%}. The status follows the {basis}."
        )
    if needed is None or pace is None:
        return None
    pace_ok, on_track = pace >= needed, status == "green"
    if pace_ok and not on_track:
        return (
            f"The pace of the last {months} months ({rate(pace)}) beats the {rate(needed)} needed, but not surely: "
            f"{s['forecast']['p_on_time']:.0%} chance of the target by {end}."
        )
    if not pace_ok and on_track:
        return f"The pace of the last {months} months ({rate(pace)}) is below the {rate(needed)} needed from now."
    if s["ahead_of_plan"] >= 0 and not on_track:
        return f"On the planned curve so far, but the last {months} months' pace ({rate(pace)}) is below the {rate(needed)} needed from now."
    if s["ahead_of_plan"] < 0 and on_track:
        return f"Behind the planned curve, but the last {months} months' pace ({rate(pace)}) beats the {rate(needed)} needed from now."
    return None


# ---- the summary of `summary --json` and the overview -----------------------------------------------


def slowest_site(sites: list[dict]) -> str | None:
    """The open site with the lowest rate per month open, when at least two sites are open."""
    open_sites = [s for s in sites if s["rate_per_month"] is not None]
    if len(open_sites) < 2:
        return None
    return min(open_sites, key=lambda s: (s["rate_per_month"], s["site"]))["site"]


def trial_summary(
    programme: Programme, trial_code: str, participants: pd.DataFrame, as_of: dt.date, last_extract: dict[str, dt.date]
) -> dict:
    """The per-trial block of `summary --json` (DESIGN.md section 6) and of every page's tiles."""
    return _trial_summary(programme, trial_code, accrual_of(participants[participants["trial"] == trial_code], as_of), last_extract)


def _trial_summary(
    programme: Programme, trial_code: str, accrual: Accrual, last_extract: dict[str, dt.date], computed: dict | None = None
) -> dict:
    """trial_summary of the trial's Accrual; `computed`: its forecasts from _forecasts_at_once (computed
    here, for this trial alone, when not given)."""
    trial = programme.trials[trial_code]
    as_of = accrual.as_of
    enrolled = accrual.enrolled()
    target = trial.target_on(as_of)
    planned_end = trial.planned_end_on(as_of)
    # Without any extract there is nothing to forecast from: say so rather than predict from zero.
    has_data = bool(last_extract)
    if computed is None:
        [computed] = _forecasts_at_once(programme, [(trial, accrual, has_data)])
    since, recent, forecast = computed["since"], computed["recent"], computed["forecast"]
    months = programme.forecast_recent_months
    thresholds = programme.status_thresholds

    def status_of(f: Forecast | None) -> str | None:
        return None if f is None else status_from_probability(f.p_on_time, thresholds.green, thresholds.amber)

    by_end, per_site = computed["by_end"], computed["per_site"]
    sites = [{**row, **per_site[row["site"]]} for row in _site_rows(trial, accrual, last_extract, programme.stale_after_days)]
    months_open = months_between(trial.opened_on, as_of)
    needed = rate_needed(target, enrolled, as_of, planned_end)
    expected = expected_by(trial, as_of)
    return {
        "trial": trial_code,
        "title": trial.title,
        "randomised": trial.is_randomised,
        "opened_on": trial.opened_on.isoformat(),
        "target": target,
        "planned_end_on": planned_end.isoformat(),
        "enrolled": enrolled,
        "percent_of_target": round(100 * enrolled / target, 1),
        "screened": accrual.screened_count(),
        "screen_fail_rate": _round(accrual.screen_fail_rate(), 3),
        "expected_by_now": round(expected, 1),
        "ahead_of_plan": round(enrolled - expected),
        "months_open": round(months_open, 2),
        "rate_per_month": round(enrolled / months_open, 2) if months_open > 0 else None,
        **{f"rate_{m}m": _round(recent_rate(accrual, as_of, m, trial.opened_on)) for m in RECENT_MONTHS},
        "rate_needed": _round(needed),
        "rate_planned": round(target / months_between(trial.opened_on, planned_end), 2),
        "months_left": round(max(0.0, (planned_end - as_of).days / DAYS_PER_MONTH), 2),
        "has_data": has_data,
        "sites": sites,
        "slowest_site": slowest_site(sites),
        "stale_sites": [s["site"] for s in sites if s["stale"]],
        "recent_months": months,
        "rate_recent": _round(recent_rate(accrual, as_of, months, trial.opened_on)),
        "forecast_basis": programme.status_basis,
        "forecast": _forecast_dict(forecast, as_of),
        "status": status_of(forecast),
        "forecast_since_opening": _forecast_dict(since, as_of),
        "status_since_opening": status_of(since),
        "forecast_recent": _forecast_dict(recent, as_of),
        "status_recent": status_of(recent),
        **by_end,
        "forecast_model": forecast_model(programme, trial),
        "forecast_model_text": trial_model_text(forecast_model(programme, trial), programme.status_basis, months, len(trial.sites)),
        "multicentre": _multicentre(trial, accrual, programme.forecast_prior_certainty, has_data, computed.get("since_outlook")),
    }


BY_END_KEYS = ("enrolled_by_end_median", "enrolled_by_end_p05", "enrolled_by_end_p95")


def basis_sites(trial: Trial, accrual: Accrual, certainty: float, recent_months: int | None = None, inputs: list[tuple] | None = None) -> list[Site]:
    """The sites the per-site status counts: those open or closed by the as-of date (the sites it has; a
    planned site does not make a status green before it opens). Since opening, each learns its rate since its
    activation; at the recent pace (`recent_months`), from its last months only, as its row in site_forecasts
    (a site open for none of them, or closed before, left out: it adds nothing ahead). `inputs`: those of
    _site_forecast_inputs at the recent pace, computed already."""
    sites = multicentre_sites(trial, accrual, planned=False)
    if recent_months is None:
        return sites
    if inputs is None:
        _, inputs = _site_forecast_inputs(trial, accrual, certainty, recent_months)
    learnt = {site: (shape, rate) for site, _m, shape, rate, _ahead, _own in inputs}
    return [replace(s, posterior=learnt[s.name]) for s in sites if s.name in learnt]


def _per_site_problem(trial: Trial, accrual: Accrual, certainty: float, recent_months: int | None, inputs: list[tuple] | None = None) -> Problem | None:
    """The per-site model's forecast of the trial to make (forecast.multi.problem); None before the trial opens
    or with no site open that can recruit."""
    sites = basis_sites(trial, accrual, certainty, recent_months, inputs)
    if accrual.as_of < trial.opened_on or not sites:
        return None
    target, enrolled, elapsed, planned = _outlook_args(trial, accrual)
    try:
        return problem(target, enrolled, elapsed, planned, sites, certainty)
    except ValueError:
        return None


def _per_site_forecasts(problems: list[Problem | None]) -> list[tuple[Forecast, dict, Outlook] | None]:
    """Every problem's headline under the per-site model (a Forecast: completion days and chance on time; no
    single rate, so shape and rate NaN), its number by the planned end and its Outlook, all on arrays at once
    (forecast.multi.outlooks_at_once)."""
    outlooks = iter(outlooks_at_once([p for p in problems if p is not None]))
    out: list[tuple[Forecast, dict, Outlook] | None] = []
    for p in problems:
        if p is None:
            out.append(None)
            continue
        o = next(outlooks)
        days = [math.inf if d is None else d for d in (o.median_days, o.p05_days, o.p95_days)]
        forecast = Forecast(*days, o.p_on_time, math.nan, math.nan, max(p.target - p.enrolled, 0))
        out.append((forecast, dict(zip(BY_END_KEYS, (o.enrolled_by_end_median, o.enrolled_by_end_p05, o.enrolled_by_end_p95), strict=True)), o))
    return out


def _forecasts_at_once(programme: Programme, items: list[tuple[Trial, Accrual, bool]]) -> list[dict]:
    """Per (trial, accrual, has data): the forecasts its summary shows (since opening, at the recent pace,
    the basis's, the number by the planned end, per site). The single-rate model's closed forms and negative
    binomials are evaluated together for every trial: one scipy call per distribution function for the whole
    programme. A trial under the per-site model (declared_model) gets its since-opening and recent forecasts
    and its number by the planned end from _per_site_forecast instead (numpy only: negative binomial pmfs by
    their recurrence, convolved)."""
    certainty, months = programme.forecast_prior_certainty, programme.forecast_recent_months
    recent_basis = programme.status_basis == "recent"
    per_site = [declared_model(programme, t) == "multicentre" and data for t, _, data in items]
    pending = [_forecast_pending(t, a, certainty) if data and not ps else None for (t, a, data), ps in zip(items, per_site, strict=True)]
    pending += [_recent_pending(t, a, certainty, months) if data and not ps else None for (t, a, data), ps in zip(items, per_site, strict=True)]
    resolved = resolve(pending)
    since, recent = resolved[: len(items)], resolved[len(items):]
    chosen = [k for k, ps in enumerate(per_site) if ps]
    # Each trial's site rows (the basis's pace), computed once: the recent problems learn from them too.
    site_rows = [_site_forecast_inputs(trial, accrual, certainty, months if recent_basis else None) for trial, accrual, _ in items]
    made = _per_site_forecasts([_per_site_problem(*items[k][:2], certainty, None) for k in chosen]
                               + [_per_site_problem(*items[k][:2], certainty, months, site_rows[k][1] if recent_basis else None) for k in chosen])
    by_end_of: dict[int, dict] = {}
    since_outlook: dict[int, Outlook] = {}
    for k, since_k, recent_k in zip(chosen, made[: len(chosen)], made[len(chosen):], strict=True):
        since[k], recent[k] = (None if b is None else b[0] for b in (since_k, recent_k))
        if since_k is not None:
            since_outlook[k] = since_k[2]
        basis_k = recent_k if recent_basis else since_k
        by_end_of[k] = dict.fromkeys(BY_END_KEYS) if basis_k is None else basis_k[1]
    basis = recent if recent_basis else since
    by_end_inputs, site_inputs = [], []
    for k, ((trial, accrual, _), forecast) in enumerate(zip(items, basis, strict=True)):
        if forecast is not None and k not in by_end_of:
            left = (trial.planned_end_on(accrual.as_of) - accrual.as_of).days
            by_end_inputs.append((accrual.enrolled(), forecast.shape, forecast.rate, exposure_ahead(_site_plans(trial, accrual), left)))
        site_inputs += site_rows[k][1]
    quantiles, reaching = _negbin_at_once(by_end_inputs + [i[1:5] for i in site_inputs], [i[1:] for i in site_inputs])
    by_end_q, site_q = iter(quantiles[: len(by_end_inputs)]), quantiles[len(by_end_inputs):]
    out, used = [], 0
    for k, forecast in enumerate(basis):
        rows, inputs = site_rows[k]
        _fill_site_forecasts(rows, inputs, site_q[used : used + len(inputs)], reaching[used : used + len(inputs)])
        used += len(inputs)
        if k in by_end_of:
            by_end = by_end_of[k]
        else:
            q = next(by_end_q) if forecast is not None else None
            by_end = dict.fromkeys(BY_END_KEYS) if q is None else dict(zip(BY_END_KEYS, (int(q[1]), int(q[0]), int(q[2])), strict=True))
        out.append({"since": since[k], "recent": recent[k], "forecast": forecast, "by_end": by_end, "per_site": rows,
                    "since_outlook": since_outlook.get(k)})
    return out


# The participant columns trial_summary reads.
SUMMARY_COLUMNS = ("trial", "site", "screened_on", "screening_outcome", "enrolled_on")


def programme_summary(
    programme: Programme,
    participants: pd.DataFrame,
    last_extract: dict[str, dict[str, dt.date]],
    as_of: dt.date,
    trials: list[str] | None = None,
) -> dict:
    """`summary --json`: as_of, the status thresholds, the newest extract, and a block per trial."""
    codes = trials if trials is not None else list(programme.trials)
    dates = [d for per_site in last_extract.values() for d in per_site.values()]
    # The snapshot reduced once for every trial and site (narrowed to the columns the summary reads),
    # not filtered once per trial, site and metric.
    by_trial = accruals(participants[[c for c in SUMMARY_COLUMNS if c in participants]], as_of)
    nobody = Accrual(as_of)
    items = [(programme.trials[code], by_trial.get(code, nobody), bool(last_extract.get(code))) for code in codes]
    computed = _forecasts_at_once(programme, items)
    summary = {
        "as_of": as_of.isoformat(),
        "latest_extract_on": max(dates).isoformat() if dates else None,
        "status_thresholds": {"green": programme.status_thresholds.green, "amber": programme.status_thresholds.amber},
        "status_basis": programme.status_basis,
        "recent_months": programme.forecast_recent_months,
        "stale_after_days": programme.stale_after_days,
        "trials": [
            _trial_summary(programme, code, accrual, last_extract.get(code, {}), done)
            for code, (_, accrual, _), done in zip(codes, items, computed, strict=True)
        ],
    }
    return {**summary, "forecast_model_text": model_text(summary)}
