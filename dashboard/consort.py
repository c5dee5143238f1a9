"""The CONSORT flow of a trial (DESIGN.md section 5): screened -> not eligible / declined (top reasons)
-> consented -> enrolled -> per arm -> pump placed / HAIP started -> completed, withdrawn, lost to
follow-up, deceased -> converted (unresectable trials), counted from the stored participants as of a
date, and drawn as a vector (SVG) for the trial page, the meeting and the pack.

The counts use the definitions of dashboard.metrics (screened and enrolled as `summary --json` counts
them; pump placed and HAIP started as the trial page's milestones). A box whose field no row of the
extracts holds is None: it says "not recorded", never 0."""

from __future__ import annotations

import datetime as dt
import html
import itertools
from collections.abc import Mapping

import pandas as pd

from dashboard import metrics
from dashboard.config import Trial

OUTCOMES = ("completed", "withdrawn", "lost_to_follow_up", "deceased")
OUTCOME_LABELS = {"completed": "Completed", "withdrawn": "Withdrawn", "lost_to_follow_up": "Lost to follow-up", "deceased": "Deceased"}
NOT_RECORDED = "not recorded"
TOP_REASONS = 4


def recorded(frame: pd.DataFrame, column: str) -> bool:
    """Whether the extracts record `column` at all: some row holds a value."""
    return column in frame and bool(frame[column].notna().any())


def reason_label(code: str, labels: Mapping[str, str] | None = None) -> str:
    """A screen-fail reason as people read it: its label in `labels` when given there, else as it came
    (flow labels the codes through the trial's vocabulary when no `labels` are given)."""
    return (labels or {}).get(code, code)


def converts(trial: Trial) -> bool:
    """Conversion (downstaging to resection or transplant) is the hoped-for outcome of the unresectable trials."""
    return "unresectable" in trial.population.lower()


def _on_or_before(frame: pd.DataFrame, column: str, as_of: dt.date) -> pd.Series:
    if column not in frame:
        return pd.Series(False, index=frame.index)
    dates = pd.to_datetime(frame[column])
    return dates.notna() & (dates <= pd.Timestamp(as_of))


def _status(frame: pd.DataFrame) -> pd.Series:
    return frame["status"].fillna("").astype(str) if "status" in frame else pd.Series("", index=frame.index)


def _downstream(trial: Trial, group: pd.DataFrame, whole: pd.DataFrame, as_of: dt.date) -> dict:
    """Pump placed, HAIP started, the four ends and conversion among `group` (enrolled participants)."""
    status = _status(group)

    def count(column: str, mask: pd.Series) -> int | None:
        return int(mask.sum()) if recorded(whole, column) else None

    counts = {
        "pump_placed": count("pump_implanted_on", _on_or_before(group, "pump_implanted_on", as_of)),
        "haip_started": count("treatment_started_on", _on_or_before(group, "treatment_started_on", as_of)),
    }
    for outcome in OUTCOMES:
        counts[outcome] = count("status", status == outcome)
    if counts["withdrawn"] is None and recorded(whole, "withdrawn_on"):
        counts["withdrawn"] = int(_on_or_before(group, "withdrawn_on", as_of).sum())
    counts["converted"] = count("converted_on", _on_or_before(group, "converted_on", as_of)) if converts(trial) else None
    return counts


