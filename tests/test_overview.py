"""The overview at scale: the table of trials, its inline curves, and which trials get big charts
(dashboard/overview.py); the generated programme of many trials (demo.many_trials)."""

import datetime as dt

import pandas as pd
import pytest

from dashboard import demo, metrics
from dashboard.overview import (
    BIG_CHARTS_AT_MOST,
    OVERVIEW_TILES_UP_TO,
    big_chart_trials,
    monthly_cumulative,
    trials_table,
    uses_tiles,
)

AS_OF = dt.date(2026, 11, 21)


def test_up_to_a_handful_of_trials_are_tiles():
    assert uses_tiles(1) and uses_tiles(OVERVIEW_TILES_UP_TO) and not uses_tiles(OVERVIEW_TILES_UP_TO + 1)


def test_monthly_cumulative_counts_the_enrolled_before_the_window_and_fills_quiet_months():
    people = pd.DataFrame(
        {
            "trial": ["A", "A", "A", "B", "A"],
            "enrolled_on": pd.to_datetime(["2020-01-05", "2026-09-10", "2026-11-02", "2026-10-01", "2026-11-30"]),
        }
    )
    curves = monthly_cumulative(people, AS_OF, ["A", "B", "C"], months=4)
    # Aug, Sep, Oct, Nov 2026; A's 2020 enrolment counts from the start; 30 Nov is after the as-of date.
    assert curves == {"A": [1, 2, 2, 3], "B": [0, 0, 1, 1], "C": [0, 0, 0, 0]}


def test_monthly_cumulative_of_nobody():
    people = pd.DataFrame({"trial": pd.Series([], dtype=str), "enrolled_on": pd.Series([], dtype="datetime64[ns]")})
    assert monthly_cumulative(people, AS_OF, ["A"], months=3) == {"A": [0, 0, 0]}


def _summary(code, status, chance, has_data=True, enrolled=5, target=20):
    forecast = {"median": "2028-03-01", "p05": "2027-06-01", "p95": "2030-01-01", "p_on_time": chance} if has_data else None
    return {
        "trial": code, "status": status if has_data else None, "has_data": has_data, "forecast": forecast,
        "enrolled": enrolled, "target": target, "percent_of_target": round(100 * enrolled / target, 1),
        "planned_end_on": "2028-12-31", "rate_recent": 0.4, "rate_needed": 0.6, "slowest_site": "NKI",
        "stale_sites": ["EMC"] if code == "B" else [],
    }


def test_the_table_lists_every_trial_worst_first_with_its_numbers():
    summaries = [_summary("A", "green", 0.9), _summary("B", "red", 0.1), _summary("C", "amber", 0.6), _summary("D", None, None, has_data=False)]
    table = trials_table(summaries, {"A": [1, 2], "B": [0, 1]})
    assert table["Trial"].tolist() == ["B", "C", "A", "D"]
    assert table["Status"].tolist() == ["Off track", "At risk", "On track", "No forecast"]
    b = table.iloc[0]
    assert b["Enrolled / target"] == "5 / 20" and b["% of target"] == 25.0 and b["Chance on time"] == 10
    assert b["Finish"] == pd.Timestamp("2028-03-01") and b["90% interval"] == "Jun 2027 – Jan 2030"
    assert b["Stale sites"] == "EMC" and b["Accrual"] == [0, 1]
    assert pd.isna(table.iloc[3]["Finish"]) and table.iloc[3]["Accrual"] == []


def test_big_charts_for_the_trials_chosen_when_few():
    summaries = [_summary("A", "green", 0.9), _summary("B", "red", 0.1)]
    assert big_chart_trials(summaries, chosen=True) == (["A", "B"], "Charts for the trials chosen in the sidebar.")


def test_big_charts_else_for_the_worst_off_track_or_at_risk():
    many = [_summary(f"T{k:02d}", "red" if k % 3 == 0 else "amber" if k % 3 == 1 else "green", k / 100) for k in range(20)]
    codes, why = big_chart_trials(many, chosen=False)
    assert len(codes) == BIG_CHARTS_AT_MOST
    assert codes == ["T00", "T03", "T06", "T09", "T12", "T15"]  # the off-track ones, lowest chance first
    assert why.startswith(f"Charts for the {BIG_CHARTS_AT_MOST} trials with the lowest chance of finishing on time, of the 14")
    few = [_summary("A", "green", 0.9), _summary("B", "amber", 0.7)] + [_summary(f"G{k}", "green", 0.95) for k in range(6)]
    assert big_chart_trials(few, chosen=False)[0] == ["B"]
    calm = [_summary(f"G{k}", "green", 0.95) for k in range(8)]
    codes, why = big_chart_trials(calm, chosen=False)
    assert codes == [] and why.startswith("No trial is off track or at risk")
    codes, why = big_chart_trials(many[:9], chosen=True)  # chose more than fit: the worst of those chosen
    assert len(codes) == 6 and "among the trials chosen" in why


@pytest.fixture(scope="module")
def many(programme):
    return demo.many_trials(programme, trials=40, sites=8)


def test_the_generated_programme_keeps_the_originals_and_adds_validated_copies(many, programme):
    assert list(many.trials)[:3] == list(programme.trials)
    assert len(many.trials) == 40 and len(many.sites) == 8
    assert "PUMP-2-07" in many.trials and many.trials["PUMP-2-07"].title.startswith("PUMP-2-07 - ")
    assert all(len(t.sites) == 2 and set(t.sites) <= set(many.sites) for t in many.trials.values())
    assert many.trials["PUMP"] == programme.trials["PUMP"]


def test_the_generated_programme_tells_several_stories(many):
    lives = demo.simulate_programme(many)
    summary = metrics.programme_summary(many, lives, {code: {s: AS_OF for s in t.sites} for code, t in many.trials.items()}, AS_OF)
    assert {t["status"] for t in summary["trials"]} >= {"red", "amber", "green"}
