"""Nothing that could identify a patient is ever stored (DESIGN.md 4.3, issue 9): each kind
of identifier, wherever it hides (a free-text column, the file name, a reason, a mapped
column, the participant id), is refused with the place named, and the database does not
change. And the false alarms that must not happen."""

import pandas as pd
import pytest
import yaml

from dashboard.config import Programme
from dashboard.ingest import check_file, commit
from dashboard.store import Refused
from support import ROOT, TODAY, only_the_refusal_audited, template_csv, with_trial

DEIDENTIFY = "Direct identifiers of patients may not be stored here, so the file is refused."
NEVER = "Direct identifiers of patients may never be stored here, so nothing was stored; remove them and try again."
HEADER = "participant_id,site,screened_on,enrolled_on,arm,screen_fail_reason"


def seeded(store, programme):
    checked = check_file(store, programme, template_csv("P-1,EMC,,2024-03-05,haip"), "first.csv", "PUMP", today=TODAY)
    commit(store, checked, "seeder")
    return store.table_counts()


def first_error(checked) -> str:
    return checked.errors[0].message


# ---- in the file: any column, whatever it is called ------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("mw. Jansen wilde niet", "names of people"),
        ("Jan de Vries declined", "names of people"),
        ("called J.P. van Dijk", "names of people"),
        ("contact via j.jansen@example.org", "e-mail addresses"),
        ("bel 06-12345678", "phone numbers"),
        ("daughter +44 20 7946 0958", "phone numbers"),
        ("via (010) 704 1234", "phone numbers"),
        ("bsn 111222333 in dossier", "numbers that pass the BSN eleven-test"),
        ("woont Plesmanlaan 121", "street addresses"),
        ("lives at 14 Rose Cottage St.", "street addresses"),
        ("postcode 3015 GD", "postcodes"),
    ],
)
def test_free_text_holding_an_identifier_is_refused_naming_column_and_row(store, programme, text, kind):
    before = seeded(store, programme)
    data = template_csv("P-1,EMC,,2024-03-05,haip,", f"P-2,EMC,,2024-03-06,haip,{text}", header=HEADER)
    checked = check_file(store, programme, data, "week.csv", "PUMP", today=TODAY)
    assert first_error(checked).startswith(f"`screen_fail_reason`: it holds {kind} (row 3). {DEIDENTIFY}")
    with pytest.raises(Refused):
        commit(store, checked, "coordinator")
    assert only_the_refusal_audited(store, before)


def test_a_phone_number_in_a_column_that_does_not_say_phone_is_refused(store, programme):
    data = template_csv("P-1,EMC,,2024-03-05,haip,0612345678", header="participant_id,site,screened_on,enrolled_on,arm,contact")
    checked = check_file(store, programme, data, "week.csv", "PUMP", today=TODAY)
    assert first_error(checked).startswith(f"`contact`: it holds phone numbers (row 2). {DEIDENTIFY}")


@pytest.mark.parametrize(
    ("header", "kind"),
    [("date_birth", "a date of birth"), ("city", "a place of residence"), ("state", "a place of residence"), ("woonplaats", "an address")],
)
def test_columns_named_for_birth_dates_and_places_are_refused(store, programme, header, kind):
    data = template_csv("P-1,EMC,,2024-03-05,haip,x", header=f"participant_id,site,screened_on,enrolled_on,arm,{header}")
    checked = check_file(store, programme, data, "redcap.csv", "PUMP", today=TODAY)
    assert first_error(checked).startswith(f"`{header}`: its name says it holds {kind}. {DEIDENTIFY}")


def test_dates_of_birth_are_found_by_their_values_whatever_the_column_is_called(store, programme):
    # PUMP opened in 2019: no trial event happens 18 or more years before that.
    data = template_csv(
        "P-1,EMC,,2024-03-05,haip,12-05-1951", "P-2,EMC,,2024-03-06,haip,03-11-1948", header="participant_id,site,screened_on,enrolled_on,arm,gd"
    )
    checked = check_file(store, programme, data, "week.csv", "PUMP", today=TODAY)
    assert first_error(checked).startswith(
        f"`gd`: it holds dates decades before any enrolment, which are dates of birth (row 2). {DEIDENTIFY}"
    )


