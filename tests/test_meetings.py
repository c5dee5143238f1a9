"""Since the last meeting, against a hand-built history of extracts with a meeting between
them: a correction of the past, a late report, a withdrawal, a status change, a retraction
after the meeting and a site that went stale. Every expected number is worked out by hand
in the comments beside it."""

import datetime as dt
import json

import pytest

from dashboard import service
from dashboard.cli import main
from dashboard.meetings import forecast_line, since_line
from dashboard.store import Refused, Store
from support import TODAY, meeting_history, upload

BOTH_ENGINES = True  # each test with the `store` fixture runs on DuckDB and on PostgreSQL (conftest)


@pytest.fixture
def history(store, programme):
    return meeting_history(store, programme)


def trial(result, code):
    return next(t for t in result["trials"] if t["trial"] == code)


def test_changes_since_the_meeting_worked_out_by_hand(store, programme, history):
    result = service.changes(store, programme)
    assert result["since"]["meeting"] == history["meeting"] and result["since"]["held_on"] == "2026-11-05"
    assert result["as_of"] == TODAY.isoformat()
    p2 = trial(result, "PUMP-2")
    # Then: EMC E1 E2 E3 + NKI N1 N2 N9 = 6. Now: EMC E1..E5 = 5, NKI N1 = 1, so 6.
    assert (p2["enrolled_then"], p2["enrolled_now"]) == (6, 6)
    # New: E4 and E5 (E5 enrolled 3 Nov, before the meeting, was not in its cut: late).
    assert p2["new_enrolments"] == {"EMC": 2, "NKI": 0}
    assert p2["late_reports"] == {"EMC": 1, "NKI": 0}
    # N2 and N9 were only in the retracted extract: 6 + 2 new - 2 gone = 6.
    assert p2["no_longer_enrolled"] == {"EMC": 0, "NKI": 2}
    assert p2["withdrawals"] == {"EMC": 1, "NKI": 0}  # E2
    # E1's enrolment date moved from 1 Oct to 28 Sep: a correction, not a new enrolment.
    assert p2["corrections"] == [{"participant_id": "P2-E1", "site": "EMC", "enrolled_on": {"then": "2026-10-01", "now": "2026-09-28"}}]
    assert sorted((c["from"], c["to"], c["count"]) for c in p2["status_changes"]) == [
        ("on_treatment", "follow_up", 1),  # E3
        ("on_treatment", "withdrawn", 1),  # E2
    ]
    # NKI's data was 3 days old at the meeting (fresh); now its current extract is from 1 Oct: 51 days, stale.
    # EMC's is from 10 Nov: 11 days, fresh (stale after 14).
    assert p2["stale_sites"] == ["NKI"]
    assert p2["retracted_since"] == [history["wrong"]]
    assert since_line(p2) == f"+2 (EMC +2; 1 reported late), 2 no longer enrolled, 1 withdrawn, 1 correction, extract #{history['wrong']} retracted"

    # PUMP-IT's EMC extract (30 Oct) was 6 days old at the meeting and is 22 days old now.
    pit = trial(result, "PUMP-IT")
    assert (pit["enrolled_then"], pit["enrolled_now"], pit["new_enrolments"]) == (1, 1, {"NKI": 0, "EMC": 0})
    assert pit["stale_sites"] == ["EMC"]
    # PUMP has no data at all: nothing changed, no forecast.
    pump = trial(result, "PUMP")
    assert (pump["enrolled_then"], pump["enrolled_now"], pump["forecast_now"], pump["stale_sites"]) == (0, 0, None, [])


def test_then_is_what_summary_said_at_the_meeting_and_now_is_summary_now(store, programme, history):
    result = service.changes(store, programme)
    now = service.programme_summary(store, programme, TODAY)
    for block, then_t, now_t in zip(result["trials"], history["said_then"]["trials"], now["trials"], strict=True):
        assert block["forecast_then"] == then_t["forecast"] and block["status_then"] == then_t["status"]
        assert block["forecast_now"] == now_t["forecast"] and block["status_now"] == now_t["status"]
        assert block["enrolled_then"] == then_t["enrolled"] and block["enrolled_now"] == now_t["enrolled"]
    p2 = trial(result, "PUMP-2")
    assert forecast_line(p2).startswith("finish ")


