"""Files that cannot hurt the process (issue 19, item 9): a workbook is checked before any
spreadsheet library unpacks it (its unpacked size, its shared strings, its cells), and a
control character anywhere in a file, also far past its start, is refused naming the row.
The bombs are small files (a few hundred kilobytes), so these tests stay fast."""

import io
import time
import zipfile

import openpyxl
import pytest

from dashboard.config import load_programme
from dashboard.ingest import check_extract
from dashboard.readers import reading
from dashboard.readers.reading import UnreadableFile, read_table
from support import NO_CURRENT, TODAY, template_csv

PROGRAMME = load_programme()


def workbook(replace: dict[str, bytes] | None = None) -> bytes:
    """A real one-sheet workbook, with some of its parts replaced by crafted ones."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["participant_id", "site", "enrolled_on", "arm"])
    sheet.append(["P-1", "EMC", "2024-03-05", "haip"])
    plain = io.BytesIO()
    book.save(plain)
    out = io.BytesIO()
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for item in src.infolist():
            dst.writestr(item.filename, (replace or {}).get(item.filename, src.read(item.filename)))
        for name, data in (replace or {}).items():
            if name not in src.namelist():
                dst.writestr(name, data)
    return out.getvalue()


def refusal(data: bytes) -> str:
    checked = check_extract(data, "book.xlsx", PROGRAMME, "PUMP", TODAY, NO_CURRENT)
    assert not checked.ok and checked.participants is None
    return checked.errors[0].message


def test_a_plain_workbook_still_reads():
    assert list(read_table(workbook()).frame["participant_id"]) == ["P-1"]


def test_a_zip_bomb_is_refused_in_words_before_it_is_unpacked():
    sheet = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData/>' + b" " * (
        reading.MAX_XLSX_UNPACKED_BYTES + 1) + b"</worksheet>"
    data = workbook({"xl/worksheets/sheet1.xml": sheet})
    assert len(data) < 500_000
    started = time.perf_counter()
    message = refusal(data)
    assert time.perf_counter() - started < 2  # refused from the zip directory, not by unpacking
    assert "unpacks to 105 MB" in message and "built to exhaust the server" in message and "CSV" in message


def test_millions_of_cells_are_refused_while_counting():
    cells = b'<c r="A1"/>' * (reading.MAX_CELLS + 1)
    sheet = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">' + cells + b"</row></sheetData></worksheet>"
    message = refusal(workbook({"xl/worksheets/sheet1.xml": sheet}))
    assert f"more than {reading.MAX_CELLS:,} cells (xl/worksheets/sheet1.xml)" in message


def test_millions_of_shared_strings_are_refused_while_counting():
    strings = b"<si><t>a</t></si>" * (reading.MAX_SHARED_STRINGS + 1)
    sst = b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">' + strings + b"</sst>"
    message = refusal(workbook({"xl/sharedStrings.xml": sst}))
    assert f"more than {reading.MAX_SHARED_STRINGS:,} distinct texts" in message


def test_a_damaged_workbook_is_refused_in_words():
    data = workbook()
    with pytest.raises(UnreadableFile, match="cannot be read"):
        read_table(data[: len(data) // 2])


@pytest.mark.parametrize(("char", "name"), [("\x00", "NUL"), ("\x1b", "U+001B"), ("\x07", "U+0007")])
def test_a_control_character_far_into_a_file_is_refused_naming_its_row(char, name):
    rows = [f"P-{n},EMC,2024-03-05,haip" for n in range(1, 400)]  # well past the first 8 KB
    rows[349] = f"P-350,EMC,2024-03-05,ha{char}ip"
    data = template_csv(*rows, header="participant_id,site,enrolled_on,arm")
    assert data.index(char.encode()) > 8192
    checked = check_extract(data, "extract.csv", PROGRAMME, "PUMP", TODAY, NO_CURRENT)
    assert [(e.row, e.message) for e in checked.errors] == [(
        351, f"the file cannot be read: row 351 holds a control character ({name}), which no export writes: the file is "
        "damaged or was not saved as text. Export it from the EDC again.")]
