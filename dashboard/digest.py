"""The weekly digest and the reminders by e-mail (issue 21 item 5): data in, messages out.

Each director gets one digest a week: per trial enrolled / target, what came in since last
week (per site), status changes, stale sites, the pulls that failed in the last seven days
and those waiting for a decision. Each coordinator gets a reminder only when a site of their
grant is stale or a pull of their grant waits for them; otherwise nothing.

Counts only: `weekly_facts` copies numbers, codes and dates out of the summaries and never a
participant row or id, so no message built from its facts can hold one. Every message has a
plain-text part and an HTML part with inline styles and no external resource (mail clients
block them and strip <style>). Pure logic: no Streamlit, no store, no network here.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass

from dashboard.access import Access, Grant
from dashboard.meetings import STATUS_LABELS

WEEK = dt.timedelta(days=7)
# A message of a kind sent to someone within this long is not sent again: a second run in the same
# week (by hand, or to finish a run the mail server cut short) reaches only those not reached yet.
RESEND_AFTER = dt.timedelta(days=6)
DIRECTOR_DIGEST = "weekly digest"
COORDINATOR_REMINDER = "reminder"
DEMO_NOTICE = "Demo data: made-up participants, not real patients."

# What a pull's audit entry says happened (the `pull` command audits each source once).
STORED, CONFIRMED, WAITING, FAILED = "stored", "confirmed", "waiting", "failed"


@dataclass(frozen=True)
class Message:
    """One e-mail: to whom, which kind (DIRECTOR_DIGEST or COORDINATOR_REMINDER), its subject and
    its two parts."""

    to: str
    kind: str
    subject: str
    text: str
    html: str


# ---- the pulls, from the audit log -----------------------------------------------------------------


def _pull(entry: dict) -> dict:
    detail = entry.get("detail") or {}
    return {
        "at": str(entry["at"])[:16],
        "source": detail.get("source"),
        "trial": entry.get("trial"),
        "site": detail.get("site"),
        "outcome": detail.get("outcome"),
        "reason": detail.get("reason"),
    }


def failed_pulls(entries: list[dict], since: dt.datetime) -> list[dict]:
    """Per source whose pulls failed from `since` on: how many failed, and the newest failure's
    moment and reason (a source failing every morning is one line, not seven). `entries` are
    audit entries as service.audit_entries gives them (newest first)."""
    failed: dict[str, dict] = {}
    for entry in entries:
        pull = _pull(entry)
        if entry["action"] != "pull" or pull["outcome"] != FAILED or dt.datetime.fromisoformat(str(entry["at"])) < since:
            continue
        if pull["source"] in failed:
            failed[pull["source"]]["count"] += 1
        else:
            failed[pull["source"]] = {k: pull[k] for k in ("at", "source", "trial", "site", "reason")} | {"count": 1}
    return sorted(failed.values(), key=lambda p: (p["trial"] or "", p["site"] or "", p["source"] or ""))


def waiting_pulls(entries: list[dict]) -> list[dict]:
    """Per source, its newest pull that waits for a decision, unless a later pull of that source
    was stored or confirmed the data (a failed or refused pull since decides nothing)."""
    decided: set[str] = set()
    waiting: dict[str, dict] = {}
    for entry in entries:  # newest first
        pull = _pull(entry)
        source = pull["source"]
        if entry["action"] != "pull" or source is None or source in decided or source in waiting:
            continue
        if pull["outcome"] in (STORED, CONFIRMED):
            decided.add(source)
        elif pull["outcome"] == WAITING:
            waiting[source] = {k: pull[k] for k in ("at", "source", "trial", "site")}
    return sorted(waiting.values(), key=lambda p: (p["trial"] or "", p["site"] or "", p["source"] or ""))


# ---- the facts of the week: counts, codes and dates only -------------------------------------------


def weekly_facts(summary: dict, week: dict, pull_entries: list[dict], now: dt.datetime, demo: bool) -> dict:
    """What every message of the week says. `summary` is `summary --json` now, `week` is
    `changes --json` against the data as it stood a week ago, `pull_entries` the audit entries of
    the `pull` action (newest first)."""
    blocks = {b["trial"]: b for b in week["trials"]}
    trials = []
    for t in summary["trials"]:
        block = blocks[t["trial"]]
        trials.append({
            "trial": t["trial"],
            "title": t["title"],
            "enrolled": t["enrolled"],
            "target": t["target"],
            "percent_of_target": t["percent_of_target"],
            "new": sum(block["new_enrolments"].values()),
            "new_by_site": {site: n for site, n in block["new_enrolments"].items() if n},
            "no_longer_enrolled": sum(block["no_longer_enrolled"].values()),
            "withdrawals": sum(block["withdrawals"].values()),
            "corrections": len(block["corrections"]),
            "status": t["status"] if t["has_data"] else None,
            "status_then": block["status_then"],
            "participant_status_changes": [dict(c) for c in block["status_changes"]],
            "stale_sites": [
                {"site": s["site"], "last_extract_on": s["last_extract_on"], "days": s["days_since_last_extract"]}
                for s in t["sites"] if s["stale"]
            ],
        })
    return {
        "as_of": summary["as_of"],
        "since": (now - WEEK).isoformat(sep=" ", timespec="minutes"),
        "demo": demo,
        "stale_after_days": summary["stale_after_days"],
        "trials": trials,
        "failed_pulls": failed_pulls(pull_entries, now - WEEK),
        "waiting_pulls": waiting_pulls(pull_entries),
    }


# ---- words ----------------------------------------------------------------------------------------


def _day(iso: str | None) -> str:
    return f"{dt.date.fromisoformat(iso[:10]):%a %d %b %Y}" if iso else "never"


def _moment(text: str) -> str:
    return f"{dt.datetime.fromisoformat(text):%a %d %b %H:%M}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _label(status: str | None) -> str:
    return STATUS_LABELS[status]


def _week_line(t: dict) -> str:
    """'+3 this week (EMC +2, NKI +1), 1 withdrawn'."""
    sites = ", ".join(f"{s} {n:+d}" for s, n in sorted(t["new_by_site"].items(), key=lambda x: (-x[1], x[0])))
    parts = [f"{t['new']:+d} this week" + (f" ({sites})" if sites else "") if t["new"] else "no new enrolment this week"]
    if t["no_longer_enrolled"]:
        parts.append(f"{t['no_longer_enrolled']} no longer enrolled")
    if t["withdrawals"]:
        parts.append(f"{t['withdrawals']} withdrawn")
    if t["corrections"]:
        parts.append(_plural(t["corrections"], "correction"))
    return ", ".join(parts)


def _status_line(t: dict) -> str:
    """'Off track (was At risk)', or 'On track' when it did not change."""
    moved = t["status_then"] != t["status"] and t["status_then"] is not None
    return _label(t["status"]) + (f" (was {_label(t['status_then'])})" if moved else "")


def _moves_line(t: dict) -> str | None:
    """'2 on treatment → follow up, 1 enrolled → on treatment' (counts of participants)."""
    moves = sorted(t["participant_status_changes"], key=lambda c: -c["count"])
    if not moves:
        return None
    return ", ".join(f"{c['count']} {c['from'].replace('_', ' ')} → {c['to'].replace('_', ' ')}" for c in moves)


def _stale_line(site: dict, stale_after: int) -> str:
    if site["last_extract_on"] is None:
        return f"{site['site']}: no extract yet"
    return f"{site['site']}: last extract {_day(site['last_extract_on'])}, {site['days']} days ago (stale after {stale_after})"


def _failed_line(p: dict) -> str:
    where = ", ".join(x for x in (p["trial"], p["site"]) if x)
    times = f"{p['count']} times, last " if p["count"] > 1 else ""
    return f"{p['source']} ({where}) failed {times}{_moment(p['at'])}: {p['reason'] or 'no reason recorded'}"


def _waiting_line(p: dict) -> str:
    where = ", ".join(x for x in (p["trial"], p["site"]) if x)
    return f"{p['source']} ({where}) waits for a decision since {_moment(p['at'])}: decide it on the Upload page"


# ---- the two parts of a message ---------------------------------------------------------------------
# A message is a title, an optional demo notice, and sections of lines; both parts are drawn from it.

FONT = "font-family: Arial, Helvetica, sans-serif; color: #1c2833;"
STATUS_COLOURS = {"green": "#1e7b34", "amber": "#b35c00", "red": "#b3261e", None: "#5d6d7e"}


@dataclass(frozen=True)
class _Section:
    heading: str
    lines: list[str]
    badge: tuple[str, str] | None = None  # (words, colour): a trial's status beside its heading


def _text(title: str, intro: str, sections: list[_Section], demo: bool, footer: str) -> str:
    out = [title, "=" * len(title), ""]
    if demo:
        out += [f"** {DEMO_NOTICE} **", ""]
    out += [intro, ""]
    for s in sections:
        out.append(s.heading + (f" [{s.badge[0]}]" if s.badge else ""))
        out += [f"  - {line}" for line in s.lines]
        out.append("")
    out.append(footer)
    return "\n".join(out) + "\n"


def _e(value: object) -> str:
    return html.escape(str(value))


def _html(title: str, intro: str, sections: list[_Section], demo: bool, footer: str) -> str:
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width'><title>{_e(title)}</title></head>"
        f"<body style='margin:0;padding:0;background:#f3f5f8;'>"
        f"<div style='{FONT} max-width:640px;margin:0 auto;padding:20px 24px;background:#ffffff;font-size:16px;line-height:1.5;'>"
        f"<h1 style='font-size:22px;margin:0 0 8px;'>{_e(title)}</h1>"
    ]
    if demo:
        parts.append(
            "<p style='margin:8px 0;padding:8px 12px;background:#fdf2e1;border-left:4px solid #b35c00;color:#6e3a00;'>"
            f"<b>{_e(DEMO_NOTICE)}</b></p>"
        )
    parts.append(f"<p style='margin:8px 0 16px;color:#41505f;'>{_e(intro)}</p>")
    for s in sections:
        badge = (
            f" <span style='display:inline-block;padding:1px 8px;border-radius:4px;font-size:14px;font-weight:normal;"
            f"color:#ffffff;background:{s.badge[1]};'>{_e(s.badge[0])}</span>"
            if s.badge else ""
        )
        parts.append(f"<h2 style='font-size:18px;margin:18px 0 4px;border-bottom:1px solid #dde3e8;padding-bottom:4px;'>{_e(s.heading)}{badge}</h2>")
        items = "".join(f"<li style='margin:2px 0;'>{_e(line)}</li>" for line in s.lines)
        parts.append(f"<ul style='margin:4px 0 8px;padding-left:20px;'>{items}</ul>")
    parts.append(f"<p style='margin:20px 0 0;color:#5d6d7e;font-size:13px;'>{_e(footer)}</p></div></body></html>")
    return "".join(parts)


def _message(to: str, kind: str, subject: str, title: str, intro: str, sections: list[_Section], demo: bool, footer: str) -> Message:
    """Both parts of a message; on demo data its subject says so first."""
    subject = ("[Demo data] " if demo else "") + subject
    return Message(to, kind, subject, _text(title, intro, sections, demo, footer), _html(title, intro, sections, demo, footer))


# ---- the director's digest and the coordinator's reminder --------------------------------------------

FOOTER = ("Counts only: no participant is named in this e-mail. The dashboard shows the details. "
          "Sent by the PUMP dashboard to the addresses of its access file.")


def director_digest(facts: dict, to: str) -> Message:
    """The week of the whole programme, for one director."""
    sections = []
    for t in facts["trials"]:
        lines = [f"{t['enrolled']} / {t['target']} enrolled ({t['percent_of_target']:.0f}% of target)", _week_line(t)]
        moves = _moves_line(t)
        if moves:
            lines.append(f"status changes: {moves}")
        lines += [f"stale: {_stale_line(s, facts['stale_after_days'])}" for s in t["stale_sites"]]
        sections.append(_Section(f"{t['trial']}: {t['title'].split(' - ', 1)[-1]}", lines, badge=(_status_line(t), STATUS_COLOURS[t["status"]])))
    failed = facts["failed_pulls"]
    sections.append(_Section("Pulls that failed in the last 7 days", [_failed_line(p) for p in failed] or ["none"]))
    if facts["waiting_pulls"]:
        sections.append(_Section("Pulls waiting for a decision", [_waiting_line(p) for p in facts["waiting_pulls"]]))
    stale = sum(len(t["stale_sites"]) for t in facts["trials"])
    new = sum(t["new"] for t in facts["trials"])
    subject = f"PUMP week to {dt.date.fromisoformat(facts['as_of']):%d %b %Y}: {new:+d} enrolled" + (
        f", {_plural(stale, 'stale site')}" if stale else "") + (f", {_plural(sum(p['count'] for p in failed), 'failed pull')}" if failed else "")
    intro = f"The programme's week, from {_moment(facts['since'])} to {_day(facts['as_of'])}."
    title = f"PUMP programme: the week to {_day(facts['as_of'])}"
    return _message(to, DIRECTOR_DIGEST, subject, title, intro, sections, facts["demo"], FOOTER)


def _mine(grant: Grant, trial: str | None, site: str | None) -> bool:
    return trial in grant.trials and site in grant.sites


def coordinator_reminder(facts: dict, grant: Grant) -> Message | None:
    """A reminder for a coordinator, or None when no site of their grant is stale and no pull
    of their grant waits for them."""
    stale = [(t["trial"], s) for t in facts["trials"] for s in t["stale_sites"] if _mine(grant, t["trial"], s["site"])]
    waiting = [p for p in facts["waiting_pulls"] if _mine(grant, p["trial"], p["site"])]
    if not stale and not waiting:
        return None
    sections = []
    if stale:
        sections.append(_Section(
            "Data to send",
            [f"{trial} at {_stale_line(s, facts['stale_after_days'])}" for trial, s in stale]
            + ["Export the trial from the EDC and drop the file on the dashboard's Upload page."],
        ))
    if waiting:
        sections.append(_Section("Pulls waiting for your decision", [_waiting_line(p) for p in waiting]))
    what = [f"{trial} {s['site']} data is stale" for trial, s in stale] + [f"{p['source']} waits for you" for p in waiting]
    subject = "PUMP reminder: " + ("; ".join(what) if len(what) <= 2 else f"{len(what)} things wait for you")
    intro = f"As of {_day(facts['as_of'])} the dashboard needs this from you."
    footer = "You get this reminder only when data of your sites is stale or a pull waits for you. " + FOOTER
    title = f"PUMP dashboard: a reminder for {grant.name or grant.email}"
    return _message(grant.email, COORDINATOR_REMINDER, subject, title, intro, sections, facts["demo"], footer)


def plan(facts: dict, access: Access) -> list[Message]:
    """Every message of the week: a digest per director, then a reminder per coordinator who
    needs one, in the order of the access file. Viewers get nothing."""
    grants = list(access.users.values())
    digests = [director_digest(facts, g.email) for g in grants if g.role == "director"]
    reminders = [coordinator_reminder(facts, g) for g in grants if g.role == "coordinator"]
    return digests + [r for r in reminders if r is not None]


def not_sent_yet(messages: list[Message], sent_entries: list[dict], now: dt.datetime) -> list[Message]:
    """The messages whose recipient did not get that kind of message in the last RESEND_AFTER:
    `sent_entries` are the audit entries of the `digest_sent` action."""
    recent = {
        ((e.get("detail") or {}).get("to", "").casefold(), (e.get("detail") or {}).get("digest"))
        for e in sent_entries
        if dt.datetime.fromisoformat(str(e["at"])) > now - RESEND_AFTER
    }
    return [m for m in messages if (m.to.casefold(), m.kind) not in recent]
