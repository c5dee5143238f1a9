"""What the pages and the command line both do with the store: start-up, summaries."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import logging
import os
from pathlib import Path

import pandas as pd

from dashboard import clock, meetings, metrics
from dashboard.access import Access
from dashboard.config import Programme
from dashboard.store import DEFAULT_DB_PATH, DEMO_ACTOR, SYSTEM_ACTOR, Refused, Store, is_address

# The dashboard's store lets go of a DuckDB file this long after the last use, so a nightly import need
# not wait for the whole steering meeting to close its browsers (it also asks, and is let in at once).
DASHBOARD_IDLE_RELEASE_SECONDS = 2.0


def db_path(cli_value: str | None = None) -> Path | str:
    """--db, else $PUMP_DB, else data/pump.duckdb: a DuckDB file's path, or a PostgreSQL address (as given)."""
    given = cli_value or os.environ.get("PUMP_DB")
    if given and is_address(given):
        return given.strip()
    return Path(given or DEFAULT_DB_PATH)


def log_path(db: Path | str) -> Path:
    """Where tracebacks go (never to a page or a coordinator's terminal): beside the database file; for a
    server database, in the data folder (never a name made of its address)."""
    if os.environ.get("PUMP_LOG"):
        return Path(os.environ["PUMP_LOG"])
    db = DEFAULT_DB_PATH if is_address(db) else Path(db)
    return db.with_name(f"{db.stem}-errors.log")


def error_log(path: Path) -> logging.Logger:
    """The logger whose records go to `path` (the page and the command line share it)."""
    log = logging.getLogger("dashboard.errors")
    if not any(isinstance(h, logging.FileHandler) and Path(h.baseFilename) == path.resolve() for h in log.handlers):
        if not path.parent.is_dir():  # its folder has gone (moved with the database): never make it again
            return logging.getLogger("pump-errors-without-a-folder")  # to the server's own output
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
    return log


def seed_demo_when_empty() -> bool:
    """The embedded default seeds an empty database with demo data; a real deployment sets
    PUMP_DEMO=0 so that demo participants can never sit beside real ones."""
    return os.environ.get("PUMP_DEMO", "1") != "0"


def first_start(db: Path | str) -> bool:
    """Whether the dashboard may create its database: the embedded default's first start on an empty
    data folder (there, with no database in it yet). Never in a deployment (PUMP_DEMO=0: IT runs init),
    and never for a folder that has gone (it may have moved with the database), nor a server database."""
    if is_address(db):
        return False
    used = any(db.parent.glob("*.duckdb*")) or log_path(db).exists()  # a database, its log, its write-ahead log
    return seed_demo_when_empty() and db.parent.is_dir() and not used


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


def today() -> dt.date:
    """The default as-of date of every page and command."""
    return clock.today()


def record_config(store: Store, programme: Programme) -> bool:
    """Log the configuration in the audit log when it differs from the last one seen."""
    if store.last_config_sha256() == programme.source_sha256 or store.read_only:
        return False  # a read-only database is shown as it is; the change is logged when it can be
    store.record(SYSTEM_ACTOR, "config_loaded", {"sha256": programme.source_sha256, "trials": list(programme.trials)})
    return True


def end_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.max).replace(microsecond=0)


def snapshot(
    store: Store, as_of: dt.date, columns: tuple[str, ...] | None = None
) -> tuple[pd.DataFrame, dict[str, dict[str, dt.date]]]:
    """Participants of the extracts current at the end of `as_of` (only `columns` when given), and per
    trial the day each site's current extract was accepted."""
    with store.connect():  # one use: the file opened and checked once for both queries, not once per query
        participants = store.current_participants(as_of=end_of(as_of), columns=columns)
        return participants, last_extract_at(store, end_of(as_of))


def last_extract_at(store: Store, moment: dt.datetime) -> dict[str, dict[str, dt.date]]:
    """Per trial and site, the day its data current at `moment` was last confirmed current."""
    last_extract: dict[str, dict[str, dt.date]] = {}
    for row in store.last_extract_per_site(as_of=moment).itertuples():
        last_extract.setdefault(row.trial, {})[row.site] = row.uploaded_at.date()
    return last_extract


def data_arrivals(store: Store, as_of: dt.date) -> dict[str, dict[str, str]]:
    """Per trial and site, how its current data came, in words (freshness.how_data_came)."""
    from dashboard.freshness import how_data_came

    moment = end_of(as_of) if as_of < clock.today() else clock.now()
    came: dict[str, dict[str, str]] = {}
    for row in store.data_arrivals(as_of=end_of(as_of)).itertuples():
        source = None if pd.isna(row.source) else row.source  # an uploaded extract has none
        text = how_data_came(source, row.format, row.data_by, row.data_at.to_pydatetime(), moment)
        came.setdefault(row.trial, {})[row.site] = text
    return came


