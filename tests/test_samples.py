"""Every real export in ../shared/samples/ (see its SOURCES.txt), with exactly what a
coordinator uploading it would see: the participants read, or the exact refusal."""

import pytest
import yaml

from dashboard.config import Programme
from dashboard.ingest import check_extract
from dashboard.readers.reading import read_table
from dashboard.readers.redcap import read_redcap
from support import NO_CURRENT, ROOT, SAMPLES, TODAY, iso


def test_the_sample_exports_are_there():
    # Never skipped: CI clones the project beside shared/, so a missing folder is a failure.
    assert SAMPLES.is_dir(), f"the sample exports are not at {SAMPLES} (set PUMP_SAMPLES to their folder)"

CASTOR = "castor/Test_Study_-_Castor_API_export_20230111.csv"
CASTOR_COLUMNS = (
    "Participant Id, Participant Status, Site Abbreviation, Participant Creation Date, aantal_lymf, test_radio_button, "
    "test_dropdown, test_checkboxes#Option_1, test_checkboxes#Option_2, test_checkboxes#Option_3, checkbox_calculation, "
    "test_date, test_date_2, date_calculation, date_diff_calculation, test_year, test_time, test_calculation, test_slider, "
    "test_text, regex_calculator, test_text_multi, test_randominzation, test_grid_Row_1_Column_1, test_grid_Row_1_Column_2, "
    "test_grid_Row_2_Column_1, test_grid_Row_2_Column_2, test_date_time, test_number_date_number, test_number_date_date, "
    "abcdefghijklmnopqrstuvwxyz, test_calc_dep, test_number_calc"
)
CASTOR_IDS = ["test958", "TES/014", "test0045", "test0046", "test0047", "test0048"]
EXAMPLE_PROJECT_COLUMNS = (
    "row, redcap_repeat_instrument, redcap_repeat_instance, mpg, cyl, disp, hp, drat, wt, qsec, vs, am, gear, carb, "
    "color_available___red, color_available___green, color_available___blue, color_available___black, "
    "motor_trend_cars_complete, letter_group___a, letter_group___b, letter_group___c, choice, grouping_complete, price, "
    "color, customer, sale_complete"
)
REDCAP_HOW_TO = (
    "Direct identifiers of patients may not be stored here, so the file is refused. In REDCap, use Data Exports > "
    "'De-identified' or tick 'Remove all tagged Identifier fields', and leave out these fields."
)
DICTIONARY_REFUSAL = (
    "the format cannot be told from the columns (Variable / Field Name, Form Name, Section Header, Field Type, Field Label, "
    "Choices, Calculations, OR Slider Labels, Field Note, Text Validation Type OR Show Slider Number, ...); "
    "choose it (template, castor, redcap) or use the template"
)

# Exports that hold (fake) direct identifiers: refused whole, naming exactly these columns.
REFUSED_FOR_IDENTIFIERS = {
    "redcap/redcapr-dag/data.csv": ["first_name", "last_name", "address", "telephone", "email", "dob"],
    "redcap/redcapr-decimal-comma/data.csv": ["name"],
    "redcap/redcapr-longitudinal/data.csv": [
        "first_name",
        "last_name",
        "telephone_1",
        "email",
        "dob",
        "ec_phone",
        "next_of_kin_contact_name",
        "next_of_kin_contact_address",
        "next_of_kin_contact_phone",
    ],
    "redcap/redcapr-simple/data.csv": ["name_first", "name_last", "address", "telephone", "email", "dob", "mugshot"],
}
# Files that are not exports of participants (data dictionaries, REDCap's arm and event lists).
NOT_AN_EXPORT = {
    "redcap/ExampleProject_DataDictionary_2018-06-07.csv": DICTIONARY_REFUSAL,
    "redcap/redcapr-dag/dictionary.csv": DICTIONARY_REFUSAL,
    "redcap/redcapr-decimal-comma/dictionay.csv": DICTIONARY_REFUSAL,
    "redcap/redcapr-longitudinal/dictionary.csv": DICTIONARY_REFUSAL,
    "redcap/redcapr-simple/dictionary.csv": DICTIONARY_REFUSAL,
    "redcap/redcapr-longitudinal/arm.csv": (
        "the format cannot be told from the columns (arm_num, name); choose it (template, castor, redcap) or use the template"
    ),
    "redcap/redcapr-longitudinal/event.csv": (
        "the format cannot be told from the columns (event_name, arm_num, unique_event_name, custom_event_label, event_id); "
        "choose it (template, castor, redcap) or use the template"
    ),
}
EXAMPLE_PROJECT = "redcap/ExampleProject_DATA_2018-06-07_1129.csv"