def flow(code: str, trial: Trial, participants: pd.DataFrame, as_of: dt.date, labels: Mapping[str, str] | None = None) -> dict:
    """`consort --json`: `trial`, `as_of`, `counts` (None where the extracts do not record the field),
    `reasons` (screen-fail reasons with counts, most frequent first); and for the drawing `per_arm`
    (the downstream counts of each arm), `arm_labels` and `converts`. `participants`: the trial's
    current rows, every field."""
    mine = participants[participants["trial"] == code] if "trial" in participants else participants
    screened = metrics.screened_by(mine, as_of)
    enrolled = metrics.enrolled_by(mine, as_of)
    is_enrolled = screened.index.isin(enrolled.index)
    outcome = screened["screening_outcome"].fillna("").astype(str).str.strip().str.lower() if "screening_outcome" in screened else None
    has_outcome = recorded(mine, "screening_outcome")
    not_eligible = int(((outcome == "ineligible") & ~is_enrolled).sum()) if has_outcome else None
    declined = int(((outcome == "declined") & ~is_enrolled).sum()) if has_outcome else None
    consented = int((_on_or_before(screened, "consented_on", as_of) | is_enrolled).sum()) if recorded(mine, "consented_on") else None
    # The haip arm of a randomised trial receives HAIP; a single-arm trial's every participant does.
    haip = enrolled[enrolled["arm"] == "haip"] if trial.is_randomised and "arm" in enrolled else enrolled
    per_arm = {}
    arms: dict[str, int | None] = {}
    for arm in trial.arms:
        group = enrolled[enrolled["arm"] == arm] if trial.is_randomised and "arm" in enrolled else enrolled
        arms[arm] = len(group) if recorded(mine, "arm") or not trial.is_randomised else None
        per_arm[arm] = _downstream(trial, group, mine, as_of)
    # The reasons as the trial's vocabulary labels them (Trial.reason_label), or through `labels` when given.
    reasons = (
        metrics.screen_fail_reasons(mine, as_of, None if labels else trial) if has_outcome else pd.DataFrame(columns=["reason", "count"])
    )
    return {
        "trial": code,
        "as_of": as_of.isoformat(),
        "counts": {
            "screened": len(screened),
            "not_eligible": not_eligible,
            "declined": declined,
            # Screened, not enrolled and not failed: still being decided (the boxes add up to the screened).
            "pending": len(screened) - len(enrolled) - not_eligible - declined if has_outcome else None,
            "consented": consented,
            "enrolled": len(enrolled),
            "arms": arms,
            # Pump and HAIP among those who receive it; the ends of follow-up among every enrolled.
            **{k: v for k, v in _downstream(trial, haip, mine, as_of).items() if k in ("pump_placed", "haip_started")},
            **{k: v for k, v in _downstream(trial, enrolled, mine, as_of).items() if k not in ("pump_placed", "haip_started")},
        },
        "reasons": [{"reason": reason_label(r, labels), "count": int(c)} for r, c in zip(reasons["reason"], reasons["count"], strict=True)],
        "per_arm": per_arm,
        "arm_labels": {arm: spec.label for arm, spec in trial.arms.items()},
        "converts": converts(trial),
    }


def screening_words(counts: dict) -> str:
    """What the screening counts count, in words that add up: "271 screened · 161 enrolled · 109 not
    eligible or declined · 1 pending" (the outcomes not recorded: screened and enrolled only)."""
    parts = [f"{counts['screened']} screened", f"{counts['enrolled']} enrolled"]
    if counts["not_eligible"] is not None:
        parts.append(f"{counts['not_eligible'] + counts['declined']} not eligible or declined")
        if counts["pending"]:
            parts.append(f"{counts['pending']} pending")
    return " · ".join(parts)


# ---- the drawing ------------------------------------------------------------------------------------

WIDTH = 1200
BOX_H = 48
GAP = 34
TEXT = 22
SMALL = 18


