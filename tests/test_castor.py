"""Castor EDC study exports, as Castor writes them and as Excel leaves them (DESIGN.md 4.1):
each test asserts the participants a coordinator would see, or the message they read."""

import datetime as dt
import io
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from dashboard.fields import FIELD_NAMES
from dashboard.ingest import check_extract
from dashboard.readers import detect_format
from dashboard.readers.castor import read_castor
from dashboard.readers.reading import read_table
from support import NO_CURRENT, TODAY, iso, messages, with_trial

FILES = Path(__file__).resolve().parent / "files" / "castor"
# Castor numbers participants by site (110001: site 11, participant 0001): six digits, which look like a
# hospital record number (issue 19) unless the trial's study-number format says so, as it does here.
CASTOR_NUMBERS = r"1[1-4][0-9]{4}|(?![0-9]+$).+"

def check(programme, data: bytes, mapping=None, site=None, fmt=None, trial="PUMP"):
    programme = with_trial(programme, programme.trial_code(trial) or "PUMP", participant_id_pattern=CASTOR_NUMBERS)
    mappings = {"castor": mapping} if mapping else None
    return check_extract(data, "export.csv", programme, trial, TODAY, NO_CURRENT, site=site, fmt=fmt, mappings=mappings)


def castor_csv(*rows: str, header: str) -> bytes:
    return ("\r\n".join([header, *rows]) + "\r\n").encode("utf-8")


NEW_HEADER = "Participant Id;Participant Status;Site Abbreviation;Randomization Group;Randomized On;Participant Creation Date"


# --- the current vocabulary -----------------------------------------------------------


def test_current_export_lands_with_participants_sites_arms_and_dates(programme):
    mapping = {"screen_fail_reason": "reden_exclusie", "pump_implanted_on": "pomp_datum", "cycles_completed": "cycli"}
    checked = check(programme, (FILES / "castor_pump_export.csv").read_bytes(), mapping)
    assert checked.ok and not checked.needs_confirmation
    assert (checked.format, checked.encoding, checked.delimiter) == ("castor", "UTF-8", "semicolon")
    people = checked.participants
    assert people["participant_id"].tolist() == ["110001", "110002", "110003", "110004", "110005"]
    assert people["site"].tolist() == ["EMC", "NKI", "EMC", "NKI", "EMC"]  # AVL is NKI
    assert people["arm"].tolist()[:2] == ["haip", "control"] and people["arm"].tolist()[4] == "haip"
    # day first, padded or not, with or without a time
    assert iso(people["enrolled_on"]) == ["2022-12-06", "2023-01-07", None, None, "2023-04-05"]
    assert iso(people["screened_on"]) == ["2022-12-01", "2023-01-03", "2023-02-15", "2023-03-01", "2023-03-28"]
    assert iso(people["pump_implanted_on"]) == ["2022-12-20", None, None, None, None]
    assert people["screening_outcome"].tolist() == ["eligible", "eligible", "ineligible", "declined", "eligible"]
    # Castor's record states (Locked, Archived) are not trial statuses: the status comes from the dates
    assert people["status"].tolist()[:2] == ["enrolled", "enrolled"] and people["status"].tolist()[4] == "enrolled"
    assert people["source_row"].tolist() == [2, 3, 4, 5, 6]
    assert checked.enrolment_range() == ("2022-12-06", "2023-04-05")


def test_checkbox_variable_is_read_as_the_ticked_option_labels(programme):
    checked = check(programme, (FILES / "castor_pump_export.csv").read_bytes(), {"screen_fail_reason": "reden_exclusie"})
    reasons = checked.participants["screen_fail_reason"].tolist()
    # Stored as codes (issue 19): one ticked option is a reason; two at once match no single one.
    assert reasons[2:4] == ["other", "declined"]
    assert checked.unmatched_reasons == {"screen_fail_reason": ["Extrahepatische ziekte; CRS boven 2"]}
    assert pd.isna(reasons[0])


def test_participant_status_is_castors_record_state_not_the_trial_status(programme):
    checked = check(programme, (FILES / "castor_pump_export.csv").read_bytes())
    assert checked.participants["status"].tolist()[1] == "enrolled"  # 'Locked' in Castor, derived from the date
    assert messages(checked.warnings, "ignored_columns") == [
        "these columns are not read (map one to a field if it holds one): "
        "Participant Status (Castor's record state, not the trial status), Randomization Id, "
        "reden_exclusie (3 checkbox options), pomp_datum, cycli, opmerking"
    ]
    assert messages(checked.warnings, "columns_read") == [
        "read `Participant Id` as participant_id, `Site Abbreviation` as site, `Participant Creation Date` as screened_on, "
        "`Randomized On` as enrolled_on, `Randomization Group` as arm, `screening_outcome` as screening_outcome"
    ]


