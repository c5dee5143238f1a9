"""REDCap exports, raw and with labels, longitudinal and repeating (DESIGN.md 4.1): each
test asserts the participants a coordinator would see, or the message they read."""

from pathlib import Path

import pytest

from dashboard.ingest import check_extract
from dashboard.readers import detect_format
from dashboard.readers.reading import read_table
from dashboard.readers.redcap import read_redcap
from support import NO_CURRENT, TODAY, iso, messages

FILES = Path(__file__).resolve().parent / "files" / "redcap"
RAW_MAPPING = {"screened_on": "screening_date", "enrolled_on": "date_enrolled", "screen_fail_reason": "exclusion"}
LABEL_MAPPING = {
    "screened_on": "Screening date",
    "enrolled_on": "Date of randomisation",
    "arm": "Randomisation arm",
    "screen_fail_reason": "Reason not eligible",
}


def check(programme, data: bytes, mapping=None, site=None, fmt=None, trial="PUMP"):
    mappings = {"redcap": mapping} if mapping else None
    return check_extract(data, "export.csv", programme, trial, TODAY, NO_CURRENT, site=site, fmt=fmt, mappings=mappings)


def redcap_csv(*rows: str, header: str) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


# --- a longitudinal raw export ----------------------------------------------------------


def test_longitudinal_rows_fold_into_one_participant_each(programme):
    checked = check(programme, (FILES / "redcap_longitudinal.csv").read_bytes(), RAW_MAPPING)
    assert checked.ok and not checked.needs_confirmation
    assert (checked.format, checked.delimiter, checked.rows) == ("redcap", "comma", 9)
    people = checked.participants
    assert people["participant_id"].tolist() == ["EMC-001", "EMC-002", "NKI-001"]
    assert people["source_row"].tolist() == [2, 6, 7]  # each participant's first row
    assert people["site"].tolist() == ["EMC", "EMC", "NKI"]  # groups erasmus_mc and nki_avl
    assert iso(people["screened_on"]) == ["2023-01-10", "2023-02-03", "2023-03-01"]
    assert iso(people["enrolled_on"]) == ["2023-01-20", None, "2023-03-09"]
    # values from later events and from a repeating form's first instance
    assert iso(people["pump_implanted_on"]) == ["2023-02-01", None, "2023-03-20"]
    assert iso(people["withdrawn_on"]) == ["2023-06-01", None, None]
    assert people["withdrawal_reason"].tolist()[0] == "toxicity"  # "toxiciteit", stored as its code (issue 19)
    assert people["status"].tolist()[0::2] == ["withdrawn", "enrolled"]
    # checkbox codes exclusion___1, ___3: no reason of the vocabulary, so `other`, listed to be mapped
    assert people["screen_fail_reason"].tolist()[1] == "other" and checked.unmatched_reasons == {"screen_fail_reason": ["1; 3"]}
    assert messages(checked.warnings, "folded_rows") == [
        "the 9 rows hold 3 participants (events or repeating forms); "
        "each participant is read once, with the first filled value of each column"
    ]


def test_decimal_commas_and_multi_line_values_stay_in_their_columns():
    table = read_table((FILES / "redcap_longitudinal.csv").read_bytes())
    assert table.frame["weight_kg"].tolist()[:1] == ["72,5"]
    assert table.frame["comments"].tolist()[0] == "Goed gesprek.\nWil meedoen."
    assert table.frame["pump_id"].tolist()[1] == "EMC-001"  # the newline did not start a record


