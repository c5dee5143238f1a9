"""Castor EDC's REST API (https://data.castoredc.com/api), on httpx: our own small client,
as the `castoredc-api` package no longer imports on Python 3.11.

- OAuth client credentials: POST /oauth/token -> a bearer token (renewed once when a call
  says 401: tokens expire after some hours).
- GET /api/study/{study_id}: the study exists and the credentials may read it.
- GET /api/study/{study_id}/participant: HAL pages (`_embedded.participants`, `page_count`,
  `_links.next`); each participant with its site (`_embedded.site.abbreviation`; older
  servers: `record_id` and `_embedded.institute`), randomisation and creation date.
- GET /api/study/{study_id}/data-points/study: HAL pages of `_embedded.items`, one study
  variable of one participant each (`participant_id` or `record_id`, `field_variable_name`,
  `value`).
- GET /api/study/{study_id}/field?include=optiongroup: the fields (`_embedded.fields`), for
  the options of checkbox variables, whose data points hold the ticked values ("1;3").

The result is the site's rows written as Castor's own CSV export (`;`, day-first dates,
one column per study variable), so the Castor reader and the trial's mapping read it
exactly as they read a dropped export.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging

import httpx

from dashboard.sources.retry import (
    Fetched,
    PullFailed,
    Retry,
    exhausted,
    extract_name,
    pause_for_rate_limit,
    server_wait,
    with_retries,
)
from dashboard.sources.secrets import where_to_set

log = logging.getLogger(__name__)
PAGE_SIZE = 500
# Castor export columns, in the order of its own export.
COLUMNS = ("Participant Id", "Site Abbreviation", "Participant Creation Date", "Randomization Group Name", "Randomized On")


class _Client:
    """One pull's calls: the token, the bounds, and counts of what was asked."""

    def __init__(self, source, secrets: dict[str, str]):
        self.source, self.castor = source, source.castor
        self.name = f"{source.name} (Castor study {self.castor.study_id})"
        missing = [k for k in ("client_id", "client_secret") if not secrets.get(k)]
        if missing:
            raise PullFailed(f"{self.name}: no credentials; {where_to_set(source.name, ('client_id', 'client_secret'))}.")
        self._secrets = secrets
        self.http = httpx.Client(base_url=self.castor.api.rstrip("/"), timeout=source.timeout_seconds)
        self.token: str | None = None
        self.renewed = False
        self.counts: dict = {"requests": 0, "pages": 0}

    def close(self) -> None:
        self.http.close()

    def _send(self, method: str, path: str, **kwargs) -> httpx.Response:
        self.counts["requests"] += 1
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise Retry(f"Castor did not answer within {self.source.timeout_seconds:g} s") from None
        except httpx.TransportError as exc:
            raise Retry(f"Castor could not be reached ({type(exc).__name__})") from None
        if response.status_code == 429:
            wait = server_wait(429, response.headers)
            raise Retry("Castor's rate limit was reached", wait if wait is not None else 1.0)
        if response.status_code >= 500:
            raise Retry(f"Castor answered with a server error ({response.status_code})")
        return response

    def _login(self) -> None:
        response = with_retries(
            lambda: self._send("POST", "/oauth/token", data={
                "grant_type": "client_credentials",
                "client_id": self._secrets["client_id"],
                "client_secret": self._secrets["client_secret"],
            }),
            self.name, self.source.retries, self.source.max_wait_seconds, self.counts,
        )
        if response.status_code in (400, 401, 403):
            raise PullFailed(
                f"{self.name}: Castor refused the client id and secret; check them in Castor (Account settings, "
                f"API) and {where_to_set(self.source.name, ('client_id', 'client_secret'))}. Nothing was stored."
            )
        token = self._json(response, "the sign-in").get("access_token")
        if not token:
            raise PullFailed(f"{self.name}: Castor's sign-in answer holds no access token; nothing was stored. Pull again later.")
        self.token = token

    def get(self, path: str, what: str, params: dict | None = None) -> dict:
        """A JSON object from the API, signed in (again once, when the token has expired)."""
        if self.token is None:
            self._login()
        while True:
            response = with_retries(
                lambda: self._send("GET", path, params=params, headers={"Authorization": f"Bearer {self.token}",
                                                                         "Accept": "application/hal+json"}),
                self.name, self.source.retries, self.source.max_wait_seconds, self.counts,
            )
            if response.status_code == 401 and not self.renewed:
                self.renewed = True  # an expired token: sign in once more
                self.counts["token_renewals"] = 1
                self._login()
                continue
            break
        if response.status_code in (401, 403):
            raise PullFailed(
                f"{self.name}: Castor does not let these credentials read {what}; give the API user access to the "
                "study in Castor (study settings, users). Nothing was stored."
            )
        if response.status_code == 404:
            raise _NotFound(what)
        if response.status_code >= 400:
            raise PullFailed(f"{self.name}: Castor refused the request for {what} ({response.status_code}); nothing was stored.")
        body = self._json(response, what)
        if exhausted(response.headers):  # the window's calls are spent: wait for the next one, bounded
            wait = server_wait(200, response.headers)
            if wait:
                pause_for_rate_limit(wait, self.name, self.source.max_wait_seconds, self.counts)
        return body

    def _json(self, response: httpx.Response, what: str) -> dict:
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            raise PullFailed(
                f"{self.name}: Castor's answer for {what} is not the JSON it should be (damaged or cut short); "
                "nothing was stored. Pull again later."
            )
        return body

    def pages(self, path: str, key: str, what: str, params: dict | None = None) -> list[dict]:
        """Every item of a HAL-paged list, page by page until `page_count`."""
        items: list[dict] = []
        page, count = 1, 1
        while page <= count:
            try:
                body = self.get(path, f"page {page} of {what}", {**(params or {}), "page": page, "page_size": PAGE_SIZE})
            except _NotFound:
                raise PullFailed(
                    f"{self.name}: page {page} of {what} is missing (Castor said it has {count} pages); nothing was stored. "
                    "Pull again later: the list may have changed while it was read."
                ) from None
            self.counts["pages"] += 1
            found = (body.get("_embedded") or {}).get(key)
            if not isinstance(found, list):
                raise PullFailed(f"{self.name}: page {page} of {what} holds no list of {key}; nothing was stored. Pull again later.")
            items += found
            count = int(body.get("page_count") or 1)
            page += 1
        return items


