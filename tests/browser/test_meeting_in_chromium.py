"""The steering meeting as the chair runs it, on a 1280x720 projector: the real server on the
hand-built history of support.py (meeting #1 on 5 Nov 2026), Chromium, the arrow keys, the
pack downloaded and opened offline, the meeting marked as held."""

import json

import pytest
from playwright.sync_api import Page, expect

from browser.conftest import Server, assert_no_error_shown, open_page, wait_for_app
from dashboard import service
from dashboard.config import load_programme
from dashboard.meetings import since_line
from dashboard.store import Store
from support import meeting_history


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("meeting") / "pump.duckdb"
    meeting_history(Store(db), load_programme())
    server = Server(db)
    yield server
    server.stop()


def step(page: Page, number: int) -> None:
    expect(page.get_by_text(f"step {number} of 4", exact=True)).to_be_visible()


def next_by_key(page: Page, number: int) -> None:
    """The right arrow from step `number`, as a presenter's clicker sends it. A key pressed while the
    page is still settling after loading is now and then not seen (one full run in six); a presenter
    presses again, and so does this, but only while the page still shows the same step: a key seen
    twice would show the step after next and fail here."""
    for _ in range(3):
        expect(page.get_by_role("button", name="Next")).to_be_enabled()
        page.keyboard.press("ArrowRight")
        wait_for_app(page)
        try:
            step(page, number + 1)
            return
        except AssertionError:
            step(page, number)  # still here: the key was not seen
    step(page, number + 1)


def test_the_chair_walks_the_meeting_and_takes_the_pack(page: Page, server, tmp_path):
    open_page(page, server, "meeting")
    expect(page.get_by_role("heading", name="Steering meeting")).to_be_visible()
    step(page, 1)
    # The arrow keys move between steps, as a presenter's clicker does.
    next_by_key(page, 1)
    store, programme = Store(server.db), load_programme()
    p2 = next(t for t in service.changes(store, programme)["trials"] if t["trial"] == "PUMP-2")
    expect(page.get_by_text(f"Since last meeting: {since_line(p2)}")).to_be_visible()
    expect(page.locator('[data-testid="stMetricValue"]').first).to_have_text("6 / 50")
    # The whole step fits the projector: the chart and the sites table end above the bottom of the screen.
    expect(page.locator(".js-plotly-plot")).to_have_count(1)
    for element in (page.locator(".js-plotly-plot"), page.locator('[data-testid="stTable"]')):
        box = element.bounding_box()
        assert box["y"] + box["height"] <= 720, f"{box} needs a scroll"
    assert_no_error_shown(page)
    # Downloads for the minutes: the chart as a PNG, the sites table as CSV (the numbers on screen).
    page.locator(".js-plotly-plot").hover()
    with page.expect_download() as png:
        page.locator(".js-plotly-plot .modebar-btn").first.click()
    assert png.value.suggested_filename == "meeting-accrual-PUMP-2.png"
    assert png.value.path().read_bytes().startswith(b"\x89PNG")
    with page.expect_download() as csv:
        page.get_by_role("button", name="Sites CSV").click()
    lines = csv.value.path().read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "Site,Enrolled,New,of them late,No longer enrolled,Withdrawn,Corrections,Last extract,Data"
    assert lines[1:] == ["EMC,5,2,1,0,1,1,10 Nov 2026,fresh", "NKI,1,0,0,2,0,0,01 Oct 2026,stale since meeting"]

    page.get_by_role("button", name="Next").click()
    wait_for_app(page)
    step(page, 3)
    next_by_key(page, 3)
    expect(page.get_by_role("heading", name="Summary")).to_be_visible()

    # The pack, downloaded, opens offline: nothing is requested from any other host, the charts draw.
    with page.expect_download() as download:
        page.get_by_role("button", name="Meeting pack (HTML)").click()
    pack = tmp_path / "pack.html"
    download.value.save_as(pack)
    requests = []
    offline = page.context.new_page()
    offline.route("**/*", lambda route: (requests.append(route.request.url), route.abort() if not route.request.url.startswith("file:") else route.continue_()))
    offline.goto(pack.as_uri())
    expect(offline.locator(".js-plotly-plot")).to_have_count(3)
    expect(offline.get_by_text("data as of Sat 21 Nov 2026").first).to_be_visible()
    assert [url for url in requests if not url.startswith("file:")] == []
    offline.close()
    with page.expect_download() as download:
        page.get_by_role("button", name="Meeting pack (PDF)").click()
    pdf = tmp_path / "pack.pdf"
    download.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF")

    # The meeting is marked as held, with a note; the next meeting's changes count from it.
    page.get_by_role("button", name="Mark this meeting as held").click()
    page.get_by_label("Chair").fill("Dr. Chair")
    page.get_by_label("Note for the minutes (optional; no patient names or numbers)").fill("All trials reviewed.")
    page.get_by_role("button", name="Mark as held").click()
    wait_for_app(page)
    expect(page.get_by_text("Meeting #2 recorded")).to_be_visible()
    result = server.cli("meetings", "--json")
    assert result.returncode == 0, result.stderr
    held = json.loads(result.stdout)[0]
    assert (held["meeting"], held["held_by"], held["note"]) == (2, "Dr. Chair", "All trials reviewed.")
    step(page, 1)
    expect(page.get_by_text("changes since the meeting of 21 Nov 2026 (#2)")).to_be_visible()