def test_a_hospital_record_number_as_participant_id_is_refused_by_the_trials_pattern(store):
    config = yaml.safe_load((ROOT / "data" / "programme.yaml").read_text())
    config["trials"]["PUMP"]["participant_id_pattern"] = "PUMP-(EMC|NKI)-[0-9]{4}"
    programme = Programme.model_validate(config)
    data = template_csv("PUMP-EMC-0001,EMC,,2024-03-05,haip", "7654321,EMC,,2024-03-06,haip")
    checked = check_file(store, programme, data, "week.csv", "PUMP", today=TODAY)
    assert [i.message for i in checked.errors] == [
        "row 3, `participant_id`: '7654321' is not a PUMP study number (they match PUMP-(EMC|NKI)-[0-9]{4}); a hospital "
        "record number identifies the patient and may not be stored here: export the study number instead"
    ]
    assert store.is_empty()


def test_a_wrong_participant_id_pattern_is_named_at_start():
    config = yaml.safe_load((ROOT / "data" / "programme.yaml").read_text())
    config["trials"]["PUMP"]["participant_id_pattern"] = "PUMP-(EMC"
    with pytest.raises(ValueError, match="participant_id_pattern is not a regular expression"):
        Programme.model_validate(config)


# ---- in the write path: whatever the caller -----------------------------------------------------


def clean_checked(store, programme, name="week.csv"):
    data = template_csv("P-1,EMC,,2024-03-05,haip,", "P-2,EMC,2024-03-01,,,declined", header=HEADER.replace("arm,", "arm,"))
    checked = check_file(store, programme, data, name, "PUMP", today=TODAY)
    assert checked.ok, [i.message for i in checked.errors]
    return checked


@pytest.mark.parametrize(
    ("field", "text", "kind"),
    [
        ("screen_fail_reason", "mevrouw Bakker wil niet", "names of people"),
        ("screen_fail_reason", "zie e-mail aan a.b@umc.nl", "e-mail addresses"),
        ("withdrawal_reason", "tel. +31 6 1234 5678", "phone numbers"),
        ("withdrawal_reason", "BSN 1112.22.333", "numbers that pass the BSN eleven-test"),
        ("screen_fail_reason", "verhuisd naar Dorpsstraat 4", "street addresses"),
    ],
)
def test_the_write_path_refuses_identifiers_in_participant_text_from_any_caller(store, programme, field, text, kind):
    """A page or a script that skips the check still meets the screen in the store."""
    before = seeded(store, programme)
    checked = clean_checked(store, programme)
    checked.participants.loc[checked.participants.index[1], field] = text
    with pytest.raises(Refused) as refusal:
        commit(store, checked, "coordinator")
    assert str(refusal.value) == f"`{field}` holds {kind} (row 2 of the 2 stored). {NEVER}"
    assert only_the_refusal_audited(store, before)


def test_a_file_name_holding_a_bsn_is_refused(store, programme):
    before = seeded(store, programme)
    checked = clean_checked(store, programme, name="export_bsn_111222333.csv")
    with pytest.raises(Refused) as refusal:
        commit(store, checked, "coordinator")
    assert str(refusal.value) == f"The file name holds numbers that pass the BSN eleven-test. {NEVER}"
    assert only_the_refusal_audited(store, before)


def test_a_retraction_reason_holding_a_bsn_is_refused(store, programme):
    seeded(store, programme)
    before = store.table_counts()
    with pytest.raises(Refused) as refusal:
        store.retract(1, "director", "patient 111222333 was not eligible")
    assert str(refusal.value) == f"The reason holds numbers that pass the BSN eleven-test. {NEVER}"
    assert only_the_refusal_audited(store, before) and store.extracts()["status"].tolist() == ["current"]


def test_a_redaction_note_holding_a_name_is_refused(store, programme):
    seeded(store, programme)
    before = store.table_counts()
    with pytest.raises(Refused) as refusal:
        store.redact(1, ["screen_fail_reason"], "director", "dhr. Visser stond erin")
    assert str(refusal.value) == f"The reason holds names of people. {NEVER}"
    assert only_the_refusal_audited(store, before)


