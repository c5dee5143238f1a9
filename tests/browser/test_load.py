"""A steering meeting's load: ten people watch the overview for a minute while two
coordinators upload on the page and the nightly import runs on the command line. Nobody
sees an error, the server logs no traceback, all three extracts land, and every screen
shows them."""

import json
import subprocess
import sys
import time

from playwright.sync_api import Browser, Page, expect

from browser.conftest import assert_no_error_shown, choose_role, go_to, open_page, wait_for_app
from browser.test_upload_in_chromium import castor_export_with_two_new_participants
from support import ROOT

DEMO = ROOT / "data" / "demo"
SESSIONS = 10
WATCH_SECONDS = 60


def one_more_enrolled(file_name: str, id_column: str, enrolment_column: str, new_id: str) -> bytes:
    """The demo's last export of a site with one more participant: a copy of the rows of the last
    one enrolled, under a new study number."""
    lines = [line for line in (DEMO / file_name).read_bytes().decode("utf-8").splitlines() if line]
    delimiter = ";" if ";" in lines[0] else ","
    header = lines[0].split(delimiter)
    rows = [line.split(delimiter) for line in lines[1:]]
    last = next(r for r in reversed(rows) if r[header.index(enrolment_column)])[header.index(id_column)]
    copies = [[new_id if i == header.index(id_column) else v for i, v in enumerate(r)] for r in rows if r[header.index(id_column)] == last]
    return "\r\n".join([*lines, *(delimiter.join(r) for r in copies)]).encode("utf-8") + b"\r\n"


def ready_to_drop(page: Page, server, trial: str) -> None:
    open_page(page, server)
    choose_role(page, "Trial coordinator")
    go_to(page, "Upload an extract")
    page.get_by_role("combobox", name="Trial").click()
    page.get_by_role("option", name=trial, exact=True).click()
    wait_for_app(page)
    page.get_by_role("textbox", name="Your name").fill("coordinator")
    page.get_by_role("textbox", name="Your name").press("Enter")
    wait_for_app(page)


def upload_on_the_page(page: Page, server, path, trial: str) -> None:
    # Under this load (eleven pages on two cores) Streamlit's drop zone now and then ignores a dropped
    # file: no request for an upload address reaches the server, nothing shows, and dropping it again on
    # the same page is ignored too (seen about one run in four, with the browser's network traffic
    # logged). A coordinator would reload the page and drop it again; so does this test, but only then:
    # once the file shows in the drop zone, the dashboard must check it.
    for _ in range(3):
        ready_to_drop(page, server, trial)
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(path))
        try:
            expect(page.get_by_test_id("stFileChip")).to_be_visible(timeout=30_000)
            break
        except AssertionError:
            continue
    store = page.get_by_role("button", name="Store the extract")
    expect(store).to_be_enabled(timeout=120_000)
    store.click()
    expect(page.get_by_text("as extract #")).to_be_visible(timeout=120_000)


def screens_are_well(watchers: list[Page]) -> None:
    for page in watchers:
        expect(page.locator('[data-testid="stApp"]')).to_have_attribute("data-test-connection-state", "CONNECTED")
        assert_no_error_shown(page)


def test_ten_sessions_watch_while_two_uploads_and_an_import_land(browser: Browser, server, tmp_path):
    files = {
        "PUMP_EMC_upload.csv": castor_export_with_two_new_participants(),
        "PUMP-2_EMC_upload.csv": one_more_enrolled("PUMP-2_EMC_2026-11-16.csv", "Participant Id", "inclusiedatum", "P2-EMC-901"),
        "PUMP-IT_NKI_nightly.csv": one_more_enrolled("PUMP-IT_NKI_2026-11-16.csv", "record_id", "enrolled_on", "PIT-NKI-901"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    watchers = [browser.new_context(viewport={"width": 1280, "height": 720}).new_page() for _ in range(SESSIONS)]
    for page in watchers:  # the first one seeds the demo data
        open_page(page, server)
    started = time.monotonic()
    nightly = subprocess.Popen(
        [sys.executable, "-m", "dashboard", "--db", str(server.db), "ingest", str(tmp_path / "PUMP-IT_NKI_nightly.csv"),
         "--trial", "PUMP-IT", "--by", "nightly import", "--accept-warnings", "--json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    coordinator = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
    upload_on_the_page(coordinator, server, tmp_path / "PUMP_EMC_upload.csv", "PUMP")
    screens_are_well(watchers)
    upload_on_the_page(coordinator, server, tmp_path / "PUMP-2_EMC_upload.csv", "PUMP-2")
    out, err = nightly.communicate(timeout=300)
    assert nightly.returncode == 0, out + err
    while time.monotonic() - started < WATCH_SECONDS:
        screens_are_well(watchers)
        time.sleep(5)

    extracts = json.loads(server.cli("extracts", "--json").stdout)
    current = {e["file_name"] for e in extracts if e["status"] == "current"}
    assert set(files) <= current
    summary = {t["trial"]: t for t in json.loads(server.cli("summary", "--json").stdout)["trials"]}
    for page in watchers:  # each screen catches up by its own live check (every 10 s)
        for trial in summary.values():
            shown = page.get_by_test_id("stMetricValue").filter(has_text=f"{trial['enrolled']} / {trial['target']}")
            expect(shown.first).to_be_visible(timeout=60_000)
        assert_no_error_shown(page)
    log = server.log.read_text()
    assert "Traceback" not in log and "Unique file handle conflict" not in log
