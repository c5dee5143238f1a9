"""One test per rule of DESIGN.md 4.3, each asserting the message a coordinator reads."""

import pandas as pd
import pytest

from dashboard.ingest import check_extract
from dashboard.validation import parse_dates
from support import NO_CURRENT, TODAY, template_csv, with_trial


def check(programme, data: bytes, trial="PUMP", site=None, current=NO_CURRENT, fmt=None):
    return check_extract(data, "extract.csv", programme, trial, TODAY, current, site=site, fmt=fmt)


def only(issues, code):
    found = [i for i in issues if i.code == code]
    assert found, f"no {code} issue among {[i.message for i in issues]}"
    return found


def test_a_good_extract_passes_with_its_participants(programme):
    checked = check(programme, template_csv("P-1,EMC,1-3-2024,5-3-2024,Arm B", "P-2,AVL,2024-03-02,2024-03-09,controle"))
    assert checked.ok and not checked.warnings
    assert checked.participants["arm"].tolist() == ["haip", "control"]
    assert checked.participants["site"].tolist() == ["EMC", "NKI"]
    assert checked.enrolment_range() == ("2024-03-05", "2024-03-09")
    assert checked.diff.counts() == {"new": 2, "changed": 0, "missing": 0, "unchanged": 0}


def test_unreadable_binary_file(programme):
    checked = check(programme, b"\x00\x01\x02PK-not-a-csv\x00" * 10)
    assert [i.message for i in checked.errors] == [
        "the file cannot be read: this is not a text file (it holds binary data); "
        "export the data as CSV, or upload the .xlsx workbook"
    ]


def test_empty_file(programme):
    assert only(check(programme, b"").errors, "unreadable")[0].message == "the file cannot be read: the file is empty"


def test_header_only_file(programme):
    assert only(check(programme, template_csv()).errors, "no_rows")[0].message == "the file has a header but no participant rows"


def test_missing_required_column_names_the_field_and_the_columns_on_offer(programme):
    checked = check(programme, template_csv("P-1,EMC,2024-03-05", header="participant_id,site,randomised"), fmt="template")
    message = only(checked.errors, "missing_columns")[0].message
    assert "no column for `enrolled_on` (inclusion or randomisation date: this is accrual)" in message
    assert "Columns on offer: participant_id, site, randomised" in message


def test_site_column_required_unless_given_at_upload(programme):
    data = template_csv("P-1,2024-03-05", header="participant_id,enrolled_on")
    assert "no column for `site`" in only(check(programme, data).errors, "missing_columns")[0].message
    assert check(programme, data, site="EMC").ok


def test_unparseable_date_names_row_column_and_value(programme):
    checked = check(programme, template_csv("P-1,EMC,2024-03-01,5-3-2024,haip", "P-2,EMC,,31-02-2024,haip"))
    assert [i.message for i in checked.errors] == [
        "row 3, `enrolled_on`: '31-02-2024' is not a date (write day-month-year, e.g. 27-10-2024, or 2024-10-27)"
    ]


def test_dates_are_day_first_or_iso_never_month_first():
    dates, bad, _ = parse_dates(pd.Series(["6-12-2022 13:38", "1-7-2021", "2024-03-05", "03/04/2024", "12/31/2024", ""]))
    assert [d.date().isoformat() if not pd.isna(d) else None for d in dates] == [
        "2022-12-06", "2021-07-01", "2024-03-05", "2024-04-03", None, None
    ]
    assert bad.tolist() == [False, False, False, False, True, False]


def test_duplicate_participant_ids(programme):
    checked = check(programme, template_csv("P-1,EMC,,2024-03-05,haip", "P-2,EMC,,2024-03-06,haip", "P-1,NKI,,2024-03-07,haip"))
    assert [i.message for i in checked.errors] == [
        "row 4, `participant_id`: 'P-1' is also on row 2; each participant may appear once"
    ]


def test_unknown_site(programme):
    checked = check(programme, template_csv("P-1,Maastricht,,2024-03-05,haip"))
    assert only(checked.errors, "unknown_site")[0].message.startswith(
        "row 2, `site`: 'Maastricht' is not a known site; known sites: EMC (Erasmus MC Cancer Institute); NKI"
    )


def test_site_given_at_upload_must_match_the_file(programme):
    checked = check(programme, template_csv("P-1,NKI,,2024-03-05,haip"), site="EMC")
    assert only(checked.errors, "site_mismatch")[0].message == "row 2, `site`: 'NKI' is not EMC, the site chosen for this upload"


