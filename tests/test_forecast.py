"""Accrual forecast: exact closed form against hand-worked cases and against its own Monte-Carlo."""

from __future__ import annotations

import datetime as dt
import itertools
import math

import numpy as np
import pytest
from scipy import stats

from dashboard.forecast import (
    Forecast,
    Prediction,
    SitePlan,
    _draw_remaining,
    exposure_ahead,
    exposure_days,
    forecast_completion,
    forecast_fan,
    forecast_multicentre,
    forecast_recent,
    open_share,
    predict_enrolled_by_end,
    probability_reaching,
    simulate_completion,
    status_from_probability,
)

YEAR = 365.25
# (target, enrolled, elapsed days, planned days, certainty): PUMP-like, a smaller trial, just opened, a
# weak prior with few enrolments (heavy right tail).
CASES = [
    (230, 120, 5.5 * YEAR, 8.75 * YEAR, 0.5),
    (50, 31, 700.0, 1000.0, 0.5),
    (100, 0, 0.0, 1000.0, 0.5),
    (10, 2, 30.0, 365.0, 0.2),
]


def test_closed_form_matches_hand_worked_single_remaining_enrolment() -> None:
    # n=10, m=9, P=0.5, T=100, t=90: a = 10*0.5 + 9 = 14, b = 100*0.5 + 90 = 140, n - m = 1.
    # Beta(1, a) quantile x = 1 - (1-p)^(1/a), so R = b*x/(1-x) = b*((1-p)^(-1/a) - 1):
    #   median: 140*(2^(1/14) - 1)    = 140*(e^(0.6931472/14) - 1) = 140*0.0507567 = 7.105929
    #   p05:    140*(0.95^(-1/14) - 1) = 140*(e^(0.0512933/14) - 1) = 140*0.0036705 = 0.513874
    #   p95:    140*(20^(1/14) - 1)    = 140*(e^(2.9957323/14) - 1) = 140*0.2385990 = 33.403856
    # P(R <= T - t = 10): Beta(1, a) cdf 1 - (1-x)^a at x = y/(1+y), y = 10/140: 1 - (14/15)^14 = 0.619360
    f = forecast_completion(10, 9, 90.0, 100.0, certainty=0.5)
    assert (f.shape, f.rate, f.remaining) == (14.0, 140.0, 1)
    assert f.median_days == pytest.approx(7.105929411, rel=1e-6)
    assert f.p05_days == pytest.approx(0.513873736, rel=1e-6)
    assert f.p95_days == pytest.approx(33.40385558, rel=1e-6)
    assert f.p_on_time == pytest.approx(0.6193596073, rel=1e-6)


def test_simulated_mean_matches_beta_prime_mean() -> None:
    # n=50, m=31, P=0.5, T=1000, t=700: a = 25 + 31 = 56, b = 500 + 700 = 1200, n - m = 19.
    # E[R] = b*alpha/(beta - 1) = 1200*19/55 = 414.5454...; its Monte-Carlo standard error with 200 000
    # draws is about 0.25 days (sd of BetaPrime(19, 56) times b is about 111), so 0.5 % is > 8 SE.
    draws = _draw_remaining(19, 56.0, 1200.0, 200_000, seed=1)
    assert draws.mean() == pytest.approx(414.5454545, rel=0.005)


@pytest.mark.parametrize("case", CASES)
def test_simulation_agrees_with_closed_form(case: tuple[int, int, float, float, float]) -> None:
    exact, sim = forecast_completion(*case), simulate_completion(*case)
    for field in ("median_days", "p05_days", "p95_days"):
        assert getattr(sim, field) == pytest.approx(getattr(exact, field), rel=0.015), field
    assert sim.p_on_time == pytest.approx(exact.p_on_time, abs=0.01)
    assert (sim.shape, sim.rate, sim.remaining) == (exact.shape, exact.rate, exact.remaining)