def test_a_field_filled_differently_on_two_rows_is_reported_and_the_first_is_used(programme):
    data = redcap_csv(
        "R-1,baseline_arm_1,erasmus_mc,2024-01-05",
        "R-1,visit_1_arm_1,erasmus_mc,",
        "R-1,visit_2_arm_1,erasmus_mc,2024-02-01",
        "R-2,baseline_arm_1,erasmus_mc,2024-01-09",
        header="record_id,redcap_event_name,redcap_data_access_group,enrolled_on",
    )
    checked = check(programme, data)
    assert checked.participants["participant_id"].tolist() == ["R-1", "R-2"]
    assert iso(checked.participants["enrolled_on"]) == ["2024-01-05", "2024-01-09"]
    [warning] = [i for i in checked.warnings if i.code == "conflicting_values"]
    assert warning.message == (
        "row 2, `enrolled_on`: record 'R-1' has different values on its rows: '2024-01-05' (row 2), "
        "'2024-02-01' (row 4); '2024-01-05' is used. Correct the record in REDCap so the field is filled once."
    )
    assert warning.needs_confirmation


def test_rows_without_a_record_id_are_not_folded_together(programme):
    data = redcap_csv(
        ",baseline_arm_1,erasmus_mc,2024-01-05",
        ",baseline_arm_1,erasmus_mc,2024-01-06",
        header="record_id,redcap_event_name,redcap_data_access_group,enrolled_on",
    )
    assert messages(check(programme, data).errors, "empty_id") == [
        "row 2, `record_id`: the participant id is empty",
        "row 3, `record_id`: the participant id is empty",
    ]


def test_without_events_a_record_twice_is_a_duplicate_not_folded(programme):
    data = redcap_csv("R-1,emc,2024-01-05", "R-1,emc,2024-01-06", header="record_id,redcap_data_access_group,enrolled_on")
    assert [i.message for i in check(programme, data).errors] == [
        "row 3, `record_id`: 'R-1' is also on row 2; each participant may appear once"
    ]


# --- a label export ----------------------------------------------------------------------


def test_label_export_lands_with_labels_as_headers_and_values(programme):
    checked = check(programme, (FILES / "redcap_labels.csv").read_bytes(), LABEL_MAPPING)
    assert checked.ok and checked.format == "redcap"
    people = checked.participants
    assert people["participant_id"].tolist() == ["EMC-001", "EMC-002", "NKI-001"]
    assert people["site"].tolist() == ["EMC", "EMC", "NKI"]  # "Erasmus MC", "NKI-AVL"
    assert people["arm"].tolist()[0] == "haip" and people["arm"].tolist()[2] == "control"
    assert iso(people["enrolled_on"]) == ["2023-01-20", None, "2023-03-09"]  # NKI-001 from its second event
    assert people["screening_outcome"].tolist() == ["eligible", "ineligible", "eligible"]
    assert people["screen_fail_reason"].tolist()[1] == "other"  # two reasons at once are no one code (issue 19)
    assert checked.unmatched_reasons == {"screen_fail_reason": ["Extrahepatic disease; CRS above 2"]}
    assert people["source_row"].tolist() == [2, 3, 4]


def test_label_export_repeats_complete_and_each_is_told_apart_by_its_column(programme):
    checked = check(programme, (FILES / "redcap_labels.csv").read_bytes(), LABEL_MAPPING)
    [note] = messages(checked.warnings, "ignored_columns")
    assert note.endswith("Complete? (column 10), Complete? (column 13)")


def test_label_export_without_a_mapping_asks_for_the_enrolment_date(programme):
    checked = check(programme, (FILES / "redcap_labels.csv").read_bytes())
    assert [i.message for i in checked.errors] == [
        "the file has no column for `enrolled_on` (inclusion or randomisation date: this is accrual). Columns on offer: "
        "Study ID, Event Name, Repeat Instrument, Repeat Instance, Data Access Group, Screening date, Screening outcome, "
        "Reason not eligible (choice=Extrahepatic disease), Reason not eligible (choice=CRS above 2), Complete? (column 10), "
        "Date of randomisation, Randomisation arm, Complete? (column 13). "
        "Map the field to one of them, or export the file again with it."
    ]


# --- record id, data access groups, identifiers --------------------------------------------


