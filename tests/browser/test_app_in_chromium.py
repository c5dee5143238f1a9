"""The dashboard as people use it: the real server, a real browser, the command line beside it."""

import json

from playwright.sync_api import Page, expect

from browser.conftest import (
    assert_no_error_shown,
    assert_tab_icon_is_local,
    choose_role,
    go_to,
    open_page,
    record_foreign_requests,
    wait_for_app,
)
from dashboard.access import PAGES, ROLE_PAGES, ROLES


def metric_values(page: Page) -> list[str]:
    return page.locator('[data-testid="stMetricValue"]').all_inner_texts()


def summary(server) -> dict:
    result = server.cli("summary", "--json")
    assert result.returncode == 0, result.stderr
    return {t["trial"]: t for t in json.loads(result.stdout)["trials"]}


def test_every_page_of_every_role_loads_without_an_error_or_a_request_to_another_host(page: Page, server):
    """Local mode, as `make run` starts it: the banner on every page, and not one request leaves
    this computer (a hospital network blocks them: no tab icon from Google, no font from a CDN)."""
    foreign = record_foreign_requests(page, server.url)
    open_page(page, server)
    for role, names in ROLE_PAGES.items():
        choose_role(page, ROLES[role])
        for name in names:
            if len(names) > 1:  # Streamlit shows no menu for a single page
                go_to(page, PAGES[name].title)
            expect(page.get_by_role("heading", name=PAGES[name].title)).to_be_visible()
            expect(page.get_by_text("Demo data").first).to_be_visible()
            expect(page.get_by_test_id("pump-local-mode")).to_contain_text("Local mode: one person at this computer")
            assert_no_error_shown(page)
            assert_tab_icon_is_local(page, server.url)
    assert foreign == []


def test_overview_shows_the_three_trials_as_summary_says(page: Page, server):
    open_page(page, server)
    expect(page.get_by_role("heading", name="Programme overview")).to_be_visible()
    trials = summary(server)
    assert metric_values(page) == [f"{t['enrolled']} / {t['target']}" for t in trials.values()]
    expect(page.locator(".js-plotly-plot")).to_have_count(3)


def test_an_ingest_from_the_command_line_shows_after_a_reload(page: Page, server, tmp_path):
    open_page(page, server)
    before = summary(server)["PUMP-2"]["enrolled"]
    extract = tmp_path / "pump2_emc.csv"
    rows = [f"P2-EMC-T{i:02d},EMC,2026-11-0{i},2026-11-1{i},haip" for i in range(1, 4)]
    extract.write_text("participant_id,site,screened_on,enrolled_on,arm\n" + "\n".join(rows) + "\n")
    result = server.ingest_replacing(extract, "PUMP-2", "browser test")
    assert result.returncode == 0, result.stdout + result.stderr
    after = summary(server)["PUMP-2"]
    assert after["enrolled"] == after["sites"][1]["enrolled"] + 3  # EMC's snapshot is now these three
    assert after["enrolled"] != before
    page.reload()
    wait_for_app(page)
    # Right after a reload the app can report idle before its first run has drawn: wait for the figure itself.
    expect(page.locator('[data-testid="stMetricValue"]').nth(1)).to_have_text(f"{after['enrolled']} / {after['target']}")
