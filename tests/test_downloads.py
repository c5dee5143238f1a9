"""Every CSV the dashboard hands out is safe to open in a spreadsheet: a cell that begins
with a formula character is shown as text, never run."""

import csv
import io

import pandas as pd

from dashboard import templates
from dashboard.config import load_programme
from dashboard.downloads import csv_bytes
from dashboard.ingest import check_extract
from dashboard.upload_report import report_csv
from support import NO_CURRENT, TODAY, template_csv

ATTACKS = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+2", "-2+3", "@SUM(A1)", "\tcmd", "\r=1"]


def read_back(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_formula_cells_are_neutralised_and_numbers_and_plain_text_are_not():
    frame = pd.DataFrame({"id": [*ATTACKS, "P-1"], "n": [-1, 2, 3, 4, 5, 6, 7]})
    rows = read_back(csv_bytes(frame))
    assert [r[0] for r in rows[1:]] == [f"'{a}" for a in ATTACKS] + ["P-1"]
    assert [r[1] for r in rows[1:]] == ["-1", "2", "3", "4", "5", "6", "7"]  # numbers stay numbers


def test_the_upload_report_of_a_crafted_participant_id_does_not_run_in_a_spreadsheet():
    data = template_csv('"=HYPERLINK(""http://evil"",""x"")",EMC,,31-02-2024,haip')
    checked = check_extract(data, "x.csv", load_programme(), "PUMP", TODAY, NO_CURRENT)
    rows = read_back(report_csv(checked.issues))
    bad_date = next(r for r in rows if r[0] == "error")
    assert bad_date[:4] == ["error", "2", "enrolled_on", "31-02-2024"]
    value_cells = [cell for row in rows for cell in row]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in value_cells)


def test_the_templates_hand_out_no_formula_cells():
    for data in (templates.template_csv(), templates.data_dictionary_csv(load_programme().trials["PUMP"])):
        assert not any(cell.startswith(("=", "+", "-", "@")) for row in read_back(data) for cell in row)

