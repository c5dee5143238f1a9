"""Turn an uploaded file's bytes into a table of text, whatever Excel or the EDC did to it.

Detects the encoding (UTF-8 with or without BOM, UTF-16 from Excel's "Unicode text",
cp1252 from Dutch Excel), the delimiter (`,` `;` tab), CRLF, Excel's trailing empty
columns and rows, and reads `.xlsx` workbooks. Every value stays text: the readers and
the validation rules decide what a value means.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from dataclasses import dataclass

import pandas as pd

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_FIELD_CHARS = 100_000
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
XLSX_MAGIC = b"PK\x03\x04"
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
        frame, encoding, delimiter = _read_xlsx(data), "xlsx", "xlsx"
    else:
        text, encoding = decode(data)
        delimiter = detect_delimiter(text)
        frame = _read_delimited(text, delimiter)
    frame = _tidy(frame)
    return Table(frame=frame, encoding=encoding, delimiter=delimiter, sha256=sha256_of(data), size_bytes=len(data))


def decode(data: bytes) -> tuple[str, str]:
    """Text and the name of its encoding. UTF-8 is tried before cp1252 because a cp1252
    file is almost never valid UTF-8, while the reverse guess would garble UTF-8."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "UTF-16"
    if b"\x00" in data[:8192]:
        raise UnreadableFile(
            "this is not a text file (it holds binary data); export the data as CSV, or upload the .xlsx workbook"
        )
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "UTF-8 with BOM"
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


def detect_delimiter(text: str) -> str:
    """The delimiter that splits the header line most often (ties go to the comma)."""
    header = text.lstrip("\r\n").split("\n", 1)[0]
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _read_delimited(text: str, delimiter: str) -> pd.DataFrame:
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
        raise UnreadableFile(_explain_parser_error(str(exc), delimiter)) from exc
    if frame.map(len).to_numpy().max(initial=0) > MAX_FIELD_CHARS:
        raise UnreadableFile(f"a value is longer than {MAX_FIELD_CHARS:,} characters; is this really an enrolment extract?")
    return _promote_header(frame)


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


def _read_xlsx(data: bytes) -> pd.DataFrame:
    try:
        book = pd.ExcelFile(io.BytesIO(data), engine="openpyxl")
        sheet = next((s for s in PREFERRED_SHEETS if s in book.sheet_names), book.sheet_names[0])
        frame = book.parse(sheet, header=None, dtype=object)
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
        raise UnreadableFile(f"the Excel workbook cannot be read ({exc}); export the data as CSV instead") from exc
    return _promote_header(frame.map(_cell_text))


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


def _promote_header(frame: pd.DataFrame) -> pd.DataFrame:
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
    body.columns = [header[i] for i in keep]
    duplicates = sorted({h for h in body.columns if list(body.columns).count(h) > 1})
    if duplicates:
        raise UnreadableFile(f"the header names these columns twice: {', '.join(duplicates)}")
    return body


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop rows that are empty in every column (Excel's trailing ';;;;' lines), keeping
    the record numbering of the rest (index i is spreadsheet row i + 2)."""
    empty = (frame == "").all(axis=1)
    return frame[~empty]