def test_user_missing_codes_and_years_are_read_as_empty_with_a_warning(programme):
    checked = check(programme, (FILES / "castor_missing_codes.csv").read_bytes())
    assert checked.ok and not checked.needs_confirmation
    assert sorted(messages(checked.warnings, "user_missing")) == sorted(
        [
            "row 2, `screening_outcome`: '-95' is a 'user missing' code; read as empty",
            "row 2, `screen_fail_reason`: '-96' is a 'user missing' code; read as empty",
            "row 2, `cycles_completed`: '-97' is a 'user missing' code; read as empty",
            "row 3, `screen_fail_reason`: '-98' is a 'user missing' code; read as empty",
            "row 3, `cycles_completed`: '-99' is a 'user missing' code; read as empty",
            "row 4, `screening_outcome`: '-95' is a 'user missing' code; read as empty",
            "row 3, `consented_on`: '31-12-2999' is a 'user missing' date; read as empty",
            "row 4, `consented_on`: '1-1-2997' is a 'user missing' date; read as empty",
            "row 2, `pump_implanted_on`: '01-01-2995' is a 'user missing' date; read as empty",
            "row 3, `pump_implanted_on`: '1-1-2996' is a 'user missing' date; read as empty",
            "row 4, `pump_implanted_on`: '1-1-2998' is a 'user missing' date; read as empty",
        ]
    )
    people = checked.participants
    assert iso(people["consented_on"]) == ["2023-05-02", None, None]
    assert people["pump_implanted_on"].isna().all() and people["cycles_completed"].isna().all()
    assert people["screening_outcome"].tolist()[1] == "eligible" and pd.isna(people["screening_outcome"][0])


# --- the older vocabulary, Dutch Excel, other delimiters ------------------------------


def test_old_vocabulary_resaved_by_dutch_excel_lands_with_the_enrolment_mapping(programme):
    data = (FILES / "castor_old_dutch_excel.csv").read_bytes()
    checked = check(programme, data, {"enrolled_on": "inclusie_datum"})
    assert checked.ok
    assert (checked.format, checked.encoding, checked.delimiter) == ("castor", "Windows-1252 (cp1252)", "semicolon")
    people = checked.participants
    assert people["participant_id"].tolist() == ["PUMP-EMC-014", "PUMP-EMC-015", "PUMP-AVL-003", "PUMP-AVL-004"]
    assert people["site"].tolist() == ["EMC", "EMC", "NKI", "NKI"]  # ROT and AVL
    assert iso(people["enrolled_on"]) == ["2021-04-12", None, "2021-05-10", None]
    assert iso(people["screened_on"]) == ["2021-04-03", "2021-04-19", "2021-05-02", "2021-05-06"]
    # cp1252's en dash and accents read right: the text the coordinator is shown to map (stored as `other`).
    assert checked.unmatched_reasons["screen_fail_reason"][0] == "longmetastasen – zie MDO-verslag (géén HAIP)"
    assert people["screen_fail_reason"].tolist()[1] == "other"
    assert people["arm"].isna().all()  # PUMP is randomised: no arm is made up
    # Excel's trailing ';;;' columns and its empty last line are not participants or columns
    assert checked.rows == 4 and checked.columns[-1] == "screen_fail_reason"


def test_non_randomised_study_without_an_enrolment_mapping_is_refused_not_guessed(programme):
    checked = check(programme, (FILES / "castor_old_dutch_excel.csv").read_bytes())
    assert [i.message for i in checked.errors] == [
        "the file has no column for `enrolled_on` (inclusion or randomisation date: this is accrual). "
        "Columns on offer: Record Id, Record Status, Institute Abbreviation, Record Creation date, inclusie_datum, "
        "screening_outcome, screen_fail_reason. Map the field to one of them, or export the file again with it."
    ]


