"""The meeting pack from the command line (`report`), on the hand-built history of support.py:
HTML that needs nothing from any other host, and a PDF printed by the system Chromium whose
text (pdftotext, Debian's poppler-utils) holds the figures of `changes --json` on every page."""

import html
import re
import subprocess

import pytest

from dashboard import service
from dashboard.cli import main
from dashboard.meetings import since_line
from dashboard.store import Store
from support import meeting_history

# Where a document makes the browser fetch something: attributes, CSS url() and @import.
RESOURCE = re.compile(r"""(?:\b(?:src|href|action|poster|srcset|data)\s*=\s*["']?\s*|url\(\s*["']?|@import\s+["']?)(?:https?:)?//""", re.I)
PLOTLY_BUNDLE = re.compile(r"<script type='text/javascript'>.*?</script>", re.S)


@pytest.fixture(scope="module")
def history_db(tmp_path_factory, programme):
    store = Store(tmp_path_factory.mktemp("report") / "pack.duckdb", create=True)
    meeting_history(store, programme)
    return store


@pytest.fixture(scope="module")
def pack_html(history_db, tmp_path_factory):
    out = tmp_path_factory.mktemp("html") / "pack.html"
    assert main(["--db", str(history_db.path), "report", "--out", str(out)]) == 0
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def pack_pdf(history_db, tmp_path_factory):
    out = tmp_path_factory.mktemp("pdf") / "pack.pdf"
    assert main(["--db", str(history_db.path), "report", "--out", str(out)]) == 0
    return out


def pdf_pages(path) -> list[str]:
    pages = int(re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout)[1])
    texts = []
    for number in range(1, pages + 1):
        text = subprocess.run(
            ["pdftotext", "-f", str(number), "-l", str(number), str(path), "-"], capture_output=True, text=True, check=True
        ).stdout
        texts.append(" ".join(text.split()))  # one line: a sentence may wrap anywhere
    return texts


def test_the_html_pack_needs_no_other_host(pack_html):
    assert pack_html.startswith("<!DOCTYPE html>")
    # plotly.js is inline (no <script src>); outside it (the pack's own text, styles and charts) there is
    # no address at all. The bundle's own text names hosts only for map tiles and attribution links,
    # code the pack never runs: the browser test opens the file offline and sees no request leave it.
    assert "plotly.js v" in pack_html and len(PLOTLY_BUNDLE.findall(pack_html)) == 1
    rest = PLOTLY_BUNDLE.sub("", pack_html)
    assert not RESOURCE.search(rest) and "<script src" not in rest
    assert "http://" not in rest and "https://" not in rest
    assert rest.count("Plotly.newPlot") == 3  # one accrual chart per trial
    assert rest.count("<svg viewBox") == 3  # one CONSORT flow per trial, a vector


def test_the_html_pack_holds_the_figures_of_changes_and_summary(pack_html, history_db, programme):
    changes = service.changes(history_db, programme)
    summary = service.programme_summary(history_db, programme, service.today())
    body = pack_html.split("<body>")[1]
    assert body.count("data as of Sat 21 Nov 2026") == 7  # the summary, three trials and their CONSORT flows: every page
    assert body.count("changes since the meeting of Thu 05 Nov 2026 (#1, chair)") == 7
    assert "DEMO DATA" not in body  # real (hand-built) data is never called demo
    for block, t in zip(changes["trials"], summary["trials"], strict=True):
        assert html.escape(since_line(block)) in body
        assert f"{t['enrolled']} / {t['target']}" in body
    assert "P2-E1" in body and "enrolled on 2026-10-01 → 2026-09-28" in body  # the correction, named
    # Which model the statuses come from: in the legend, and on every trial's page (the demo's trials have two sites).
    assert html.escape(summary["forecast_model_text"]) in body and "a rate per site" in summary["forecast_model_text"]
    assert body.count("Status and finish: a rate per site, at the pace of the last 6 months") == 3
    assert "stale since meeting" in body


