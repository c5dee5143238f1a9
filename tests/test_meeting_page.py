"""The meeting view through Streamlit's AppTest, on the hand-built history of support.py
(meeting #1 on 5 Nov 2026, then a correction, a late report, a withdrawal and a retraction):
the steps, marking the meeting as held, and reopening a past meeting as it was. Every number
on screen is `changes --json`'s (service.changes) and `summary --json`'s."""

import base64

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import service
from dashboard.meetings import since_line
from dashboard.store import Store
from support import meeting_history

APP = "../streamlit_app.py"


@pytest.fixture
def db(tmp_path, programme):
    store = Store(tmp_path / "meeting.duckdb", create=True)
    history = meeting_history(store, programme)
    return store, history


def open_meeting(monkeypatch, store, query=None, role="viewer") -> AppTest:
    monkeypatch.setenv("PUMP_DB", str(store.path))
    monkeypatch.setenv("PUMP_DEMO", "0")
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["role"] = role  # the steering committee lands on the meeting view
    at.query_params.update(query or {})
    at.run()
    if role != "viewer":
        at.switch_page("app_pages/meeting.py").run()
    assert not at.exception, at.exception
    return at


def drawing(at) -> str:
    """The SVG text of the page's one picture (st.image of an SVG: a data address)."""
    url = at.get("image")[0].proto.imgs[0].url
    assert url.startswith("data:image/svg+xml;base64,")
    return base64.b64decode(url.split(",", 1)[1]).decode("utf-8")


def markdown(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def metrics(at) -> dict:
    return {m.label: (m.value, m.proto.delta) for m in at.metric}


def button(at, key):
    return next(b for b in at.button if b.key == key)


def step(at) -> str:
    return next(m.value for m in at.markdown if m.value.startswith(":gray[step "))


def context(at) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("###### Steering meeting"))


def test_the_meeting_view_walks_each_trial_then_the_summary(monkeypatch, db, programme):
    store, _ = db
    at = open_meeting(monkeypatch, store)
    changes = {t["trial"]: t for t in service.changes(store, programme)["trials"]}
    # Step 1: PUMP, which has no extract at all.
    assert step(at) == ":gray[step 1 of 5]"
    assert "## PUMP " in markdown(at) and [i.value for i in at.info] == ["No extract received yet for PUMP."]
    assert button(at, "prev").proto.disabled
    # Step 2: PUMP-2, with everything that happened since the meeting of 5 Nov.
    button(at, "next").click().run()
    assert step(at) == ":gray[step 2 of 5 · per site, recent pace]"
    shown = metrics(at)
    assert shown["Enrolled / target"][0] == "6 / 50"
    assert shown["Since last meeting"] == ("+2", "enrolled then 6")
    p2 = changes["PUMP-2"]
    assert f"**Since last meeting: {since_line(p2)}**" in markdown(at)
    assert since_line(p2).startswith("+2 (EMC +2; 1 reported late), 2 no longer enrolled, 1 withdrawn, 1 correction")
    table = at.table[0].value
    assert table.loc["New"].tolist() == ["2 (1 late)", "0"]
    assert table.loc["No longer in"].tolist() == ["0", "2"]
    assert table.loc["Withdrawn"].tolist() == ["1", "0"]
    assert table.loc["Corrections"].tolist() == ["1", "0"]
    assert table.loc["Last extract"].tolist() == ["10 Nov 2026", "01 Oct 2026"]
    assert table.loc["Data"].tolist() == ["fresh", "stale since meeting"]
    assert any("Corrected (not counted as new): EMC P2\\-E1 (enrolled on)" in c.value for c in at.caption)  # the id escaped
    # Which model gives the status and finish, in a few words the room reads.
    assert "data as of 21 Nov 2026 · changes since the meeting of 05 Nov 2026 (#1)" in context(at)
    # Step 3: PUMP-IT, then the summary.
    button(at, "next").click().run()
    assert "## PUMP-IT" in markdown(at) and at.table[0].value.loc["Data"].tolist() == ["stale", "stale since meeting"]  # NKI never sent one
    button(at, "next").click().run()
    # Step 4: the CONSORT flow of each trial, drawn from the stored rows (PUMP-2: six enrolled, one withdrawn).
    assert step(at) == ":gray[step 4 of 5]" and "## CONSORT flow" in markdown(at)
    at.segmented_control(key="meeting.flow_of").set_value("PUMP-2").run()
    drawn = drawing(at)
    assert "Enrolled: 6" in drawn and "Withdrawn: 1" in drawn and "Pump placed: not recorded" in drawn
    button(at, "next").click().run()
    assert step(at) == ":gray[step 5 of 5]" and button(at, "next").proto.disabled
    assert "## Summary" in markdown(at)
    # The summary is one table of trials, read from the back of the room.
    summary = at.table[0].value
    assert summary.index.tolist() == ["PUMP", "PUMP-2", "PUMP-IT"]
    assert summary["Enrolled / target"].tolist() == ["0 / 230", "6 / 50", "1 / 45"]
    assert summary.loc["PUMP-2", "Since last meeting"] == since_line(p2)
    button(at, "prev").click().run()
    assert step(at) == ":gray[step 4 of 5]"