def test_a_names_column_mapped_onto_a_field_is_refused_in_the_page_check_and_in_the_store(store, programme):
    data = template_csv("P-1,EMC,,2024-03-05,haip,Nutmeg Nutmouse", header="participant_id,site,screened_on,enrolled_on,arm,achternaam")
    checked = check_file(store, programme, data, "week.csv", "PUMP", today=TODAY, mapping={"screen_fail_reason": "achternaam"})
    assert first_error(checked).startswith(f"`achternaam`: its name says it holds a name. {DEIDENTIFY}")
    clean = clean_checked(store, programme)
    with pytest.raises(Refused) as refusal:
        commit(store, clean, "coordinator", mapping={"screen_fail_reason": "achternaam"})
    assert str(refusal.value).startswith("the column `achternaam` chosen for `screen_fail_reason` is named as holding a name")
    assert store.is_empty()


# ---- redaction: the one exception to "nothing is deleted" -------------------------------------


def test_a_director_blanks_free_text_and_the_audit_keeps_who_and_which_fields_never_the_content(store, programme):
    programme = with_trial(programme, "PUMP", free_text=True)  # only a trial that keeps typed text has any to blank
    first = check_file(store, programme, template_csv("P-1,EMC,2024-03-01,,,declined,te ver weg", header="participant_id,site,screened_on,enrolled_on,arm,screening_outcome,screen_fail_reason"), "a.csv", "PUMP", today=TODAY)
    commit(store, first, "anna")
    second = check_file(store, programme, template_csv("P-1,EMC,2024-03-01,,,declined,woont te ver weg", header="participant_id,site,screened_on,enrolled_on,arm,screening_outcome,screen_fail_reason"), "b.csv", "PUMP", today=TODAY)
    extract_id = commit(store, second, "anna")
    detail = store.redact(extract_id, ["screen_fail_reason", "file_name"], "director", "free text may name people")
    assert detail["values_blanked"] == {"screen_fail_reason": 1, "file_name": 1}
    current = store.current_participants("PUMP")
    assert current["screen_fail_reason"].isna().all()
    extract = store.extracts().set_index("extract_id").loc[extract_id]
    assert extract["file_name"] == f"(redacted) extract #{extract_id}"
    assert "woont" not in extract["diff"] and "(redacted)" in extract["diff"]
    entry = store.audit_log().iloc[0]
    assert (entry["action"], entry["actor"], entry["extract_id"]) == ("redact", "director", extract_id)
    assert '"fields": ["file_name", "screen_fail_reason"]' in entry["detail"] and "woont" not in entry["detail"]
    # The earlier extract is untouched: only the named extract is redacted.
    assert store.extract_participants(1)["screen_fail_reason"].tolist() == ["te ver weg"]


def test_only_free_text_fields_can_be_blanked(store, programme):
    seeded(store, programme)
    with pytest.raises(Refused, match="choose the fields to blank from screen_fail_reason, withdrawal_reason, file_name; not enrolled_on"):
        store.redact(1, ["enrolled_on"], "director", "x")


# ---- false alarms that must not happen ------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Patient declined",
        "ineligible: bilirubin > 2x ULN",
        "Withdrew consent",
        "Resection + adjuvant HAIP",
        "comorbidity (COPD GOLD 3)",
        "moved abroad",
        "Erasmus MC Cancer Institute",
        "100 mg/m2 floxuridine",
        "27-10-2022 13:38",
        "05-04-2023 14:00",
        "randomised 2024",
        "Geen vast adres",
    ],
)
def test_ordinary_free_text_is_stored_where_the_trial_allows_free_text(store, programme, text):
    programme = with_trial(programme, "PUMP", free_text=True)
    data = template_csv(f"P-1,EMC,2024-03-01,,,{text}", header="participant_id,site,screened_on,enrolled_on,arm,screen_fail_reason")
    checked = check_file(store, programme, data, "week.csv", "PUMP", today=TODAY)
    assert checked.ok, [i.message for i in checked.errors]
    commit(store, checked, "coordinator")
    assert store.current_participants("PUMP")["screen_fail_reason"].tolist() == [text]


