"""The audit log's entries in words (no Streamlit here): each detail as one sentence a director reads,
instead of raw JSON cut off in a table cell. Nothing is left out that the entry says; an entry of an
unknown kind falls back to its keys and values, never to nothing."""

from __future__ import annotations

import json

REFUSED_ACTIONS = {
    "ingest": "store an extract",
    "retract": "retract an extract",
    "redact": "blank text of an extract",
    "meeting": "mark a meeting as held",
    "sign_in": "sign in",
    "open_page": "open a page",
}


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 or word.endswith("unchanged") else f"{n} {word}s"


def _ingest(d: dict) -> str:
    diff = d.get("diff") or {}
    sites = ", ".join(d.get("sites") or []) or "its sites"
    changes = ", ".join(
        (f"{diff.get('new', 0)} new", f"{diff.get('changed', 0)} changed", f"{diff.get('missing', 0)} no longer in it", f"{diff.get('unchanged', 0)} unchanged")
    )
    extra = []
    if d.get("removals_confirmed"):
        extra.append(f"{d['removals_confirmed']} removals confirmed")
    if d.get("mapping"):
        extra.append("with a column mapping")
    return f"Stored {d.get('file_name', 'an extract')}: {_count(d.get('participants', 0), 'participant')} at {sites} ({changes})" + (
        "; " + ", ".join(extra) if extra else ""
    ) + "."


def sentence(action: str, detail: dict | None) -> str:
    """One entry's detail in words; "" when it has none."""
    if not detail:
        return ""
    d = detail
    if action == "ingest":
        return _ingest(d)
    if action == "reconfirm":
        return f"Uploaded {d.get('file_name', 'the current file')} again: the same file, its data confirmed as current."
    if action == "retract":
        return f"Retracted extract #{d.get('extract_id')}: {d.get('reason', '')}".rstrip(": ") + "."
    if action == "redact":
        fields = ", ".join(f.replace("_", " ") for f in d.get("fields") or [])
        return f"Blanked {fields} of extract #{d.get('extract_id')}: {d.get('reason', '')}".rstrip(": ") + "."
    if action == "meeting":
        note = f" Note: {d['note']}" if d.get("note") else ""
        return f"Meeting #{d.get('meeting_id')} held; it keeps the data cut of {_count(d.get('extracts', 0), 'extract')}.{note}"
    if action == "config_loaded":
        return f"Configuration read with trials {', '.join(d.get('trials') or [])} (fingerprint {str(d.get('sha256', ''))[:12]}…)."
    if action == "sign_in":
        return f"Signed in as {d.get('role', 'someone')}."
    if action == "store_copied":
        rows = d.get("rows") or {}
        entries = rows.get("audit_log", 0)
        return (f"The whole database copied here from {d.get('source', 'another database')} and checked: "
                f"{_count(rows.get('extracts', 0), 'extract')}, {entries} audit entr{'y' if entries == 1 else 'ies'}, "
                f"{_count(sum(rows.values()), 'row')} in all.")
    if action == "grant":
        return f"The database role {d.get('role')} may now read and write the dashboard's tables, and only add to the audit log."
    if action == "rewrite":
        return "The tables written afresh by their owner: a redaction's old values are gone from the database's files."
    if action == "refused":
        what = REFUSED_ACTIONS.get(d.get("action", ""), str(d.get("action", "do something")).replace("_", " "))
        where = f" ({d['page']})" if d.get("page") else f" (extract #{d['extract_id']})" if d.get("extract_id") else ""
        return f"Not allowed to {what}{where}: {d.get('reason', 'no reason recorded')}."
    return "; ".join(f"{k.replace('_', ' ')}: {json.dumps(v, default=str, ensure_ascii=False)}" for k, v in d.items())
