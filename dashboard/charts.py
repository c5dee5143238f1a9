"""Plotly chart builders: data in, figure out, one clear message each. Sized for a
projector (large fonts, few lines), consistent colours per site and trial (from the
configuration), and the as-of date on every chart."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import plotly.graph_objects as go

FONT = dict(family="Source Sans Pro, Arial, sans-serif", size=18, color="#1c2833")
PLAN_COLOUR = "#8a96a3"


def base_layout(fig: go.Figure, title: str, as_of: dt.date, height: int = 420) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, font=dict(size=22), x=0, xanchor="left"),
        font=FONT,
        height=height,
        margin=dict(l=10, r=10, t=50, b=10),
        plot_bgcolor="white",
        paper_bgcolor="white",
        hovermode="x unified",
        legend=dict(orientation="h", yanchor="top", y=-0.12, xanchor="left", x=0, font=dict(size=16)),
    )
    fig.update_xaxes(showgrid=False, linecolor="#c5ccd3", ticks="outside", tickformat="%Y", dtick="M12", tickangle=0)
    fig.update_yaxes(gridcolor="#e8ecf0", zeroline=False, rangemode="tozero")
    fig.add_annotation(
        text=f"data as of {as_of:%d %b %Y}",
        xref="paper",
        yref="paper",
        x=1,
        y=1.0,
        xanchor="right",
        yanchor="bottom",
        showarrow=False,
        font=dict(size=14, color="#5d6d7e"),
    )
    return fig


def cumulative_accrual(
    title: str,
    cumulative: pd.DataFrame,
    expected: pd.DataFrame,
    target: int,
    as_of: dt.date,
    colour: str,
) -> go.Figure:
    """Enrolled over time as a step line, against the planned curve and the target.
    `cumulative` has enrolled_on and cumulative; `expected` has day and expected."""
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
    xs = list(cumulative["enrolled_on"]) + [pd.Timestamp(as_of)]
    ys = list(cumulative["cumulative"]) + [int(cumulative["cumulative"].iloc[-1]) if len(cumulative) else 0]
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
    fig.add_hline(
        y=target,
        line=dict(color="#1c2833", width=1.5, dash="dot"),
        annotation_text=f"target {target}",
        annotation_position="top left",
        annotation_yshift=-2,
        annotation_font=dict(size=16),
    )
    fig = base_layout(fig, title, as_of)
    fig.update_yaxes(range=[0, max(target, max(ys, default=0)) * 1.12])
    return fig