def test_the_meeting_cut_is_frozen(store, programme, history):
    # What the meeting saw: the retracted extract is still part of its cut, nothing of later uploads.
    cut = service.meeting_cut(store, service.find_meeting(store, history["meeting"]))
    p2 = cut.participants[cut.participants["trial"] == "PUMP-2"]
    assert sorted(p2["participant_id"]) == ["P2-E1", "P2-E2", "P2-E3", "P2-N1", "P2-N2", "P2-N9"]
    assert str(p2.loc[p2["participant_id"] == "P2-E1", "enrolled_on"].iloc[0])[:10] == "2026-10-01"


def test_a_meeting_reopened_shows_what_it_saw_against_the_one_before(store, programme, history):
    second = service.hold_meeting(store, "chair", "second")
    as_it_was = service.meeting_as_it_was(store, programme, history["meeting"])
    assert as_it_was["changes"] is None  # the first meeting has none before it
    assert trial(as_it_was["summary"], "PUMP-2")["enrolled"] == 6 and as_it_was["summary"]["as_of"] == "2026-11-05"
    later = service.meeting_as_it_was(store, programme, second["meeting"])
    # Nothing was uploaded between the second meeting and now: it saw what `changes` since the first sees.
    assert later["changes"] == service.changes(store, programme, history["meeting"])
    assert trial(later["changes"], "PUMP-2")["new_enrolments"] == {"EMC": 2, "NKI": 0}
    # `changes` now defaults to the second meeting, and nothing has changed since.
    assert service.changes(store, programme)["since"]["meeting"] == second["meeting"]
    nothing = trial(service.changes(store, programme), "PUMP-2")
    assert nothing["new_enrolments"] == {"EMC": 0, "NKI": 0} and nothing["corrections"] == [] and nothing["retracted_since"] == []


def test_no_meeting_yet_is_refused_and_a_note_with_an_identifier_is_refused(store, programme):
    with pytest.raises(Refused, match="no meeting has been held yet"):
        service.changes(store, programme)
    before = store.table_counts()
    with pytest.raises(Refused, match="meeting note"):
        store.hold_meeting("chair", "patient e-mail j.jansen@example.nl asked to withdraw")
    # No meeting; the refusal is one audit entry, which names the kind of problem, not the note.
    assert store.table_counts() == {**before, "audit_log": before["audit_log"] + 1}
    refused = service.audit_entries(store)[0]
    assert (refused["action"], refused["detail"]["reason"]) == ("refused", "identifier") and "jansen" not in str(refused)


def test_meeting_commands(tmp_path, capsys, programme):
    db = str(tmp_path / "cli.duckdb")
    store = Store(db, create=True)
    upload(store, programme, ["P2-E1,EMC,,2026-10-01,haip,on_treatment,"], at=dt.datetime(2026, 11, 2, 10))
    assert main(["--db", db, "changes", "--json"]) == 1
    said = capsys.readouterr()
    assert "no meeting has been held yet" in said.out + said.err
    assert main(["--db", db, "meeting", "hold", "--by", "chair", "--note", "weekly", "--json"]) == 0
    held = json.loads(capsys.readouterr().out)
    assert held["id"] == 1 and held["held_on"] == TODAY.isoformat() and held["note"] == "weekly" and held["extracts"] == 1
    upload(store, programme, ["P2-E1,EMC,,2026-10-01,haip,on_treatment,", "P2-E2,EMC,,2026-11-20,haip,on_treatment,"])
    assert main(["--db", db, "meetings", "--json"]) == 0
    assert [(m["meeting"], m["held_by"]) for m in json.loads(capsys.readouterr().out)] == [(1, "chair")]
    assert main(["--db", db, "changes", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["since"]["meeting"] == 1
    assert trial(result, "PUMP-2")["new_enrolments"] == {"EMC": 1, "NKI": 0}
    assert main(["--db", db, "changes", "--since-meeting", "7"]) == 1
    said = capsys.readouterr()
    assert "there is no meeting #7" in said.out + said.err
    assert main(["--db", db, "changes"]) == 0
    assert "2/50   was 1; since: +1 (EMC +1; 1 reported late)" in capsys.readouterr().out  # enrolled 20 Nov, before the meeting
    audit = store.audit_log()
    assert audit.loc[audit["action"] == "meeting", "actor"].tolist() == ["chair"]