def test_the_pdf_pack_is_a4_landscape_with_the_dates_and_figures_on_every_page(pack_pdf, history_db, programme):
    info = subprocess.run(["pdfinfo", str(pack_pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Page size:\s+841\.\d+ x 59[45]\.\d+ pts \(A4\)", info)  # landscape
    pages = pdf_pages(pack_pdf)
    assert len(pages) == 7
    for text in pages:
        assert "data as of Sat 21 Nov 2026" in text
        assert "changes since the meeting of Thu 05 Nov 2026 (#1, chair)" in text
    summary_page, pump, pump_consort, pump2, pump2_consort, pump_it, _ = pages
    assert "PUMP: CONSORT flow" in pump_consort and "Screened: 0" in pump_consort
    # PUMP-2's flow from its stored rows: six enrolled, the withdrawal; no pump date in the extract.
    assert "Enrolled: 6" in pump2_consort and "Withdrawn: 1" in pump2_consort and "Pump placed: not recorded" in pump2_consort
    assert "Programme summary" in summary_page and "Note of that meeting: first steering meeting" in summary_page
    p2 = next(t for t in service.changes(history_db, programme)["trials"] if t["trial"] == "PUMP-2")
    assert "No extract" in pump or "0 / 230" in pump
    # PUMP-2: 6 enrolled of 50, +2 since the meeting (EMC), one late, two gone with the retraction.
    assert "6 / 50" in pump2 and "+2" in pump2
    assert since_line(p2) in pump2
    assert "Site Enrolled New of them late No longer enrolled Withdrawn Corrections Last extract Data" in pump2
    assert "EMC 5 2 1 0 1 1 10 Nov 2026 fresh" in pump2
    assert "NKI 1 0 0 2 0 0 01 Oct 2026 stale since meeting" in pump2
    assert "1 / 45" in pump_it and "EMC" in pump_it


def test_report_as_of_a_past_day_compares_with_the_meeting_held_by_then(history_db, tmp_path):
    out = tmp_path / "past.html"
    assert main(["--db", str(history_db.path), "report", "--out", str(out), "--as-of", "2026-11-06"]) == 0
    body = out.read_text(encoding="utf-8").split("<body>")[1]
    assert body.count("data as of Fri 06 Nov 2026") == 7
    # On 6 Nov nothing had changed since the meeting of 5 Nov: +0 everywhere.
    assert "Since last meeting: <b>+0</b>" in body


def test_report_refuses_another_file_type(history_db, tmp_path, capsys):
    assert main(["--db", str(history_db.path), "report", "--out", str(tmp_path / "pack.docx")]) == 2
    assert "must end in .html or .pdf" in capsys.readouterr().err
    assert not (tmp_path / "pack.docx").exists()


@pytest.fixture(scope="module")
def demo_history(tmp_path_factory, programme):
    """The hand-built history with one extract of the demo loader's (so the data is demo data), and
    meeting #2 held on 21 Nov 2026 after the corrections, the late report and the retraction."""
    import datetime as dt

    from dashboard.ingest import check_file, commit
    from support import TODAY, template_csv

    store = Store(tmp_path_factory.mktemp("demo-pack") / "pack.duckdb", create=True)
    meeting_history(store, programme)
    checked = check_file(store, programme, template_csv("D-1,EMC,,2026-11-12,haip"), "demo.csv", "PUMP", today=TODAY)
    commit(store, checked, service.DEMO_ACTOR, accept_warnings=True, uploaded_at=dt.datetime(2026, 11, 12, 9))
    store.hold_meeting("Dr. Chair", "PUMP-2 NKI export to be redone", at=dt.datetime(2026, 11, 21, 10))
    return store


def test_the_pack_of_meeting_2_compares_its_cut_with_meeting_1_never_plus_0(demo_history, tmp_path, programme):
    out = tmp_path / "meeting2.html"
    assert main(["--db", str(demo_history.path), "report", "--meeting", "2", "--out", str(out)]) == 0
    body = out.read_text(encoding="utf-8").split("<body>")[1]
    # The minutes' meeting on the first page: its date, chair and note.
    assert "Meeting #2, held on Sat 21 Nov 2026; chair: Dr. Chair. Note for the minutes: PUMP-2 NKI export to be redone." in body
    assert body.count("changes since the meeting of Thu 05 Nov 2026 (#1, chair)") == 7
    # What meeting #2 saw against meeting #1's cut: the late report, the retraction, the withdrawal, the correction.
    block = next(t for t in service.meeting_as_it_was(demo_history, programme, 2)["changes"]["trials"] if t["trial"] == "PUMP-2")
    assert f"Since last meeting: <b>{html.escape(since_line(block))}</b>" in body
    assert since_line(block).startswith("+2 (EMC +2; 1 reported late), 2 no longer enrolled, 1 withdrawn, 1 correction")
    assert "Since last meeting: <b>+1 (EMC +1)</b>" in body  # PUMP: the demo extract's one
    # Without --meeting the pack is today's against the last meeting (#2, just held): nothing since.
    today = tmp_path / "today.html"
    assert main(["--db", str(demo_history.path), "report", "--out", str(today)]) == 0
    assert "Since last meeting: <b>+0</b>" in today.read_text(encoding="utf-8")


def test_a_demo_pack_says_demo_data_on_every_printed_page(demo_history, tmp_path):
    out = tmp_path / "meeting2.pdf"
    assert main(["--db", str(demo_history.path), "report", "--meeting", "2", "--out", str(out)]) == 0
    pages = pdf_pages(out)
    assert len(pages) == 7
    for text in pages:
        assert "DEMO DATA: made-up participants, not real patients" in text
        assert "PUMP steering meeting #2 of Sat 21 Nov 2026" in text


def test_report_of_a_meeting_that_does_not_exist_is_refused(demo_history, tmp_path, capsys):
    assert main(["--db", str(demo_history.path), "report", "--meeting", "9", "--out", str(tmp_path / "x.html")]) == 1
    assert "there is no meeting #9" in capsys.readouterr().err and not (tmp_path / "x.html").exists()
    assert main(["--db", str(demo_history.path), "report", "--meeting", "2", "--since-meeting", "1", "--out", str(tmp_path / "x.html")]) == 2
