"""Reading any file a coordinator may upload (DESIGN.md 4.2): encodings, delimiters, line
ends and what Excel does to a file, before any format is looked at."""

import io
import sys
from pathlib import Path

import openpyxl
import pytest

from dashboard.ingest import check_extract
from dashboard.readers.reading import UnreadableFile, read_table
from support import NO_CURRENT, TODAY, template_csv

FILES = Path(__file__).resolve().parent / "files"
sys.path.insert(0, str(FILES))
import make_files  # noqa: E402


def records(data: bytes) -> list[dict]:
    return read_table(data).frame.to_dict("records")


@pytest.mark.parametrize("name", sorted(make_files.FILES))
def test_hand_made_files_are_byte_for_byte_as_generated(name):
    # a checkout that converted CRLF or re-encoded cp1252 would make these tests meaningless
    assert (FILES / name).read_bytes() == make_files.FILES[name]


# --- encodings --------------------------------------------------------------------------


def test_utf8_with_bom_does_not_reach_the_first_header():
    table = read_table("participant_id;enrolled_on\r\nP-1;1-2-2024\r\n".encode("utf-8-sig"))
    assert table.encoding == "UTF-8 with BOM"
    assert list(table.frame.columns) == ["participant_id", "enrolled_on"]


def test_cp1252_from_dutch_excel_keeps_accents_and_dashes():
    table = read_table("participant_id;screen_fail_reason\r\nP-1;patiënt weigert – café\r\n".encode("cp1252"))
    assert table.encoding == "Windows-1252 (cp1252)"
    assert table.frame["screen_fail_reason"].tolist() == ["patiënt weigert – café"]


def test_utf8_is_not_mistaken_for_cp1252():
    table = read_table("participant_id;screen_fail_reason\nP-1;patiënt weigert\n".encode())
    assert table.encoding == "UTF-8" and table.frame["screen_fail_reason"].tolist() == ["patiënt weigert"]


def test_utf16_unicode_text_from_excel():
    table = read_table("participant_id\tenrolled_on\r\nP-1\t1-2-2024\r\n".encode("utf-16"))
    assert (table.encoding, table.delimiter) == ("UTF-16", "\t")
    assert records("participant_id\tenrolled_on\r\nP-1\t1-2-2024\r\n".encode("utf-16")) == [
        {"participant_id": "P-1", "enrolled_on": "1-2-2024"}
    ]


# --- delimiters and line ends ----------------------------------------------------------------


@pytest.mark.parametrize(("delimiter", "name"), [(",", "comma"), (";", "semicolon"), ("\t", "tab")])
def test_delimiter_is_detected(delimiter, name):
    data = f"participant_id{delimiter}site{delimiter}enrolled_on\r\nP-1{delimiter}EMC{delimiter}1-2-2024\r\n".encode()
    table = read_table(data)
    assert table.delimiter_name == name
    assert table.frame.to_dict("records") == [{"participant_id": "P-1", "site": "EMC", "enrolled_on": "1-2-2024"}]


def test_crlf_leaves_no_carriage_return_in_the_last_column():
    assert records(b"participant_id;enrolled_on\r\nP-1;1-2-2024\r\nP-2;2-2-2024\r\n")[-1] == {
        "participant_id": "P-2",
        "enrolled_on": "2-2-2024",
    }


def test_delimiters_inside_quoted_headers_do_not_count():
    table = read_table(b'"Street, City";"Name, first";participant_id\r\na;b;P-1\r\n')
    assert table.delimiter == ";" and list(table.frame.columns) == ["Street, City", "Name, first", "participant_id"]


def test_excels_sep_line_names_the_delimiter_and_is_not_the_header():
    table = read_table(b"sep=;\r\nparticipant_id;note\r\nP-1;a, b, c\r\n")
    assert table.delimiter == ";" and table.frame.to_dict("records") == [{"participant_id": "P-1", "note": "a, b, c"}]


def test_multi_line_quoted_values_stay_one_record_and_rows_count_records():
    table = read_table(b'participant_id,note,enrolled_on\nP-1,"line one\nline two",1-2-2024\nP-2,,2-2-2024\n')
    assert table.frame["note"].tolist() == ["line one\nline two", ""]
    assert table.frame.index.tolist() == [0, 1]


# --- what Excel leaves behind ----------------------------------------------------------------


