"""Live and shareable: two directors have the overview open in their own Chromium sessions; a
nightly import on the command line shows on both screens without anyone touching them. A link
with an as-of date and a trial reproduces that view, page after page."""

import json
import re

from playwright.sync_api import Browser, Page, expect

from browser.conftest import assert_no_error_shown, open_page, wait_for_app

LIVE_WITHIN_MS = 30_000  # the promise: a new upload shows within 30 seconds, without a click


def summary(server, *args: str) -> dict:
    result = server.cli("summary", "--json", *args)
    assert result.returncode == 0, result.stderr
    return {t["trial"]: t for t in json.loads(result.stdout)["trials"]}


def tile_values(page: Page):
    return page.locator('[data-testid="stMetricValue"]')


def test_a_second_session_sees_a_command_line_ingest_without_reloading(browser: Browser, server, tmp_path):
    first, second = browser.new_context(viewport={"width": 1280, "height": 900}), browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        watcher, other = first.new_page(), second.new_page()
        open_page(watcher, server)
        open_page(other, server)
        before = summary(server)["PUMP-2"]
        for page in (watcher, other):
            expect(tile_values(page).nth(1)).to_have_text(f"{before['enrolled']} / {before['target']}")
            expect(page.get_by_text("Data as of", exact=False).first).to_be_visible()
        url_before = other.url

        extract = tmp_path / "pump2_emc.csv"
        rows = [f"P2-EMC-L{i:02d},EMC,2026-11-0{i},2026-11-1{i},haip" for i in range(1, 4)]
        extract.write_text("participant_id,site,screened_on,enrolled_on,arm\n" + "\n".join(rows) + "\n")
        result = server.ingest_replacing(extract, "PUMP-2", "nightly import")
        assert result.returncode == 0, result.stdout + result.stderr
        after = summary(server)["PUMP-2"]
        assert after["enrolled"] != before["enrolled"]

        # Nobody clicks or reloads: both sessions redraw with the new numbers.
        for page in (other, watcher):
            expect(tile_values(page).nth(1)).to_have_text(f"{after['enrolled']} / {after['target']}", timeout=LIVE_WITHIN_MS)
            expect(page.get_by_text("(today)", exact=False).first).to_be_visible()  # newest extract accepted today
            assert_no_error_shown(page)
        assert other.url == url_before  # redrawn in place, not reloaded elsewhere
    finally:
        first.close()
        second.close()


def test_a_link_reproduces_the_view_on_every_page(page: Page, server):
    open_page(page, server, "trial?as_of=2025-06-30&trial=PUMP-2")  # the first page seeds the demo data
    past = summary(server, "--as-of", "2025-06-30")["PUMP-2"]
    expect(page.get_by_text("Data as of Monday 30 June 2025").first).to_be_visible()
    expect(tile_values(page).first).to_have_text(f"{past['enrolled']} / {past['target']}")
    # The menu drops the query string; the view stays and is written back into the address.
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Programme overview").click()
    wait_for_app(page)
    expect(page).to_have_url(re.compile(r"/(overview)?\?as_of=2025-06-30&trial=PUMP-2$"))  # the overview is the root page
    expect(tile_values(page)).to_have_count(1)
    expect(tile_values(page).first).to_have_text(f"{past['enrolled']} / {past['target']}")
    assert_no_error_shown(page)


def test_the_meetings_today_live_redraws_on_new_data(browser: Browser, server, tmp_path):
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    try:
        page = context.new_page()
        open_page(page, server, "meeting")
        page.get_by_role("button", name="Next").click()  # PUMP-2's step
        wait_for_app(page)
        before = summary(server)["PUMP-2"]
        expect(tile_values(page).first).to_have_text(f"{before['enrolled']} / {before['target']}")
        extract = tmp_path / "pump2_emc_meeting.csv"
        rows = [f"P2-EMC-M{i:02d},EMC,2026-10-0{i},2026-10-1{i},haip" for i in range(1, 6)]
        extract.write_text("participant_id,site,screened_on,enrolled_on,arm\n" + "\n".join(rows) + "\n")
        result = server.ingest_replacing(extract, "PUMP-2", "nightly import")
        assert result.returncode == 0, result.stdout + result.stderr
        after = summary(server)["PUMP-2"]
        assert after["enrolled"] != before["enrolled"]
        # "Today, live" is live: the same step redraws with the new count, nobody touching the screen.
        expect(tile_values(page).first).to_have_text(f"{after['enrolled']} / {after['target']}", timeout=LIVE_WITHIN_MS)
        expect(page.get_by_text(re.compile(r"^step 2 of 5( · .+)?$"))).to_be_visible()  # (the model after the ·)
        assert_no_error_shown(page)
    finally:
        context.close()