def test_simulation_is_deterministic_given_the_seed() -> None:
    case = CASES[1]
    assert simulate_completion(*case, seed=3) == simulate_completion(*case, seed=3)
    assert simulate_completion(*case, seed=3) != simulate_completion(*case, seed=4)


def test_quantiles_are_ordered() -> None:
    for case in CASES:
        f = forecast_completion(*case)
        assert 0 < f.p05_days < f.median_days < f.p95_days


def test_more_enrolled_means_earlier_median() -> None:
    medians = [forecast_completion(230, m, 5.5 * YEAR, 8.75 * YEAR).median_days for m in (100, 120, 140, 229)]
    assert medians == sorted(medians, reverse=True) and len(set(medians)) == len(medians)


def test_more_certainty_in_a_faster_plan_pulls_the_median_earlier() -> None:
    # Planned 230/(8.75 y) = 26.3/y is faster than the observed 120/(5.5 y) = 21.8/y.
    medians = [forecast_completion(230, 120, 5.5 * YEAR, 8.75 * YEAR, p).median_days for p in (0.1, 0.5, 1.0)]
    assert medians[0] > medians[1] > medians[2]


def test_p_on_time_is_a_probability_falling_with_elapsed_time() -> None:
    # 31 of 50 enrolled; the later that happened, the slower the trial and the less time is left.
    probs = [forecast_completion(50, 31, t, 1000.0).p_on_time for t in (0, 200, 400, 600, 800, 900, 990)]
    assert all(0.0 <= p <= 1.0 for p in probs)
    assert all(later < earlier for earlier, later in itertools.pairwise(probs))


def test_prior_alone_when_the_trial_just_opened() -> None:
    # t = 0, m = 0: posterior = prior Gamma(nP, TP); with P = 1 the planned rate is believed firmly and
    # the median lands near the planned duration.
    f = forecast_completion(100, 0, 0.0, 1000.0, certainty=1.0)
    assert (f.shape, f.rate, f.remaining) == (100.0, 1000.0, 100)
    assert 950 < f.median_days < 1050 and 0.4 < f.p_on_time < 0.6


@pytest.mark.parametrize("fn", [forecast_completion, simulate_completion])
@pytest.mark.parametrize("enrolled", [230, 241])
def test_target_reached(fn, enrolled: int) -> None:
    f = fn(230, enrolled, 5 * YEAR, 8.75 * YEAR)
    assert (f.median_days, f.p05_days, f.p95_days, f.p_on_time, f.remaining) == (0.0, 0.0, 0.0, 1.0, 0)


@pytest.mark.parametrize("fn", [forecast_completion, simulate_completion])
@pytest.mark.parametrize("elapsed", [8.75 * YEAR, 9 * YEAR])
def test_planned_end_passed_without_target_is_never_on_time(fn, elapsed: float) -> None:
    f = fn(230, 229, elapsed, 8.75 * YEAR)
    assert f.p_on_time == 0.0 and f.median_days > 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"target": 0}, "target"),
        ({"target": 10.5}, "target"),
        ({"target": True}, "target"),
        ({"enrolled": -1}, "enrolled"),
        ({"enrolled": float("nan")}, "enrolled"),
        ({"elapsed_days": -1.0}, "elapsed_days"),
        ({"elapsed_days": float("nan")}, "elapsed_days"),
        ({"planned_days": 0.0}, "planned_days"),
        ({"planned_days": math.inf}, "planned_days"),
        ({"certainty": 0.0}, "certainty"),
        ({"certainty": 1.5}, "certainty"),
        ({"certainty": float("nan")}, "certainty"),
    ],
)
@pytest.mark.parametrize("fn", [forecast_completion, simulate_completion])
def test_bad_inputs_name_the_argument(fn, kwargs: dict, name: str) -> None:
    args = {"target": 50, "enrolled": 10, "elapsed_days": 100.0, "planned_days": 1000.0, "certainty": 0.5}
    with pytest.raises(ValueError, match=rf"^{name} must"):
        fn(**(args | kwargs))


