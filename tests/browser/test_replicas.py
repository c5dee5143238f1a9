"""A hospital's deployment: two dashboard replicas (two `streamlit run` processes on two ports) over one
PostgreSQL database, with the command line writing beside them. An upload on one replica shows on the
other's open page within its live check; ten sessions keep watching one replica while the nightly
import lands on the command line, and nothing waits on anything."""

import json
import os
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
from playwright.sync_api import Browser, Page, expect
from test_pull import ENV as PULL_SECRETS
from test_pull import programme_with_sources

from browser.conftest import Server, assert_no_error_shown, open_page, wait_for_app
from browser.test_live import LIVE_WITHIN_MS
from browser.test_load import one_more_enrolled
from browser.test_upload_in_chromium import castor_export_with_two_new_participants, drop_on_the_upload_page
from dashboard.config import load_programme
from dashboard.ingest import check_file, commit
from dashboard.store import Store
from edc_server import CLIENT_SECRET, EDC
from support import ROOT

SESSIONS = 10


def without_password(url: str) -> tuple[str, str]:
    """The address as a deployment writes it (no password in it) and the password for PGPASSWORD."""
    parts = urlsplit(url)
    user, host = parts.netloc.rsplit("@", 1)
    name, password = user.split(":", 1)
    return urlunsplit((parts.scheme, f"{name}@{host}", parts.path, parts.query, parts.fragment)), password


@pytest.fixture(scope="module")
def database(postgres_server, tmp_path_factory):
    """One PostgreSQL database holding the demo history, loaded by the command line as IT would."""
    address, password = without_password(postgres_server.database())
    env = {**os.environ, "PGPASSWORD": password}
    loaded = subprocess.run([sys.executable, "-m", "dashboard", "--db", address, "demo"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    return address, password


@pytest.fixture(scope="module")
def replicas(database, tmp_path_factory):
    address, password = database
    folder = tmp_path_factory.mktemp("replicas")
    started = []
    try:
        for name in ("one", "two"):
            env = {"PGPASSWORD": password, "PUMP_LOG": str(folder / f"{name}-errors.log")}
            started.append(Server(address, log=folder / f"{name}.log", env=env))
        yield started
    finally:
        for server in started:
            server.stop()


def pump_it_nki_with(new_ids: list[str]) -> bytes:
    """The demo's last PUMP-IT export of NKI with more records, each a copy of the last one enrolled."""
    placeholder = "PIT-NKI-NEW"
    base = one_more_enrolled("PUMP-IT_NKI_2026-11-16.csv", "record_id", "enrolled_on", placeholder).decode("utf-8").splitlines()
    kept = [line for line in base if not line.startswith(placeholder + ",")]
    copies = [line for line in base if line.startswith(placeholder + ",")]
    added = [line.replace(placeholder, new_id, 1) for new_id in new_ids for line in copies]
    return ("\r\n".join(kept + added) + "\r\n").encode("utf-8")


def enrolled(server: Server, trial: str) -> tuple[int, int]:
    result = server.cli("summary", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    found = next(t for t in json.loads(result.stdout)["trials"] if t["trial"] == trial)
    return found["enrolled"], found["target"]


def tile(page: Page, trial_figures: tuple[int, int]):
    count, target = trial_figures
    return page.get_by_test_id("stMetricValue").filter(has_text=f"{count} / {target}").first


def store_on_the_upload_page(page: Page, server: Server, path) -> None:
    drop_on_the_upload_page(page, server, path)
    expect(page.get_by_text("No problems found.")).to_be_visible()
    page.get_by_role("button", name="Store the extract").click()
    wait_for_app(page)
    expect(page.get_by_text("as extract #")).to_contain_text("2 new, 0 changed, 0 no longer in the extract")


def test_an_upload_on_one_replica_shows_on_the_others_open_page_within_its_live_check(browser: Browser, replicas, tmp_path):
    one, two = replicas
    before = enrolled(one, "PUMP")
    watching = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
    open_page(watching, two)
    expect(tile(watching, before)).to_be_visible()

    export = tmp_path / "PUMP_export_20261123.csv"
    export.write_bytes(castor_export_with_two_new_participants())
    uploading = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
    store_on_the_upload_page(uploading, one, export)
    after = (before[0] + 2, before[1])
    assert enrolled(two, "PUMP") == after  # one database: the other replica's command line sees it at once

    # Nobody touches the other replica's page: its live check redraws it with the new count.
    expect(tile(watching, after)).to_be_visible(timeout=LIVE_WITHIN_MS)
    assert_no_error_shown(watching)
    for server in replicas:
        assert "Traceback" not in server.log.read_text()


def test_ten_sessions_on_a_replica_while_the_command_line_ingests_nobody_waits(browser: Browser, replicas, database, tmp_path):
    one, two = replicas
    address, password = database
    watchers = [browser.new_context(viewport={"width": 1280, "height": 720}).new_page() for _ in range(SESSIONS)]
    for page in watchers:
        open_page(page, two)

    # The nightly import on the command line while the ten sessions poll: it never says it waits.
    nightly = tmp_path / "PUMP-IT_NKI_nightly.csv"
    nightly.write_bytes(pump_it_nki_with(["PIT-NKI-901"]))
    started = time.monotonic()
    result = one.cli("ingest", str(nightly), "--trial", "PUMP-IT", "--by", "nightly import", "--accept-warnings", "--json")
    took = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert "waiting" not in result.stderr and "in use" not in result.stderr

    # The scheduled pull from the EDCs (a local Castor and REDCap server) writes beside them, without waiting.
    with EDC() as edc:
        _, config = programme_with_sources(tmp_path, edc.url)
        pulled = subprocess.run([sys.executable, "-m", "dashboard", "--db", address, "pull", "--json"], cwd=ROOT, capture_output=True,
                                text=True, timeout=180, env={**one.env, **PULL_SECRETS, "PUMP_CONFIG": str(config),
                                                             "PUMP_SECRETS": str(tmp_path / "none.toml")})
    outcomes = {o["source"]: o["outcome"] for o in map(json.loads, pulled.stdout.splitlines())}
    # Each pulled export drops most of the demo's participants of its site: held for a person's decision (a
    # waiting pull, written to the database), as designed; the pull itself never waited for the database.
    assert outcomes == {"pump-emc": "waiting", "pump-nki": "waiting"}, pulled.stdout
    assert "in use" not in pulled.stderr and CLIENT_SECRET not in pulled.stdout + pulled.stderr

    # Three more imports from a program of its own, each commit timed: a write never waits for the readers.
    os.environ["PGPASSWORD"] = password
    try:
        store, programme = Store(address), load_programme()
        commits = []
        for n in range(2, 5):
            data = pump_it_nki_with([f"PIT-NKI-90{k}" for k in range(1, n + 1)])
            checked = check_file(store, programme, data, f"PUMP-IT_NKI_{n}.csv", "PUMP-IT")
            at = time.monotonic()
            commit(store, checked, "nightly import", accept_warnings=True)
            commits.append(time.monotonic() - at)
    finally:
        os.environ.pop("PGPASSWORD", None)
    print(f"command-line ingest {took:.2f} s; commits beside {SESSIONS} sessions: " + ", ".join(f"{c * 1000:.0f} ms" for c in commits))
    assert max(commits) < 1.0, commits

    figures = enrolled(one, "PUMP-IT")
    for page in watchers:  # each session catches up by its own live check
        expect(tile(page, figures)).to_be_visible(timeout=60_000)
        assert_no_error_shown(page)
    for server in replicas:
        assert "Traceback" not in server.log.read_text()