class _NotFound(Exception):
    pass


def fetch(source, secrets: dict[str, str]) -> Fetched:
    client = _Client(source, secrets)
    study = source.castor.study_id
    try:
        try:
            client.get(f"/api/study/{study}", "the study")
        except _NotFound:
            raise PullFailed(
                f"{client.name}: Castor has no study {study!r} that these credentials can see; check study_id in "
                "data/programme.yaml (Castor: study settings) and that the API user is a user of the study. Nothing was stored."
            ) from None
        participants = client.pages(f"/api/study/{study}/participant", "participants", "the participants")
        if not any(_site_of(p) == _fold(source.castor.site) for p in participants):
            sites = client.pages(f"/api/study/{study}/site", "sites", "the study's sites")
            known = sorted({str(s.get("abbreviation") or "") for s in sites} - {""})
            if _fold(source.castor.site) not in {_fold(k) for k in known}:
                raise PullFailed(
                    f"{client.name}: the study has no site {source.castor.site!r} (it has {', '.join(known) or 'none'}); "
                    "correct castor.site in data/programme.yaml to the site's abbreviation in Castor. Nothing was stored."
                )
        points = client.pages(f"/api/study/{study}/data-points/study", "items", "the study data")
        fields = client.pages(f"/api/study/{study}/field", "fields", "the study's fields", {"include": "optiongroup"})
    finally:
        client.close()
    data = export_csv(participants, points, source.castor.site, fields)
    log.info("pulled %s: %s", client.name, json.dumps(client.counts))
    return Fetched(data, "castor", extract_name(source.name, "Castor"), client.counts)


def export_csv(participants: list[dict], points: list[dict], site: str, fields: list[dict] | None = None) -> bytes:
    """The site's participants as Castor's CSV export writes them (archived ones left out,
    as the export leaves them out; a checkbox variable as one `variable#Option` column per
    option, 1 when ticked, as the export spreads it)."""
    boxes = checkbox_options(fields or [])
    rows: dict[str, dict[str, str]] = {}
    for p in participants:
        if p.get("archived") or _site_of(p) != _fold(site):
            continue
        abbreviation = _site_abbreviation(p)
        pid = str(p.get("participant_id") or p.get("record_id") or p.get("id") or "")
        rows[pid] = {
            "Participant Id": pid,
            "Site Abbreviation": abbreviation,
            "Participant Creation Date": _castor_date(p.get("created_on")),
            "Randomization Group Name": str(p.get("randomization_group_name") or ""),
            "Randomized On": _castor_date(p.get("randomized_on")),
        }
    variables: list[str] = []
    for point in points:
        pid = str(point.get("participant_id") or point.get("record_id") or "")
        variable = str(point.get("field_variable_name") or "")
        if pid not in rows or not variable:
            continue
        value = "" if point.get("value") is None else str(point["value"])
        if variable in boxes:  # "1;3": the values of the ticked options
            ticked = set(value.split(";"))
            cells = {f"{variable}#{name}": "1" if code in ticked else "0" for code, name in boxes[variable]}
        else:
            cells = {variable: value}
        variables += [c for c in cells if c not in variables]
        rows[pid].update(cells)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*COLUMNS, *variables], delimiter=";", restval="", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows.values())
    return out.getvalue().encode("utf-8")


def checkbox_options(fields: list[dict]) -> dict[str, list[tuple[str, str]]]:
    """{variable: [(option value, option name), ...]} of the study's checkbox fields."""
    boxes: dict[str, list[tuple[str, str]]] = {}
    for field in fields:
        group = field.get("option_group") or {}
        if field.get("field_type") == "checkbox" and field.get("field_variable_name") and group.get("options"):
            boxes[str(field["field_variable_name"])] = [(str(o.get("value")), str(o.get("name"))) for o in group["options"]]
    return boxes


def _fold(text: str) -> str:
    return " ".join(str(text).casefold().split())


def _site_abbreviation(participant: dict) -> str:
    """The participant's site (`_embedded.site`; older servers: `_embedded.institute`)."""
    embedded = participant.get("_embedded") or {}
    where = embedded.get("site") or embedded.get("institute") or {}
    return str(where.get("abbreviation") or where.get("code") or "")


def _site_of(participant: dict) -> str:
    return _fold(_site_abbreviation(participant))


def _castor_date(value) -> str:
    """Castor's {"date": "2021-10-06 14:08:26.000000", ...} as its export writes it: 06-10-2021 14:08."""
    text = (value or {}).get("date") if isinstance(value, dict) else value
    if not text:
        return ""
    try:
        moment = dt.datetime.fromisoformat(str(text))
    except ValueError:
        return str(text)
    return moment.strftime("%d-%m-%Y %H:%M") if moment.time() != dt.time() else moment.strftime("%d-%m-%Y")