def test_numpy_counts_are_accepted() -> None:
    assert forecast_completion(np.int64(50), np.int64(31), 700.0, 1000.0) == forecast_completion(
        50, 31, 700, 1000
    )


def test_dates_round_up_to_whole_days() -> None:
    f = Forecast(
        median_days=7.1, p05_days=0.0, p95_days=33.0, p_on_time=0.62, shape=14, rate=140, remaining=1
    )
    assert f.dates(dt.date(2025, 12, 30)) == {
        "median": "2026-01-07",  # 7.1 days -> 8
        "p05": "2025-12-30",  # 0 days -> today
        "p95": "2026-02-01",  # whole days stay as they are
        "p_on_time": 0.62,
    }


def test_dates_beyond_the_calendar_are_none() -> None:
    f = forecast_completion(230, 0, 2000.0, 3000.0, certainty=1e-9)  # vague prior, nothing enrolled
    assert f.dates(dt.date(2025, 1, 1))["p95"] is None


# --- multi-centre --------------------------------------------------------------------------------------


def all_open(elapsed: float) -> list[SitePlan]:
    """Two sites, both recruiting since the trial opened (and one since before)."""
    return [SitePlan(opens_in_days=-elapsed - 400, share=0.6), SitePlan(opens_in_days=-elapsed, share=0.4)]


@pytest.mark.parametrize("case", CASES)
def test_multicentre_with_every_site_open_throughout_is_the_closed_form(case) -> None:
    # Exposure = 0.6*t + 0.4*t = t and nobody opens later: exactly forecast_completion, no simulation.
    assert forecast_multicentre(*case[:4], all_open(case[2]), certainty=case[4]) == forecast_completion(*case)


def test_exposure_counts_each_site_from_its_opening() -> None:
    # t = 700 days. A (0.5) open throughout: 350. B (0.3) opened 200 days ago: 60. C (0.2) opened 1000 days
    # ago but closed 100 days ago: 0.2*(700 - 100) = 120. Total 530 share-days.
    sites = [SitePlan(-700, 0.5), SitePlan(-200, 0.3), SitePlan(-1000, 0.2, closes_in_days=-100)]
    assert exposure_days(sites, 700.0) == pytest.approx(530.0)
    assert open_share(sites, 0.0) == pytest.approx(0.8)  # C is closed
    # Gamma(nP + m, TP + E) = Gamma(25 + 31, 500 + 530); A and B go on at 0.8 of lambda: b/0.8 = 1287.5.
    f = forecast_multicentre(50, 31, 700.0, 1000.0, sites)
    assert (f.shape, f.rate) == (56.0, 1030.0)
    # The median of R = (b/0.8)*B/(1-B), B ~ Beta(n - m = 19, a = 56), written out:
    x = stats.beta.ppf(0.5, 19, 56)
    assert f.median_days == pytest.approx(1287.5 * x / (1 - x), rel=1e-12)


def test_a_site_that_opened_late_raises_the_rate_estimate() -> None:
    # Same 31 enrolments in 700 days; if the second half-share site only opened 100 days ago, those came
    # from less exposure (0.5*700 + 0.5*100 = 400 < 700), so the rate is higher and the forecast earlier.
    both = forecast_multicentre(50, 31, 700.0, 1000.0, [SitePlan(-700, 0.5), SitePlan(-700, 0.5)])
    late = forecast_multicentre(50, 31, 700.0, 1000.0, [SitePlan(-700, 0.5), SitePlan(-100, 0.5)])
    assert late.rate == 500.0 + 400.0 and both.rate == 500.0 + 700.0
    assert late.median_days < both.median_days and late.p_on_time > both.p_on_time


