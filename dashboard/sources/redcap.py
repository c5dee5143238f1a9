"""REDCap's API (one POST endpoint, `token`, `content`, `format`), through PyCap.

- content=dag: the project's data access groups, to say plainly when the configured `dag`
  does not exist.
- content=record, format=csv, exportDataAccessGroups=true, raw values: the records as the
  raw CSV export writes them, longitudinal events and repeating forms as rows of their own
  (`redcap_event_name`, ...), which the REDCap reader folds into one participant. Only the
  rows of the source's data access group are kept.

PyCap does not look at the HTTP status, so a response hook turns every status into a
sentence here; and its own checks put the token into their messages, so they are never
shown: the token's shape is checked here first.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re

import requests
from redcap import Project, RedcapError

from dashboard.sources.retry import Fetched, PullFailed, Retry, extract_name, server_wait, with_retries
from dashboard.sources.secrets import where_to_set

log = logging.getLogger(__name__)
TOKEN = re.compile(r"^[0-9A-Fa-f]{32}$")  # REDCap API tokens: 32 hexadecimal characters
DAG_COLUMN = "redcap_data_access_group"


class _Status(Exception):
    def __init__(self, status: int, headers):
        super().__init__(status)
        self.status, self.headers = status, headers


def _check_status(response: requests.Response, *args, **kwargs) -> None:
    if response.status_code >= 400:
        raise _Status(response.status_code, dict(response.headers))


def fetch(source, secrets: dict[str, str]) -> Fetched:
    settings = source.redcap
    name = f"{source.name} (REDCap {settings.url})"
    token = secrets.get("token", "")
    if not token:
        raise PullFailed(f"{name}: no API token; {where_to_set(source.name, ('token',))}.")
    if not TOKEN.match(token):
        raise PullFailed(
            f"{name}: the API token is not the 32 letters and digits REDCap gives (Applications, API); "
            f"{where_to_set(source.name, ('token',))}. Nothing was stored."
        )
    project = Project(settings.url, token, timeout=source.timeout_seconds, hooks={"response": [_check_status]})
    counts: dict = {"requests": 0}

    def ask(what: str, call):
        def once():
            counts["requests"] += 1
            try:
                return call()
            except _Status as exc:
                if exc.status == 429:
                    wait = server_wait(429, exc.headers)
                    raise Retry("REDCap's rate limit was reached", wait if wait is not None else 1.0) from None
                if exc.status >= 500:
                    raise Retry(f"REDCap answered with a server error ({exc.status})") from None
                if exc.status in (401, 403):
                    raise PullFailed(
                        f"{name}: REDCap refused the API token (it is wrong, expired, or lacks the API export right); "
                        f"create one in REDCap (Applications, API) and {where_to_set(source.name, ('token',))}. Nothing was stored."
                    ) from None
                raise PullFailed(f"{name}: REDCap refused the request for {what} ({exc.status}); nothing was stored.") from None
            except requests.Timeout:
                raise Retry(f"REDCap did not answer within {source.timeout_seconds:g} s") from None
            except requests.ConnectionError:
                raise Retry("REDCap could not be reached") from None
            except (RedcapError, json.JSONDecodeError, ValueError):
                raise PullFailed(
                    f"{name}: REDCap's answer for {what} is not what it should be (damaged, cut short, or an error page); "
                    "nothing was stored. Pull again later."
                ) from None

        return with_retries(once, name, source.retries, source.max_wait_seconds, counts)

    if settings.dag:
        groups = ask("the data access groups", lambda: project.export_dags(format_type="json"))
        if not isinstance(groups, list):
            raise PullFailed(f"{name}: REDCap's list of data access groups is not a list; nothing was stored. Pull again later.")
        names = sorted(str(g.get("unique_group_name")) for g in groups if isinstance(g, dict))
        if settings.dag not in names:
            raise PullFailed(
                f"{name}: the project has no data access group {settings.dag!r} (it has {', '.join(names) or 'none'}); "
                "correct dag in data/programme.yaml to the group's unique name. Nothing was stored."
            )
    text = ask("the records", lambda: project.export_records(format_type="csv", export_data_access_groups=True, raw_or_label="raw"))
    if not isinstance(text, str):
        raise PullFailed(f"{name}: REDCap's records are not CSV text; nothing was stored. Pull again later.")
    data = _only_group(text, settings.dag, name)
    log.info("pulled %s: %s", source.name, json.dumps(counts))
    return Fetched(data, "redcap", extract_name(source.name, "REDCap"), counts)


def _only_group(text: str, dag: str | None, name: str) -> bytes:
    """The rows of the data access group `dag` (every row when None), as CSV bytes."""
    if dag is None:
        return text.encode("utf-8")
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        raise PullFailed(f"{name}: REDCap's records are not readable CSV; nothing was stored. Pull again later.") from None
    if not records or DAG_COLUMN not in records[0]:
        raise PullFailed(
            f"{name}: REDCap's records have no {DAG_COLUMN} column, so the group's rows cannot be told apart; "
            "give the API user the right to export data access groups. Nothing was stored."
        )
    column = records[0].index(DAG_COLUMN)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(records[0])
    writer.writerows(r for r in records[1:] if len(r) > column and r[column] == dag)
    return out.getvalue().encode("utf-8")