def test_a_castor_report_exports_custom_name_is_its_title_not_a_person(store, programme):
    data = (
        b"Participant Id;Site Abbreviation;Randomized On;Randomization Group;custom_name\r\n"
        b"PUMP-0001;EMC;6-12-2022 13:38;Arm B;Weekly accrual report\r\n"
    )
    checked = check_file(store, programme, data, "report.csv", "PUMP", today=TODAY)
    assert checked.format == "castor" and checked.ok, [i.message for i in checked.errors]


def test_a_redcap_field_about_giving_birth_is_not_a_date_of_birth(store, programme):
    data = template_csv("P-1,EMC,,2024-03-05,haip,1", header="participant_id,site,screened_on,enrolled_on,arm,given_birth")
    assert check_file(store, programme, data, "r.csv", "PUMP", today=TODAY).ok


def test_event_dates_in_an_unmapped_column_are_not_taken_for_dates_of_birth(store, programme):
    data = template_csv("P-1,EMC,,2024-03-05,haip,02-02-2024", header="participant_id,site,screened_on,enrolled_on,arm,ct_scan")
    assert check_file(store, programme, data, "r.csv", "PUMP", today=TODAY).ok


def test_participant_text_is_screened_only_once_per_distinct_value(programme):
    # The screen looks at each distinct value once: 100,000 identical reasons cost one look.
    from dashboard.identifiers import identifying_value

    values = pd.Series(["te ver weg"] * 100_000 + ["mw. Jansen"])
    assert identifying_value(values) == ("names of people", 100_000)


# ---- every kind in every place a person types text that is stored --------------------------------

KINDS = {
    "a name": ("mw. Jansen", "names of people"),
    "an e-mail address": ("a.jansen@example.org", "e-mail addresses"),
    "a Dutch phone number": ("06-12345678", "phone numbers"),
    "an international phone number": ("+32 2 555 12 34", "phone numbers"),
    "a BSN": ("111222333", "numbers that pass the BSN eleven-test"),
    "a street address": ("Kerkstraat 12", "street addresses"),
    "a postcode": ("1066 CX", "postcodes"),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_in_a_file_name_is_refused(store, programme, kind):
    text, words = KINDS[kind]
    before = seeded(store, programme)
    checked = clean_checked(store, programme, name=f"export {text}.csv")
    with pytest.raises(Refused) as refusal:
        commit(store, checked, "coordinator")
    assert str(refusal.value) == f"The file name holds {words}. {NEVER}"
    assert only_the_refusal_audited(store, before)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_in_a_retraction_reason_is_refused(store, programme, kind):
    text, words = KINDS[kind]
    before = seeded(store, programme)
    with pytest.raises(Refused) as refusal:
        store.retract(1, "director", f"wrong patient: {text}")
    assert str(refusal.value) == f"The reason holds {words}. {NEVER}"
    assert only_the_refusal_audited(store, before)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_in_a_redaction_note_is_refused(store, programme, kind):
    text, words = KINDS[kind]
    before = seeded(store, programme)
    with pytest.raises(Refused) as refusal:
        store.redact(1, ["screen_fail_reason"], "director", f"it said {text}")
    assert str(refusal.value) == f"The reason holds {words}. {NEVER}"
    assert only_the_refusal_audited(store, before)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_in_a_mapped_column_is_refused_before_anything_is_stored(store, programme, kind):
    text, words = KINDS[kind]
    data = template_csv(f"P-1,EMC,2024-03-01,,,{text}", header="participant_id,site,screened_on,enrolled_on,arm,opmerking")
    checked = check_file(store, programme, data, "week.csv", "PUMP", today=TODAY, mapping={"screen_fail_reason": "opmerking"})
    assert first_error(checked).startswith(f"`opmerking`: it holds {words} (row 2). {DEIDENTIFY}")
    with pytest.raises(Refused):
        commit(store, checked, "coordinator", mapping={"screen_fail_reason": "opmerking"})
    assert store.is_empty()
