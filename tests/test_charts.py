"""Chart builders: what a director reads off each chart is in the figure (as-of date, colours per
site from the configuration, the needed-rate line, the forecast band, sites with nobody)."""

import datetime as dt

import pandas as pd
import pytest

from dashboard import charts

AS_OF = dt.date(2026, 11, 21)
COLOURS = {"EMC": "#0b6e99", "NKI": "#d9822b"}


def subtitle(fig) -> str:
    return fig.layout.title.subtitle.text


def trace(fig, name):
    [found] = [t for t in fig.data if t.name == name]
    return found


@pytest.fixture
def cumulative():
    return pd.DataFrame({"enrolled_on": pd.to_datetime(["2026-01-05", "2026-03-02"]), "cumulative": [1, 3]})


@pytest.fixture
def expected():
    return pd.DataFrame({"day": pd.to_datetime(["2026-01-01", "2026-11-21"]), "expected": [0.0, 6.0]})


def test_cumulative_accrual_runs_to_the_as_of_date_against_plan_and_target(cumulative, expected):
    fig = charts.cumulative_accrual("T: 3 behind plan", cumulative, expected, 10, AS_OF, "#2e7d32")
    enrolled = trace(fig, "enrolled")
    assert list(enrolled.y) == [1, 3, 3] and enrolled.x[-1] == pd.Timestamp(AS_OF)  # flat to today
    assert enrolled.line.color == "#2e7d32"
    assert list(trace(fig, "planned").y) == [0.0, 6.0]
    [target] = [s for s in fig.layout.shapes if s.y0 == s.y1]
    assert target.y0 == 10
    assert "data as of 21 Nov 2026" in subtitle(fig)


def test_cumulative_accrual_with_the_forecast_fan(cumulative, expected):
    fan = pd.DataFrame(
        {
            "count": [3, 6, 10],
            "p05": pd.to_datetime(["2026-11-21", "2027-02-01", "2027-06-01"]),
            "median": pd.to_datetime(["2026-11-21", "2027-03-01", "2027-09-01"]),
            "p95": pd.to_datetime(["2026-11-21", "2027-05-01", "2028-01-01"]),
        }
    )
    fig = charts.cumulative_accrual("T", cumulative, expected, 10, AS_OF, "#2e7d32", fan=fan, planned_end=dt.date(2027, 12, 31))
    band, low = trace(fig, "forecast, 90% interval"), trace(fig, "forecast, 5%")
    # A band: the 95% line filled across (along x, the dates) to the 5% line just before it; lines only, no
    # stray dots.
    assert band.type == low.type == "scatter"
    assert band.fill == "tonextx" and fig.data.index(low) == fig.data.index(band) - 1
    assert band.mode == low.mode == "lines" and band.line.width == low.line.width == 0
    assert list(band.x) == list(fan["p95"]) and list(low.x) == list(fan["p05"])
    assert low.showlegend is False
    assert list(trace(fig, "forecast, median").x) == list(fan["median"])
    assert any("planned end" in a.text and "Dec 2027" in a.text for a in fig.layout.annotations)


def test_compact_accrual_has_no_legend(cumulative, expected):
    assert charts.cumulative_accrual("T", cumulative, expected, 10, AS_OF, "#000000", compact=True).layout.showlegend is False


def test_monthly_by_site_stacks_sites_in_their_colours_with_the_needed_rate():
    monthly = pd.DataFrame(
        {
            "period": pd.to_datetime(["2026-10-01", "2026-10-01", "2026-11-01", "2026-11-01"]),
            "site": ["EMC", "NKI", "EMC", "NKI"],
            "enrolled": [2, 1, 0, 1],
            "complete": [True, True, False, False],
        }
    )
    fig = charts.monthly_by_site("Per month", monthly, COLOURS, AS_OF, needed=5.2, planned=2.2)
    assert fig.layout.barmode == "stack"
    assert trace(fig, "EMC").marker.color == "#0b6e99" and trace(fig, "NKI").marker.color == "#d9822b"
    assert list(trace(fig, "EMC").marker.opacity) == [1.0, 0.45]  # November is still running
    needed = trace(fig, "needed 5.2/month")
    assert set(needed.y) == {5.2}
    assert set(trace(fig, "planned 2.2/month").y) == {2.2}
    assert fig.layout.yaxis.range[1] >= 5.2  # the needed line is never off the chart
    assert "data as of 21 Nov 2026" in subtitle(fig)