def test_unknown_trial(programme):
    checked = check(programme, template_csv("P-1,EMC,,2024-03-05,haip"), trial="PUMP-9")
    assert [i.message for i in checked.errors] == ["'PUMP-9' is not a trial of the programme; the trials are PUMP, PUMP-2, PUMP-IT"]


def test_arm_not_configured_for_the_trial(programme):
    checked = check(programme, template_csv("P-1,EMC,,2024-03-05,control"), trial="PUMP-2")
    assert [i.message for i in checked.errors] == ["row 2, `arm`: 'control' is not an arm of PUMP-2 (haip)"]


def test_enrolment_before_the_trial_opened(programme):
    checked = check(programme, template_csv("P-1,EMC,,2019-03-31,haip"))
    assert [i.message for i in checked.errors] == ["row 2, `enrolled_on`: '2019-03-31' is before the trial opened (01-04-2019)"]


def test_enrolment_in_the_future(programme):
    checked = check(programme, template_csv("P-1,EMC,,22-11-2026,haip"))
    assert [i.message for i in checked.errors] == ["row 2, `enrolled_on`: '22-11-2026' is in the future (today is 21-11-2026)"]


@pytest.mark.parametrize(
    ("header", "value", "kind"),
    [
        ("first_name", "Jan", "a name"),
        ("Achternaam", "Jansen", "a name"),
        ("address", "Dorpsstraat 1", "an address"),
        ("telephone", "010-1234567", "a phone number"),
        ("E-mail", "jan@example.nl", "an e-mail address"),
        ("date_of_birth", "1950-01-01", "a date of birth"),
        ("BSN", "111222333", "a BSN"),
    ],
)
def test_identifier_columns_are_refused_by_name(programme, header, value, kind):
    data = template_csv(f"P-1,EMC,,2024-03-05,haip,{value}", header=f"participant_id,site,screened_on,enrolled_on,arm,{header}")
    errors = check(programme, data).errors
    assert len(errors) == 1 and errors[0].code == "identifier" and errors[0].column == header
    assert errors[0].message.startswith(f"`{header}`: its name says it holds {kind}. Direct identifiers of patients may not be stored")


def test_e_mail_addresses_are_refused_whatever_the_column_is_called(programme):
    data = template_csv("P-1,EMC,,2024-03-05,haip,see jan@example.nl", "P-2,EMC,,2024-03-05,haip,jan@example.nl", header="participant_id,site,screened_on,enrolled_on,arm,remarks")
    assert only(check(programme, data).errors, "identifier")[0].message.startswith("`remarks`: it holds e-mail addresses (row 2)")


def test_ids_that_pass_the_bsn_eleven_test_are_refused(programme):
    data = template_csv("PUMP-1,EMC,,2024-03-05,haip", "123456782,EMC,,2024-03-06,haip")
    message = only(check(programme, data).errors, "identifier")[0].message
    assert message.startswith("`participant_id`: it holds numbers that pass the BSN eleven-test (row 3)")


def test_ids_that_fail_the_eleven_test_are_no_bsn_but_a_hospital_number_unless_the_trials_pattern_allows_them(programme):
    # Issue 19: nine digits are no BSN here, but a hospital record number, unless the trial's study numbers look so.
    assert [i.code for i in check(programme, template_csv("123456789,EMC,,2024-03-05,haip")).errors] == ["hospital_number"]
    allowing = with_trial(programme, "PUMP", participant_id_pattern="[0-9]{9}")
    assert check(allowing, template_csv("123456789,EMC,,2024-03-05,haip")).ok


def _current(programme, data):
    checked = check(programme, data)
    assert checked.ok
    return checked.participants.assign(trial="PUMP")


def test_participants_missing_from_the_new_extract_need_confirmation(programme):
    current = _current(programme, template_csv("P-1,EMC,,2024-03-05,haip", "P-2,EMC,,2024-03-06,haip"))
    checked = check(programme, template_csv("P-1,EMC,,2024-03-05,haip"), current=current)
    warning = only(checked.warnings, "participant_missing")[0]
    assert warning.needs_confirmation and checked.needs_confirmation
    assert warning.message == "'P-2' (site EMC) is in the current data but not in this extract; if you confirm, it is no longer counted"
    assert checked.diff.counts() == {"new": 0, "changed": 0, "missing": 1, "unchanged": 1}


