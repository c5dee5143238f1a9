"""The CONSORT flow (dashboard/consort.py, `consort --json`) on hand-built extracts stored through the
real ingest path: every box of a randomised trial, a single-arm unresectable trial whose extract lacks
the consent and HAIP fields ("not recorded", never 0), and the same screened and enrolled counts as
`summary --json`."""

import datetime as dt
import json

import pytest

from dashboard import consort, service
from dashboard.cli import main
from dashboard.ingest import check_file, commit
from dashboard.store import Store
from support import TODAY, template_csv

FULL = (
    "participant_id,site,screened_on,screening_outcome,screen_fail_reason,consented_on,enrolled_on,arm,status,"
    "withdrawn_on,pump_implanted_on,treatment_started_on,converted_on"
)
# PUMP, randomised: 9 screened. Two not eligible (one reason twice), one declined, one pending (consented,
# undecided), five enrolled: 2 control (one completed, one lost), 3 HAIP (pump in 2, HAIP started in 1,
# one withdrawn, one deceased). R-9 is screened, and R-8's pump placed, after the as-of date of the second check.
PUMP_ROWS = [
    "R-1,EMC,2026-01-05,ineligible,extrahepatic disease,,,,,,,,",
    "R-2,EMC,2026-01-06,ineligible,extrahepatic disease,,,,,,,,",
    "R-3,NKI,2026-01-07,declined,declined randomisation,,,,,,,,",
    "R-4,NKI,2026-01-08,pending,,2026-01-20,,,screening,,,,",
    "R-5,EMC,2026-02-01,eligible,,2026-02-02,2026-02-03,control,completed,,,,",
    "R-6,EMC,2026-02-01,eligible,,2026-02-02,2026-02-04,control,lost_to_follow_up,,,,",
    "R-7,NKI,2026-02-01,eligible,,2026-02-02,2026-02-05,haip,on_treatment,,2026-03-01,2026-03-15,",
    "R-8,NKI,2026-03-01,eligible,,2026-03-02,2026-03-05,haip,withdrawn,2026-04-01,2026-03-20,,",
    "R-9,EMC,2026-09-01,eligible,,2026-09-02,2026-09-03,haip,deceased,,,,",
]
# PUMP-2, single arm, unresectable: the extract has no consent, pump, treatment or screening-outcome column.
SHORT = "participant_id,site,screened_on,enrolled_on,arm,status,converted_on"
PUMP2_ROWS = ["S-1,EMC,2026-02-01,2026-02-10,haip,follow_up,2026-06-01", "S-2,EMC,2026-03-01,2026-03-10,haip,on_treatment,"]


def store_rows(store, programme, trial, header, rows):
    checked = check_file(store, programme, template_csv(*rows, header=header), f"{trial}.csv", trial, today=TODAY)
    assert checked.ok, [e.message for e in checked.errors]
    commit(store, checked, "coordinator", accept_warnings=True, uploaded_at=dt.datetime(2026, 11, 1, 9))


@pytest.fixture
def db(tmp_path, programme):
    store = Store(tmp_path / "consort.duckdb", create=True)
    store_rows(store, programme, "PUMP", FULL, PUMP_ROWS)
    store_rows(store, programme, "PUMP-2", SHORT, PUMP2_ROWS)
    return store


def flow_of(store, programme, code, as_of=TODAY):
    return consort.flow(code, programme.trials[code], service.trial_rows(store, as_of, code), as_of)


def test_every_box_of_a_randomised_trial(db, programme):
    counts = flow_of(db, programme, "PUMP")["counts"]
    assert counts == {
        "screened": 9, "not_eligible": 2, "declined": 1, "pending": 1, "consented": 6, "enrolled": 5,
        "arms": {"control": 2, "haip": 3}, "pump_placed": 2, "haip_started": 1,
        "completed": 1, "withdrawn": 1, "lost_to_follow_up": 1, "deceased": 1,
        "converted": None,  # PUMP is resectable: no conversion box
    }
    result = flow_of(db, programme, "PUMP")
    # Stored as codes of the trial's vocabulary, shown as its labels ("declined randomisation" is code `declined`).
    assert result["reasons"] == [{"reason": "extrahepatic disease", "count": 2}, {"reason": "declined participation", "count": 1}]
    assert result["per_arm"]["control"]["completed"] == 1 and result["per_arm"]["haip"]["withdrawn"] == 1


