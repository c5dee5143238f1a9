"""What changed since a steering meeting: two data cuts compared (pure pandas).

A cut is the set of participant rows a view saw (the extracts current then) and the day
it was seen. A meeting freezes its cut when it is marked as held, so a correction
uploaded later does not rewrite what the meeting saw: it shows up here as a correction.

Per trial and site, from the meeting's cut ("then") to now:
- new enrolments: participants enrolled now who were not enrolled in the cut. Those
  enrolled on or before the meeting's day were reported late (they were not in its cut)
  and are counted among the new, and marked.
- no longer enrolled: enrolled in the cut, not now (a retracted extract, a participant
  dropped from the export, an enrolment date moved past today). With the new ones this
  accounts for the whole difference: enrolled_now - enrolled_then = new - no longer.
- withdrawals: enrolled now and withdrawn now (status `withdrawn` or a withdrawal date),
  not withdrawn in the cut.
- corrections: participants in both cuts whose enrolment date or arm, known then, is
  different now. A correction is never counted as new.
- status changes: participants in both cuts whose status differs, counted per change.
- stale sites: sites whose data is stale now and was fresh then.
- forecast and status then and now, each computed on its own cut (metrics.trial_summary),
  so they are exactly what `summary --json` said then and says now.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from dashboard import metrics
from dashboard.config import Programme

NO_STATUS = "not recorded"


@dataclass(frozen=True)
class Cut:
    """The participant rows of the extracts current at one moment, the day they are viewed as
    of, and per trial and site the day the data was last confirmed current."""

    participants: pd.DataFrame
    last_extract: dict[str, dict[str, dt.date]]
    as_of: dt.date
    retracted: dict[str, list[int]] = field(default_factory=dict)  # extracts of the cut retracted since


def _by_site(frame: pd.DataFrame, sites: list[str]) -> dict[str, int]:
    counts = frame["site"].value_counts() if len(frame) else pd.Series(dtype=int)
    return {site: int(counts.get(site, 0)) for site in sites}


def _withdrawn(frame: pd.DataFrame) -> pd.Series:
    status = frame["status"].fillna("").astype(str) if "status" in frame else pd.Series("", index=frame.index)
    dated = frame["withdrawn_on"].notna() if "withdrawn_on" in frame else pd.Series(False, index=frame.index)
    return (status == "withdrawn") | dated


def _same(a: object, b: object) -> bool:
    if pd.isna(a) and pd.isna(b):
        return True
    if pd.isna(a) or pd.isna(b):
        return False
    return pd.Timestamp(a) == pd.Timestamp(b) if isinstance(a, (dt.date, pd.Timestamp)) else str(a) == str(b)


def _text(value: object) -> str | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).date().isoformat() if isinstance(value, (dt.date, pd.Timestamp)) else str(value)


def trial_changes(programme: Programme, code: str, then: Cut, now: Cut, summary_then: dict, summary_now: dict) -> dict:
    """The since-meeting block of one trial (`changes --json`)."""
    trial = programme.trials[code]
    sites = list(trial.sites)
    old = then.participants[then.participants["trial"] == code]
    new = now.participants[now.participants["trial"] == code]
    enrolled_then = metrics.enrolled_by(old, then.as_of)
    enrolled_now = metrics.enrolled_by(new, now.as_of)

    fresh = enrolled_now[~enrolled_now["participant_id"].isin(enrolled_then["participant_id"])]
    late = fresh[pd.to_datetime(fresh["enrolled_on"]) <= pd.Timestamp(then.as_of)]
    gone = enrolled_then[~enrolled_then["participant_id"].isin(enrolled_now["participant_id"])]
    withdrawn_then = set(old.loc[_withdrawn(old), "participant_id"])
    withdrawals = enrolled_now[_withdrawn(enrolled_now) & ~enrolled_now["participant_id"].isin(withdrawn_then)]

    both = old.merge(new, on="participant_id", suffixes=("_then", "_now"))
    corrections = []
    for row in both.to_dict("records"):
        changed = {
            name: {"then": _text(row[f"{name}_then"]), "now": _text(row[f"{name}_now"])}
            for name in ("enrolled_on", "arm")
            if not pd.isna(row[f"{name}_then"]) and not _same(row[f"{name}_then"], row[f"{name}_now"])
        }
        if changed:
            corrections.append({"participant_id": row["participant_id"], "site": row["site_now"], **changed})
    statuses = both.assign(
        then=both["status_then"].fillna(NO_STATUS), now=both["status_now"].fillna(NO_STATUS)
    )
    moved = statuses[statuses["then"] != statuses["now"]].groupby(["then", "now"]).size()
    status_changes = [{"from": a, "to": b, "count": int(n)} for (a, b), n in moved.items()]

    stale_then = {s["site"] for s in summary_then["sites"] if s["stale"]}
    return {
        "trial": code,
        "target_then": summary_then["target"],
        "target_now": summary_now["target"],
        "enrolled_then": summary_then["enrolled"],
        "enrolled_now": summary_now["enrolled"],
        "new_enrolments": _by_site(fresh, sites),
        "late_reports": _by_site(late, sites),
        "no_longer_enrolled": _by_site(gone, sites),
        "withdrawals": _by_site(withdrawals, sites),
        "corrections": sorted(corrections, key=lambda c: (c["site"], c["participant_id"])),
        "status_changes": status_changes,
        "status_then": summary_then["status"],
        "status_now": summary_now["status"],
        "forecast_then": summary_then["forecast"],
        "forecast_now": summary_now["forecast"],
        "stale_sites": [s["site"] for s in summary_now["sites"] if s["stale"] and s["site"] not in stale_then],
        "retracted_since": then.retracted.get(code, []),
    }


def compare(programme: Programme, then: Cut, now: Cut, since: dict, trials: list[str] | None = None) -> dict:
    """`changes --json`: `since` (the meeting: at least `meeting` and `held_on`), `as_of` and the
    block of each trial, each computed from the two cuts."""
    before = metrics.programme_summary(programme, then.participants, then.last_extract, then.as_of, trials)
    after = metrics.programme_summary(programme, now.participants, now.last_extract, now.as_of, trials)
    blocks = [
        trial_changes(programme, t_now["trial"], then, now, t_then, t_now)
        for t_then, t_now in zip(before["trials"], after["trials"], strict=True)
    ]
    return {"since": since, "as_of": now.as_of.isoformat(), "trials": blocks}


# ---- the words the meeting view and the pack both use --------------------------------------------


def month(iso: str | None) -> str:
    return f"{dt.date.fromisoformat(iso):%b %Y}" if iso else "beyond 2100"


def since_line(block: dict) -> str:
    """'+4 (NKI +3, EMC +1; 1 reported late), 1 withdrawn, 1 correction'."""
    new = block["new_enrolments"]
    total = sum(new.values())
    late = sum(block["late_reports"].values())
    sites = ", ".join(f"{s} {n:+d}" for s, n in sorted(new.items(), key=lambda x: -x[1]) if n)
    detail = "; ".join(p for p in (sites, f"{late} reported late" if late else "") if p)
    parts = [f"{total:+d}" + (f" ({detail})" if detail else "")]
    gone = sum(block["no_longer_enrolled"].values())
    if gone:
        parts.append(f"{gone} no longer enrolled")
    withdrawn = sum(block["withdrawals"].values())
    if withdrawn:
        parts.append(f"{withdrawn} withdrawn")
    corrected = len(block["corrections"])
    if corrected:
        parts.append(f"{corrected} correction{'s' if corrected != 1 else ''}")
    if block["retracted_since"]:
        parts.append(f"extract{'s' if len(block['retracted_since']) > 1 else ''} "
                     f"{', '.join(f'#{i}' for i in block['retracted_since'])} retracted")
    return ", ".join(parts)


def forecast_line(block: dict) -> str:
    """'finish Oct 2029 (90%: Mar 2029 – Jul 2030), was Aug 2029'."""
    now, then = block["forecast_now"], block["forecast_then"]
    if now is None:
        return "no forecast"
    text = f"finish {month(now['median'])} (90%: {month(now['p05'])} – {month(now['p95'])})"
    if then is not None:
        text += ", unchanged" if month(then["median"]) == month(now["median"]) else f", was {month(then['median'])}"
    return text


def status_moved(block: dict) -> str | None:
    """'was at risk' when the status changed, else None."""
    if block["status_then"] == block["status_now"] or block["status_then"] is None:
        return None
    return f"was {STATUS_WORDS[block['status_then']]}"


STATUS_WORDS = {"green": "on track", "amber": "at risk", "red": "off track"}


# ---- the tables the meeting view and the pack both show (and hand out as CSV) ---------------------

STATUS_LABELS = {"green": "On track", "amber": "At risk", "red": "Off track", None: "No forecast"}


def block_of(changes: dict | None, code: str) -> dict | None:
    if changes is None:
        return None
    return next((t for t in changes["trials"] if t["trial"] == code), None)


def programme_table(summary: dict, changes: dict | None) -> pd.DataFrame:
    """One row per trial: enrolled/target, status, forecast finish and its interval, chance on
    time, and what changed since the meeting."""
    rows = []
    for t in summary["trials"]:
        block = block_of(changes, t["trial"])
        f = t["forecast"]
        rows.append(
            {
                "Trial": t["trial"],
                "Enrolled": t["enrolled"],
                "Target": t["target"],
                "Status": STATUS_LABELS[t["status"] if t["has_data"] else None],
                "Forecast finish": month(f["median"]) if f else "–",
                "90% interval": f"{month(f['p05'])} – {month(f['p95'])}" if f else "–",
                "Chance on time": f"{f['p_on_time']:.0%}" if f else "–",
                "Since last meeting": since_line(block) if block else "–",
            }
        )
    return pd.DataFrame(rows)


def site_table(trial_summary: dict, block: dict | None) -> pd.DataFrame:
    """Per site of a trial: enrolled now, the changes since the meeting, and data freshness."""
    rows = []
    for s in trial_summary["sites"]:
        site = s["site"]
        row = {"Site": site, "Enrolled": s["enrolled"]}
        if block is not None:
            row.update(
                {
                    "New": block["new_enrolments"][site],
                    "of them late": block["late_reports"][site],
                    "No longer enrolled": block["no_longer_enrolled"][site],
                    "Withdrawn": block["withdrawals"][site],
                    "Corrections": sum(c["site"] == site for c in block["corrections"]),
                }
            )
        row["Last extract"] = f"{dt.date.fromisoformat(s['last_extract_on']):%d %b %Y}" if s["last_extract_on"] else "none"
        row["Data"] = ("stale" + (" since meeting" if block and site in block["stale_sites"] else "")) if s["stale"] else "fresh"
        rows.append(row)
    return pd.DataFrame(rows)