def test_funnel_shows_counts_and_shares_of_the_screened():
    stages = [{"stage": "screened", "count": 20}, {"stage": "eligible", "count": 10}, {"stage": "consented", "count": 9}, {"stage": "enrolled", "count": 8}]
    fig = charts.funnel("Screening", stages, AS_OF, "#1f4e79")
    assert list(fig.data[0].y) == ["Screened", "Eligible", "Consented", "Enrolled"]
    assert list(fig.data[0].text) == ["20  (100%)", "10  (50%)", "9  (45%)", "8  (40%)"]


def test_fail_reasons_most_frequent_on_top_and_the_rest_summed():
    reasons = pd.DataFrame({"reason": [f"reason {i}" for i in range(10)], "count": [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]})
    reasons["share"] = reasons["count"] / 55
    fig = charts.fail_reasons("Screen failures", reasons, AS_OF, top=8)
    bars = fig.data[0]
    assert bars.y[-1] == "reason 0" and bars.x[-1] == 10  # horizontal bars draw bottom up: the top is last
    assert bars.y[0] == "2 other reasons" and bars.x[0] == 3


def test_arm_balance_one_bar_per_arm_and_site():
    table = pd.DataFrame({"site": ["EMC", "NKI"], "control": [50, 31], "haip": [48, 32]})
    fig = charts.arm_balance("Arms", table, {"control": "Resection alone", "haip": "Resection + HAIP"}, {"control": "#999999", "haip": "#1f4e79"}, AS_OF)
    assert [t.name for t in fig.data] == ["Resection alone", "Resection + HAIP"]
    assert list(fig.data[1].y) == [48, 32] and fig.data[1].marker.color == "#1f4e79"


def test_status_breakdown_labels_read_as_words():
    statuses = pd.DataFrame({"status": ["on_treatment", "follow_up", "withdrawn"], "count": [2, 58, 15]})
    fig = charts.status_breakdown("Statuses", statuses, AS_OF)
    assert list(fig.data[0].y) == ["withdrawn", "follow-up", "on treatment"]
    assert fig.data[0].marker.color[0] == charts.STATUS_COLOURS["withdrawn"]


def test_site_rates_keep_a_site_with_no_recruit():
    rows = pd.DataFrame(
        {"trial": ["T", "T"], "site": ["EMC", "NKI"], "rate_per_month": [1.07, 0.0], "rate_6m": [1.3, 0.0]}
    )
    fig = charts.site_rates("Rates", rows, COLOURS, AS_OF)
    assert list(trace(fig, "NKI").y) == [0.0] and trace(fig, "NKI").marker.color == "#d9822b"
    assert list(trace(fig, "EMC, last 6 months").y) == [1.3]


def test_aligned_curves_one_line_per_site_in_its_colour():
    curves = pd.DataFrame({"site": ["EMC", "EMC", "NKI", "NKI"], "months": [0, 10, 0, 5], "cumulative": [0, 4, 0, 0]})
    fig = charts.aligned_curves("T", curves, COLOURS, AS_OF)
    assert [t.name for t in fig.data] == ["EMC", "NKI"]
    assert list(fig.data[1].y) == [0, 0] and fig.data[1].line.color == "#d9822b"
    assert fig.layout.xaxis.title.text == "months since the site opened"


def test_a_long_title_wraps_and_the_margin_grows():
    short = charts.base_layout(charts.go.Figure(), "Short", AS_OF)
    long = charts.base_layout(charts.go.Figure(), "A title far longer than any half-width chart on a laptop can hold", AS_OF)
    assert "<br>" not in short.layout.title.text and "<br>" in long.layout.title.text
    assert long.layout.margin.t > short.layout.margin.t


