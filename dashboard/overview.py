"""The programme overview at scale (no Streamlit here): up to OVERVIEW_TILES_UP_TO trials the page
draws a tile and an accrual chart per trial; beyond, one sortable table of trials with a small
inline accrual curve per row, and the big charts only for the trials chosen in the view or else
the ones off track or at risk. Its cost then does not grow with a Plotly figure per trial."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from dashboard.metrics import enrolled_by

OVERVIEW_TILES_UP_TO = 6  # trials shown as tiles; more are a table
BIG_CHARTS_AT_MOST = 6  # big accrual charts under the table
SPARK_MONTHS = 24  # months of the inline accrual curve

STATUS_TEXT = {"red": "Off track", "amber": "At risk", "green": "On track", None: "No forecast"}
_STATUS_ORDER = {"red": 0, "amber": 1, "green": 2, None: 3}


def uses_tiles(trials_shown: int) -> bool:
    return trials_shown <= OVERVIEW_TILES_UP_TO


def monthly_cumulative(
    participants: pd.DataFrame, as_of: dt.date, codes: list[str], months: int = SPARK_MONTHS
) -> dict[str, list[int]]:
    """Per trial, the number enrolled by the end of each of the last `months` months (the running
    month up to `as_of`), counting those enrolled before the window too: one vectorised pass."""
    last = pd.Period(as_of, "M")
    window = pd.period_range(last - (months - 1), last, freq="M")
    enrolled = enrolled_by(participants[participants["trial"].isin(codes)], as_of)
    period = pd.to_datetime(enrolled["enrolled_on"]).dt.to_period("M").clip(lower=window[0])
    counts = pd.crosstab(enrolled["trial"], period) if len(enrolled) else pd.DataFrame()
    counts = counts.reindex(index=codes, columns=window, fill_value=0).fillna(0)
    cumulative = counts.cumsum(axis=1).astype(int)
    return {code: cumulative.loc[code].tolist() for code in codes}


def _rank(s: dict) -> tuple:
    """Worst first: off track, at risk, on track, no forecast; then the lowest chance."""
    status = s["status"] if s["has_data"] else None
    chance = s["forecast"]["p_on_time"] if s["forecast"] else 1.0
    return (_STATUS_ORDER[status], chance, s["trial"])


def trials_table(summaries: list[dict], curves: dict[str, list[int]]) -> pd.DataFrame:
    """One row per trial, worst first, with the numbers of `summary --json`: status in words, enrolled /
    target, % of target, forecast finish (median, as a date to sort by) with its 90% interval, the chance
    by the planned end (%), the recent pace and the pace needed, the slowest and the stale sites, and the
    monthly cumulative accrual for an inline chart."""

    def month(iso: str | None) -> str:
        return f"{dt.date.fromisoformat(iso):%b %Y}" if iso else "after 2100"

    rows = []
    for s in sorted(summaries, key=_rank):
        f = s["forecast"] if s["has_data"] else None
        rows.append(
            {
                "Trial": s["trial"],
                "Status": STATUS_TEXT[s["status"] if s["has_data"] else None],
                "Enrolled / target": f"{s['enrolled']} / {s['target']}",
                "% of target": s["percent_of_target"],
                "Accrual": curves.get(s["trial"], []),
                "Chance on time": None if f is None else round(100 * f["p_on_time"]),
                "Finish": pd.Timestamp(f["median"]) if f and f["median"] else pd.NaT,
                "90% interval": f"{month(f['p05'])} – {month(f['p95'])}" if f else "",
                "Pace": s["rate_recent"],
                "Needed": s["rate_needed"] if s["enrolled"] < s["target"] else None,
                "Slowest site": s["slowest_site"] or "",
                "Stale sites": ", ".join(s["stale_sites"]),
                "Planned end": pd.Timestamp(s["planned_end_on"]),
            }
        )
    return pd.DataFrame(rows)


def sites_page_charted(summaries: list[dict], chosen: bool) -> tuple[list[str], str]:
    """The trials the sites page draws curves for: all of them up to BIG_CHARTS_AT_MOST, else as the
    overview's big charts (a national programme's 150 trials would be 150 charts nobody reads)."""
    if len(summaries) > BIG_CHARTS_AT_MOST:
        return big_chart_trials(summaries, chosen)
    return [s["trial"] for s in summaries], ""


def big_chart_trials(summaries: list[dict], chosen: bool, at_most: int = BIG_CHARTS_AT_MOST) -> tuple[list[str], str]:
    """Which trials get a big accrual chart under the table, worst first, and a sentence saying why.
    `chosen`: the view's trial filter picked these trials (else every trial is shown)."""
    if chosen and len(summaries) <= at_most:
        return [s["trial"] for s in summaries], "Charts for the trials chosen in the sidebar."
    worrying = [s for s in sorted(summaries, key=_rank) if s["has_data"] and s["status"] in ("red", "amber")]
    among = " among the trials chosen" if chosen else ""
    others = "choose trials in the sidebar to see others."
    if not worrying:
        return [], f"No trial{among} is off track or at risk, so no charts here: choose trials in the sidebar to see theirs."
    shown = worrying[:at_most]
    if len(worrying) == 1:
        why = f"Charts for the one trial off track or at risk{among}; {others}"
    elif len(worrying) <= at_most:
        why = f"Charts for the {len(shown)} trials off track or at risk{among}; {others}"
    else:
        why = (
            f"Charts for the {len(shown)} trials with the lowest chance of finishing on time, of the "
            f"{len(worrying)} off track or at risk{among}; {others}"
        )
    return [s["trial"] for s in shown], why