def _clip(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def shown(value: int | None) -> str:
    return NOT_RECORDED if value is None else str(value)


def _box(x: float, y: float, w: float, h: float, lines: list[tuple[str, int, bool]], ink: str) -> str:
    """A box with its lines of text (text, size, bold), the first line centred as its heading."""
    out = [f"<rect x='{x}' y='{y}' width='{w}' height='{h}' rx='8' fill='rgba(127,127,127,0.08)' stroke='{ink}' stroke-width='1.5'/>"]
    ty = y + 8
    for i, (text, size, bold) in enumerate(lines):
        ty += size + 4
        anchor, tx = ("middle", x + w / 2) if i == 0 else ("start", x + 14)
        weight = " font-weight='700'" if bold else ""
        out.append(f"<text x='{tx}' y='{ty}' font-size='{size}' text-anchor='{anchor}' fill='{ink}'{weight}>{html.escape(text)}</text>")
    return "".join(out)


def _arrow(x1: float, y1: float, x2: float, y2: float, ink: str) -> str:
    return f"<line x1='{x1}' y1='{y1}' x2='{x2}' y2='{y2}' stroke='{ink}' stroke-width='1.5' marker-end='url(#arrow)'/>"


def _height(lines: list) -> float:
    return 16 + sum(size + 4 for _, size, _ in lines)


def svg(result: dict, title: str = "", ink: str = "currentColor") -> str:
    """The flow as one SVG (vector: sharp on a projector and in the PDF); text and lines in `ink`: by
    default the surrounding text colour (inline in a page), or the theme's text colour for a picture."""
    c = result["counts"]
    main_x, main_w = 40, 430
    side_x, side_w = 560, WIDTH - 600
    parts: list[str] = []
    y = 10.0
    if title:
        parts.append(f"<text x='0' y='{y + 24}' font-size='26' font-weight='700' fill='{ink}'>{html.escape(title)}</text>")
        y += 44
    rows = [("Screened", c["screened"]), ("Consented", c["consented"]), ("Enrolled" + (" and randomised" if len(c["arms"]) > 1 else ""), c["enrolled"])]
    excluded = [
        (f"Excluded: {shown(None if c['not_eligible'] is None else c['not_eligible'] + c['declined'])}", TEXT, True),
        (f"Not eligible: {shown(c['not_eligible'])}", SMALL, False),
        (f"Declined: {shown(c['declined'])}", SMALL, False),
        (f"Still being screened: {shown(c['pending'])}", SMALL, False),
    ]
    reasons = result["reasons"][:TOP_REASONS]
    excluded += [(f"· {_clip(r['reason'], 56)}: {r['count']}", SMALL, False) for r in reasons]
    tops = []
    for label, value in rows:
        tops.append(y)
        parts.append(_box(main_x, y, main_w, BOX_H, [(f"{label}: {shown(value)}", TEXT, True)], ink))
        y += BOX_H + GAP
    for top, bottom in itertools.pairwise(tops):
        parts.append(_arrow(main_x + main_w / 2, top + BOX_H, main_x + main_w / 2, bottom - 2, ink))
    side_h = _height(excluded)
    side_y = tops[0]
    parts.append(_box(side_x, side_y, side_w, side_h, excluded, ink))
    parts.append(_arrow(main_x + main_w / 2, tops[0] + BOX_H + GAP / 2, side_x - 2, tops[0] + BOX_H + GAP / 2, ink))
    y = max(y, side_y + side_h + GAP)
    arms = list(c["arms"])
    # One arm continues the main column; two or more share the width below it.
    column_w = main_w if len(arms) == 1 else (WIDTH - 80 - 40 * (len(arms) - 1)) / len(arms)
    split_y = tops[-1] + BOX_H
    bottoms = []
    for i, arm in enumerate(arms):
        x = 40 + i * (column_w + 40)
        down = result["per_arm"][arm]
        allocated = [(f"{result['arm_labels'][arm]}: {shown(c['arms'][arm])}", TEXT, True)]
        if arm == "haip":
            allocated += [(f"Pump placed: {shown(down['pump_placed'])}", SMALL, False), (f"HAIP started: {shown(down['haip_started'])}", SMALL, False)]
        ends = [("Follow-up", TEXT, True)] + [(f"{OUTCOME_LABELS[o]}: {shown(down[o])}", SMALL, False) for o in OUTCOMES]
        if result["converts"]:
            ends.append((f"Converted (resection or transplant): {shown(down['converted'])}", SMALL, False))
        h1, h2 = _height(allocated), _height(ends)
        parts.append(_arrow(main_x + main_w / 2, split_y, x + column_w / 2, y - 2, ink))
        parts.append(_box(x, y, column_w, h1, allocated, ink))
        parts.append(_arrow(x + column_w / 2, y + h1, x + column_w / 2, y + h1 + GAP - 2, ink))
        parts.append(_box(x, y + h1 + GAP, column_w, h2, ends, ink))
        bottoms.append(y + h1 + GAP + h2)
    height = max(bottoms) + 10
    marker = (
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='7' markerHeight='7' orient='auto-start-reverse'>"
        "<path d='M 0 0 L 10 5 L 0 10 z' fill='{ink}'/></marker></defs>"
    )
    as_of = dt.date.fromisoformat(result["as_of"])
    label = f"CONSORT flow of {result['trial']}, data as of {as_of:%d %b %Y}"
    return (
        f"<svg viewBox='0 0 {WIDTH} {height:.0f}' width='{WIDTH}' height='{height:.0f}' role='img' aria-label='{html.escape(label)}' "
        f"style='max-width:{WIDTH}px;font-family:Source Sans Pro, Arial, sans-serif'>{marker}{''.join(parts)}</svg>"
    )