def test_multicentre_rate_is_attributed_to_the_open_sites() -> None:
    # Only a 0.6 share open, the other never opens: the open sites' rate is Gamma(a, (TP + 0.6 t)/0.6),
    # which is forecast_completion's posterior with the planned duration stretched to T/0.6.
    n, m, t, T = 50, 31, 700.0, 1000.0
    multi = forecast_multicentre(n, m, t, T, [SitePlan(-t, 0.6), SitePlan(math.inf, 0.4)])
    stretched = forecast_completion(n, m, t, T / 0.6)
    assert (multi.shape, multi.rate) == (56.0, 500.0 + 0.6 * 700.0)
    for field in ("median_days", "p05_days", "p95_days"):
        assert getattr(multi, field) == pytest.approx(getattr(stretched, field), rel=1e-9), field


def test_later_opening_site_delays_the_forecast() -> None:
    # Same history (a 0.6 share open so far) in all three; only the second site's opening date moves.
    def median_and_p(opens: float) -> tuple[float, float]:
        sites = [SitePlan(-5.5 * YEAR, 0.6), SitePlan(opens, 0.4)]
        f = forecast_multicentre(230, 120, 5.5 * YEAR, 8.75 * YEAR, sites)
        return f.median_days, f.p_on_time

    tomorrow, in_a_year, never = median_and_p(1.0), median_and_p(365.0), median_and_p(math.inf)
    assert tomorrow[0] < in_a_year[0] < never[0]
    assert tomorrow[1] > in_a_year[1] > never[1]


def test_multicentre_is_deterministic_given_the_seed() -> None:
    sites = [SitePlan(-700, 0.5), SitePlan(200, 0.3), SitePlan(500, 0.2)]
    assert forecast_multicentre(50, 31, 700, 1000, sites, seed=5) == forecast_multicentre(
        50, 31, 700, 1000, sites, seed=5
    )


def test_multicentre_piecewise_rate_by_hand() -> None:
    # A long history pins lambda: m = 10^6 enrolments in t = 2*10^6 days at the open 0.5 share, prior
    # weight ~0 (P = 1e-6), so lambda ~ Gamma(10^6, 10^6) = 1/day +- 0.1 %. The other 0.5 share opens in
    # 100 days. The median of Gamma(1000, 1), the share-days needed for 1000 more, is ~1000 - 1/3:
    # the first 100 days give 0.5*100 = 50, the remaining 949.67 come at 1/day: 100 + 949.67 = 1049.67.
    sites = [SitePlan(-2e6, 0.5), SitePlan(100, 0.5)]
    f = forecast_multicentre(10**6 + 1000, 10**6, 2e6, 3e6, sites, certainty=1e-6)
    assert f.median_days == pytest.approx(1049.67, abs=3)
    # Without the second site the 999.67 share-days take 999.67/0.5 days.
    alone = forecast_multicentre(
        10**6 + 1000, 10**6, 2e6, 3e6, [sites[0], SitePlan(math.inf, 0.5)], certainty=1e-6
    )
    assert alone.median_days == pytest.approx(1999.3, abs=6)
    # And if the first site closes in 500 days the other carries on alone at 0.5/day after that:
    # 0.5*100 + 1.0*400 = 450 share-days by day 500, the remaining 549.67 at 0.5/day: 500 + 1099.3.
    closing = forecast_multicentre(
        10**6 + 1000, 10**6, 2e6, 3e6, [SitePlan(-2e6, 0.5, closes_in_days=500), SitePlan(100, 0.5)], certainty=1e-6
    )
    assert closing.median_days == pytest.approx(1599.3, abs=6)