def test_castor_columns_resaved_by_english_excel_with_commas_and_bom(programme):
    checked = check(programme, (FILES / "castor_english_excel.csv").read_bytes())
    assert checked.ok
    assert (checked.format, checked.encoding, checked.delimiter) == ("castor", "UTF-8 with BOM", "comma")
    assert checked.columns[0] == "Participant Id"  # no BOM glued to the first header
    assert checked.participants["participant_id"].tolist() == ["120001", "120002"]
    assert iso(checked.participants["enrolled_on"]) == ["2024-01-09", "2024-01-16"]  # 09/01/2024 is 9 January
    assert checked.participants["arm"].tolist() == ["haip", "control"]


def test_tab_delimited_old_vocabulary(programme):
    checked = check(programme, (FILES / "castor_tab.txt").read_bytes())
    assert checked.ok and (checked.format, checked.delimiter) == ("castor", "tab")
    assert checked.participants["participant_id"].tolist() == ["130001", "130002"]
    assert checked.participants["arm"].tolist() == ["control", "haip"]  # 'controle', 'pomp'
    assert iso(checked.participants["enrolled_on"]) == ["2020-02-10", "2020-02-12"]


def test_excel_export_reads_the_study_results_sheet(programme):
    book = openpyxl.Workbook()
    book.active.title = "Study variable list"
    book.active.append(["Variable name", "Field type"])
    book.active.append(["inclusie_datum", "date"])
    sheet = book.create_sheet("Study results")
    sheet.append(
        ["Participant Id", "Participant Status", "Site Abbreviation", "Participant Creation Date", "inclusie_datum", "cycli"]
    )
    sheet.append(["140001", "Not Set", "EMC", dt.datetime(2024, 2, 1, 9, 30), dt.datetime(2024, 2, 8), 6])
    sheet.append(["140002", "Not Set", "EMC", "5-2-2024 10:00", "12-2-2024", -99])
    sheet.append([None] * 6)
    buffer = io.BytesIO()
    book.save(buffer)
    checked = check(programme, buffer.getvalue(), {"enrolled_on": "inclusie_datum", "cycles_completed": "cycli"})
    assert checked.ok and (checked.format, checked.delimiter) == ("castor", "xlsx")
    people = checked.participants
    assert people["participant_id"].tolist() == ["140001", "140002"]
    assert iso(people["enrolled_on"]) == ["2024-02-08", "2024-02-12"]
    assert iso(people["screened_on"]) == ["2024-02-01", "2024-02-05"]
    assert people["cycles_completed"].tolist()[0] == 6 and pd.isna(people["cycles_completed"][1])
    assert messages(checked.warnings, "user_missing") == ["row 3, `cycli`: '-99' is a 'user missing' code; read as empty"]


# --- mappings ---------------------------------------------------------------------------


def test_mapping_overrides_a_default_column(programme):
    data = castor_csv(
        "P-1;Not Set;EMC;Arm A;1-3-2024;1-2-2024;2-3-2024",
        header=NEW_HEADER + ";datum_randomisatie_bevestigd",
    )
    checked = check(programme, data, {"enrolled_on": "datum_randomisatie_bevestigd"})
    assert iso(checked.participants["enrolled_on"]) == ["2024-03-02"]


def test_mapping_to_a_column_the_file_lacks_names_it_and_the_columns_on_offer(programme):
    data = castor_csv("P-1;Not Set;EMC;Arm A;1-3-2024;1-2-2024", header=NEW_HEADER)
    checked = check(programme, data, {"consented_on": "toestemming_datum"})
    assert [i.message for i in checked.errors] == [
        "`consented_on` is mapped to the column `toestemming_datum`, which this file does not have. "
        "Columns on offer: Participant Id, Participant Status, Site Abbreviation, Randomization Group, Randomized On, "
        "Participant Creation Date. Choose one of them for `consented_on`, or export the file again with `toestemming_datum`."
    ]


def test_a_missing_mapped_enrolment_column_is_never_replaced_by_the_default(programme):
    data = castor_csv("P-1;Not Set;EMC;Arm A;1-3-2024;1-2-2024", header=NEW_HEADER)
    checked = check(programme, data, {"enrolled_on": "inclusie_datum"})
    assert not checked.ok and checked.participants is None
    # the mapping's error and/or the missing field's, never the participants read from `Randomized On`
    assert "missing_columns" in {i.code for i in checked.errors}
    assert {i.code for i in checked.errors} <= {"missing_columns", "mapped_column_missing"}