def test_trailing_empty_columns_and_rows_of_dutch_excel_are_dropped():
    table = read_table(b"participant_id;enrolled_on;;;\r\nP-1;1-2-2024;;;\r\n;;;;\r\nP-2;2-2-2024;;;\r\n;;;;\r\n")
    assert list(table.frame.columns) == ["participant_id", "enrolled_on"]
    assert table.frame["participant_id"].tolist() == ["P-1", "P-2"]
    assert table.frame.index.tolist() == [0, 2]  # P-2 is still spreadsheet row 4


def test_rows_with_more_empty_fields_than_the_header_are_read():
    table = read_table(b"participant_id;enrolled_on\r\nP-1;1-2-2024;;;\r\nP-2;2-2-2024\r\n")
    assert table.frame.to_dict("records") == [
        {"participant_id": "P-1", "enrolled_on": "1-2-2024"},
        {"participant_id": "P-2", "enrolled_on": "2-2-2024"},
    ]


def test_a_row_with_a_value_beyond_the_header_is_refused_naming_the_row():
    with pytest.raises(UnreadableFile) as refused:
        read_table(b"participant_id;enrolled_on\r\nP-1;1-2-2024\r\nP-2;2-2-2024;;oops\r\n")
    assert str(refused.value) == (
        "row 3 has 4 values but the header has 2 columns (separated by semicolons); "
        "check for an unquoted semicolon inside a value"
    )


def test_a_column_with_values_but_no_header_is_refused():
    with pytest.raises(UnreadableFile, match="column 3 has values but no header; give it a name or remove it"):
        read_table(b"participant_id;enrolled_on;\r\nP-1;1-2-2024;x\r\n")


def test_repeated_headers_are_told_apart_by_their_column():
    table = read_table(b'"Record ID","Complete?","Date","Complete?"\n1,2,2024-01-01,0\n')
    assert list(table.frame.columns) == ["Record ID", "Complete? (column 2)", "Date", "Complete? (column 4)"]
    assert table.duplicate_headers == ("Complete?",)


def test_the_template_still_refuses_a_repeated_header(programme):
    data = template_csv("P-1,EMC,haip,2024-03-05,control", header="participant_id,site,arm,enrolled_on,arm")
    checked = check_extract(data, "t.csv", programme, "PUMP", TODAY, NO_CURRENT)
    assert [i.message for i in checked.errors] == [
        "the header names these columns twice: arm; give each column its own name, or remove the extra one"
    ]


# --- Excel workbooks ------------------------------------------------------------------------


def workbook(*sheets: tuple[str, list[list]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_xlsx_prefers_castors_study_results_sheet():
    data = workbook(
        ("Study variable list", [["Variable name"], ["inclusie_datum"]]),
        ("Study results", [["Participant Id", "inclusie_datum", "cycli"], ["P-1", "3-4-2024", 6.0]]),
    )
    table = read_table(data)
    assert (table.encoding, table.delimiter) == ("xlsx", "xlsx")
    assert table.frame.to_dict("records") == [{"Participant Id": "P-1", "inclusie_datum": "3-4-2024", "cycli": "6"}]


def test_xlsx_without_that_sheet_reads_the_first_one_and_real_dates_become_iso():
    import datetime as dt

    data = workbook(("Blad1", [["participant_id", "enrolled_on"], ["P-1", dt.datetime(2024, 4, 3)], [None, None]]))
    assert records(data) == [{"participant_id": "P-1", "enrolled_on": "2024-04-03"}]


def test_a_damaged_workbook_is_refused_with_advice():
    with pytest.raises(UnreadableFile, match=r"the Excel workbook cannot be read .*; export the data as CSV instead"):
        read_table(b"PK\x03\x04 this is not really a workbook")


def test_a_template_mapping_to_a_missing_column_is_an_error_not_a_crash(programme):
    data = template_csv("P-1,EMC,2024-03-05", header="participant_id,site,enrolled_on")
    mappings = {"template": {"consented_on": "toestemming"}}
    checked = check_extract(data, "t.csv", programme, "PUMP", TODAY, NO_CURRENT, mappings=mappings)
    assert [i.message for i in checked.errors] == [
        "`consented_on` is mapped to the column `toestemming`, which this file does not have. Columns on offer: "
        "participant_id, site, enrolled_on. Choose one of them for `consented_on`, or export the file again with `toestemming`."
    ]