def trial_rows(store: Store, as_of: dt.date, code: str) -> pd.DataFrame:
    """One trial's participants of the extracts current at the end of `as_of`, every field."""
    return store.current_participants(trial=code, as_of=end_of(as_of))


def programme_summary(store: Store, programme: Programme, as_of: dt.date, trials: list[str] | None = None) -> dict:
    """`summary --json`, from the snapshot as of the end of `as_of` (what the pages show too)."""
    participants, last_extract = snapshot(store, as_of, columns=metrics.SUMMARY_COLUMNS)
    return metrics.programme_summary(programme, participants, last_extract, as_of, trials)


# ---- steering meetings -----------------------------------------------------------------------------


def _meeting_json(row) -> dict:
    return {
        "meeting": int(row.meeting_id),
        "held_on": row.held_at.date().isoformat(),
        "held_at": row.held_at.isoformat(sep=" "),
        "held_by": row.held_by,
        "note": None if pd.isna(row.note) else row.note,
        "extracts": int(row.extracts),
    }


def meeting_list(store: Store) -> list[dict]:
    """`meetings --json`: every meeting, newest first."""
    return [_meeting_json(row) for row in store.meetings().itertuples()]


def hold_meeting(store: Store, actor: str, note: str | None = None, access: Access | None = None) -> dict:
    """Mark a meeting as held now, freezing the data cut of this moment; returns it as `meetings` lists it."""
    detail = store.hold_meeting(actor, note, access=access)
    return next(m for m in meeting_list(store) if m["meeting"] == detail["meeting_id"])


def find_meeting(store: Store, meeting_id: int | None = None, by: dt.date | None = None) -> dict | None:
    """A meeting by id (Refused when there is none), or the last one held by the end of `by` (None)."""
    listed = meeting_list(store)
    if meeting_id is not None:
        found = next((m for m in listed if m["meeting"] == meeting_id), None)
        if found is None:
            raise Refused(f"there is no meeting #{meeting_id}" + (f"; the last is #{listed[0]['meeting']}" if listed else ""))
        return found
    day = by or today()
    return next((m for m in listed if dt.date.fromisoformat(m["held_on"]) <= day), None)


def now_cut(store: Store, as_of: dt.date) -> meetings.Cut:
    participants, last_extract = snapshot(store, as_of)
    return meetings.Cut(participants, last_extract, as_of)


def meeting_cut(store: Store, meeting: dict, until: dt.datetime | None = None) -> meetings.Cut:
    """What the meeting saw: its frozen extracts, as of its day; `retracted` names those of them
    retracted since (by `until`)."""
    cut = store.meeting_cut(meeting["meeting"])
    last_extract: dict[str, dict[str, dt.date]] = {}
    retracted: dict[str, list[int]] = {}
    for row in cut.itertuples():
        last_extract.setdefault(row.trial, {})[row.site] = row.data_at.date()
        if not pd.isna(row.retracted_at) and (until is None or row.retracted_at <= until) and int(row.extract_id) not in retracted.get(row.trial, []):
            retracted.setdefault(row.trial, []).append(int(row.extract_id))
    return meetings.Cut(
        store.meeting_participants(meeting["meeting"]), last_extract, dt.date.fromisoformat(meeting["held_on"]), retracted
    )


def changes(
    store: Store, programme: Programme, since_meeting: int | None = None, as_of: dt.date | None = None, trials: list[str] | None = None
) -> dict:
    """`changes --json`: the data as of `as_of` (default today) against a meeting's cut (default the
    last meeting held by then). Refused when no meeting has been held."""
    as_of = as_of or today()
    meeting = find_meeting(store, since_meeting, by=as_of)
    if meeting is None:
        raise Refused("no meeting has been held yet: mark one as held first (meeting hold --by USER)")
    return meetings.compare(programme, meeting_cut(store, meeting, end_of(as_of)), now_cut(store, as_of), meeting, trials)