def test_mapping_a_field_to_nothing_uses_the_site_given_at_upload(programme):
    data = castor_csv("P-1;Not Set;TES;Arm A;1-3-2024;1-2-2024", header=NEW_HEADER)
    assert messages(check(programme, data, site="EMC").errors, "site_mismatch") == [
        "row 2, `Site Abbreviation`: 'TES' is not EMC, the site chosen for this upload"
    ]
    checked = check(programme, data, {"site": ""}, site="EMC")
    assert checked.ok and checked.participants["site"].tolist() == ["EMC"]


def test_a_mapping_for_an_unknown_field_is_an_error(programme):
    data = castor_csv("P-1;Not Set;EMC;Arm A;1-3-2024;1-2-2024", header=NEW_HEADER)
    checked = check(programme, data, {"inclusion_date": "Randomized On"})
    assert messages(checked.errors, "unknown_mapping_field") == [
        "the mapping for castor files names `inclusion_date`, which is not a field; the fields are " + ", ".join(FIELD_NAMES)
    ]


def test_study_variables_named_like_canonical_fields_are_read(programme):
    data = castor_csv(
        "P-1;Not Set;EMC;Arm B;1-3-2024;1-2-2024;8-3-2024;2",
        header=NEW_HEADER + ";treatment_started_on;cycles_completed",
    )
    checked = check(programme, data)
    assert iso(checked.participants["treatment_started_on"]) == ["2024-03-08"]
    assert checked.participants["cycles_completed"].tolist() == [2]
    assert checked.participants["status"].tolist() == ["on_treatment"]


def test_reader_keeps_values_as_text_and_names_the_coordinators_columns():
    table = read_table(castor_csv("P-1;Not Set;EMC;Arm B;6-12-2022 13:38;1-12-2022", header=NEW_HEADER))
    extract = read_castor(table, None)
    assert extract.fields.to_dict("records") == [
        {"participant_id": "P-1", "site": "EMC", "screened_on": "1-12-2022", "enrolled_on": "6-12-2022 13:38", "arm": "Arm B"}
    ]
    assert extract.columns == {
        "participant_id": "Participant Id",
        "site": "Site Abbreviation",
        "screened_on": "Participant Creation Date",
        "enrolled_on": "Randomized On",
        "arm": "Randomization Group",
    }
    assert extract.rows.tolist() == [2]


# --- errors a coordinator must see ---------------------------------------------------------


def test_bad_date_names_the_castor_column(programme):
    data = castor_csv("P-1;Not Set;EMC;Arm A;31-02-2024;1-2-2024", header=NEW_HEADER)
    assert [i.message for i in check(programme, data).errors] == [
        "row 2, `Randomized On`: '31-02-2024' is not a date (write day-month-year, e.g. 27-10-2024, or 2024-10-27)"
    ]


def test_unknown_randomisation_group_names_the_castor_column(programme):
    data = castor_csv("P-1;Not Set;EMC;Arm C;1-3-2024;1-2-2024", header=NEW_HEADER)
    assert [i.message for i in check(programme, data).errors] == [
        "row 2, `Randomization Group`: 'Arm C' is not an arm of PUMP (control, haip)"
    ]


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("Geboortedatum", "12-3-1961", "its name says it holds a date of birth"),
        ("patient_email", "j.jansen@example.nl", "its name says it holds an e-mail address"),
        ("contact", "j.jansen@example.nl", "it holds e-mail addresses (row 2)"),
    ],
)
def test_identifiers_are_refused_with_castor_advice(programme, column, value, reason):
    data = castor_csv(f"P-1;Not Set;EMC;Arm A;1-3-2024;1-2-2024;{value}", header=NEW_HEADER + f";{column}")
    assert [i.message for i in check(programme, data).errors] == [
        f"`{column}`: {reason}. Direct identifiers of patients may not be stored here, so the file is refused. "
        "In Castor, export again and leave out these variables (Export > choose the variables), "
        "or ask the study admin to mark them as identifying so exports skip them."
    ]


def test_castors_own_columns_are_not_mistaken_for_identifiers(programme):
    header = (
        "Participant Id;Participant Status;Site Abbreviation;Site Name;Randomization Id;Randomization Group;"
        "Randomization Group Name;Randomized On;Participant Creation Date"
    )
    data = castor_csv("P-1;Not Set;EMC;Erasmus MC;R-1;Arm A;Resection alone;1-3-2024;1-2-2024", header=header)
    checked = check(programme, data)
    assert checked.ok and checked.participants["arm"].tolist() == ["control"]


