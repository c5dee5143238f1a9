"""Plotly chart builders: data in, figure out, one clear message each. Sized for a
projector (large fonts, few lines), consistent colours per site and trial (from the
configuration), and the as-of date on every chart (in its subtitle)."""

from __future__ import annotations

import datetime as dt
import math
import textwrap

import pandas as pd
import plotly.graph_objects as go

FONT = dict(family="Source Sans Pro, Arial, sans-serif", size=18, color="#1c2833")
PLAN_COLOUR = "#8a96a3"
NEEDED_COLOUR = "#c0392b"
MUTED = "#5d6d7e"
GRID = "#e8ecf0"
CONTROL_COLOUR = "#9aa5b1"
STATUS_COLOURS = {
    "screening": "#b3c7d6",
    "enrolled": "#5b8db8",
    "on_treatment": "#2e7d32",
    "follow_up": "#66a86a",
    "completed": "#1f4e79",
    "withdrawn": "#e67e22",
    "lost_to_follow_up": "#b9770e",
    "deceased": "#7f8c8d",
    "not recorded": "#d5dbdf",
}
STATUS_LABELS = {"on_treatment": "on treatment", "follow_up": "follow-up", "lost_to_follow_up": "lost to follow-up"}
HALF, FULL = 34, 72
TITLE_LINES = 3  # at most, however long the message
EXTRA_LINE = 30  # pixels per title line beyond the first  # title characters per line: half-width and full-width charts
STAGE_LABELS = {"screened": "Screened", "eligible": "Eligible", "consented": "Consented", "enrolled": "Enrolled"}


# The two templates: every chart is built in the light one; the dark one swaps its neutral colours (page,
# text, grid, lines) for those of the dashboard's dark theme (.streamlit/config.toml), so a chart's
# background is the page's. Site, trial, arm and status colours stay as they are in both.
LIGHT_PAGE, DARK_PAGE = "#ffffff", "#111a24"
DARK_COLOURS = {
    "white": DARK_PAGE,
    LIGHT_PAGE: DARK_PAGE,
    FONT["color"]: "#f1f4f7",
    MUTED: "#aebbc8",
    GRID: "#263545",
    "#c5ccd3": "#4a5b6d",
    "#eef1f4": "#1d2a38",
    "#5d7b96": "#7d9bb6",
}


def _swap(value, colours: dict[str, str]):
    if isinstance(value, str):
        return colours.get(value.lower(), value)
    if isinstance(value, dict):
        return {k: _swap(v, colours) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_swap(v, colours) for v in value]
    return value


def themed(fig: go.Figure, theme: str | None) -> go.Figure:
    """The figure in the page's theme: as built for "light" (or no theme known), the dark template's
    colours for "dark". A new figure; the one given is unchanged (it may be cached)."""
    if theme != "dark":
        return fig
    return go.Figure(_swap(fig.to_plotly_json(), DARK_COLOURS))


def stretched(fig: go.Figure) -> go.Figure:
    """A copy without a fixed height: it takes the height of the box it is drawn in."""
    copy = go.Figure(fig)
    copy.layout.height = None
    return copy


def as_of_text(as_of: dt.date) -> str:
    return f"data as of {as_of:%d %b %Y}"


def base_layout(
    fig: go.Figure, title: str, as_of: dt.date, height: int = 420, subtitle: str = "", wrap: int = HALF
) -> go.Figure:
    """Title (the message, wrapped at `wrap` characters: Plotly does not wrap and a half-width chart on
    a laptop holds about 34), subtitle with the as-of date, large fonts, legend below, white background."""
    sub = " · ".join(p for p in (subtitle, as_of_text(as_of)) if p)
    lines = textwrap.wrap(title, wrap) or [""]
    if len(lines) > TITLE_LINES:  # a title never pushes the chart off its canvas: the rest is cut, and said to be
        lines = [*lines[: TITLE_LINES - 1], textwrap.shorten(" ".join(lines[TITLE_LINES - 1 :]), wrap - 1, placeholder="") + "…"]
    fig.update_layout(
        title=dict(
            text="<br>".join(lines),
            font=dict(size=22, weight=600),
            x=0,
            xanchor="left",
            xref="container",
            pad=dict(l=12, t=12),
            yref="container",
            # Plotly places a title of several lines one line too high per extra line: move it down.
            y=max(0.0, 1 - EXTRA_LINE * (len(lines) - 1) / height),
            yanchor="top",
            subtitle=dict(text=sub, font=dict(size=15, color=MUTED)),
        ),
        font=FONT,
        height=height,
        margin=dict(l=10, r=20, t=88 + EXTRA_LINE * (len(lines) - 1), b=10),
        plot_bgcolor="white",
        paper_bgcolor="white",
        hovermode="x unified",
        hoverlabel=dict(font_size=16),
        # Below everything, in the figure's own margin: never over the tick labels.
        legend=dict(orientation="h", yref="container", yanchor="bottom", y=0, xanchor="left", x=0, font=dict(size=16)),
    )
    fig.update_xaxes(showgrid=False, linecolor="#c5ccd3", ticks="outside", tickangle=0, tickfont=dict(size=16), automargin=True)
    fig.update_yaxes(gridcolor=GRID, zeroline=False, rangemode="tozero", tickfont=dict(size=16), automargin=True)
    return fig


