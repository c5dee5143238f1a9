"""The audit log's details in words (dashboard/auditlog.py), from the details the store writes."""

from dashboard.auditlog import sentence


def test_an_upload_says_what_it_stored_and_changed():
    detail = {"mapping": None, "extract_id": 172, "file_name": "PUMP-2_EMC_2026-11-16.csv", "sha256": "9d93", "sites": ["EMC"],
              "participants": 41, "diff": {"new": 0, "changed": 2, "missing": 0, "unchanged": 39}, "removals_confirmed": None}
    assert sentence("ingest", detail) == (
        "Stored PUMP-2_EMC_2026-11-16.csv: 41 participants at EMC (0 new, 2 changed, 0 no longer in it, 39 unchanged)."
    )
    assert sentence("ingest", {**detail, "removals_confirmed": 164}).endswith("; 164 removals confirmed.")


def test_each_kind_of_entry_is_a_sentence():
    assert sentence("meeting", {"meeting_id": 3, "held_at": "2026-11-12 10:00:00", "note": "No decisions.", "extracts": 6}) == (
        "Meeting #3 held; it keeps the data cut of 6 extracts. Note: No decisions."
    )
    assert sentence("retract", {"extract_id": 3, "trial": "PUMP-2", "reason": "another study's participant"}) == (
        "Retracted extract #3: another study's participant."
    )
    assert sentence("refused", {"action": "open_page", "page": "upload", "reason": "a viewer's grant does not open it"}) == (
        "Not allowed to open a page (upload): a viewer's grant does not open it."
    )
    assert sentence("sign_in", {"role": "viewer", "login": "1700000000"}) == "Signed in as viewer."
    assert sentence("redact", {"extract_id": 4, "fields": ["withdrawal_reason"], "values_blanked": {"withdrawal_reason": 2}, "reason": "a name"}) == (
        "Blanked withdrawal reason of extract #4: a name."
    )
    assert sentence("config_loaded", {"sha256": "b38ad0c9ce2ea0f98aa7", "trials": ["PUMP", "PUMP-2"]}).startswith("Configuration read with trials PUMP, PUMP-2")
    assert sentence("store_copied", {"source": "postgresql://pump:***@db/pump", "rows": {"extracts": 172, "audit_log": 201, "meetings": 3}}) == (
        "The whole database copied here from postgresql://pump:***@db/pump and checked: 172 extracts, 201 audit entries, "
        "376 rows in all."
    )
    assert sentence("ingest", None) == ""


def test_an_unknown_kind_still_says_everything_it_holds():
    assert sentence("something_new", {"extract_id": 9, "why": "test"}) == 'extract id: 9; why: "test"'