def test_participant_ids_that_pass_the_bsn_eleven_test_are_refused(programme):
    data = castor_csv("111222333;Not Set;EMC;Arm A;1-3-2024;1-2-2024", header=NEW_HEADER)
    assert [i.code for i in check(programme, data).errors] == ["identifier"]
    assert check(programme, data).errors[0].column == "Participant Id"


# --- detection ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (NEW_HEADER, "castor"),
        (NEW_HEADER.replace(";", ","), "castor"),  # re-saved by Excel with commas
        ("Record Id;Record Status;Institute Abbreviation;Record Creation date", "castor"),
        ("Participant Id;inclusie_datum", "castor"),  # a Castor id alone
        ("Participant Id;Participant Status;Site Abbreviation;enrolled_on", "castor"),  # a study variable named enrolled_on
        ("participant_id,site,enrolled_on", "template"),
        ("participant_id,site", "template"),
    ],
)
def test_format_is_detected_from_the_headers(header, expected):
    assert detect_format(read_table((header + "\r\n" + "x;" * header.count(";") + "x\r\n").encode())) == expected


def test_format_can_be_chosen_over_detection(programme):
    data = castor_csv("P-1;2-3-2024;EMC", header="Participant Id;Randomized On;Site Abbreviation")
    assert check(programme, data, fmt="castor").format == "castor"
    assert check(programme, data, fmt="template").errors[0].code == "missing_columns"


# --- what real exports do that the first readers missed (issue 9) --------------------------------


def test_the_snake_case_vocabulary_of_castors_api_and_r_exports_is_read_as_castor(programme):
    data = castor_csv(
        "110001;EMC;Arm B;6-12-2022 13:38;1-12-2022", "110002;AVL;Arm A;7-1-2023;3-1-2023",
        header="record_id;institute;randomization_group;randomized_on;record_creation_date",
    )
    checked = check(programme, data)
    assert checked.format == "castor" and checked.ok, [i.message for i in checked.errors]
    people = checked.participants
    assert people["site"].tolist() == ["EMC", "NKI"] and people["arm"].tolist() == ["haip", "control"]
    assert iso(people["enrolled_on"]) == ["2022-12-06", "2023-01-07"]


def test_the_trials_castor_mapping_applies_to_a_snake_case_export(programme):
    # PUMP-2's configured Castor mapping names `inclusiedatum`; detected as REDCap before, it was ignored.
    data = castor_csv("P2-EMC-001;EMC;5-3-2024", header="record_id;institute;inclusiedatum")
    checked = check_extract(data, "x.csv", programme, "PUMP-2", TODAY, NO_CURRENT, mappings={"castor": {"enrolled_on": "inclusiedatum"}})
    assert checked.format == "castor" and checked.ok and iso(checked.participants["enrolled_on"]) == ["2024-03-05"]


def test_missing_codes_a_spreadsheet_made_decimal_are_read_as_missing(programme):
    data = castor_csv("110001;EMC;Arm B;6-12-2022;-95.0", "110002;EMC;Arm A;7-1-2023;-99,00", header="Participant Id;Site Abbreviation;Randomization Group;Randomized On;cycles_completed")
    checked = check(programme, data)
    assert checked.ok and checked.participants["cycles_completed"].isna().all()
    assert messages(checked.warnings, "user_missing") == [
        "row 2, `cycles_completed`: '-95.0' is a 'user missing' code; read as empty",
        "row 3, `cycles_completed`: '-99,00' is a 'user missing' code; read as empty",
    ]


@pytest.mark.parametrize("written", ["June 22 2021", "Jun 22, 2021", "22 June 2021", "22-Jun-2021", "22 juni 2021", "June 22 2021 14:05"])
def test_castor_format_exports_write_dates_with_month_names(programme, written):
    data = castor_csv(f"110001;EMC;Arm B;{written}", header="Participant Id;Site Abbreviation;Randomization Group;Randomized On")
    checked = check(programme, data)
    assert checked.ok, [i.message for i in checked.errors]
    assert iso(checked.participants["enrolled_on"]) == ["2021-06-22"]


def test_a_month_name_that_is_not_a_month_is_not_a_date(programme):
    data = castor_csv("110001;EMC;Arm B;Juno 22 2021", header="Participant Id;Site Abbreviation;Randomization Group;Randomized On")
    assert messages(check(programme, data).errors, "bad_date") == [
        "row 2, `Randomized On`: 'Juno 22 2021' is not a date (write day-month-year, e.g. 27-10-2024, or 2024-10-27)"
    ]