def test_a_snapshot_of_one_site_does_not_make_the_other_site_missing(programme):
    current = _current(programme, template_csv("P-1,EMC,,2024-03-05,haip", "P-2,NKI,,2024-03-06,haip"))
    checked = check(programme, template_csv("P-1,EMC,,2024-03-05,haip", "P-3,EMC,,2024-04-05,control"), current=current)
    assert not checked.warnings and checked.diff.counts() == {"new": 1, "changed": 0, "missing": 0, "unchanged": 1}


def test_changed_enrolment_date_and_arm_need_confirmation(programme):
    current = _current(programme, template_csv("P-1,EMC,,2024-03-05,haip"))
    checked = check(programme, template_csv("P-1,EMC,,2024-03-07,control"), current=current)
    assert [i.message for i in checked.warnings] == [
        "row 2: 'P-1' enrolled on changes from 2024-03-05 to 2024-03-07",
        "row 2: 'P-1' arm changes from haip to control",
    ]
    assert checked.diff.changed == {"P-1": {"enrolled_on": ("2024-03-05", "2024-03-07"), "arm": ("haip", "control")}}


def test_user_missing_codes_are_read_as_empty_with_a_warning(programme):
    checked = check(programme, template_csv("P-1,EMC,31-12-2999,2024-03-05,haip", "P-2,EMC,-99,2024-03-06,haip"))
    assert checked.ok
    assert [i.message for i in checked.warnings] == [
        "row 3, `screened_on`: '-99' is a 'user missing' code; read as empty",
        "row 2, `screened_on`: '31-12-2999' is a 'user missing' date; read as empty",
    ]
    assert not checked.needs_confirmation
    assert checked.participants["screened_on"].isna().all()


def test_enrolment_before_the_site_was_activated(programme):
    checked = check(programme, template_csv("P-1,NKI,,2019-10-15,haip"))
    warning = only(checked.warnings, "before_activation")[0]
    assert warning.message == "row 2, `enrolled_on`: '2019-10-15' is before site NKI was activated for this trial (01-11-2019)"
    assert warning.needs_confirmation


def test_a_site_outside_the_trial_is_refused(programme):
    data = template_csv("P-1,EMC,,2024-03-05,haip")
    config = programme.model_copy(update={"trials": {**programme.trials, "PUMP-2": programme.trials["PUMP-2"].model_copy(update={"sites": {"NKI": programme.trials["PUMP-2"].sites["NKI"]}})}})
    checked = check(config, data, trial="PUMP-2")
    assert [i.message for i in checked.errors] == ["row 2, `site`: site EMC does not take part in PUMP-2 (its sites: NKI)"]


def test_every_problem_is_reported_at_once(programme):
    checked = check(programme, template_csv("P-1,Zuid,,2030-01-01,arm C", "P-1,EMC,,x,haip"))
    assert sorted(i.code for i in checked.errors) == ["bad_date", "duplicate_id", "future_date", "unknown_arm", "unknown_site"]


def test_a_checkbox_option_label_is_not_taken_for_an_identifier(programme):
    header = "participant_id,site,screened_on,enrolled_on,arm,reden_exclusie#Geen vast adres"
    assert check(programme, template_csv("P-1,EMC,,2024-03-05,haip,1", header=header)).ok
    named = "participant_id,site,screened_on,enrolled_on,arm,adres#Straat"
    assert only(check(programme, template_csv("P-1,EMC,,2024-03-05,haip,0", header=named)).errors, "identifier")


def test_a_first_enrolment_of_a_screened_participant_needs_no_decision(programme):
    current = _current(programme, template_csv("P-1,EMC,2024-03-01,,"))
    checked = check(programme, template_csv("P-1,EMC,2024-03-01,2024-03-08,haip"), current=current)
    assert not checked.needs_confirmation and not checked.warnings
    assert checked.diff.changed == {"P-1": {"enrolled_on": (None, "2024-03-08"), "arm": (None, "haip"), "status": ("screening", "enrolled")}}


def test_progress_is_reported_step_by_step_while_a_file_is_checked(programme):
    steps = []
    check_extract(template_csv("P-1,EMC,,2024-03-05,haip"), "x.csv", programme, "PUMP", TODAY, NO_CURRENT, progress=steps.append)
    assert steps == [
        "Reading the file",
        "Read 1 row as template; looking for direct identifiers",
        "Checking every rule",
        "Comparing with the current data",
    ]