def meeting_pack(
    store: Store, programme: Programme, since_meeting: int | None = None, as_of: dt.date | None = None, trials: list[str] | None = None
) -> dict:
    """Everything the meeting view and the pack show: `summary` (as `summary --json`) and
    `changes` (as `changes --json`; None before the first meeting), as of `as_of`."""
    as_of = as_of or today()
    meeting = find_meeting(store, since_meeting, by=as_of)
    now = now_cut(store, as_of)
    summary = metrics.programme_summary(programme, now.participants, now.last_extract, as_of, trials)
    compared = None if meeting is None else meetings.compare(programme, meeting_cut(store, meeting, end_of(as_of)), now, meeting, trials)
    return {"summary": summary, "changes": compared, "participants": now.participants}


def meeting_as_it_was(store: Store, programme: Programme, meeting_id: int, trials: list[str] | None = None) -> dict:
    """A past meeting reopened: its own cut as of its day, against the meeting before it."""
    meeting = find_meeting(store, meeting_id)
    listed = meeting_list(store)
    earlier = [m for m in listed if (m["held_at"], m["meeting"]) < (meeting["held_at"], meeting["meeting"])]
    seen = meeting_cut(store, meeting)
    summary = metrics.programme_summary(programme, seen.participants, seen.last_extract, seen.as_of, trials)
    compared = None if not earlier else meetings.compare(
        programme, meeting_cut(store, earlier[0], dt.datetime.fromisoformat(meeting["held_at"])), seen, earlier[0], trials
    )
    return {"summary": summary, "changes": compared, "participants": seen.participants, "meeting": meeting}


# ---- the audit log -----------------------------------------------------------------------------------


def audit_entries(store: Store, actor: str | None = None, action: str | None = None, since: dt.date | None = None) -> list[dict]:
    """`audit --json`: the audit log newest first, each entry's `at`, `actor`, `action`, `trial`,
    `extract_id` and `detail`; optionally one actor's, one action's, from a day on."""
    frame = store.audit_log(actor=actor or None, action=action or None,
                            since=dt.datetime.combine(since, dt.time.min) if since else None)
    return [
        {
            "at": row.logged_at.isoformat(sep=" "),
            "actor": row.actor,
            "action": row.action,
            "trial": None if pd.isna(row.trial) else row.trial,
            "extract_id": None if pd.isna(row.extract_id) else int(row.extract_id),
            "detail": json.loads(row.detail) if isinstance(row.detail, str) and row.detail else None,
        }
        for row in frame.itertuples()
    ]


def record_sign_out(store: Store, email: str, login: str) -> None:
    """Audit a sign-out: from now on this sign-in (its cookie, copied or not) lets nobody in."""
    store.record(email, "sign_out", {"login": login})


def record_sign_in_over(store: Store, email: str, login: str, reason: str) -> None:
    """Audit a sign-in that was refused because it is over (signed out, or too old)."""
    store.record(email, "refused", {"action": "sign_in", "reason": reason, "login": login})


def record_sign_in(store: Store, email: str, role: str | None, login: str) -> bool:
    """Audit a sign-in once per login (`login` tells logins apart, e.g. the ID token's issue time);
    a page reload is no new sign-in. A signed-in person not in the access file is audited as refused."""
    if store.sign_in_recorded(email, login):
        return False
    if role is None:
        store.record(email, "refused", {"action": "sign_in", "reason": "not in the access file", "login": login})
    else:
        store.record(email, "sign_in", {"role": role, "login": login})
    return True


# ---- the weekly digest -------------------------------------------------------------------------------


def is_demo(extracts: pd.DataFrame) -> bool:
    """Demo data is what the demo loader stored (`extracts` as Store.extracts gives them): the
    pages' label and the digest's."""
    return bool(len(extracts)) and bool((extracts.loc[extracts["status"] == "current", "uploaded_by"] == DEMO_ACTOR).any())


def cut_at(store: Store, moment: dt.datetime) -> meetings.Cut:
    """The data as it stood at `moment` (not the end of its day): the extracts current then."""
    return meetings.Cut(store.current_participants(as_of=moment), last_extract_at(store, moment), moment.date())


def weekly_digest(store: Store, programme: Programme, now: dt.datetime | None = None) -> dict:
    """The facts of the week for the digest and the reminders (digest.weekly_facts): the data now
    against the data as it stood exactly a week ago, and the pulls from the audit log."""
    from dashboard import digest

    now = now or clock.now()
    then, current = cut_at(store, now - digest.WEEK), cut_at(store, now)
    week = meetings.compare(programme, then, current, {"since": (now - digest.WEEK).isoformat(sep=" ")})
    summary = metrics.programme_summary(programme, current.participants, current.last_extract, current.as_of)
    pulls = audit_entries(store, action="pull")
    return digest.weekly_facts(summary, week, pulls, now, is_demo(store.extracts()))
