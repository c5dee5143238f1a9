"""The steering meeting as the chair runs it, on a 1280x720 projector: the real server on the
hand-built history of support.py (meeting #1 on 5 Nov 2026), Chromium, the arrow keys, the
pack downloaded and opened offline, the meeting marked as held."""

import json
import re

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
    meeting_history(Store(db, create=True), load_programme())
    server = Server(db)
    yield server
    server.stop()


def step(page: Page, number: int) -> None:
    """The step shown: its number (and on a trial's step the model its status comes from, after a ·)."""
    expect(page.get_by_text(re.compile(rf"^step {number} of 5( · .+)?$"))).to_be_visible()


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
    expect(page.get_by_role("heading", name="CONSORT flow")).to_be_visible()
    next_by_key(page, 4)
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
    expect(offline.locator(".consort svg")).to_have_count(3)
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
    expect(page.get_by_text("Meeting #2 recorded").first).to_be_visible()
    result = server.cli("meetings", "--json")
    assert result.returncode == 0, result.stderr
    held = json.loads(result.stdout)[0]
    assert (held["meeting"], held["held_by"], held["note"]) == (2, "Dr. Chair", "All trials reviewed.")
    # The pack for the minutes of the meeting just held, at once: meeting #2's cut against meeting #1.
    step(page, 5)
    with page.expect_download() as download:
        page.get_by_role("button", name="Pack of meeting #2 (HTML)").click()
    held_pack = tmp_path / "meeting2.html"
    download.value.save_as(held_pack)
    body = held_pack.read_text(encoding="utf-8")
    assert "Meeting #2, held on Sat 21 Nov 2026; chair: Dr. Chair. Note for the minutes: All trials reviewed." in body
    assert "changes since the meeting of Thu 05 Nov 2026 (#1, chair)" in body and "Since last meeting: <b>+2" in body
    expect(page.get_by_text("changes since the meeting of 21 Nov 2026 (#2)")).to_be_visible()


SCREENS = [(1920, 1080), (1280, 720)]


def measure(page: Page) -> dict:
    """The main area's scroll and client heights, the chart's box and the colours behind it and the page."""
    return page.evaluate(
        """() => {
      const main = document.querySelector('[data-testid="stMain"]');
      const plot = document.querySelector('.js-plotly-plot');
      const box = plot ? plot.getBoundingClientRect() : null;
      return {scroll: main.scrollHeight, client: main.clientHeight,
              plot: box && {top: box.top, height: box.height, width: box.width},
              title: plot && plot.querySelector('.gtitle') && plot.querySelector('.gtitle').getBoundingClientRect().right,
              paper: plot && plot.querySelector('rect.bg') && getComputedStyle(plot.querySelector('rect.bg')).fill,
              page: getComputedStyle(document.querySelector('[data-testid="stApp"]')).backgroundColor};
    }"""
    )


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("width,height", SCREENS)
def test_every_step_fills_the_projector_without_a_scroll(browser, server, width, height, theme, tmp_path):
    context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=theme)
    page = context.new_page()
    open_page(page, server, "meeting")
    for number in range(1, 6):
        step(page, number)
        if number in (2, 3):
            expect(page.locator(".js-plotly-plot .main-svg").first).to_be_visible()
        page.wait_for_timeout(800)  # the chart settles into the height left to it
        shown = measure(page)
        page.screenshot(path=str(tmp_path / f"meeting-{theme}-{width}x{height}-{number}.png"))
        assert shown["scroll"] <= shown["client"] + 1, f"step {number} needs a scroll at {width}x{height}: {shown}"
        if number in (2, 3):  # PUMP-2 and PUMP-IT: the chart takes the height the rows above leave
            plot = shown["plot"]
            assert plot["top"] + plot["height"] <= height, shown
            # ... all of it: the chart ends near the bottom of the screen (not at a fixed 275 px).
            assert plot["top"] + plot["height"] >= height - 40, shown
            assert plot["height"] >= (550 if height >= 1000 else 250), shown
            # The chart's background is the page's, in either theme: never a white box on a dark page.
            assert shown["paper"] == shown["page"], shown
        if number < 5:
            page.get_by_role("button", name="Next").click()
            wait_for_app(page)
    assert_no_error_shown(page)
    context.close()


def test_the_meeting_on_a_phone_keeps_whole_titles_and_a_readable_chart(browser, server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    page = context.new_page()
    open_page(page, server, "meeting")
    page.get_by_role("button", name="Next").click()
    wait_for_app(page)
    step(page, 2)
    expect(page.locator(".js-plotly-plot .main-svg").first).to_be_visible()
    page.wait_for_timeout(800)
    shown = measure(page)
    assert shown["plot"]["height"] >= 400 and shown["plot"]["width"] <= 390, shown
    assert shown["title"] <= 390, f"the chart's title runs off the phone: {shown}"
    assert shown["paper"] == shown["page"], shown
    context.close()