def test_as_of_a_past_date_counts_what_had_happened_by_then(db, programme):
    rows = service.trial_rows(db, TODAY, "PUMP")
    counts = consort.flow("PUMP", programme.trials["PUMP"], rows, dt.date(2026, 3, 10))["counts"]
    assert (counts["screened"], counts["enrolled"], counts["arms"]) == (8, 4, {"control": 2, "haip": 2})
    assert (counts["pump_placed"], counts["haip_started"]) == (1, 0)


def test_a_field_no_extract_holds_is_not_recorded_never_zero(db, programme):
    result = flow_of(db, programme, "PUMP-2")
    counts = result["counts"]
    assert counts["screened"] == 2 and counts["enrolled"] == 2 and counts["arms"] == {"haip": 2}
    for box in ("not_eligible", "declined", "pending", "consented", "pump_placed", "haip_started"):
        assert counts[box] is None, box
    assert counts["converted"] == 1 and counts["completed"] == 0  # recorded: a status column is there
    drawn = consort.svg(result)
    assert "Pump placed: not recorded" in drawn and "Consented: not recorded" in drawn
    assert "Converted (resection or transplant): 1" in drawn and "Pump placed: 0" not in drawn


def test_reasons_show_their_labels_when_given(db, programme):
    trial = programme.trials["PUMP"]
    result = consort.flow("PUMP", trial, service.trial_rows(db, TODAY, "PUMP"), TODAY, labels={"extrahepatic_disease": "Extrahepatic disease on CT"})
    assert result["reasons"][0] == {"reason": "Extrahepatic disease on CT", "count": 2}


def test_the_drawing_holds_every_box(db, programme):
    drawn = consort.svg(flow_of(db, programme, "PUMP"), "PUMP")
    assert drawn.startswith("<svg") and "Data as of" not in drawn
    for text in ("Screened: 9", "Excluded: 3", "Not eligible: 2", "Declined: 1", "Still being screened: 1", "Consented: 6",
                 "Enrolled and randomised: 5", "Resection alone: 2", "Resection + adjuvant HAIP: 3", "Pump placed: 2",
                 "HAIP started: 1", "Withdrawn: 1", "Lost to follow-up: 1", "Deceased: 1", "extrahepatic disease: 2"):
        assert text in drawn, text
    assert "Converted" not in drawn


def test_consort_json_equals_summary_json(db, capsys):
    assert main(["--db", str(db.path), "consort", "--trial", "pump", "--as-of", "2026-11-21", "--json"]) == 0
    flow = json.loads(capsys.readouterr().out)
    assert set(flow) == {"trial", "as_of", "counts", "reasons"} and (flow["trial"], flow["as_of"]) == ("PUMP", "2026-11-21")
    assert main(["--db", str(db.path), "summary", "--as-of", "2026-11-21", "--json"]) == 0
    summary = next(t for t in json.loads(capsys.readouterr().out)["trials"] if t["trial"] == "PUMP")
    assert (flow["counts"]["screened"], flow["counts"]["enrolled"]) == (summary["screened"], summary["enrolled"])
    assert main(["--db", str(db.path), "consort", "--trial", "PUMP-2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["pump_placed"] is None  # JSON null: not recorded


def test_an_unknown_trial_is_bad_usage_as_one_json_object(db, capsys):
    assert main(["--db", str(db.path), "consort", "--trial", "NOPE", "--json"]) == 2
    assert "not a trial" in json.loads(capsys.readouterr().out)["message"]