def check(programme, name: str, site=None, mappings=None):
    data = (SAMPLES / name).read_bytes()
    return check_extract(data, name, programme, "PUMP", TODAY, NO_CURRENT, site=site, mappings=mappings)


def test_every_sample_file_has_an_expected_outcome_here():
    covered = {CASTOR, EXAMPLE_PROJECT, *REFUSED_FOR_IDENTIFIERS, *NOT_AN_EXPORT}
    on_disk = {p.relative_to(SAMPLES).as_posix() for p in SAMPLES.rglob("*.csv")}
    assert on_disk == covered


# --- the Castor export (site TES, no randomisation) ----------------------------------------


@pytest.mark.parametrize("site", [None, "EMC"])
def test_castor_sample_without_a_mapping_asks_for_the_enrolment_date(programme, site):
    checked = check(programme, CASTOR, site=site)
    assert (checked.format, checked.encoding, checked.delimiter, checked.rows) == ("castor", "UTF-8", "semicolon", 6)
    assert [i.message for i in checked.errors] == [
        "the file has no column for `enrolled_on` (inclusion or randomisation date: this is accrual). "
        f"Columns on offer: {CASTOR_COLUMNS}. Map the field to one of them, or export the file again with it."
    ]


def test_castor_sample_site_tes_is_not_a_site_of_the_programme(programme):
    checked = check(programme, CASTOR, mappings={"castor": {"enrolled_on": "test_date"}})
    known = "known sites: EMC (Erasmus MC Cancer Institute); NKI (Netherlands Cancer Institute - Antoni van Leeuwenhoek)"
    assert [i.message for i in checked.errors] == [
        f"row {row}, `Site Abbreviation`: 'TES' is not a known site; {known}" for row in range(2, 8)
    ]


def test_castor_sample_site_tes_is_not_the_site_given_at_upload(programme):
    checked = check(programme, CASTOR, site="EMC", mappings={"castor": {"enrolled_on": "test_date"}})
    assert [i.message for i in checked.errors] == [
        f"row {row}, `Site Abbreviation`: 'TES' is not EMC, the site chosen for this upload" for row in range(2, 8)
    ]


def test_castor_sample_lands_with_tes_configured_as_an_alias_of_emc():
    config = yaml.safe_load((ROOT / "data" / "programme.yaml").read_text())
    config["sites"]["EMC"]["aliases"].append("TES")
    programme = Programme(**config)
    checked = check(programme, CASTOR, mappings={"castor": {"enrolled_on": "test_date", "screen_fail_reason": "test_checkboxes"}})
    assert checked.ok and not checked.needs_confirmation
    people = checked.participants
    assert people["participant_id"].tolist() == CASTOR_IDS
    assert people["site"].tolist() == ["EMC"] * 6
    assert iso(people["enrolled_on"]) == ["2022-10-27", "2021-07-01", "2022-10-27", None, None, None]
    assert iso(people["screened_on"]) == ["2022-12-06", "2023-01-11", "2022-12-06", "2022-12-06", "2022-12-06", "2022-12-06"]
    # Issue 19: reasons are stored as codes; the checkbox labels are none of PUMP's, so `other`, and
    # the upload lists each distinct value once for the coordinator to map.
    assert people["screen_fail_reason"].tolist() == ["other"] * 6
    assert checked.unmatched_reasons == {
        "screen_fail_reason": ["Option_1; Option_2; Option_3", "Option_1; Option_3", "Option_1; Option_2", "Option_1"]
    }
    assert people["status"].tolist()[:3] == ["enrolled"] * 3
    assert checked.diff.counts() == {"new": 6, "changed": 0, "missing": 0, "unchanged": 0}


def test_castor_sample_lands_for_the_site_given_when_its_site_column_is_mapped_away(programme):
    checked = check(programme, CASTOR, site="EMC", mappings={"castor": {"enrolled_on": "test_date", "site": ""}})
    assert checked.ok
    assert checked.participants["participant_id"].tolist() == CASTOR_IDS
    assert checked.sites == ["EMC"] and checked.participants["site"].tolist() == ["EMC"] * 6
    assert checked.enrolment_range() == ("2021-07-01", "2022-10-27")