@pytest.mark.parametrize(
    ("sites", "message"),
    [
        ([], "at least one"),
        ([SitePlan(-100, 0.5), SitePlan(-100, 0.4)], "sum to 1"),
        ([SitePlan(-100, 1.2), SitePlan(-100, -0.2)], ">= 0"),
        ([SitePlan(float("nan"), 1.0)], "opens_in_days"),
        ([SitePlan(10, 1.0)], "no site with a share is open"),
        ([SitePlan(0, 1.0)], "no site with a share is open"),  # opens today: recruited nobody so far
        ([SitePlan(-100, 0.0), SitePlan(math.inf, 1.0)], "no site with a share is open"),
        ([SitePlan(-100, 1.0, closes_in_days=-200)], "closes before it opens"),
    ],
)
def test_multicentre_bad_sites(sites: list[SitePlan], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        forecast_multicentre(50, 10, 100.0, 1000.0, sites)


def test_multicentre_target_never_reachable_is_an_error() -> None:
    with pytest.raises(ValueError, match="ever opens"):
        forecast_multicentre(50, 0, 0.0, 1000.0, [SitePlan(0, 0.0), SitePlan(math.inf, 1.0)])
    with pytest.raises(ValueError, match="ever opens"):  # the only site closed already
        forecast_multicentre(50, 10, 100.0, 1000.0, [SitePlan(-100, 1.0, closes_in_days=-10)])


# --- fan -----------------------------------------------------------------------------------------------


def test_fan_ends_at_the_forecast_and_widens_with_the_count() -> None:
    fan = forecast_fan(50, 31, 700.0, 1000.0, points=10)
    exact = forecast_completion(50, 31, 700.0, 1000.0)
    assert [row[0] for row in fan] == [32, 34, 36, 38, 40, 42, 44, 46, 48, 50]
    assert fan[-1][1:] == pytest.approx((exact.p05_days, exact.median_days, exact.p95_days), rel=1e-12)
    # The next enrolment, Beta(1, a): median b*(2^(1/a) - 1) = 1200*(2^(1/56) - 1) = 14.97 days.
    assert fan[0][2] == pytest.approx(1200 * (2 ** (1 / 56) - 1), rel=1e-9)
    assert all(p05 < median < p95 for _, p05, median, p95 in fan)
    assert [row[2] for row in fan] == sorted(row[2] for row in fan)
    widths = [p95 - p05 for _, p05, _, p95 in fan]
    assert widths == sorted(widths)


def test_fan_with_a_site_opening_later_ends_at_the_multicentre_forecast() -> None:
    sites = [SitePlan(-700, 0.6), SitePlan(150, 0.4)]
    fan = forecast_fan(50, 31, 700.0, 1000.0, sites, points=5)
    multi = forecast_multicentre(50, 31, 700.0, 1000.0, sites)
    assert fan[-1] == (50, multi.p05_days, multi.median_days, multi.p95_days)


def test_fan_of_a_reached_target_is_one_point() -> None:
    assert forecast_fan(50, 50, 700.0, 1000.0) == [(50, 0.0, 0.0, 0.0)]


# --- status --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "status"),
    [(1.0, "green"), (0.80, "green"), (0.7999, "amber"), (0.50, "amber"), (0.4999, "red"), (0.0, "red")],
)
def test_status_boundaries(p: float, status: str) -> None:
    assert status_from_probability(p, green=0.80, amber=0.50) == status


def test_status_rejects_amber_above_green() -> None:
    with pytest.raises(ValueError, match="amber"):
        status_from_probability(0.6, green=0.5, amber=0.8)


# ---- the recent pace ------------------------------------------------------------------------------------


def test_recent_pace_forecast_by_hand() -> None:
    # Target 100 in 720 days, P = 0.5, 40 enrolled after 300 days, 9 of them in the last 180 days. The plan
    # weighs like half the window: prior Gamma(100*0.5*180/720, 0.5*180) = (12.5, 90); posterior
    # a = 12.5 + 9 = 21.5, b = 90 + 180 = 270 (mean 0.0796/day: a third the plan's 0.139, two thirds the
    # window's 0.05). 60 to go: E[R] = b*k/(a - 1) = 270*60/20.5 = 790.24 days; P(R <= 420) = BetaCDF(420/690; 60, 21.5).
    f = forecast_recent(100, 40, 9, 300, 720, [SitePlan(-math.inf, 1.0)], 180, 0.5)
    assert (f.shape, f.rate, f.remaining) == (21.5, 270.0, 60)
    assert f.p_on_time == pytest.approx(stats.beta.cdf(420 / 690, 60, 21.5), rel=1e-9)
    draws = simulate_completion(100, 40, 300, 720, 0.5)  # a different posterior: the whole history
    assert draws.shape == 100 * 0.5 + 40 and draws.rate == 0.5 * 720 + 300
    rng = np.random.default_rng(1)
    lam = rng.gamma(21.5, 1 / 270, 400_000)
    remaining = rng.gamma(60, 1.0, 400_000) / lam
    assert remaining.mean() == pytest.approx(270 * 60 / 20.5, rel=0.01)
    assert f.median_days == pytest.approx(np.median(remaining), rel=0.01)


