"""A coordinator's Monday: drop this week's Castor export on the upload page, read the
preview, store it, and see the new participants on the programme overview."""

import datetime as dt
import json

from playwright.sync_api import Page, expect

from browser.conftest import assert_no_error_shown, choose_role, go_to, open_page, wait_for_app
from dashboard import clock
from support import ROOT

LAST_CASTOR_EXPORT = ROOT / "data" / "demo" / "PUMP_EMC_2026-11-16.csv"


def castor_export_with_two_new_participants() -> bytes:
    """Last week's EMC export as Castor wrote it, plus two patients randomised since."""
    text = LAST_CASTOR_EXPORT.read_text(encoding="utf-8")
    header = text.split("\r\n", 1)[0].split(";")
    today = clock.today()  # the pinned date the server sees too

    def day(offset: int, time: str = "") -> str:
        d = today - dt.timedelta(days=offset)
        return f"{d.day}-{d.month}-{d.year}" + (f" {time}" if time else "")

    rows = []
    for number, arm, rid in (("9901", "Resection alone", "201"), ("9902", "Resection + adjuvant HAIP", "202")):
        values = dict.fromkeys(header, "")
        values.update({
            "Participant Id": f"PUMP-EMC-{number}", "Participant Status": "Not Set", "Site Abbreviation": "EMC",
            "Participant Creation Date": day(4, "09:12"), "Randomization Id": rid, "Randomization Group": arm,
            "Randomized On": day(1, "14:05"), "screening_outcome": "eligible", "consented_on": day(2), "status": "enrolled",
        })
        rows.append(";".join(values[h] for h in header))
    return (text + "\r\n".join(rows) + "\r\n").encode("utf-8")


def drop_on_the_upload_page(page: Page, server, path) -> None:
    """A coordinator opens the upload page, gives her name and drops the file (nothing stored yet)."""
    open_page(page, server)
    choose_role(page, "Trial coordinator")
    go_to(page, "Upload an extract")
    page.get_by_role("textbox", name="Your name").fill("Anna de Vries (EMC)")
    page.get_by_role("textbox", name="Your name").press("Enter")
    wait_for_app(page)
    page.get_by_test_id("stFileUploaderDropzone").locator("input[type=file]").set_input_files(str(path))
    wait_for_app(page)


def pump_enrolled(server) -> int:
    result = server.cli("summary", "--json")
    return next(t["enrolled"] for t in json.loads(result.stdout)["trials"] if t["trial"] == "PUMP")


def test_a_castor_export_dropped_on_the_upload_page_lands_and_shows_on_the_overview(page: Page, server, tmp_path):
    export = tmp_path / "PUMP_export_20261123.csv"
    export.write_bytes(castor_export_with_two_new_participants())

    open_page(page, server)  # the first page seeds the empty database with the demo data
    before = pump_enrolled(server)
    drop_on_the_upload_page(page, server, export)

    expect(page.get_by_text("Castor EDC export · semicolon-separated · UTF-8")).to_be_visible()
    expect(page.get_by_text("No problems found.")).to_be_visible()
    new = page.get_by_test_id("stMetric").filter(has_text="New participants")
    expect(new.get_by_test_id("stMetricValue")).to_have_text("2")
    assert pump_enrolled(server) == before  # nothing stored before the coordinator confirms

    page.get_by_role("button", name="Store the extract").click()
    wait_for_app(page)
    expect(page.get_by_text("as extract #")).to_contain_text("2 new, 0 changed, 0 no longer in the extract")
    assert pump_enrolled(server) == before + 2

    go_to(page, "Programme overview")
    assert_no_error_shown(page)
    pump_tile = page.get_by_test_id("stMetricValue").first
    expect(pump_tile).to_have_text(f"{before + 2} / 230")