def year_step(first: pd.Timestamp, last: pd.Timestamp, most: int = 8) -> int:
    """Whole years per tick so that at most `most` ticks span first..last."""
    years = max(1, last.year - first.year + 1)
    return max(1, math.ceil(years / most))


def _year_axis(fig: go.Figure, first: pd.Timestamp, last: pd.Timestamp, most: int = 8) -> None:
    # One tick per year (or per 2, 3… years on a narrow chart), each on 1 January: never a year twice
    # (Plotly's own choice at a few ticks falls on half years and prints "2022 2022").
    fig.update_xaxes(tickformat="%Y", dtick=f"M{12 * year_step(first, last, most)}", tick0="2000-01-01")


def _nice_step(top: float, ticks: int = 5) -> float:
    raw = max(top, 1) / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def y_ticks_around(top: float, target: float, clearance: float = 0.09) -> list[float]:
    """Round y ticks from 0 to `top`, leaving out those within `clearance` x top of the target line, whose
    label says its value: the tick labels never collide with it."""
    step = _nice_step(top)
    count = int(top // step) + 1
    ticks = [round(i * step, 6) for i in range(count)]
    return [t for t in ticks if abs(t - target) > clearance * top]


def _alpha(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _wrap(label: str, width: int = 22) -> str:
    return "<br>".join(textwrap.wrap(label, width)) or label


def cumulative_accrual(
    title: str,
    cumulative: pd.DataFrame,
    expected: pd.DataFrame,
    target: int,
    as_of: dt.date,
    colour: str,
    fan: pd.DataFrame | None = None,
    planned_end: dt.date | None = None,
    height: int = 420,
    subtitle: str = "",
    compact: bool = False,
    amendments: list[tuple[dt.date, str]] | None = None,
    other_fan: pd.DataFrame | None = None,
    other_name: str = "",
    wrap: int | None = None,
) -> go.Figure:
    """Enrolled over time as a step line, against the planned curve and the target; with `fan`
    (count, p05, median, p95 dates) the forecast from as-of: its median and 90% band. `compact` (small
    multiples): no legend, fewer year ticks. `amendments`: (date, label) marked on the planned curve.
    `cumulative` has enrolled_on and cumulative; `expected` has day and expected. `other_fan`: a second
    forecast (the pace since opening beside the recent pace), its median as a thin line named `other_name`."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=expected["day"],
            y=expected["expected"],
            name="planned",
            mode="lines",
            line=dict(color=PLAN_COLOUR, width=2, dash="dash"),
            hovertemplate="planned: %{y:.0f}<extra></extra>",
        )
    )
    last = int(cumulative["cumulative"].iloc[-1]) if len(cumulative) else 0
    xs = list(cumulative["enrolled_on"]) + [pd.Timestamp(as_of)]
    ys = list(cumulative["cumulative"]) + [last]
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            name="enrolled",
            mode="lines",
            line=dict(color=colour, width=4, shape="hv"),
            hovertemplate="enrolled: %{y}<extra></extra>",
        )
    )
    if fan is not None and len(fan) > 1:
        # The band: the 5% line, then the 95% line filled across to it along x (the dates; the counts are
        # the y both share). Lines only, never markers (Plotly draws markers on a short trace by default).
        fig.add_trace(
            go.Scatter(
                x=fan["p05"],
                y=fan["count"],
                name="forecast, 5%",
                mode="lines",
                line=dict(width=0, color=_alpha(colour, 0.16)),
                showlegend=False,
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=fan["p95"],
                y=fan["count"],
                name="forecast, 90% interval",
                mode="lines",
                fill="tonextx",
                fillcolor=_alpha(colour, 0.18),
                line=dict(width=0, color=_alpha(colour, 0.18)),
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=fan["median"],
                y=fan["count"],
                name="forecast, median",
                mode="lines",
                line=dict(color=colour, width=3, dash="dot"),
                hovertemplate="forecast: %{y} by %{x|%b %Y}<extra></extra>",
            )
        )
    if other_fan is not None and len(other_fan) > 1:
        fig.add_trace(
            go.Scatter(
                x=other_fan["median"],
                y=other_fan["count"],
                name=other_name,
                mode="lines",
                line=dict(color=MUTED, width=2, dash="dashdot"),
                hovertemplate=f"{other_name}: %{{y}} by %{{x|%b %Y}}<extra></extra>",
            )
        )
    fig.add_hline(
        y=target,
        line=dict(color="#1c2833", width=1.5, dash="dot"),
        annotation_text=f"target {target}",
        annotation_position="top left",
        annotation_font=dict(size=16),
    )
    if planned_end is not None:
        fig.add_vline(x=pd.Timestamp(planned_end), line=dict(color=MUTED, width=1.5, dash="dot"))
        fig.add_annotation(
            x=pd.Timestamp(planned_end),
            y=0,
            yref="paper",
            text=f"planned end<br>{planned_end:%b %Y}",
            showarrow=False,
            xanchor="right",
            yanchor="bottom",
            align="right",
            xshift=-4,
            font=dict(size=14, color=MUTED),
        )
    for day, label in amendments or []:
        fig.add_annotation(
            x=pd.Timestamp(day),
            y=float(expected.loc[expected["day"] >= pd.Timestamp(day), "expected"].iloc[0]) if (expected["day"] >= pd.Timestamp(day)).any() else 0,
            text=label,
            showarrow=True,
            arrowhead=0,
            arrowcolor=PLAN_COLOUR,
            ax=0,
            ay=-36,
            font=dict(size=14, color=MUTED),
        )
    fig = base_layout(fig, title, as_of, height=height, subtitle=subtitle, wrap=wrap or (HALF if compact else FULL))
    fig.update_layout(showlegend=not compact, legend_traceorder="normal")  # a filled band would reverse it
    if compact:  # a third of a laptop's width: a smaller title that fits it
        fig.update_layout(title_font_size=18)
    xs_all = [*expected["day"], *xs, *(list(fan["p95"]) if fan is not None else []), *(list(other_fan["median"]) if other_fan is not None else [])]
    _year_axis(fig, min(xs_all), max(xs_all), most=4 if compact else 8)
    top = max(target, max(ys, default=0)) * 1.12
    fig.update_yaxes(range=[0, top], tickmode="array", tickvals=y_ticks_around(top, target))
    return fig


def monthly_by_site(
    title: str,
    monthly: pd.DataFrame,
    site_colours: dict[str, str],
    as_of: dt.date,
    needed: float | None = None,
    planned: float | None = None,
    subtitle: str = "",
) -> go.Figure:
    """Enrolments per month stacked by site (`monthly`: period, site, enrolled, complete), with the rate
    needed to finish on time and the planned average rate as lines; the month still running is pale."""
    fig = go.Figure()
    for site, colour in site_colours.items():
        rows = monthly[monthly["site"] == site]
        fig.add_trace(
            go.Bar(
                x=rows["period"],
                y=rows["enrolled"],
                name=site,
                marker=dict(color=colour, opacity=[1.0 if c else 0.45 for c in rows["complete"]], line=dict(width=0)),
                hovertemplate=f"{site}: %{{y}}<extra></extra>",
                xperiod="M1",
                xperiodalignment="middle",
            )
        )
    span = [monthly["period"].min() - pd.Timedelta(days=16), monthly["period"].max() + pd.Timedelta(days=46)] if len(monthly) else []
    for value, name, line in (
        (needed, f"needed {needed or 0:.1f}/month", dict(color=NEEDED_COLOUR, width=3)),
        (planned, f"planned {planned or 0:.1f}/month", dict(color=PLAN_COLOUR, width=2, dash="dash")),
    ):
        if value is not None and span:
            fig.add_trace(
                go.Scatter(x=span, y=[value, value], name=name, mode="lines", line=line, hovertemplate=f"{name}<extra></extra>")
            )
    fig = base_layout(fig, title, as_of, subtitle=subtitle, wrap=44)  # two short lines: legible on a phone
    fig.update_layout(barmode="stack", bargap=0.15)
    # A label every 3 months, or 6 beyond a year: "Jan 2025" never runs into "Apr 2025" on a phone.
    months = monthly["period"].nunique() if len(monthly) else 0
    fig.update_xaxes(tickformat="%b<br>%Y", dtick="M3" if months <= 12 else "M6", tick0="2000-01-01")
    top = max([needed or 0, planned or 0, *monthly.groupby("period")["enrolled"].sum().tolist(), 1])
    fig.update_yaxes(range=[0, top * 1.15], title=dict(text="enrolled per month", font=dict(size=16)))
    return fig


def funnel(title: str, stages: list[dict], as_of: dt.date, colour: str) -> go.Figure:
    """Screened -> eligible -> consented -> enrolled, with the share of the screened at each step."""
    counts = [s["count"] for s in stages]
    first = counts[0] or 1
    fig = go.Figure(
        go.Funnel(
            y=[STAGE_LABELS.get(s["stage"], s["stage"]) for s in stages],
            x=counts,
            text=[f"{c}  ({c / first:.0%})" for c in counts],
            textinfo="text",
            textfont=dict(size=18),
            marker=dict(color=[_alpha(colour, a) for a in (0.45, 0.6, 0.8, 1.0)][: len(stages)]),
            connector=dict(fillcolor="#eef1f4"),
            hovertemplate="%{y}: %{x}<extra></extra>",
        )
    )
    fig = base_layout(fig, title, as_of, subtitle="share of the screened")
    fig.update_layout(hovermode="closest", showlegend=False)
    return fig


def fail_reasons(title: str, reasons: pd.DataFrame, as_of: dt.date, top: int = 8) -> go.Figure:
    """Screen-fail reasons ranked, most frequent on top; beyond `top` they are summed as `other`."""
    shown = reasons.head(top)
    if len(reasons) > top:
        rest = reasons.iloc[top:]
        shown = pd.concat(
            [shown, pd.DataFrame({"reason": [f"{len(rest)} other reasons"], "count": [rest["count"].sum()], "share": [rest["share"].sum()]})],
            ignore_index=True,
        )
    fig = go.Figure(
        go.Bar(
            y=[_wrap(r) for r in shown["reason"]][::-1],
            x=shown["count"][::-1],
            orientation="h",
            text=[f"{c}  ({s:.0%})" for c, s in zip(shown["count"], shown["share"], strict=True)][::-1],
            textposition="outside",
            cliponaxis=False,
            marker=dict(color="#5d7b96"),
            hovertemplate="%{y}: %{x}<extra></extra>",
        )
    )
    # Each bar gets room for its label's lines, so wrapped reasons never overlap.
    lines = sum(max(1, len(textwrap.wrap(r, 22))) for r in shown["reason"])
    fig = base_layout(fig, title, as_of, height=max(360, 130 + 24 * lines + 22 * len(shown)), subtitle="share of all screen failures")
    fig.update_layout(hovermode="closest", showlegend=False, margin=dict(r=90))
    fig.update_xaxes(showticklabels=False, ticks="", showline=False, range=[0, max(1, int(shown["count"].max() if len(shown) else 1)) * 1.25])
    fig.update_yaxes(gridcolor="rgba(0,0,0,0)", tickfont=dict(size=16))
    return fig


def arm_balance(
    title: str, table: pd.DataFrame, arms: dict[str, str], arm_colours: dict[str, str], as_of: dt.date, subtitle: str = ""
) -> go.Figure:
    """Enrolled per site and arm, side by side (`table`: site and one column per arm code)."""
    fig = go.Figure()
    for arm, label in arms.items():
        fig.add_trace(
            go.Bar(
                x=table["site"],
                y=table[arm],
                name=label,
                marker=dict(color=arm_colours[arm]),
                text=table[arm],
                textposition="outside",
                cliponaxis=False,
                hovertemplate=f"{label}: %{{y}}<extra></extra>",
            )
        )
    fig = base_layout(fig, title, as_of, subtitle=subtitle)
    fig.update_layout(barmode="group", hovermode="x")
    fig.update_yaxes(range=[0, max(1, int(table[list(arms)].to_numpy().max(initial=0))) * 1.2])
    return fig


def status_breakdown(title: str, statuses: pd.DataFrame, as_of: dt.date, subtitle: str = "") -> go.Figure:
    """Enrolled participants by current status, one bar each, in the canonical order top down."""
    labels = [STATUS_LABELS.get(s, s) for s in statuses["status"]]
    fig = go.Figure(
        go.Bar(
            y=labels[::-1],
            x=statuses["count"][::-1],
            orientation="h",
            text=statuses["count"][::-1],
            textposition="outside",
            cliponaxis=False,
            marker=dict(color=[STATUS_COLOURS.get(s, PLAN_COLOUR) for s in statuses["status"]][::-1]),
            hovertemplate="%{y}: %{x}<extra></extra>",
        )
    )
    fig = base_layout(fig, title, as_of, height=max(340, 110 + 46 * len(statuses)), subtitle=subtitle)
    fig.update_layout(hovermode="closest", showlegend=False, margin=dict(r=60))
    fig.update_xaxes(showticklabels=False, ticks="", showline=False, range=[0, max(1, int(statuses["count"].max() if len(statuses) else 1)) * 1.18])
    fig.update_yaxes(gridcolor="rgba(0,0,0,0)")
    return fig


def site_rates(title: str, rows: pd.DataFrame, site_colours: dict[str, str], as_of: dt.date) -> go.Figure:
    """Rate per month open per site, grouped by trial (`rows`: trial, site, rate_per_month, rate_6m);
    the last six months' rate as a diamond on each bar. A site with no rate (not open) shows no bar."""
    fig = go.Figure()
    for site, colour in site_colours.items():
        mine = rows[rows["site"] == site]
        if mine.empty:
            continue
        fig.add_trace(
            go.Bar(
                x=mine["trial"],
                y=mine["rate_per_month"],
                name=site,
                marker=dict(color=colour),
                offsetgroup=site,
                hovertemplate=f"{site} since opening: %{{y:.2f}}/month<extra></extra>",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=mine["trial"],
                y=mine["rate_6m"],
                name=f"{site}, last 6 months",
                showlegend=False,
                mode="markers",
                offsetgroup=site,
                marker=dict(symbol="diamond", size=18, color="white", line=dict(color="#1c2833", width=2.5)),
                hovertemplate=f"{site} last 6 months: %{{y:.2f}}/month<extra></extra>",
            )
        )
    fig = base_layout(fig, title, as_of, subtitle="bars: since the site opened; diamonds: last 6 months", wrap=FULL)
    fig.update_layout(barmode="group", scattermode="group", hovermode="x")
    fig.update_yaxes(title=dict(text="enrolled per month", font=dict(size=16)))
    return fig


def aligned_curves(title: str, curves: pd.DataFrame, site_colours: dict[str, str], as_of: dt.date, height: int = 380) -> go.Figure:
    """Cumulative enrolments per site against months since that site opened (`curves`: site, months,
    cumulative), so sites that opened years apart compare like for like."""
    fig = go.Figure()
    for site, colour in site_colours.items():
        mine = curves[curves["site"] == site]
        if mine.empty:
            continue
        fig.add_trace(
            go.Scatter(
                x=mine["months"],
                y=mine["cumulative"],
                name=site,
                mode="lines",
                line=dict(color=colour, width=4, shape="hv"),
                hovertemplate=f"{site}: %{{y}} after %{{x:.0f}} months<extra></extra>",
            )
        )
    fig = base_layout(fig, title, as_of, height=height)
    fig.update_layout(hovermode="closest")
    longest = float(curves["months"].max()) if len(curves) else 0.0
    fig.update_xaxes(
        title=dict(text="months since the site opened", font=dict(size=16)), rangemode="tozero", dtick=12 if longest <= 48 else 24
    )
    return fig