def test_record_id_is_the_first_column_whatever_its_name():
    table = read_table(redcap_csv("17,2024-01-05", header="patient_nr,enrolled_on"))
    extract = read_redcap(table, None)
    assert extract.columns["participant_id"] == "patient_nr"
    assert extract.fields["participant_id"].tolist() == ["17"]


@pytest.mark.parametrize(("group", "site"), [("erasmus_mc", "EMC"), ("nki_avl", "NKI"), ("emc", "EMC"), ("avl", "NKI")])
def test_data_access_group_unique_names_are_sites(programme, group, site):
    checked = check(programme, redcap_csv(f"R-1,{group},2024-01-05", header="record_id,redcap_data_access_group,enrolled_on"))
    assert checked.ok and checked.participants["site"].tolist() == [site]


def test_an_unknown_data_access_group_names_the_column(programme):
    checked = check(programme, redcap_csv("R-1,daga,2024-01-05", header="record_id,redcap_data_access_group,enrolled_on"))
    assert [i.message for i in checked.errors] == [
        "row 2, `redcap_data_access_group`: 'daga' is not a known site; known sites: EMC (Erasmus MC Cancer Institute); "
        "NKI (Netherlands Cancer Institute - Antoni van Leeuwenhoek)"
    ]


def test_identifiers_are_refused_with_redcap_advice(programme):
    data = redcap_csv("R-1,emc,2024-01-05,1961-03-12", header="record_id,redcap_data_access_group,enrolled_on,date_of_birth")
    assert [i.message for i in check(programme, data).errors] == [
        "`date_of_birth`: its name says it holds a date of birth. Direct identifiers of patients may not be stored here, "
        "so the file is refused. In REDCap, use Data Exports > 'De-identified' or tick 'Remove all tagged Identifier "
        "fields', and leave out these fields."
    ]


def test_redcap_bookkeeping_columns_are_not_mistaken_for_identifiers(programme):
    data = redcap_csv(
        "R-1,,baseline_arm_1,,,emc,2024-01-05,2",
        header="record_id,redcap_survey_identifier,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,"
        "redcap_data_access_group,enrolled_on,baseline_complete",
    )
    assert check(programme, data).ok


# --- detection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("record_id,redcap_data_access_group,enrolled_on", "redcap"),
        ("participant_id,redcap_event_name,enrolled_on", "redcap"),  # a redcap_ column beats the template's names
        ("row,redcap_repeat_instrument,redcap_repeat_instance,mpg", "redcap"),
        ("study_id,date_enrolled", "redcap"),
        ("pump_id,exclusion___1,exclusion___2", "redcap"),
        ('"Record ID","Screening date","Complete?"', "redcap"),
        ('"Study ID","Event Name","Date of randomisation"', "redcap"),
        ('"Record ID","Date of randomisation"', "redcap"),  # REDCap's label; Castor writes "Record Id"
        ("Record Id;inclusie_datum", "castor"),
        ("arm_num,name", None),
    ],
)
def test_format_is_detected_from_the_headers(header, expected):
    body = ",".join("x" for _ in header.split(","))
    assert detect_format(read_table(f"{header}\n{body}\n".encode())) == expected


def test_a_problem_in_a_folded_record_names_the_row_that_holds_the_value(programme):
    # Record 1 spans rows 2-4; its bad enrolment date is on row 3, its unknown arm on row 4.
    data = redcap_csv(
        "1,baseline_arm_1,EMC,,",
        "1,enrolment_arm_1,,31-02-2024,",
        "1,treatment_arm_1,,,arm Z",
        header="record_id,redcap_event_name,redcap_data_access_group,enrolled_on,arm",
    )
    checked = check(programme, data)
    assert [(i.row, i.column) for i in checked.errors] == [(3, "enrolled_on"), (4, "arm")]
    assert [i.message.split(":")[0] for i in checked.errors] == ["row 3, `enrolled_on`", "row 4, `arm`"]
