"""Turn an uploaded file's bytes into a table of text, whatever Excel or the EDC did to it.

Detects the encoding (UTF-8 with or without BOM, UTF-16 from Excel's "Unicode text",
cp1252 from Dutch Excel), the delimiter (`,` `;` tab, or Excel's `sep=;` line), CRLF,
Excel's trailing empty columns and rows (also rows longer than the header by empty
fields), headers repeated by REDCap label exports ("Complete?"), and reads `.xlsx`
workbooks. Every value stays text: the readers and the validation rules decide what a
value means.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import zipfile
import zlib
from dataclasses import dataclass

import pandas as pd

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_FIELD_CHARS = 100_000
# Castor and REDCap studies with every form exported reach about a thousand columns; a file
# with far more is not an enrolment extract, and each column costs the checks time.
MAX_COLUMNS = 3_000
MAX_LINE_CHARS = 2_000_000
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
XLSX_MAGIC = b"PK\x03\x04"
# A workbook is a zip: these are checked from its directory and by counting as it unpacks,
# before the spreadsheet library reads it, so a small file that unpacks to gigabytes (a
# "zip bomb") or to millions of cells is refused in words instead of exhausting the server.
MAX_XLSX_UNPACKED_BYTES = 100 * 1024 * 1024
MAX_XLSX_PARTS = 500
MAX_SHARED_STRINGS = 1_000_000
MAX_CELLS = 5_000_000  # 100,000 participants x 50 columns
# Control characters have no place in an extract (tab, line feed and carriage return aside):
# a NUL or an escape is a damaged file, or one built to confuse what reads it.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Castor's Excel export keeps the participants on this sheet.
PREFERRED_SHEETS = ("Study results",)


class UnreadableFile(ValueError):
    """The file cannot be read as a table; the message says why and what to do."""

    def __init__(self, message: str, row: int | None = None):
        super().__init__(message)
        self.row = row


@dataclass(frozen=True)
class Table:
    """A file's records as text. `frame` has the file's own headers (stripped) and a
    RangeIndex; the spreadsheet row of record i is i + 2 (the header is row 1)."""

    frame: pd.DataFrame
    encoding: str
    delimiter: str  # "," ";" "\t" or "xlsx"
    sha256: str
    size_bytes: int
    # Headers the file names more than once; each such column is told apart by its
    # position, e.g. "Complete? (column 12)" (REDCap label exports repeat "Complete?").
    duplicate_headers: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        return len(self.frame)

    @property
    def delimiter_name(self) -> str:
        return DELIMITERS.get(self.delimiter, self.delimiter)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_table(data: bytes) -> Table:
    """Read CSV/TSV text or an .xlsx workbook into a Table, or raise UnreadableFile."""
    if not data.strip():
        raise UnreadableFile("the file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise UnreadableFile(f"the file is {len(data) / 1e6:.0f} MB; the limit is {MAX_FILE_BYTES / 1e6:.0f} MB")
    if data.startswith(XLSX_MAGIC):
        _check_workbook(data)
        (frame, duplicates), encoding, delimiter = _read_xlsx(data), "xlsx", "xlsx"
    else:
        text, encoding = decode(data)
        _check_control_characters(text)
        _check_line_lengths(text)
        text, delimiter = _separator_line(text)
        delimiter = delimiter or detect_delimiter(text)
        frame, duplicates = _read_delimited(text, delimiter)
    frame = _tidy(frame)
    return Table(
        frame=frame,
        encoding=encoding,
        delimiter=delimiter,
        sha256=sha256_of(data),
        size_bytes=len(data),
        duplicate_headers=duplicates,
    )


def decode(data: bytes) -> tuple[str, str]:
    """Text and the name of its encoding. UTF-8 is tried before cp1252 because a cp1252
    file is almost never valid UTF-8, while the reverse guess would garble UTF-8."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "UTF-16"
        except UnicodeDecodeError as exc:
            raise UnreadableFile(
                f"the file says it is UTF-16 (Excel's 'Unicode text') but it breaks off at byte {exc.start}: "
                "it looks cut short or damaged; export it again"
            ) from exc
    if b"\x00" in data[:8192]:
        raise UnreadableFile(
            "this is not a text file (it holds binary data); export the data as CSV, or upload the .xlsx workbook"
        )
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "UTF-8 with BOM"
        except UnicodeDecodeError as exc:
            # A UTF-8 mark with other bytes behind it: two programs wrote this file.
            line = data[: exc.start + 3].count(b"\n") + 1
            raise UnreadableFile(
                f"the file starts as UTF-8 but line {line} is not UTF-8 (it was partly saved in another "
                "encoding); save it as 'CSV UTF-8' from Excel and upload it again",
                row=line,
            ) from exc
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "Windows-1252 (cp1252)"
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            f"the file's characters cannot be read (byte {exc.start} is neither UTF-8 nor Windows-1252); "
            "save it as 'CSV UTF-8' from Excel and upload it again"
        ) from exc


