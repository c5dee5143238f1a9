"""The meeting pack (DESIGN.md section 5): one self-contained HTML file, or a PDF of it.

The HTML carries its own plotly.js inline and makes no request to any other host, so it
opens offline, attached to the minutes. The PDF is that HTML printed by the system
Chromium (A4 landscape), no browser downloaded. One printed page per section (the
programme summary, then one per trial), each headed with the as-of date and the meeting's.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.offline

from dashboard import charts, consort, metrics
from dashboard.config import Programme
from dashboard.meetings import (
    STATUS_LABELS,
    block_of,
    forecast_line,
    month,
    programme_table,
    since_line,
    site_table,
    status_moved,
)

CHROMIUM = os.environ.get("PUMP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pdf-header-footer",
    "--run-all-compositor-stages-before-draw",
    "--virtual-time-budget=20000",
]
PRINT_TIMEOUT = 120
CHART_WIDTH = 1040  # px: the printable width of A4 landscape with 12 mm margins, at 96 dpi
STATUS_COLOURS = {"green": "#1e7b34", "amber": "#b35c00", "red": "#b3261e", None: "#5d6d7e"}


def accrual_figure(programme: Programme, trial_summary: dict, participants: pd.DataFrame, as_of: dt.date, height: int = 420) -> go.Figure:
    """The trial's accrual against the plan with the forecast fan: the one chart of the meeting
    view's and the pack's trial step."""
    code = trial_summary["trial"]
    trial = programme.trials[code]
    mine = participants[participants["trial"] == code]
    # The fan of the headline forecast's own basis, so that the band is the 90% interval the numbers
    # beside it say, and the axis reaches its end (the other basis's band may end years earlier).
    recent = trial_summary.get("forecast_basis") == "recent"
    fan = metrics.trial_fan(trial, mine, as_of, programme.forecast_prior_certainty, trial_summary["recent_months"] if recent else None,
                            per_site=trial_summary.get("forecast_model") == "multi-centre")
    planned_end = dt.date.fromisoformat(trial_summary["planned_end_on"])
    f = trial_summary.get("forecast")
    interval_end = [dt.date.fromisoformat(f["p95"])] if f and f.get("p95") else []
    until = max([planned_end, *(d.date() for d in fan["p95"]), *interval_end], default=as_of)
    gap = trial_summary["ahead_of_plan"]
    verdict = f"{-gap} behind plan" if gap < 0 else f"{gap} ahead of plan" if gap > 0 else "on plan"
    return charts.cumulative_accrual(
        f"{code}: {trial_summary['enrolled']} of {trial_summary['target']} enrolled, {verdict}",
        metrics.cumulative_accrual(mine, as_of),
        metrics.expected_curve(trial, as_of, until=until),
        trial_summary["target"],
        as_of,
        trial.colour,
        fan=fan,
        planned_end=planned_end,
        height=height,
        subtitle="shaded: 90% forecast interval",
    )


def _e(value: object) -> str:
    return html.escape(str(value))


def _day(iso: str) -> str:
    return f"{dt.date.fromisoformat(iso):%a %d %b %Y}"


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td class='{'stale' if str(v).startswith('stale') else ''}'>{_e(v)}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


DEMO = "DEMO DATA: made-up participants, not real patients"


def _running_head(summary: dict, changes: dict | None, page: str, pack: dict) -> str:
    since = changes["since"] if changes else None
    meeting = (
        f"changes since the meeting of {_day(since['held_on'])} (#{since['meeting']}, {_e(since['held_by'])})"
        if since
        else "no earlier meeting recorded"
    )
    held = pack.get("meeting")
    title = f"PUMP steering meeting #{held['meeting']} of {_day(held['held_on'])}" if held else "PUMP steering meeting pack"
    demo = f"<span class='demo'>{DEMO}</span> · " if pack.get("demo") else ""
    return (
        f"<div class='running'><span>{demo}{title} · <b>data as of {_day(summary['as_of'])}</b> · {meeting}</span>"
        f"<span>{_e(page)}</span></div>"
    )


def _figure(fig: go.Figure, div_id: str) -> str:
    fig = go.Figure(fig)
    fig.update_layout(width=CHART_WIDTH)
    return fig.to_html(
        full_html=False, include_plotlyjs=False, div_id=div_id, config={"displayModeBar": False, "responsive": False}
    )


def _held(pack: dict) -> str:
    """The meeting whose minutes this pack is for: its date, chair and note (a pack of today has none)."""
    held = pack.get("meeting")
    if not held:
        return ""
    text = (held.get("note") or "").strip()
    note = f" Note for the minutes: {_e(text)}{'' if text[-1:] in '.!?' else '.'}" if text else ""
    return (
        f"<p class='held'>Meeting #{held['meeting']}, held on {_day(held['held_on'])}; chair: {_e(held['held_by'])}.{note} "
        "The figures are what this meeting saw, against the meeting before it.</p>"
    )


def _summary_section(summary: dict, changes: dict | None, pages: int, pack: dict) -> str:
    since = changes["since"] if changes else None
    note = f"<p class='note'>Note of that meeting: {_e(since['note'])}</p>" if since and since.get("note") else ""
    tiles = []
    for t in summary["trials"]:
        block = block_of(changes, t["trial"])
        status = t["status"] if t["has_data"] else None
        moved = status_moved(block) if block else None
        tiles.append(
            f"<div class='tile'><div class='code'>{_e(t['trial'])}</div>"
            f"<div class='big'>{t['enrolled']} / {t['target']}</div>"
            f"<div class='status' style='background:{STATUS_COLOURS[status]}'>{STATUS_LABELS[status]}</div>"
            + (f"<div class='moved'>{_e(moved)}</div>" if moved else "")
            + (f"<div class='since'>Since last meeting: <b>{_e(since_line(block))}</b></div>" if block else "")
            + (f"<div class='finish'>{_e(forecast_line(block))}</div>" if block else "")
            + (f"<div class='why'>{_e(why)}</div>" if (why := metrics.story(t)) else "")
            + "</div>"
        )
    return (
        "<section>"
        + _running_head(summary, changes, f"page 1 of {pages}", pack)
        + "<h1>Programme summary</h1>"
        + _held(pack)
        + f"<div class='tiles'>{''.join(tiles)}</div>"
        + _table(programme_table(summary, changes))
        + note
        + f"<p class='legend'>Status is the forecast's chance of reaching the target by the planned end: on track "
        f"{summary['status_thresholds']['green']:.0%} or more, at risk {summary['status_thresholds']['amber']:.0%} to "
        f"{summary['status_thresholds']['green']:.0%}, off track below. Site data older than {summary['stale_after_days']} "
        "days is stale. Accrual counts participants with an enrolment date on or before the as-of day. "
        f"{html.escape(metrics.model_text(summary))}</p>"
        "</section>"
    )


def _trial_section(programme: Programme, t: dict, block: dict | None, pack: dict, page: str) -> str:
    summary, changes, participants = pack["summary"], pack["changes"], pack["participants"]
    code = t["trial"]
    status = t["status"] if t["has_data"] else None
    f = t["forecast"]
    moved = status_moved(block) if block else None
    then = block["forecast_then"] if block else None
    figures = [
        ("Enrolled / target", f"{t['enrolled']} / {t['target']}", f"{t['percent_of_target']:.0f}% · planned by now {t['expected_by_now']:.0f}"),
        (
            "Forecast finish",
            month(f["median"]) if f else "–",
            (f"90%: {month(f['p05'])} – {month(f['p95'])}" if f else "")
            + (f" · was {month(then['median'])}" if f and then else ""),
        ),
        (
            "Chance on time",
            f"{f['p_on_time']:.0%}" if f else "–",
            f"by {dt.date.fromisoformat(t['planned_end_on']):%b %Y}" + (f" · was {then['p_on_time']:.0%}" if then else ""),
        ),
        ("Since last meeting", f"{sum(block['new_enrolments'].values()):+d}" if block else "–", f"enrolled then {block['enrolled_then']}" if block else ""),
    ]
    cells = "".join(f"<div class='fig'><div class='label'>{a}</div><div class='big'>{b}</div><div class='small'>{c}</div></div>" for a, b, c in figures)
    corrections = ""
    if block and block["corrections"]:
        items = "; ".join(
            f"{_e(c['site'])} {_e(c['participant_id'])}: "
            + ", ".join(f"{k.replace('_', ' ')} {_e(v['then'])} → {_e(v['now'])}" for k, v in c.items() if isinstance(v, dict))
            for c in block["corrections"]
        )
        corrections = f"<p class='small'>Corrections (not counted as new): {items}</p>"
    chart = _figure(accrual_figure(programme, t, participants, dt.date.fromisoformat(summary["as_of"]), height=270), f"accrual-{code}")
    return (
        "<section>"
        + _running_head(summary, changes, page, pack)
        + f"<h1>{_e(code)} <span class='status' style='background:{STATUS_COLOURS[status]}'>{STATUS_LABELS[status]}</span>"
        + (f" <span class='moved'>{_e(moved)}</span>" if moved else "")
        + f"<span class='title'>{_e(programme.trials[code].title.split(' - ', 1)[-1])}</span></h1>"
        + (f"<p class='since'>Since last meeting: <b>{_e(since_line(block))}</b></p>" if block else "")
        + (f"<p class='why'>{_e(why)}</p>" if (why := metrics.story(t)) else "")
        + f"<div class='figs'>{cells}</div>"
        + _table(site_table(t, block))
        + corrections
        + f"<p class='note'>Status and finish: {_e(metrics.model_label(t))}.</p>"
        + chart
        + "</section>"
    )


CSS = """
@page { size: A4 landscape; margin: 10mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "Source Sans Pro", "DejaVu Sans", Arial, sans-serif; color: #1c2833; margin: 0 auto; max-width: 1060px; }
section { break-after: page; page-break-after: always; padding: 4px 0; }
section:last-child { break-after: auto; page-break-after: auto; }
.running { display: flex; justify-content: space-between; font-size: 12px; color: #5d6d7e; border-bottom: 1px solid #c5ccd3; padding-bottom: 3px; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h1 .title { display: block; font-size: 15px; font-weight: 400; color: #5d6d7e; }
.status { display: inline-block; color: white; border-radius: 4px; padding: 1px 8px; font-size: 15px; vertical-align: middle; }
.moved { font-size: 14px; color: #5d6d7e; font-weight: 400; }
.since { font-size: 17px; margin: 4px 0; }
.tiles, .figs { display: flex; gap: 10px; margin: 6px 0 10px; }
.tile, .fig { flex: 1; border: 1px solid #c5ccd3; border-radius: 6px; padding: 8px 12px; }
.tile .code { font-size: 20px; font-weight: 700; }
.big { font-size: 28px; font-weight: 700; }
.label, .small, .finish, .note, .legend { font-size: 13px; color: #41505f; }
table { border-collapse: collapse; width: 100%; font-size: 14px; margin: 6px 0; }
th, td { border-bottom: 1px solid #dde3e8; padding: 3px 8px; text-align: left; }
th { background: #f3f5f8; }
td:first-child { white-space: nowrap; font-weight: 600; }
td.stale { color: #873600; font-weight: 600; background: #fdebd0; }
.demo { color: #873600; font-weight: 700; }
.held { font-size: 17px; margin: 4px 0 8px; }
.why { font-size: 14px; color: #873600; margin: 4px 0; }
.consort { color: #1c2833; margin-top: 8px; }
.consort svg { width: 100%; height: auto; max-height: 165mm; }
"""


def _consort_section(programme: Programme, t: dict, pack: dict, page: str) -> str:
    """The trial's CONSORT flow as of the pack's day, drawn as a vector (sharp in the PDF)."""
    code = t["trial"]
    as_of = dt.date.fromisoformat(pack["summary"]["as_of"])
    flow = consort.flow(code, programme.trials[code], pack["participants"], as_of)
    return (
        "<section>"
        + _running_head(pack["summary"], pack["changes"], page, pack)
        + f"<h1>{_e(code)}: CONSORT flow</h1>"
        + f"<div class='consort'>{consort.svg(flow)}</div>"
        + "<p class='legend'>\"not recorded\": no extract of this trial holds that field.</p>"
        + "</section>"
    )


def pack_html(programme: Programme, pack: dict, demo: bool = False) -> str:
    """The whole pack as one HTML document: `pack` is service.meeting_pack's result (or
    meeting_as_it_was's: the pack of that meeting, its date, chair and note on the first page);
    `demo`: "demo data" on every page."""
    pack = {**pack, "demo": demo}
    summary, changes = pack["summary"], pack["changes"]
    pages = 1 + 2 * len(summary["trials"])
    sections = [_summary_section(summary, changes, pages, pack)]
    for number, t in enumerate(summary["trials"]):
        page = 2 + 2 * number
        sections.append(_trial_section(programme, t, block_of(changes, t["trial"]), pack, f"page {page} of {pages}"))
        sections.append(_consort_section(programme, t, pack, f"page {page + 1} of {pages}"))
    held = pack.get("meeting")
    title = f"PUMP steering meeting #{held['meeting']} pack" if held else f"PUMP steering meeting pack, data as of {summary['as_of']}"
    # The plotly.js bundle inline: the file needs nothing from any other host. "</" inside a script
    # would end it early; the bundle escapes it.
    script = plotly.offline.get_plotlyjs().replace("</script", "<\\/script")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>{CSS}</style>"
        f"<script type='text/javascript'>{script}</script></head><body>"
        + "".join(sections)
        + "</body></html>"
    )


def html_to_pdf(document: str) -> bytes:
    """Print the pack with the system Chromium (A4 landscape, set by the page's own CSS)."""
    with tempfile.TemporaryDirectory(prefix="pump-pack-") as tmp:
        source = Path(tmp) / "pack.html"
        target = Path(tmp) / "pack.pdf"
        source.write_text(document, encoding="utf-8")
        command = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile", f"--print-to-pdf={target}", source.as_uri()]
        done = subprocess.run(command, capture_output=True, text=True, timeout=PRINT_TIMEOUT)
        if not target.exists() or target.stat().st_size == 0:
            raise RuntimeError(f"Chromium did not print the pack (exit {done.returncode}): {done.stderr[-2000:]}")
        return target.read_bytes()
