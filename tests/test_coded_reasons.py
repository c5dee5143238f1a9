"""Issue 19, privacy by design: the reasons a person types are stored as codes of the trial's
vocabulary, never as text; every date field is checked against the trial's window; a hospital
record number is no study number; one participant belongs to one site."""

import re

import duckdb
import pytest

from dashboard.config import OTHER_REASON
from dashboard.fields import DATE_FIELDS
from dashboard.ingest import check_file, commit
from support import TODAY, template_csv, with_trial

REASONS = "participant_id,site,screened_on,screening_outcome,screen_fail_reason,enrolled_on,arm,status,withdrawn_on,withdrawal_reason"
UNMATCHED = "wil liever dichter bij huis behandeld worden"


def every_text_in(path) -> str:
    """Every value of every table of the database file, as one text: what a reader of the file sees."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [row[0] for row in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()]
        return "\n".join(str(con.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)
    finally:
        con.close()


def reasons_file(*rows: str) -> bytes:
    return template_csv(*rows, header=REASONS)


def test_every_typed_reason_is_stored_as_a_code_or_other_and_its_text_is_never_kept(store, programme, tmp_path):
    data = reasons_file(
        "P-1,EMC,2024-03-01,ineligible,Extrahepatische ziekte op CT,,,,,",
        "P-2,EMC,2024-03-02,ineligible,  EXTRAHEPATIC DISEASE. ,,,,,",
        "P-3,EMC,2024-03-03,declined,patiënt weigert,,,,,",
        f"P-4,EMC,2024-03-04,declined,{UNMATCHED},,,,,",
        "P-5,EMC,2024-03-05,eligible,,2024-03-10,haip,withdrawn,2024-05-01,Toxiciteit",
        "P-6,EMC,2024-03-06,eligible,,2024-03-11,haip,withdrawn,2024-05-02,verhuisd naar het buitenland",
    )
    checked = check_file(store, programme, data, "week.csv", "PUMP", today=TODAY)
    assert checked.ok, [i.message for i in checked.errors]
    # The coordinator is told which values matched no reason, each once, with its row.
    assert checked.unmatched_reasons == {"screen_fail_reason": [UNMATCHED], "withdrawal_reason": ["verhuisd naar het buitenland"]}
    assert next(i.message for i in checked.warnings if i.code.startswith("unmatched_")) == (
        f"row 5, `screen_fail_reason`: {UNMATCHED!r} is none of the PUMP reasons, so it is stored as `other` and its text "
        "is not kept; map it to a reason to have it counted as one"
    )
    assert not checked.needs_confirmation  # a note, not a decision
    commit(store, checked, "coordinator")

    stored = store.current_participants("PUMP").set_index("participant_id")
    assert stored["screen_fail_reason"].tolist()[:4] == ["extrahepatic_disease", "extrahepatic_disease", "declined", OTHER_REASON]
    assert stored.loc[["P-5", "P-6"], "withdrawal_reason"].tolist() == ["toxicity", OTHER_REASON]
    everything = every_text_in(tmp_path / "test.duckdb").casefold()
    for typed in (UNMATCHED, "verhuisd", "extrahepatische ziekte op ct", "weigert", "toxiciteit"):
        assert typed not in everything


def test_a_coordinators_mapping_of_a_typed_reason_is_remembered_for_the_trial_by_fingerprint_only(store, programme, tmp_path):
    data = reasons_file(f"P-1,EMC,2024-03-01,declined,{UNMATCHED},,,,,")
    chosen = {"screen_fail_reason": {UNMATCHED: "travel_distance"}}
    checked = check_file(store, programme, data, "week.csv", "PUMP", today=TODAY, reason_mapping=chosen)
    assert checked.unmatched_reasons == {}
    commit(store, checked, "coordinator", reason_mapping=chosen)
    assert store.current_participants("PUMP")["screen_fail_reason"].tolist() == ["travel_distance"]
    entry = store.audit_log().iloc[0]
    assert entry["action"] == "ingest" and '"reasons_mapped": 1' in entry["detail"] and UNMATCHED not in entry["detail"]

    # Next week the same words, typed a little differently, need no mapping: remembered per trial.
    again = reasons_file(f"P-1,EMC,2024-03-01,declined,{UNMATCHED.upper()}.,,,,,", f"P-2,EMC,2024-03-02,declined,{UNMATCHED},,,,,")
    later = check_file(store, programme, again, "week2.csv", "PUMP", today=TODAY)
    assert later.unmatched_reasons == {} and later.participants["screen_fail_reason"].tolist() == ["travel_distance"] * 2
    # Another trial has its own mappings.
    other = check_file(store, programme, again.replace(b"EMC", b"NKI"), "it.csv", "PUMP-IT", today=TODAY)
    assert other.participants["screen_fail_reason"].tolist() == [OTHER_REASON] * 2
    assert UNMATCHED not in every_text_in(tmp_path / "test.duckdb")


def test_a_mapping_to_a_code_the_trial_does_not_have_is_not_taken(store, programme):
    data = reasons_file(f"P-1,EMC,2024-03-01,declined,{UNMATCHED},,,,,")
    checked = check_file(store, programme, data, "week.csv", "PUMP", today=TODAY, reason_mapping={"screen_fail_reason": {UNMATCHED: "made_up"}})
    assert checked.participants["screen_fail_reason"].tolist() == [OTHER_REASON]
    assert checked.unmatched_reasons == {"screen_fail_reason": [UNMATCHED]}


def test_a_trial_that_allows_free_text_keeps_it_and_the_identifier_screen_guards_it(store, programme):
    free = with_trial(programme, "PUMP", free_text=True)
    checked = check_file(store, free, reasons_file(f"P-1,EMC,2024-03-01,declined,{UNMATCHED},,,,,"), "a.csv", "PUMP", today=TODAY)
    assert checked.ok and checked.unmatched_reasons == {}
    commit(store, checked, "coordinator")
    assert store.current_participants("PUMP")["screen_fail_reason"].tolist() == [UNMATCHED]
    refused = check_file(store, free, reasons_file("P-2,EMC,2024-03-01,declined,Jansen wil niet meer,,,,,"), "b.csv", "PUMP", today=TODAY)
    assert refused.errors[0].message.startswith("`screen_fail_reason`: it holds names of people (row 2).")


def test_the_chart_and_tables_show_a_codes_label(programme):
    trial = programme.trials["PUMP"]
    assert trial.reason_label("screen_fail_reason", "extrahepatic_disease") == "extrahepatic disease"
    assert trial.reason_label("withdrawal_reason", OTHER_REASON) == "other"
    assert trial.reason_label("screen_fail_reason", "typed before issue 19") == "typed before issue 19"


# ---- dates that cannot be birthdays -------------------------------------------------------------

DATES = "participant_id,site," + ",".join(DATE_FIELDS)


@pytest.mark.parametrize("field", DATE_FIELDS)
def test_a_date_of_birth_in_any_date_field_is_an_error_asking_whether_it_is_one(store, programme, field):
    # Three participants, one of them with a date of birth typed in the field.
    rows = []
    for number, value in enumerate(["2024-03-04", "12-03-1956", "2024-03-06"], 1):
        values = {name: "" for name in DATE_FIELDS} | {"enrolled_on": "2024-03-05", field: value}
        rows.append(f"P-{number},EMC," + ",".join(values[name] for name in DATE_FIELDS))
    checked = check_file(store, programme, template_csv(*rows, header=DATES), "week.csv", "PUMP", today=TODAY)
    assert [i.message for i in checked.errors] == [
        f"row 3, `{field}`: '12-03-1956' is 63 years before PUMP opened (01-04-2019): is this a date of birth?"
    ]
    assert store.is_empty()


def test_a_date_a_little_too_early_names_the_trials_window(store, programme):
    data = template_csv("P-1,EMC,2016-05-01,2024-03-05,haip", header="participant_id,site,screened_on,enrolled_on,arm")
    checked = check_file(store, programme, data, "week.csv", "PUMP", today=TODAY)
    assert [i.message for i in checked.errors] == [
        "row 2, `screened_on`: '2016-05-01' is 2 years before PUMP opened (01-04-2019): no event of the trial happens "
        "more than 2 years before it opened"
    ]


def test_a_mapped_column_of_birth_dates_is_refused_as_dates_of_birth(store, programme):
    data = template_csv("P-1,EMC,2024-03-05,12-03-1956", "P-2,EMC,2024-03-06,03-11-1948", header="participant_id,site,enrolled_on,gebdat")
    checked = check_file(store, programme, data, "week.csv", "PUMP", today=TODAY, mapping={"consented_on": "gebdat"})
    assert checked.errors[0].message.startswith(
        "`gebdat`: it, read as `consented_on`, holds dates decades before any enrolment, which are dates of birth (row 2)."
    )


# ---- study numbers, not hospital numbers; one participant, one site -------------------------------


@pytest.mark.parametrize("pid", ["7654321", "EMC1234567", "emc-1234567", "NKI 12345678"])
def test_a_hospital_record_number_as_id_is_refused(store, programme, pid):
    checked = check_file(store, programme, template_csv(f"{pid},EMC,,2024-03-05,haip"), "week.csv", "PUMP", today=TODAY)
    assert [i.message for i in checked.errors] == [
        f"row 2, `participant_id`: {pid!r} looks like a hospital record number (6 to 10 digits, alone or after a site's "
        "prefix); it identifies the patient and may not be stored here: export the PUMP study number instead"
    ]


def test_study_numbers_of_digits_pass_where_the_trials_pattern_allows_them(store, programme):
    allowing = with_trial(programme, "PUMP", participant_id_pattern="[0-9]{6}")
    assert check_file(store, allowing, template_csv("110001,EMC,,2024-03-05,haip"), "week.csv", "PUMP", today=TODAY).ok


def test_the_same_id_at_two_sites_is_an_error_naming_both(store, programme):
    first = check_file(store, programme, template_csv("P-1,EMC,,2024-03-05,haip"), "emc.csv", "PUMP", today=TODAY)
    commit(store, first, "coordinator")
    before = store.table_counts()
    second = check_file(store, programme, template_csv("P-2,NKI,,2024-03-05,haip", "P-1,NKI,,2024-03-06,haip"), "nki.csv", "PUMP", today=TODAY)
    assert [i.message for i in second.errors] == [
        "row 3, `participant_id`: 'P-1' is current at EMC, and this extract has it at NKI; one participant belongs to one "
        "site, so it would be counted twice. Correct the id, or ask the trial office to record a transfer"
    ]
    assert store.table_counts() == before
    # The same id in another trial is another participant.
    assert check_file(store, programme, template_csv("P-1,NKI,,2024-03-06,haip"), "it.csv", "PUMP-IT", today=TODAY).ok


def test_every_reason_the_demo_writes_is_a_code_of_its_trial(programme):
    from dashboard.config import reason_key
    from dashboard.demo import NO_PUMP_REASON, TRAITS, WITHDRAWAL_BEFORE_TREATMENT, WITHDRAWAL_ON_TREATMENT

    for code, traits in TRAITS.items():
        lookup = programme.trials[code].reason_lookup
        assert all(lookup["screen_fail_reason"].get(reason_key(r)) not in (None, OTHER_REASON) for r in traits.fail_reasons), code
        withdrawals = [*WITHDRAWAL_BEFORE_TREATMENT, *WITHDRAWAL_ON_TREATMENT, NO_PUMP_REASON]
        assert all(lookup["withdrawal_reason"].get(reason_key(r)) not in (None, OTHER_REASON) for r in withdrawals), code


def test_the_screen_fail_chart_counts_codes_by_their_labels(programme):
    import pandas as pd

    from dashboard import metrics

    people = pd.DataFrame(
        {
            "participant_id": ["P-1", "P-2", "P-3"],
            "site": "EMC",
            "screened_on": pd.to_datetime(["2024-03-01"] * 3),
            "screening_outcome": ["ineligible", "ineligible", "declined"],
            "screen_fail_reason": ["extrahepatic_disease", "extrahepatic_disease", OTHER_REASON],
            "enrolled_on": pd.NaT,
        }
    )
    reasons = metrics.screen_fail_reasons(people, TODAY, programme.trials["PUMP"])
    assert reasons[["reason", "count"]].values.tolist() == [["extrahepatic disease", 2], ["other", 1]]


def test_a_changed_reason_is_shown_by_its_labels_in_the_change_table(programme):
    from dashboard.upload_report import change_table

    changed = {"P-1": {"screen_fail_reason": {"old": "declined", "new": "extrahepatic_disease"}, "arm": {"old": None, "new": "haip"}}}
    table = change_table(changed, programme.trials["PUMP"])
    assert table.values.tolist() == [
        ["P-1", "screen_fail_reason", "declined participation", "extrahepatic disease"],
        ["P-1", "arm", "", "haip"],
    ]


@pytest.mark.parametrize(
    ("reasons", "message"),
    [
        ({"remarks": {"x": ["x"]}}, "reasons: 'remarks' is not a reason field (screen_fail_reason, withdrawal_reason)"),
        ({"screen_fail_reason": {"Extra Hepatic": ["x"]}}, "reasons.screen_fail_reason: 'Extra Hepatic' is not a code"),
        ({"screen_fail_reason": {"a": ["declined"], "b": ["Declined."]}}, "reasons.screen_fail_reason: alias 'Declined.' is used by both a and b"),
        ({"screen_fail_reason": {"a": ["overig"]}}, "reasons.screen_fail_reason: alias 'overig' is used by both a and other"),
    ],
)
def test_a_wrong_vocabulary_is_named_at_start(reasons, message):
    import yaml

    from dashboard.config import Programme
    from support import ROOT

    config = yaml.safe_load((ROOT / "data" / "programme.yaml").read_text())
    config["trials"]["PUMP"]["reasons"] = reasons
    with pytest.raises(ValueError, match=re.escape(message)):
        Programme.model_validate(config)