def _control_name(char: str) -> str:
    return "NUL" if char == "\x00" else f"U+{ord(char):04X}"


def _check_control_characters(text: str) -> None:
    """Refuse a control character anywhere in the text, naming its row (its line: the header is row 1)."""
    found = CONTROL.search(text)
    if found:
        row = text.count("\n", 0, found.start()) + 1
        raise UnreadableFile(
            f"row {row} holds a control character ({_control_name(found.group())}), which no export writes: the file "
            "is damaged or was not saved as text. Export it from the EDC again.",
            row=row,
        )


def _check_workbook(data: bytes) -> None:
    """Limits of an .xlsx checked before any spreadsheet library unpacks it: the sizes its zip
    directory declares, then the shared strings and cells counted while unpacking (the counting
    stops at the limit, so a bomb costs no more than the limit)."""
    try:
        book = zipfile.ZipFile(io.BytesIO(data))
        parts = book.infolist()
    except (zipfile.BadZipFile, ValueError) as exc:
        raise UnreadableFile(f"the Excel workbook cannot be read ({exc}); export the data as CSV instead") from exc
    unpacked = sum(part.file_size for part in parts)
    if len(parts) > MAX_XLSX_PARTS or unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise UnreadableFile(
            f"the workbook is {len(data) / 1e6:.1f} MB but unpacks to {unpacked / 1e6:,.0f} MB in {len(parts):,} parts "
            f"(the limit is {MAX_XLSX_UNPACKED_BYTES / 1e6:.0f} MB in {MAX_XLSX_PARTS} parts): it is not an enrolment "
            "extract, or it is built to exhaust the server. Export the data as CSV instead."
        )
    for part in parts:
        name = part.filename
        if name == "xl/sharedStrings.xml":
            _count_within(book, part, (b"<si>", b"<si "), MAX_SHARED_STRINGS, "distinct texts")
        elif name.startswith("xl/worksheets/") and name.endswith(".xml"):
            _count_within(book, part, (b"<c>", b"<c "), MAX_CELLS, "cells")


def _count_within(book: zipfile.ZipFile, part: zipfile.ZipInfo, marks: tuple[bytes, ...], limit: int, what: str) -> None:
    count, tail = 0, b""
    try:
        with book.open(part) as stream:
            while chunk := stream.read(1 << 20):
                window = tail + chunk
                count += sum(window.count(mark) for mark in marks)
                tail = window[-4:]
                count -= sum(tail.count(mark) for mark in marks)  # counted again with the next chunk
                if count > limit:
                    raise UnreadableFile(
                        f"the workbook holds more than {limit:,} {what} ({part.filename}); an enrolment extract holds far "
                        "fewer. Export only the participants' enrolment data, as CSV."
                    )
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise UnreadableFile(f"the Excel workbook cannot be read ({exc}); export the data as CSV instead") from exc


def _check_line_lengths(text: str) -> None:
    longest, number = max(((len(line), n) for n, line in enumerate(text.splitlines(), start=1)), default=(0, 0))
    if longest > MAX_LINE_CHARS:
        raise UnreadableFile(
            f"line {number} is {longest:,} characters long; the limit is {MAX_LINE_CHARS:,}. "
            "Is this really an enrolment extract?"
        )


def _separator_line(text: str) -> tuple[str, str | None]:
    """Excel's 'sep=;' first line names the delimiter; it is not part of the table."""
    found = re.match(r"sep=([,;\t])[ \t]*\r?\n", text)
    return (text[found.end() :], found.group(1)) if found else (text, None)


def detect_delimiter(text: str) -> str:
    """The delimiter that splits the header line most often (ties go to the comma);
    delimiters inside quoted headers ("Street, City") do not count."""
    header = text.lstrip("\r\n").split("\n", 1)[0]
    header = re.sub(r'"[^"]*"', "", header)
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _read_delimited(text: str, delimiter: str) -> tuple[pd.DataFrame, tuple[str, ...]]:
    csv.field_size_limit(MAX_FIELD_CHARS)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            engine="c",
        )
    except pd.errors.EmptyDataError as exc:
        raise UnreadableFile("the file holds no table") from exc
    except pd.errors.ParserError as exc:
        # Excel and hand edits leave rows with more (empty) fields than the header has.
        frame = _read_ragged(text, delimiter, str(exc))
    _check_shape(frame)
    return _promote_header(frame)


def _check_shape(frame: pd.DataFrame) -> None:
    """Limits that keep every later check fast, each with the cell that broke it."""
    if frame.shape[1] > MAX_COLUMNS:
        raise UnreadableFile(
            f"the file has {frame.shape[1]:,} columns; the limit is {MAX_COLUMNS:,}. "
            "Export only the forms that hold the enrolment data"
        )
    lengths = frame.apply(lambda col: col.str.len())
    too_long = lengths > MAX_FIELD_CHARS
    if too_long.to_numpy().any():
        row, column = next(zip(*too_long.to_numpy().nonzero(), strict=True))
        where = "the header" if row == 0 else f"row {row + 1}"
        raise UnreadableFile(
            f"a value in {where}, column {column + 1}, is longer than {MAX_FIELD_CHARS:,} characters; "
            "is this really an enrolment extract?"
        )