# --- the REDCap exports -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REFUSED_FOR_IDENTIFIERS))
def test_redcap_samples_with_names_phones_emails_or_birth_dates_are_refused(programme, name):
    checked = check(programme, name, site="EMC")
    assert checked.format == "redcap"
    assert [i.column for i in checked.issues] == REFUSED_FOR_IDENTIFIERS[name]
    assert {i.code for i in checked.issues} == {"identifier"}
    assert all(i.message.endswith(REDCAP_HOW_TO) for i in checked.issues)
    assert checked.participants is None


def test_redcap_identifier_refusal_says_what_the_column_holds(programme):
    messages = [i.message for i in check(programme, "redcap/redcapr-simple/data.csv").issues]
    assert messages[0] == f"`name_first`: its name says it holds a name. {REDCAP_HOW_TO}"
    assert messages[-1] == f"`mugshot`: its name says it holds a photograph. {REDCAP_HOW_TO}"


def test_redcap_longitudinal_sample_folds_its_events_into_three_participants():
    table = read_table((SAMPLES / "redcap/redcapr-longitudinal/data.csv").read_bytes())
    extract = read_redcap(table, {"enrolled_on": "date_enrolled", "withdrawn_on": "withdraw_date"})
    assert extract.fields.to_dict("records") == [
        {"participant_id": "100", "enrolled_on": "2015-04-02", "withdrawn_on": "2015-04-02"},
        {"participant_id": "220", "enrolled_on": "2015-04-02", "withdrawn_on": "2015-04-02"},
        {"participant_id": "304", "enrolled_on": "2015-04-02", "withdrawn_on": ""},
    ]
    assert extract.rows.tolist() == [2, 8, 14]


def test_redcap_simple_sample_keeps_multi_line_addresses_in_one_record():
    table = read_table((SAMPLES / "redcap/redcapr-simple/data.csv").read_bytes())
    assert table.rows == 5
    assert table.frame["record_id"].tolist() == ["1", "2", "3", "4", "5"]
    assert table.frame["comments"][3].startswith("This record doesn't have a DAG assigned\n\nSo call up Trudy")


def test_redcap_decimal_comma_sample_keeps_quoted_decimal_commas():
    table = read_table((SAMPLES / "redcap/redcapr-decimal-comma/data.csv").read_bytes())
    assert table.frame["height"].tolist() == ["1,54", "1,84", "1,95", "1,61"]
    assert table.frame["bmi"].tolist() == ["22.1", "27.3", "32.5", "17.7"]


def test_redcap_example_project_has_no_dates_and_no_site(programme):
    checked = check(programme, EXAMPLE_PROJECT)
    assert (checked.format, checked.rows) == ("redcap", 45)
    assert [i.message for i in checked.errors] == [
        "the file has no column for `enrolled_on` (inclusion or randomisation date: this is accrual); "
        "`site` (site code or alias, e.g. EMC or NKI (required unless the site is given at upload)). "
        f"Columns on offer: {EXAMPLE_PROJECT_COLUMNS}. Map the field to one of them, or export the file again with it."
    ]


def test_redcap_example_project_with_a_site_still_lacks_the_enrolment_date(programme):
    checked = check(programme, EXAMPLE_PROJECT, site="EMC")
    assert [i.message for i in checked.errors] == [
        "the file has no column for `enrolled_on` (inclusion or randomisation date: this is accrual). "
        f"Columns on offer: {EXAMPLE_PROJECT_COLUMNS}. Map the field to one of them, or export the file again with it."
    ]


def test_redcap_example_project_repeating_rows_fold_into_its_32_records():
    table = read_table((SAMPLES / EXAMPLE_PROJECT).read_bytes())
    extract = read_redcap(table, None)
    assert (table.rows, len(extract.fields)) == (45, 32)
    assert extract.fields["participant_id"].tolist()[:3] == ["AMC Javelin", "Cadillac Fleetwood", "Camaro Z28"]
    assert extract.rows.tolist()[:3] == [2, 6, 7]


@pytest.mark.parametrize("name", sorted(NOT_AN_EXPORT))
def test_dictionaries_and_event_lists_are_not_taken_for_exports(programme, name):
    checked = check(programme, name, site="EMC")
    assert checked.format is None
    assert [i.message for i in checked.issues] == [NOT_AN_EXPORT[name]]
