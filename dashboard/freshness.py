"""How a site's data came, in words for the pages: "pulled from Castor today 06:00",
"uploaded by Anna de Vries 3 days ago". One function, so the overview, the sites page and
the meeting say it the same way."""

from __future__ import annotations

import datetime as dt

EDC_NAMES = {"castor": "Castor", "redcap": "REDCap"}


def when(at: dt.datetime, now: dt.datetime) -> str:
    """'today 06:00', 'yesterday 06:00', '3 days ago' (a time only where the day is near)."""
    days = (now.date() - at.date()).days
    if days <= 0:
        return f"today {at:%H:%M}"
    if days == 1:
        return f"yesterday {at:%H:%M}"
    return f"{days} days ago"


def how_data_came(source: str | None, fmt: str | None, uploaded_by: str, at: dt.datetime | None, now: dt.datetime) -> str:
    """The sentence for one site's current data: pulled (from which EDC) or uploaded (by whom), and when."""
    if at is None:
        return "no data yet"
    if source:
        return f"pulled from {EDC_NAMES.get(fmt or '', 'its EDC')} {when(at, now)}"
    return f"uploaded by {uploaded_by} {when(at, now)}"