def year_labels(fig, first: str, last: str) -> list[str]:
    """The tick labels the x axis shows between two days, from its dtick and tick0 as Plotly places them."""
    months = int(fig.layout.xaxis.dtick.lstrip("M"))
    assert months % 12 == 0 and fig.layout.xaxis.tickformat == "%Y" and fig.layout.xaxis.tick0 == "2000-01-01"
    years = range(int(first[:4]), int(last[:4]) + 1)
    return [str(y) for y in years if (y - 2000) % (months // 12) == 0 and first <= f"{y}-01-01" <= last]


@pytest.mark.parametrize(("start", "compact", "step"), [("2021-03-01", False, 1), ("2021-03-01", True, 2), ("2023-01-01", True, 1)])
def test_year_axis_has_one_tick_per_year_or_per_few_years(start, compact, step):
    cumulative = pd.DataFrame({"enrolled_on": pd.to_datetime([start, "2023-02-01"]), "cumulative": [1, 3]})
    expected = pd.DataFrame({"day": pd.to_datetime([start, "2026-11-21"]), "expected": [0.0, 6.0]})
    fig = charts.cumulative_accrual("T", cumulative, expected, 50, AS_OF, "#2e7d32", compact=compact)
    assert fig.layout.xaxis.dtick == f"M{12 * step}"
    labels = year_labels(fig, start, "2026-11-21")
    assert len(labels) == len(set(labels)) and len(labels) <= (4 if compact else 8)  # never "2022 2022"


def test_the_target_label_never_meets_a_tick_label(cumulative, expected):
    for target in (50, 45, 230, 10):
        fig = charts.cumulative_accrual("T", cumulative, expected, target, AS_OF, "#000000")
        top = fig.layout.yaxis.range[1]
        ticks = list(fig.layout.yaxis.tickvals)
        assert ticks[0] == 0 and len(ticks) >= 3
        # No tick label within 9% of the axis of the "target N" label's line (the label gives the value).
        assert all(abs(t - target) > 0.09 * top for t in ticks), (target, ticks)


def test_month_ticks_leave_room_on_a_phone():
    periods = pd.date_range("2024-12-01", "2026-11-01", freq="MS")
    monthly = pd.DataFrame({"period": periods, "site": "EMC", "enrolled": 1, "complete": True})
    fig = charts.monthly_by_site("Per month", monthly, {"EMC": "#0b6e99"}, AS_OF)
    assert fig.layout.xaxis.dtick == "M6" and fig.layout.xaxis.tickformat == "%b<br>%Y"  # 4 labels over 24 months
    fig = charts.monthly_by_site("Per month", monthly.tail(6), {"EMC": "#0b6e99"}, AS_OF)
    assert fig.layout.xaxis.dtick == "M3"


def test_a_title_of_150_trials_never_pushes_the_chart_off_its_canvas():
    # The sites page's message at a national programme's scale: Plotly refused a title placed below 0.
    title = "Slowest site: " + "; ".join(f"S{i:02d} in PUMP-{i:03d}, PUMP-2-{i:03d}" for i in range(150))
    rows = pd.DataFrame({"trial": ["T"], "site": ["EMC"], "rate_per_month": [1.0], "rate_6m": [1.0]})
    fig = charts.site_rates(title, rows, COLOURS, AS_OF)
    lines = fig.layout.title.text.split("<br>")
    assert len(lines) == charts.TITLE_LINES and lines[-1].endswith("…")
    assert 0 <= fig.layout.title.y <= 1
    fig.to_json()  # validated whole


def test_the_dark_template_matches_the_page_and_keeps_the_trial_colours(cumulative, expected):
    fig = charts.cumulative_accrual("PUMP", cumulative, expected, 230, AS_OF, "#0b6e99")
    dark = charts.themed(fig, "dark")
    assert (dark.layout.paper_bgcolor, dark.layout.plot_bgcolor) == (charts.DARK_PAGE, charts.DARK_PAGE)
    assert dark.layout.font.color == "#f1f4f7" and dark.layout.yaxis.gridcolor != charts.GRID
    assert trace(dark, "enrolled").line.color == "#0b6e99"  # the trial's own colour in both themes
    assert charts.themed(fig, "light") is fig and fig.layout.paper_bgcolor == "white"  # the cached one untouched
