"""A small EDC on a local port for the pull tests: Castor's documented endpoints (OAuth
client credentials, HAL-paged participants and study data points, rate-limit headers) and
REDCap's single POST endpoint (token, content, format), answering like the real ones. Each
test sets `faults` to make it misbehave in one way, and reads `calls` to see what was asked."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CLIENT_ID, CLIENT_SECRET = "castor-client-3f9a", "castor-secret-9b1c7e55d2"
REDCAP_TOKEN = "0123456789ABCDEF0123456789ABCDEF"
STUDY = "8A4F2C1E-0000-4B5C-9D3E-112233445566"


FIELDS = [
    {"id": "F1", "field_variable_name": "status", "field_type": "dropdown", "option_group": None},
    {"id": "F2", "field_variable_name": "fail_reasons", "field_type": "checkbox",
     "option_group": {"id": "G1", "name": "Reasons", "options": [
         {"id": "O1", "name": "No consent", "value": "1", "groupOrder": 0},
         {"id": "O2", "name": "Metastases elsewhere", "value": "2", "groupOrder": 1},
         {"id": "O3", "name": "Other", "value": "3", "groupOrder": 2}]}},
]


def castor_participant(pid: str, site: str, randomized: str | None, group: str | None, created: str) -> dict:
    def moment(day):
        return None if day is None else {"date": f"{day} 10:15:00.000000", "timezone_type": 3, "timezone": "Europe/Amsterdam"}

    return {
        "id": pid, "participant_id": pid, "status": "open", "archived": False, "progress": 40,
        "randomized_id": None if randomized is None else pid[-3:], "randomization_group": None if group is None else "2",
        "randomization_group_name": group, "randomized_on": moment(randomized), "created_on": moment(created),
        "_embedded": {"site": {"id": f"site-{site}", "abbreviation": site, "name": site, "code": site}},
        "_links": {"self": {"href": f"/api/study/{STUDY}/participant/{pid}"}},
    }


class EDC:
    def __init__(self):
        self.participants = [
            castor_participant(f"1100{n:02d}", "EMC", f"2020-0{n}-1{n}", "Arm B" if n % 2 else "Arm A", f"2020-0{n}-0{n}")
            for n in range(1, 6)
        ] + [castor_participant("110090", "NKI", "2020-05-05", "Arm A", "2020-05-01")]
        self.data_points = [{"participant_id": "110001", "field_variable_name": "status", "field_id": "F1", "value": "on_treatment",
                             "updated_on": "2020-02-01 10:00:00"}]
        self.fields = list(FIELDS)
        self.redcap_rows = [
            {"record_id": "NKI-001", "redcap_event_name": "baseline_arm_1", "redcap_data_access_group": "nki",
             "enrolled_on": "2020-03-02", "arm": "haip"},
            {"record_id": "NKI-001", "redcap_event_name": "cycle_1_arm_1", "redcap_data_access_group": "nki",
             "enrolled_on": "", "arm": ""},
            {"record_id": "NKI-002", "redcap_event_name": "baseline_arm_1", "redcap_data_access_group": "nki",
             "enrolled_on": "2020-04-07", "arm": "control"},
            {"record_id": "EMC-900", "redcap_event_name": "baseline_arm_1", "redcap_data_access_group": "emc",
             "enrolled_on": "2020-04-08", "arm": "control"},
        ]
        self.dags = [{"data_access_group_name": "NKI", "unique_group_name": "nki", "data_access_group_id": 1},
                     {"data_access_group_name": "EMC", "unique_group_name": "emc", "data_access_group_id": 2}]
        self.page_size = 2
        self.faults: set[str] = set()
        self.retry_after = "0.2"
        self.calls: list[str] = []
        self.tokens_issued = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        edc = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status, body, content_type="application/json", headers=None):
                data = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()))
                path = urllib.parse.urlparse(self.path).path
                edc.calls.append(f"POST {path} {form.get('content', '')}")
                if path == "/oauth/token":
                    return self._token(form)
                if path == "/redcap/api/":
                    return self._redcap(form)
                self._send(404, {"detail": "not found"})

            def _token(self, form):
                if "bad_credentials" in edc.faults or form.get("client_secret") != CLIENT_SECRET or form.get("client_id") != CLIENT_ID:
                    return self._send(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
                edc.tokens_issued += 1
                self._send(200, {"access_token": f"token-{edc.tokens_issued}", "expires_in": 18000, "token_type": "Bearer"})

            def _redcap(self, form):
                if "redcap_5xx" in edc.faults:
                    return self._send(503, "<html>Service Unavailable</html>", "text/html")
                if form.get("token") != REDCAP_TOKEN:
                    return self._send(403, {"error": "You do not have permissions to use the API"})
                if form.get("content") == "metadata":  # PyCap asks for the fields before the records
                    return self._send(200, [{"field_name": name, "form_name": "enrolment", "field_type": "text",
                                             "field_label": name, "select_choices_or_calculations": ""}
                                            for name in ("record_id", "enrolled_on", "arm")])
                if form.get("content") == "dag":
                    return self._send(200, edc.dags)
                if form.get("content") == "record" and form.get("format") == "csv":
                    out = io.StringIO()
                    writer = csv.DictWriter(out, fieldnames=list(edc.redcap_rows[0]), lineterminator="\n")
                    writer.writeheader()
                    writer.writerows(edc.redcap_rows)
                    return self._send(200, out.getvalue(), "text/csv; charset=utf-8")
                self._send(400, {"error": "The value of the parameter \"content\" is not valid"})

            def do_GET(self):
                parsed = urllib.parse.urlparse(self.path)
                query = dict(urllib.parse.parse_qsl(parsed.query))
                edc.calls.append(f"GET {parsed.path} {query.get('page', '')}")
                token = self.headers.get("Authorization", "")
                if "expired_once" in edc.faults and token == "Bearer token-1":
                    return self._send(401, {"type": "https://tools.ietf.org/html/rfc2616#section-10", "title": "Unauthorized",
                                            "status": 401, "detail": "The access token provided has expired."})
                if not token.startswith("Bearer token-"):
                    return self._send(401, {"status": 401, "detail": "Unauthorized"})
                if "5xx" in edc.faults:
                    return self._send(502, "<html>Bad Gateway</html>", "text/html")
                if "slow" in edc.faults:
                    time.sleep(1.0)
                if parsed.path == f"/api/study/{STUDY}" and "study_missing" not in edc.faults:
                    return self._send(200, {"study_id": STUDY, "name": "PUMP", "crf_id": STUDY,
                                            "_links": {"self": {"href": f"/api/study/{STUDY}"}}},
                                      headers={"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "599"})
                if parsed.path == f"/api/study/{STUDY}/participant":
                    return self._page(edc.participants, "participants", parsed.path, int(query.get("page", 1)))
                if parsed.path == f"/api/study/{STUDY}/site":
                    sites = [{"id": f"site-{a}", "abbreviation": a, "name": a, "code": a} for a in ("EMC", "NKI")]
                    return self._page(sites, "sites", parsed.path, int(query.get("page", 1)))
                if parsed.path == f"/api/study/{STUDY}/field":
                    return self._page(edc.fields, "fields", parsed.path, int(query.get("page", 1)))
                if parsed.path == f"/api/study/{STUDY}/data-points/study":
                    return self._page(edc.data_points, "items", parsed.path, int(query.get("page", 1)))
                self._send(404, {"status": 404, "detail": "Entity not found."})

            def _page(self, items, key, path, page):
                count = max(1, -(-len(items) // edc.page_size))
                if key == "participants" and page == 1 and "rate_limited_once" in edc.faults:
                    edc.faults.discard("rate_limited_once")
                    return self._send(429, {"status": 429, "detail": "Too many requests"},
                                      headers={"Retry-After": edc.retry_after, "X-RateLimit-Limit": "600",
                                               "X-RateLimit-Remaining": "0"})
                if key == "participants" and page == 1 and "window_spent" in edc.faults:  # a success that spends the window
                    edc.faults.discard("window_spent")
                    headers = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0.3"}
                    return self._send(200, {"_links": {}, "_embedded": {key: items[: edc.page_size]},
                                            "page_count": max(1, -(-len(items) // edc.page_size)), "page": 1},
                                      "application/hal+json", headers)
                if key == "participants" and page == 2 and "page_missing" in edc.faults:
                    return self._send(404, {"status": 404, "detail": "Page not found."})
                if key == "participants" and "malformed" in edc.faults:
                    return self._send(200, '{"_embedded": {"participants": [{"participant_id": "1100')
                chunk = items[(page - 1) * edc.page_size: page * edc.page_size]
                links = {"self": {"href": f"{path}?page={page}"}}
                if page < count:
                    links["next"] = {"href": f"{path}?page={page + 1}"}
                self._send(200, {"_links": links, "_embedded": {key: chunk}, "page_count": count, "page_size": edc.page_size,
                                 "total_items": len(items), "page": page},
                           "application/hal+json")

        return Handler
