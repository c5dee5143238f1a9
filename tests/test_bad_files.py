"""The corpus of bad files in tests/files/bad/: each is refused through the command line
with the message a coordinator reads, and the database does not change."""

import json
from pathlib import Path

import pytest

from dashboard import service
from dashboard.cli import main
from dashboard.ingest import check_file, commit
from dashboard.store import Store
from support import TODAY, only_the_refusal_audited, template_csv

BAD = Path(__file__).parent / "files" / "bad"
DEIDENTIFY = "Direct identifiers of patients may not be stored here, so the file is refused."

EXPECTED = {
    "empty.csv": "the file cannot be read: the file is empty",
    "header_only.csv": "the file has a header but no participant rows",
    "binary.csv": "the file cannot be read: this is not a text file (it holds binary data); export the data as CSV, or upload the .xlsx workbook",
    "huge_line.csv": "the file cannot be read: a value in row 2, column 5, is longer than 100,000 characters; is this really an enrolment extract?",
    "wrong_encoding.csv": "the file cannot be read: the file's characters cannot be read (byte 82 is neither UTF-8 nor Windows-1252); save it as 'CSV UTF-8' from Excel and upload it again",
    "ragged_row.csv": "the file cannot be read: row 3 has 6 values but the header has 5 columns (separated by commas); check for an unquoted comma inside a value",
    "missing_enrolment_column.csv": "the file has no column for `enrolled_on` (inclusion or randomisation date: this is accrual). Columns on offer: participant_id, site, randomisatie. Map the field to one of them, or export the file again with it.",
    "unparseable_date.csv": "row 2, `enrolled_on`: '31-02-2024' is not a date (write day-month-year, e.g. 27-10-2024, or 2024-10-27)",
    "duplicate_ids.csv": "row 3, `participant_id`: 'P-1' is also on row 2; each participant may appear once",
    "unknown_site.csv": "row 2, `site`: 'Maastricht UMC+' is not a known site; known sites: EMC (Erasmus MC Cancer Institute); NKI (Netherlands Cancer Institute - Antoni van Leeuwenhoek)",
    "arm_not_configured.csv": "row 2, `arm`: 'arm C' is not an arm of PUMP (control, haip)",
    "enrolled_before_opening.csv": "row 2, `enrolled_on`: '15-01-2019' is before the trial opened (01-04-2019)",
    "enrolled_in_future.csv": "row 2, `enrolled_on`: '01-01-2099' is in the future",
    "identifier_name.csv": f"`achternaam`: its name says it holds a name. {DEIDENTIFY}",
    "identifier_email.csv": f"`opmerking`: it holds e-mail addresses (row 2). {DEIDENTIFY}",
    "identifier_bsn.csv": f"`participant_id`: it holds numbers that pass the BSN eleven-test (row 2). {DEIDENTIFY}",
    "identifier_date_of_birth.csv": f"`geboortedatum`: its name says it holds a date of birth. {DEIDENTIFY}",
}


@pytest.fixture
def seeded(tmp_path, programme):
    """A database that already holds an extract, so 'unchanged' means something."""
    store = Store(tmp_path / "bad.duckdb", create=True)
    service.record_config(store, programme)  # as the app or any earlier command did
    checked = check_file(store, programme, template_csv("P-1,EMC,,2024-03-05,haip"), "first.csv", "PUMP", today=TODAY)
    commit(store, checked, "seeder")
    return store


def test_the_corpus_has_a_file_for_every_expectation():
    assert sorted(p.name for p in BAD.glob("*.csv")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_bad_file_is_refused_with_its_message_and_changes_nothing(name, seeded, capsys):
    before = seeded.table_counts()
    code = main(["--db", str(seeded.path), "ingest", str(BAD / name), "--trial", "PUMP", "--by", "coordinator", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 1 and result["ok"] is False
    assert result["errors"][0]["message"].startswith(EXPECTED[name])
    assert only_the_refusal_audited(seeded, before)
    assert seeded.current_participants("PUMP")["participant_id"].tolist() == ["P-1"]


def test_an_unknown_trial_is_refused_and_changes_nothing(seeded, capsys, tmp_path):
    good = tmp_path / "good.csv"
    good.write_bytes(template_csv("P-2,EMC,,2024-03-05,haip"))
    before = seeded.table_counts()
    code = main(["--db", str(seeded.path), "ingest", str(good), "--trial", "PUMP-9", "--by", "coordinator", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 1
    assert result["errors"][0]["message"] == "'PUMP-9' is not a trial of the programme; the trials are PUMP, PUMP-2, PUMP-IT"
    assert only_the_refusal_audited(seeded, before)
