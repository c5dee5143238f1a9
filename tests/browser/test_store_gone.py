"""The database file taken away while a director has the overview open (issue 22, item 6): the
page's own live check says so in the store's sentence, nothing is written at the old place, and
the page comes back by itself once the file is back, without a click or a reload."""

import shutil

from playwright.sync_api import Page, expect

from browser.conftest import assert_no_error_shown, open_page

WITHIN_MS = 40_000  # the live poll is 10 s; a page run on two busy cores adds some


def test_the_file_taken_away_is_a_sentence_on_the_open_page_and_it_recovers_when_it_is_back(page: Page, server, tmp_path):
    open_page(page, server)  # the first start seeds the demo data
    tiles = page.locator('[data-testid="stMetricValue"]')
    expect(tiles.nth(1)).to_be_visible()
    shown = tiles.nth(1).inner_text()
    expect(page.get_by_text("Live · checked", exact=False)).to_be_visible()

    folder = server.db.parent
    aside = tmp_path / "aside"
    aside.mkdir()
    for name in ("pump.duckdb", "pump.duckdb.wal"):
        if (folder / name).exists():
            shutil.move(folder / name, aside / name)

    # Nobody touches the page: its live check meets the fault and the page says it in words.
    error = page.locator('[data-testid="stAlertContentError"]')
    expect(error).to_contain_text("The dashboard cannot use its database.", timeout=WITHIN_MS)
    expect(error).to_contain_text("is gone: the file was deleted, or its folder was moved or renamed")
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)  # never Streamlit's generic error
    expect(page.get_by_text("Trying again every 10 s", exact=False)).to_be_visible()
    page.wait_for_timeout(12_000)  # a retry or two later: still nothing made in its place
    assert not (folder / "pump.duckdb").exists() and not (folder / "pump.duckdb.wal").exists()
    assert "the page met a fault of its database" in (folder / "pump-errors.log").read_text()

    for name in ("pump.duckdb", "pump.duckdb.wal"):
        if (aside / name).exists():
            shutil.move(aside / name, folder / name)
    expect(tiles.nth(1)).to_have_text(shown, timeout=WITHIN_MS)  # back by itself, the same numbers
    expect(page.get_by_text("Live · checked", exact=False)).to_be_visible()
    assert_no_error_shown(page)
