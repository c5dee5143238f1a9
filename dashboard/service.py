"""What the pages and the command line both do with the store: start-up, summaries."""

from __future__ import annotations

import datetime as dt
import getpass
import logging
import os
from pathlib import Path

import pandas as pd

from dashboard import clock, metrics
from dashboard.config import Programme
from dashboard.store import DEFAULT_DB_PATH, Store

SYSTEM_ACTOR = "system"
# The uploader name of demo extracts: how the pages know to label the data as demo.
DEMO_ACTOR = "demo data"


def db_path(cli_value: str | None = None) -> Path:
    """--db, else $PUMP_DB, else data/pump.duckdb."""
    return Path(cli_value or os.environ.get("PUMP_DB") or DEFAULT_DB_PATH)


def log_path(db: Path) -> Path:
    """Where tracebacks go (never to a page or a coordinator's terminal): beside the database."""
    return Path(os.environ.get("PUMP_LOG") or db.with_name(f"{db.stem}-errors.log"))


def error_log(path: Path) -> logging.Logger:
    """The logger whose records go to `path` (the page and the command line share it)."""
    log = logging.getLogger("dashboard.errors")
    if not any(isinstance(h, logging.FileHandler) and Path(h.baseFilename) == path.resolve() for h in log.handlers):
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
    return log


def seed_demo_when_empty() -> bool:
    """The embedded default seeds an empty database with demo data; a real deployment sets
    PUMP_DEMO=0 so that demo participants can never sit beside real ones."""
    return os.environ.get("PUMP_DEMO", "1") != "0"


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
    if store.last_config_sha256() == programme.source_sha256:
        return False
    store.record(SYSTEM_ACTOR, "config_loaded", {"sha256": programme.source_sha256, "trials": list(programme.trials)})
    return True


def end_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.max).replace(microsecond=0)


def snapshot(store: Store, as_of: dt.date) -> tuple[pd.DataFrame, dict[str, dict[str, dt.date]]]:
    """Participants of the extracts current at the end of `as_of`, and per trial the day
    each site's current extract was accepted."""
    participants = store.current_participants(as_of=end_of(as_of))
    last = store.last_extract_per_site(as_of=end_of(as_of))
    last_extract: dict[str, dict[str, dt.date]] = {}
    for row in last.itertuples():
        last_extract.setdefault(row.trial, {})[row.site] = row.uploaded_at.date()
    return participants, last_extract


def programme_summary(store: Store, programme: Programme, as_of: dt.date, trials: list[str] | None = None) -> dict:
    """`summary --json`, from the snapshot as of the end of `as_of` (what the pages show too)."""
    participants, last_extract = snapshot(store, as_of)
    return metrics.programme_summary(programme, participants, last_extract, as_of, trials)