def go_to_summary(at) -> None:
    for _ in range(4):
        button(at, "next").click().run()


def test_marking_the_meeting_as_held_freezes_todays_cut(monkeypatch, db, programme):
    store, _ = db
    at = open_meeting(monkeypatch, store, role="director")  # the chair: a programme director
    go_to_summary(at)
    at.text_input[0].set_value("Dr. Chair")
    at.text_input[1].set_value("PUMP-2 NKI export to be redone")
    at.button(key="FormSubmitter:hold-Mark as held").click().run()
    assert not at.exception
    held = service.meeting_list(store)[0]
    assert (held["meeting"], held["held_by"], held["note"]) == (2, "Dr. Chair", "PUMP-2 NKI export to be redone")
    assert at.toast[0].value.startswith("Meeting #2 recorded")
    # The pack for the minutes of the meeting just held, offered at once: meeting #2's cut against #1's.
    assert step(at) == ":gray[step 5 of 5]"
    offered = [b for b in at.get("download_button") if b.proto.label.startswith("Pack of meeting #2")]
    assert [b.proto.label for b in offered] == ["Pack of meeting #2 (PDF)", "Pack of meeting #2 (HTML)"]
    # Changes now count from the meeting just held: nothing since.
    for _ in range(3):
        button(at, "prev").click().run()
    assert step(at) == ":gray[step 2 of 5 · per site, recent pace]"
    assert metrics(at)["Since last meeting"] == ("+0", "enrolled then 6")
    assert "changes since the meeting of 21 Nov 2026 (#2)" in context(at)


def test_a_note_with_an_identifier_is_refused_and_nothing_is_stored(monkeypatch, db):
    store, _ = db
    at = open_meeting(monkeypatch, store, role="director")
    go_to_summary(at)
    at.text_input[0].set_value("Dr. Chair")
    at.text_input[1].set_value("call j.jansen@example.nl about her withdrawal")
    at.button(key="FormSubmitter:hold-Mark as held").click().run()
    assert "Not recorded" in at.error[0].value and "e\\-mail" in at.error[0].value  # escaped: shown as written
    assert len(service.meeting_list(store)) == 1


def test_a_past_meeting_reopens_as_it_was(monkeypatch, db, programme):
    store, _ = db
    service.hold_meeting(store, "chair", "second")
    at = open_meeting(monkeypatch, store, query={"meeting": "1"})
    assert "data as of 05 Nov 2026 (what this meeting saw) · no earlier meeting recorded" in context(at)
    button(at, "next").click().run()
    # What meeting #1 saw: EMC's three and NKI's three of the extract retracted later.
    assert metrics(at)["Enrolled / target"][0] == "6 / 50"
    assert at.table[0].value.loc["Enrolled"].tolist() == ["3", "3"]
    assert "Since last meeting" not in markdown(at)
    # Meeting #2, as it was, against meeting #1: what `changes --since-meeting 1` says today.
    at.selectbox(key="meeting.pick").set_value(2).run()
    assert at.query_params["meeting"] == "2"
    button(at, "next").click().run()
    p2 = next(t for t in service.changes(store, programme, since_meeting=1)["trials"] if t["trial"] == "PUMP-2")
    assert f"**Since last meeting: {since_line(p2)}**" in markdown(at)
    go_to_summary_from(at, 2)
    assert "Held on 21 November 2026 by chair. Note: second" in markdown(at)
    assert not [p for p in at.get("popover")]  # a past meeting cannot be marked as held again
    assert [b.proto.label for b in at.get("download_button")][:2] == ["Pack of meeting #2 (PDF)", "Pack of meeting #2 (HTML)"]


def go_to_summary_from(at, current: int) -> None:
    for _ in range(5 - current):
        button(at, "next").click().run()


def test_the_chair_is_typed_in_local_mode_never_the_computers_user(monkeypatch, db):
    store, _ = db
    at = open_meeting(monkeypatch, store, role="director")
    go_to_summary(at)
    assert at.text_input[0].value == "" and at.text_input[0].label == "Chair"  # no user name filled in
    at.button(key="FormSubmitter:hold-Mark as held").click().run()
    assert "Type the chair's name" in at.error[0].value
    assert len(service.meeting_list(store)) == 1  # nothing recorded without a chair
