"""Whole numbers that add up (no Streamlit here): per-site shares of a trial's target or of its planned
accrual, rounded so that the sites' figures sum to the trial's figure as the page shows it (largest
remainder: each share rounded down, then the largest remainders get one more each)."""

from __future__ import annotations

import math


def largest_remainder(values: list[float], total: int | None = None) -> list[int]:
    """`values` rounded to whole numbers that sum to `total` (default: the sum of `values`, rounded)."""
    if not values:
        return []
    total = round(sum(values)) if total is None else total
    floors = [math.floor(v) for v in values]
    short = total - sum(floors)
    # Ties go to the earlier site (configuration order), so the result never depends on chance.
    order = sorted(range(len(values)), key=lambda i: (-(values[i] - floors[i]), i))
    for i in order[: max(0, short)]:
        floors[i] += 1
    return floors


def whole_site_figures(summary: dict) -> dict[str, tuple[int, int]]:
    """Per site of a trial's summary: its target and expected-by-now in whole numbers that add up to the
    trial's target and to the trial's own expected-by-now (from which its "vs plan" is computed), so no
    page shows site targets of 46 for a target of 45."""
    sites = summary["sites"]
    targets = largest_remainder([site["target"] for site in sites], summary["target"])
    expected = largest_remainder([site["expected_by_now"] for site in sites], round(summary["expected_by_now"]))
    return {site["site"]: (t, e) for site, t, e in zip(sites, targets, expected, strict=True)}
