"""Per-site figures that add up to the trial's (dashboard/rounding.py)."""

from dashboard.rounding import largest_remainder, whole_site_figures


def test_three_equal_shares_of_45_add_up_to_45_not_46_or_44():
    assert largest_remainder([15.0, 15.0, 15.0], 45) == [15, 15, 15]
    assert largest_remainder([22.5, 22.5], 45) == [23, 22]  # rounding each would say 46
    assert sum(largest_remainder([45 / 7] * 7, 45)) == 45


def test_expected_by_now_per_site_adds_up_to_the_trials_rounded_figure():
    shares = [0.6 * 38.6, 0.4 * 38.6]  # 23.16 and 15.44: each rounded is 23 + 15 = 38, but the trial says 39
    assert largest_remainder(shares) == [23, 16] and round(sum(shares)) == 39
    assert largest_remainder([]) == []


def test_a_trials_site_figures_add_up_to_its_target_and_expected_by_now():
    summary = {"target": 45, "expected_by_now": 37.8, "sites": [
        {"site": "EMC", "target": 15.0, "expected_by_now": 12.6},
        {"site": "NKI", "target": 15.0, "expected_by_now": 12.6},
        {"site": "UMCU", "target": 15.0, "expected_by_now": 12.6},
    ]}
    # Each rounded alone would say 13 + 13 + 13 = 39 expected by now, where the trial says 38.
    assert whole_site_figures(summary) == {"EMC": (15, 13), "NKI": (15, 13), "UMCU": (15, 12)}
