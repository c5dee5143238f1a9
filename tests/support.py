"""Shared test constants and small builders."""

import datetime as dt
import os
from pathlib import Path

import pandas as pd

from dashboard import service
from dashboard.fields import FIELD_NAMES
from dashboard.ingest import check_file, commit

ROOT = Path(__file__).resolve().parent.parent
# The real exports of ../shared/samples (CI clones the project beside shared/); $PUMP_SAMPLES for a clone elsewhere.
SAMPLES = Path(os.environ.get("PUMP_SAMPLES") or ROOT.parent / "shared" / "samples")
TODAY = dt.date(2026, 11, 21)


def template_csv(*rows: str, header: str = "participant_id,site,screened_on,enrolled_on,arm") -> bytes:
    """A small template extract: a header and rows, CRLF as Excel writes it."""
    return ("\r\n".join([header, *rows]) + "\r\n").encode("utf-8")

# The current snapshot of a trial that has no data yet.
NO_CURRENT = pd.DataFrame(columns=["trial", *FIELD_NAMES, "source_row"])


def iso(dates: pd.Series) -> list:
    """Dates as ISO text (None where missing), as a test writes them."""
    return [None if pd.isna(d) else d.date().isoformat() for d in dates]


def messages(issues, code):
    """The messages of the issues of one rule."""
    return [i.message for i in issues if i.code == code]


# ---- a hand-built history of extracts with a steering meeting between them ---------------------

HEADER = "participant_id,site,screened_on,enrolled_on,arm,status,withdrawn_on"
MEETING_AT = dt.datetime(2026, 11, 5, 9, 30)


def upload(store, programme, rows, trial="PUMP-2", at=None, name="extract.csv"):
    checked = check_file(store, programme, template_csv(*rows, header=HEADER), name, trial, today=TODAY)
    assert checked.ok, [e.message for e in checked.errors]
    return commit(store, checked, "coordinator", accept_warnings=True, uploaded_at=at)


def meeting_history(store, programme):
    """PUMP-2 at EMC and NKI, PUMP-IT at EMC; meeting #1 on 5 Nov 2026 (today is 21 Nov 2026).

    Before the meeting:
      EMC  2 Nov  E1 (enrolled 1 Oct), E2 (10 Oct), E3 (20 Oct), all on treatment
      NKI  1 Oct  N1 (15 Sep)
      NKI  2 Nov  N1, N2 (5 Oct), N9 (30 Oct)             <- retracted after the meeting
      PUMP-IT EMC 30 Oct  I1 (1 Oct)                      <- nothing since: stale by now
    After the meeting:
      EMC 10 Nov  E1 enrolled 28 Sep (a correction), E2 withdrawn 8 Nov, E3 now in follow-up,
                  E4 enrolled 9 Nov (new), E5 enrolled 3 Nov (new, and reported late: before the meeting)
      NKI's 2 Nov extract retracted: NKI falls back to its 1 Oct extract (N1 only), now 51 days old
    """
    upload(store, programme, ["P2-N1,NKI,,2026-09-15,haip,on_treatment,"], at=dt.datetime(2026, 10, 1, 9))
    upload(
        store, programme,
        ["P2-E1,EMC,,2026-10-01,haip,on_treatment,", "P2-E2,EMC,,2026-10-10,haip,on_treatment,",
         "P2-E3,EMC,,2026-10-20,haip,on_treatment,"],
        at=dt.datetime(2026, 11, 2, 10),
    )
    wrong = upload(
        store, programme,
        ["P2-N1,NKI,,2026-09-15,haip,on_treatment,", "P2-N2,NKI,,2026-10-05,haip,on_treatment,",
         "P2-N9,NKI,,2026-10-30,haip,on_treatment,"],
        at=dt.datetime(2026, 11, 2, 11),
    )
    upload(store, programme, ["I-1,EMC,,2026-10-01,haip,on_treatment,"], trial="PUMP-IT", at=dt.datetime(2026, 10, 30, 12))
    meeting = store.hold_meeting("chair", "first steering meeting", at=MEETING_AT)["meeting_id"]
    said_then = service.programme_summary(store, programme, MEETING_AT.date())
    upload(
        store, programme,
        ["P2-E1,EMC,,2026-09-28,haip,on_treatment,", "P2-E2,EMC,,2026-10-10,haip,withdrawn,2026-11-08",
         "P2-E3,EMC,,2026-10-20,haip,follow_up,", "P2-E4,EMC,,2026-11-09,haip,on_treatment,",
         "P2-E5,EMC,,2026-11-03,haip,on_treatment,"],
        at=dt.datetime(2026, 11, 10, 10),
    )
    store.retract(wrong, "director", "the export held another study's participant")
    return {"meeting": meeting, "wrong": wrong, "said_then": said_then}


def with_trial(programme, trial: str, **changes):
    """The programme with one trial's settings changed (free_text, participant_id_pattern, ...)."""
    trials = {**programme.trials, trial: programme.trials[trial].model_copy(update=changes)}
    return programme.model_copy(update={"trials": trials})


def only_the_refusal_audited(store, before: dict) -> bool:
    """A refused write changed nothing but the one audit entry that records the refusal."""
    return store.table_counts() == {**before, "audit_log": before["audit_log"] + 1} and store.audit_log().iloc[0]["action"] == "refused"