def test_recent_window_longer_than_the_time_open_is_the_time_open() -> None:
    sites = [SitePlan(-math.inf, 1.0)]
    assert forecast_recent(100, 10, 10, 90, 720, sites, 180, 0.5) == forecast_recent(100, 10, 10, 90, 720, sites, 90, 0.5)


def test_a_faster_recent_pace_finishes_earlier_than_the_pace_since_opening() -> None:
    sites = [SitePlan(-math.inf, 1.0)]
    since = forecast_completion(100, 40, 600, 900, 0.5)
    fast = forecast_recent(100, 40, 20, 600, 900, sites, 180, 0.5)  # 20 of the 40 in the last 180 days
    slow = forecast_recent(100, 40, 2, 600, 900, sites, 180, 0.5)
    assert fast.median_days < since.median_days < slow.median_days
    assert fast.p_on_time > since.p_on_time > slow.p_on_time


@pytest.mark.parametrize(
    ("recent", "window", "message"), [(41, 180, "recent_enrolled"), (-1, 180, "recent_enrolled"), (5, 0, "window_days")]
)
def test_recent_bad_inputs(recent: int, window: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        forecast_recent(100, 40, recent, 300, 720, [SitePlan(-math.inf, 1.0)], window)


# ---- the number enrolled by the planned end --------------------------------------------------------------


def _negative_binomial_quantile(q: float, a: float, p: float) -> int:
    """The q-quantile of the Gamma-Poisson mixture, from its pmf Gamma(a+x)/(Gamma(a) x!) p^a (1-p)^x."""
    total, x = 0.0, 0
    while True:
        total += math.exp(math.lgamma(a + x) - math.lgamma(a) - math.lgamma(x + 1) + a * math.log(p) + x * math.log(1 - p))
        if total >= q:
            return x
        x += 1


def test_enrolled_by_the_planned_end_against_the_closed_form() -> None:
    # n = 300, T = 36 months, P = 0.5, m = 100 after 10 months: lambda ~ Gamma(250, 28); in the 26 months
    # left X ~ NegBin(250, 28/54): the median number by month 36 is 332.
    by_end = predict_enrolled_by_end(300, 100, 10, 36, 0.5)
    assert by_end.median == 332
    assert (by_end.p05, by_end.median, by_end.p95) == tuple(100 + _negative_binomial_quantile(q, 250, 28 / 54) for q in (0.05, 0.5, 0.95))
    assert (by_end.p05, by_end.p95) == (298, 368)
    # In days it is the same model: 304 of 1096 days.
    assert predict_enrolled_by_end(300, 100, 304, 1096, 0.5).median == 332


def test_enrolled_by_the_end_when_it_has_passed_is_the_number_enrolled() -> None:
    assert predict_enrolled_by_end(50, 30, 400, 365) == Prediction(30, 30, 30)


def test_exposure_ahead_follows_the_sites_open() -> None:
    sites = [SitePlan(-100, 0.5), SitePlan(30, 0.25), SitePlan(-50, 0.25, closes_in_days=20)]
    # 0.5*100 + 0.25*(100 - 30) + 0.25*20 over the next 100 days.
    assert exposure_ahead(sites, 100) == 50 + 17.5 + 5
    assert probability_reaching(10, 10, 5.0, 50.0, 0.0) == 1.0 and probability_reaching(9, 10, 5.0, 50.0, 0.0) == 0.0
    assert probability_reaching(9, 10, 5.0, 50.0, 10.0) == pytest.approx(1 - (50 / 60) ** 5)
