"""Files made to break the reader, and files no one meant to make: every one ends in a
clear refusal or a correct load, the command line prints one JSON object either way, and
nothing partial is ever written. Hypothesis generates the shapes no one thought of."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard import service
from dashboard.cli import main
from dashboard.config import load_programme
from dashboard.ingest import check_extract, check_file, commit
from dashboard.store import Refused, Store
from support import NO_CURRENT, TODAY, only_the_refusal_audited, template_csv

HEADER = "participant_id,site,screened_on,enrolled_on,arm"
ROW = "P-1,EMC,,05-03-2024,haip"


def text(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


# Each shape, and the start of the sentence the coordinator reads.
REFUSED = {
    "bom_then_cp1252.csv": (
        b"\xef\xbb\xbf" + text(HEADER, ROW) + "P-2,EMC,,06-03-2024,haip,café\r\n".encode("cp1252"),
        "the file cannot be read: the file starts as UTF-8 but line 3 is not UTF-8 (it was partly saved in another encoding)",
    ),
    "utf16_cut_short.csv": (
        ("\ufeff" + HEADER + "\r\n" + ROW + "\r\n").encode("utf-16-le")[:-1],
        "the file cannot be read: the file says it is UTF-16 (Excel's 'Unicode text') but it breaks off at byte",
    ),
    "arabic_indic_bsn.csv": (
        text(HEADER, "١١١٢٢٢٣٣٣,EMC,,05-03-2024,haip"),
        "`participant_id`: it holds numbers that pass the BSN eleven-test (row 2).",
    ),
    "header_clash.csv": (
        text("participant_id,site,enrolled_on,arm,arm,arm (column 4)", "P-1,EMC,05-03-2024,haip,haip,x"),
        "the file cannot be read: the header names 'arm (column 4)' more than once, also after telling repeated columns apart",
    ),
    "cell_too_long.csv": (
        text(HEADER + ",note", ROW + "," + "x" * 100_001),
        "the file cannot be read: a value in row 2, column 6, is longer than 100,000 characters",
    ),
    "fifty_thousand_columns.csv": (
        text(",".join(["participant_id", "enrolled_on", *[f"c{i}" for i in range(50_000)]]), "P-1,05-03-2024" + ",x" * 50_000),
        "the file cannot be read: the file has 50,002 columns; the limit is 3,000.",
    ),
    "full_width_date_not_a_date.csv": (
        text(HEADER, "P-1,EMC,,０５-１３-２０２４,haip"),  # month 13, in full-width digits
        "row 2, `enrolled_on`: '０５-１３-２０２４' is not a date",
    ),
}


@pytest.fixture
def seeded(tmp_path, programme):
    store = Store(tmp_path / "hostile.duckdb", create=True)
    service.record_config(store, programme)
    commit(store, check_file(store, programme, template_csv("P-1,EMC,,2024-03-05,haip"), "first.csv", "PUMP", today=TODAY), "seeder")
    return store


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_hostile_file_is_refused_in_one_json_object_and_changes_nothing(name, seeded, tmp_path, capsys):
    data, message = REFUSED[name]
    path = tmp_path / name
    path.write_bytes(data)
    before = seeded.table_counts()
    code = main(["--db", str(seeded.path), "ingest", str(path), "--trial", "PUMP", "--by", "coordinator", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 1 and result["ok"] is False
    assert result["errors"][0]["message"].startswith(message)
    assert only_the_refusal_audited(seeded, before)


def test_dates_in_full_width_or_arabic_indic_digits_are_read_as_dates(programme):
    for day in ("０５-０３-２０２４", "٠٥-٠٣-٢٠٢٤"):
        checked = check_extract(text(HEADER, f"P-1,EMC,,{day},haip"), "x.csv", programme, "PUMP", TODAY, NO_CURRENT)
        assert checked.ok and checked.enrolment_range() == ("2024-03-05", "2024-03-05")


def test_an_internal_error_says_so_exits_3_and_keeps_the_traceback_for_the_log(seeded, tmp_path, capsys, monkeypatch):
    path = tmp_path / "x.csv"
    path.write_bytes(template_csv("P-2,EMC,,2024-03-05,haip"))
    monkeypatch.setenv("PUMP_LOG", str(tmp_path / "dashboard.log"))

    def broken(*args, **kwargs):
        raise RuntimeError("a bug deep inside")

    monkeypatch.setattr("dashboard.cli.check_file", broken)
    before = seeded.table_counts()
    code = main(["--db", str(seeded.path), "ingest", str(path), "--trial", "PUMP", "--by", "coordinator", "--json"])
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert code == 3 and result["ok"] is False
    assert result["message"] == f"internal error, nothing was stored (the details are in {tmp_path / 'dashboard.log'})"
    assert "Traceback" not in captured.out + captured.err
    assert "RuntimeError: a bug deep inside" in (tmp_path / "dashboard.log").read_text()
    assert seeded.table_counts() == before


def test_an_unreadable_file_path_is_bad_usage_with_a_json_answer(seeded, tmp_path, capsys):
    code = main(["--db", str(seeded.path), "validate", str(tmp_path / "missing.csv"), "--trial", "PUMP", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 2 and result["message"].startswith("cannot read ") and result["ok"] is False


# ---- hypothesis: whatever the bytes, a refusal with a message or a load -------------------------

PROGRAMME = load_programme()
CELL = st.text(
    alphabet=st.sampled_from(list("aZ09-/.:;, \t\"'\r\n@+=#") + ["é", "０", "٣", "\u00a0", "\ufeff", "\x00", "ß", "😀"]),
    max_size=12,
)
HEADERS = st.sampled_from(
    [
        "participant_id", "site", "enrolled_on", "arm", "status", "screened_on", "screen_fail_reason", "Participant Id",
        "Site Abbreviation", "Randomized On", "Randomization Group", "record_id", "redcap_data_access_group",
        "redcap_event_name", "institute", "x", "", "arm", "note#Option", "field___1",
    ]
)
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"])


@st.composite
def csv_files(draw) -> bytes:
    header = draw(st.lists(HEADERS, min_size=1, max_size=7))
    rows = draw(st.lists(st.lists(CELL, min_size=0, max_size=len(header) + 2), max_size=6))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    quote = draw(st.booleans())

    def cell(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if quote else value

    lines = [delimiter.join(map(cell, header)), *(delimiter.join(map(cell, r)) for r in rows)]
    body = draw(st.sampled_from(["\r\n", "\n"])).join(lines)
    return body.encode(draw(ENCODINGS), errors="replace")


def assert_refusal_or_load(checked) -> None:
    if checked.ok:
        assert checked.participants is not None and checked.diff is not None
    else:
        assert all(issue.message.strip() for issue in checked.errors)
        assert "None" not in " ".join(issue.message for issue in checked.errors if issue.row is None and issue.column is None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=400), fmt=st.sampled_from([None, "template", "castor", "redcap"]))
def test_any_bytes_end_in_a_refusal_or_a_load(data, fmt):
    assert_refusal_or_load(check_extract(data, "any.csv", PROGRAMME, "PUMP", TODAY, NO_CURRENT, fmt=fmt))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=csv_files(), fmt=st.sampled_from([None, "template", "castor", "redcap"]), site=st.sampled_from([None, "EMC"]))
def test_any_table_in_any_format_ends_in_a_refusal_or_a_load(data, fmt, site):
    assert_refusal_or_load(check_extract(data, "any.csv", PROGRAMME, "PUMP", TODAY, NO_CURRENT, site=site, fmt=fmt))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=csv_files())
def test_a_commit_lands_whole_or_not_at_all(tmp_path_factory, data):
    store = Store(tmp_path_factory.mktemp("prop") / "p.duckdb", create=True)
    store.data_version()
    before = store.table_counts()
    checked = check_file(store, PROGRAMME, data, "any.csv", "PUMP", today=TODAY)
    assert_refusal_or_load(checked)
    try:
        extract_id = commit(store, checked, "coordinator", accept_warnings=True)
    except Refused:
        assert only_the_refusal_audited(store, before)
        return
    assert len(store.extract_participants(extract_id)) == len(checked.participants)
