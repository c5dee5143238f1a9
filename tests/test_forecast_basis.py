"""Which model speaks (issue 23 item 5): the status, the headline finish, the chance on time and the number by the
planned end come from the declared model, `forecast_model` (programme-wide, overridable per trial): by default a rate
per site (Jiang et al. 2015) for a trial with more than one site and one rate for a trial with one; `single` keeps the
one-rate model. summary --json names the model and basis in words."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from scipy import stats

from dashboard import demo, metrics
from dashboard.forecast.multi import completion_days
from tests.test_metrics import frame, programme_with

AS_OF = dt.date(2024, 12, 1)
# EMC recruited fast and closed on 30 June; NKI, open all along, recruits slowly. One rate for the trial learns
# from EMC's pace and lends it to NKI; a rate per site leaves NKI its own.
M = {
    "title": "M - a trial whose sites differ",
    "coordinating_site": "EMC",
    "opened_on": "2024-01-01",
    "amendments": [{"effective_on": "2024-01-01", "target": 30, "planned_end_on": "2025-12-31"}],
    "arms": {"haip": {"label": "HAIP"}},
    "sites": {"EMC": {"activated_on": "2024-01-01", "closed_on": "2024-06-30", "share": 0.5}, "NKI": {"activated_on": "2024-01-01", "share": 0.5}},
}
ONE = {**M, "title": "O - one site", "sites": {"EMC": {"activated_on": "2024-01-01"}}}


@pytest.fixture(scope="module")
def people():
    rows = [{"trial": "M", "participant_id": f"E-{i}", "site": "EMC", "enrolled_on": f"2024-{1 + i // 3:02d}-{5 + 7 * (i % 3):02d}"} for i in range(18)]
    rows += [{"trial": "M", "participant_id": f"N-{i}", "site": "NKI", "enrolled_on": f"2024-{4 * i + 3:02d}-15"} for i in range(2)]
    rows += [{"trial": "O", "participant_id": f"O-{i}", "site": "EMC", "enrolled_on": f"2024-{i + 1:02d}-10"} for i in range(8)]
    return frame(rows)


def summary(people, **settings) -> dict:
    programme = programme_with({"M": M, "O": ONE}, status_basis="since_opening", **settings)
    seen = {code: {"EMC": AS_OF} for code in ("M", "O")}
    return metrics.programme_summary(programme, people, seen, AS_OF)


def test_a_multi_site_trial_takes_its_status_from_a_rate_per_site_unless_declared_single(people):
    per_site = {t["trial"]: t for t in summary(people)["trials"]}["M"]
    one_rate = {t["trial"]: t for t in summary(people, forecast_model="single")["trials"]}["M"]
    # Per site: EMC closed (nothing more); NKI alone, its own rate Gamma(30*0.5*0.5 + 2, 730*0.5 + 335 days open),
    # recruits the 10 still needed in the 395 days to the planned end with chance NegBin(9.5, 700/1095).sf(9).
    chance = stats.nbinom.sf(9, 9.5, 700 / (700 + 395))
    assert per_site["forecast"]["p_on_time"] == round(chance, 4) == 0.0876
    assert (per_site["forecast_model"], per_site["status"]) == ("multi-centre", "red")
    assert per_site["enrolled_by_end_median"] == 20 + stats.nbinom.ppf(0.5, 9.5, 700 / 1095)
    # One rate: lambda ~ Gamma(15 + 20, 365 + 0.5*181 + 0.5*335) learnt mostly from EMC, NKI's half of it ahead:
    # the chance is the Beta-prime closed form, and the status another colour.
    a, b, left = 35, 365 + 0.5 * 181 + 0.5 * 335, 395
    assert one_rate["forecast"]["p_on_time"] == round(stats.beta.cdf(left / (2 * b + left), 10, a), 4) == 0.6396
    assert (one_rate["forecast_model"], one_rate["status"]) == ("single-rate", "amber")
    assert per_site["forecast_model_text"].startswith("Status and finish from a rate per site")
    assert one_rate["forecast_model_text"].startswith("Status and finish from one rate for the whole trial")


def test_the_default_follows_the_number_of_sites_and_a_trial_may_declare_its_own(people):
    default = {t["trial"]: t["forecast_model"] for t in summary(people)["trials"]}
    assert default == {"M": "multi-centre", "O": "single-rate"}
    programme = programme_with({"M": {**M, "forecast_model": "single"}, "O": ONE}, forecast_model="multicentre")
    assert [metrics.forecast_model(programme, t) for t in programme.trials.values()] == ["single-rate", "multi-centre"]
    # A one-site trial under the per-site model: the same Gamma-Poisson, the same chance to the rounding.
    one = {t["trial"]: t for t in summary(people, forecast_model="multicentre")["trials"]}["O"]
    single = {t["trial"]: t for t in summary(people)["trials"]}["O"]
    assert one["forecast_model"] == "multi-centre" and one["forecast"]["p_on_time"] == pytest.approx(single["forecast"]["p_on_time"], abs=2e-4)


def test_the_summary_says_which_models_in_words(people):
    both = summary(people)
    assert both["forecast_model_text"] == (
        "Forecast model: M: a rate per site, added up for the trial (Jiang et al. 2015; the sites open or closed now, not "
        "the planned ones); O: one rate for the whole trial (Gajewski, Simon & Carlson 2008). Basis: at the pace since opening."
    )
    assert summary(people, forecast_model="single")["forecast_model_text"] == (
        "Forecast model: one rate for the whole trial (Gajewski, Simon & Carlson 2008); basis: at the pace since opening."
    )


def changed_paths(before, after, path: str = "") -> set[str]:
    """The JSON paths whose values differ (added or removed keys included)."""
    if isinstance(before, dict) and isinstance(after, dict):
        return {p for k in before.keys() | after.keys() for p in changed_paths(before.get(k), after.get(k), f"{path}.{k}")}
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return {p for i, (x, y) in enumerate(zip(before, after, strict=True)) for p in changed_paths(x, y, f"{path}[{i}]")}
    return set() if json.dumps(before) == json.dumps(after) else {path}


def test_on_the_demo_the_model_changes_only_the_forecast_fields(programme):
    """summary --json of the demo under the one-rate model (the output before this item, but for the model's name)
    and under the per-site default: only the model's fields and the forecast since opening differ. The demo's status
    basis is the recent pace, where each of its sites was open the whole window: the per-site sum has one probability
    and is the one-rate model exactly, so the statuses and headline finishes stay."""
    participants = demo.simulate_programme(programme, dt.date(2026, 11, 21))
    seen = {code: dict.fromkeys(trial.sites, dt.date(2026, 11, 16)) for code, trial in programme.trials.items()}
    one_rate = metrics.programme_summary(programme.model_copy(update={"forecast_model": "single"}), participants, seen, dt.date(2026, 11, 21))
    per_site = metrics.programme_summary(programme, participants, seen, dt.date(2026, 11, 21))
    trials = range(len(programme.trials))
    expected = {".forecast_model_text"} | {
        f".trials[{i}].{k}" for i in trials for k in ("forecast_model", "forecast_model_text", "forecast_since_opening.median",
                                                      "forecast_since_opening.p05", "forecast_since_opening.p95")
    }
    changed = changed_paths(one_rate, per_site)
    # PUMP's chance since opening is the same to four decimals; the other two move by a point or two.
    assert expected <= changed <= expected | {f".trials[{i}].forecast_since_opening.p_on_time" for i in trials}
    assert [t["status"] for t in per_site["trials"]] == [t["status"] for t in one_rate["trials"]]


def test_the_per_site_fan_ends_at_the_per_site_forecast_and_each_count_is_its_own_completion_date(people):
    programme = programme_with({"M": M, "O": ONE}, status_basis="since_opening")
    s = {t["trial"]: t for t in summary(people)["trials"]}["M"]
    trial, mine = programme.trials["M"], people[people["trial"] == "M"]
    fan = metrics.trial_fan(trial, mine, AS_OF, 0.5, per_site=True)
    assert fan["count"].tolist()[0] == 20 and fan["count"].tolist()[-1] == 30
    last = fan.iloc[-1]
    assert [last[k].date().isoformat() for k in ("p05", "median", "p95")] == [s["forecast"][k] for k in ("p05", "median", "p95")]
    # Each count: the first day its chance reaches 5%, 50%, 95% under the same sites and prior (one by one).
    accrual = metrics.accrual_of(mine, AS_OF)
    sites = metrics.basis_sites(trial, accrual, 0.5)
    for row in fan.iloc[1:].itertuples():
        days = [completion_days(30, 20, 730, 0.5, sites, q, row.count) for q in (0.05, 0.5, 0.95)]
        assert [(d - pd.Timestamp(AS_OF)).days for d in (row.p05, row.median, row.p95)] == days