def _read_ragged(text: str, delimiter: str, message: str) -> pd.DataFrame:
    """Read rows longer than the header when their extra fields are empty (Excel's
    trailing ';;;'); refuse the file, naming the row, when an extra field holds a value."""
    if not re.search(r"Expected \d+ fields", message):
        raise UnreadableFile(_explain_parser_error(message, delimiter))
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise UnreadableFile(_explain_parser_error(message, delimiter)) from exc
    width = len(records[0])
    for number, record in enumerate(records[1:], start=2):
        if len(record) > width and any(v.strip() for v in record[width:]):
            name = DELIMITERS.get(delimiter, delimiter)
            raise UnreadableFile(
                f"row {number} has {len(record)} values but the header has {width} columns "
                f"(separated by {name}s); check for an unquoted {name} inside a value"
            )
    rows = [record[:width] + [""] * (width - len(record)) for record in records]
    return pd.DataFrame(rows, dtype=str)


def _explain_parser_error(message: str, delimiter: str) -> str:
    # pandas says "Expected 5 fields in line 7, saw 6"; coordinators think in rows.
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    name = DELIMITERS.get(delimiter, delimiter)
    if found:
        expected, line, saw = found.groups()
        return (
            f"row {line} has {saw} values but the header has {expected} columns "
            f"(separated by {name}s); check for an unquoted {name} inside a value"
        )
    return f"the file cannot be read as a table separated by {name}s ({message.strip()})"


def _read_xlsx(data: bytes) -> tuple[pd.DataFrame, tuple[str, ...]]:
    try:
        book = pd.ExcelFile(io.BytesIO(data), engine="calamine")  # Rust reader: 100k rows in seconds
        sheet = next((s for s in PREFERRED_SHEETS if s in book.sheet_names), book.sheet_names[0])
        frame = pd.read_excel(book, sheet_name=sheet, header=None, dtype=object)
    except Exception as exc:  # a damaged workbook raises many kinds of error
        raise UnreadableFile(f"the Excel workbook cannot be read ({exc}); export the data as CSV instead") from exc
    frame = frame.map(_cell_text)
    _check_shape(frame)
    _check_cells_for_control(frame)
    return _promote_header(frame)


def _check_cells_for_control(frame: pd.DataFrame) -> None:
    """A workbook's cells hold no control character either (row as in the spreadsheet)."""
    bad = frame.apply(lambda col: col.str.contains(CONTROL, regex=True))
    if bad.to_numpy().any():
        row, column = next(zip(*bad.to_numpy().nonzero(), strict=True))
        char = CONTROL.search(frame.iat[row, column]).group()
        raise UnreadableFile(
            f"row {row + 1}, column {column + 1}, holds a control character ({_control_name(char)}), which no export "
            "writes: the workbook is damaged or was made to confuse what reads it. Export it from the EDC again.",
            row=int(row) + 1,
        )


def _cell_text(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d") if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _promote_header(frame: pd.DataFrame) -> tuple[pd.DataFrame, tuple[str, ...]]:
    if frame.empty:
        raise UnreadableFile("the file holds no table")
    header = [str(h).strip() for h in frame.iloc[0]]
    body = frame.iloc[1:].reset_index(drop=True)
    body.columns = range(len(header))
    body = body.astype(str).apply(lambda col: col.str.strip())
    # Excel pads rows with empty trailing columns; keep a headerless column only if it holds data.
    keep = [i for i, h in enumerate(header) if h or (body[i] != "").any()]
    for i in keep:
        if not header[i]:
            raise UnreadableFile(f"column {i + 1} has values but no header; give it a name or remove it")
    body = body[keep]
    names = [header[i] for i in keep]
    duplicates = tuple(sorted({h for h in names if names.count(h) > 1}))
    # A repeated header is told apart by its column (REDCap label exports repeat
    # "Complete?" once per form); a reader that needs one of them says so.
    columns = [f"{h} (column {i + 1})" if h in duplicates else h for h, i in zip(names, keep, strict=True)]
    clash = sorted({c for c in columns if columns.count(c) > 1})
    if clash:
        raise UnreadableFile(
            f"the header names {', '.join(map(repr, clash))} more than once, also after telling repeated columns "
            "apart by their position; give each column its own name"
        )
    body.columns = columns
    return body, duplicates


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop rows that are empty in every column (Excel's trailing ';;;;' lines), keeping
    the record numbering of the rest (index i is spreadsheet row i + 2)."""
    empty = (frame == "").all(axis=1)
    return frame[~empty]
