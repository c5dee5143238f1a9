"""The app with sign-in on, through AppTest with `at.user` set as st.login leaves it: for each
role, for a signed-in person not in the access file and for a visitor signed out: which pages
exist (only those are registered with st.navigation, so no other can be reached by URL), what
each shows and what it refuses. Then the three ways the set-up can be wrong, and local mode."""

import json
import re
import time
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import service
from dashboard.access import PAGES
from dashboard.ingest import check_file, commit
from dashboard.store import Store
from support import TODAY, template_csv

APP = "../streamlit_app.py"
DIRECTOR, COORDINATOR, OTHER, VIEWER = ("k.director@example.org", "w.filipe@example.org", "a.devries@example.org",
                                        "chair@example.org")
STRANGER = "someone@elsewhere.example"
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "a-test-cookie-secret-of-some-length-0123456789",
    "client_id": "pump-dashboard",
    "client_secret": "not-a-real-secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
ACCESS = f"""
contact = "the PUMP office (pump-office@example.org)"
[users."{DIRECTOR}"]
role = "director"
[users."{COORDINATOR}"]
role = "coordinator"
trials = ["PUMP"]
sites = ["EMC"]
[users."{OTHER}"]
role = "coordinator"
trials = ["PUMP"]
sites = ["NKI"]
[users."{VIEWER}"]
role = "viewer"
"""
HOSTILE = "<img src=x onerror=alert(1)>[x](javascript:alert(1))**bold**$x$"


@pytest.fixture
def site(tmp_path, monkeypatch, programme):
    """A deployment: an access file, a database where each coordinator has uploaded one extract."""
    path = tmp_path / "access.toml"
    path.write_text(ACCESS, encoding="utf-8")
    monkeypatch.setenv("PUMP_ACCESS", str(path))
    monkeypatch.setenv("PUMP_DEMO", "0")
    store = Store(tmp_path / "pump.duckdb", create=True)
    monkeypatch.setenv("PUMP_DB", str(store.path))
    for who, rows, name in ((COORDINATOR, ["P-1,EMC,,2024-03-05,haip"], "emc.csv"), (OTHER, ["P-7,NKI,,2024-04-05,haip"], "nki.csv")):
        checked = check_file(store, programme, template_csv(*rows), name, "PUMP", today=TODAY)
        commit(store, checked, who)
    return store


SIGNED_IN_AT = int(time.time()) - 60  # a minute ago: the ID token's issue time (iat) of the tests' sign-ins


def open_as(email: str | None, page: str | None = None, auth: dict | None = AUTH, iat: int = SIGNED_IN_AT) -> AppTest:
    """The app as st.login leaves a person (None: signed out)."""
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    if auth is not None:
        at.secrets["auth"] = auth
        at.user = {"is_logged_in": False} if email is None else {"is_logged_in": True, "email": email, "iat": iat}
    at.run()
    if page:
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def pages(at: AppTest) -> list[str]:
    """The pages registered with st.navigation, the only ones the server will open: each script's name
    once (the first page is also served at the root), or a page without a script by its title; the
    addresses outside the grant (pages that only say so) left out."""
    names = [Path(info["script_path"]).stem if info["script_path"] else info["page_name"]
             for info in at._registered_pages.values()
             if "url_pathname" in info and (info["script_path"] or info["page_name"] not in {p.title for p in PAGES.values()})]
    return [n for i, n in enumerate(names) if n not in names[:i]]


def shows_no_data(at: AppTest) -> bool:
    return not at.metric and not at.dataframe and not at.get("plotly_chart")


def audit(store: Store) -> list[tuple]:
    return [(r.actor, r.action, json.loads(r.detail)) for r in store.audit_log().itertuples()]


def test_signed_out_there_is_only_the_sign_in_page(site):
    at = open_as(None)
    # Every address (a bookmarked /upload too) answers with the sign-in page, and nothing else.
    assert set(pages(at)) == {"Sign in"} and {i["url_pathname"] for i in at._registered_pages.values()} >= {"upload", "audit"}
    assert [b.label for b in at.button] == ["Sign in"]
    assert shows_no_data(at) and not at.selectbox  # no role box either
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("app_pages/upload.py")


def test_a_person_not_in_the_access_file_is_asked_to_ask_for_access_and_sees_no_data(site):
    at = open_as(STRANGER)
    assert pages(at) == ["No access yet"]
    assert at.title[0].value == "Ask the programme office for access"
    [text] = [t.value for t in at.text if "signed in as" in t.value and "no access" in t.value]
    assert "pump-office@example.org" in text and STRANGER in text
    assert shows_no_data(at)
    actor, action, detail = audit(site)[0]
    assert (actor, action, detail["action"], detail["reason"]) == (STRANGER, "refused", "sign_in", "not in the access file")


def test_a_viewer_has_the_meeting_view_first_and_cannot_reach_upload_history_or_audit(site):
    at = open_as(VIEWER.upper())  # the sign-in may report the address in another case
    # The viewer's five pages (the first at the root and at its own address, so a bookmark of /meeting opens it);
    # every other address is the page that says it is not open to them, with no script behind it.
    assert pages(at) == ["meeting", "overview", "trial", "sites", "whatif"]
    assert {i["url_pathname"]: i["script_path"] != "" for i in at._registered_pages.values()} == {
        "": True, "meeting": True, "overview": True, "trial": True, "sites": True, "whatif": True,
        "upload": False, "extracts": False, "audit": False,
    }
    assert "Steering meeting" in at.markdown[2].value
    assert not [p for p in at.get("popover") if "held" in p.proto.label]  # the chair marks it; a viewer does not
    for page in ("upload", "extracts", "audit"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(f"app_pages/{page}.py")
    assert not [s for s in at.selectbox if s.key == "role"]  # no role box: the grant decides


def test_a_sign_in_is_audited_once_and_a_reload_is_not_a_new_one(site):
    open_as(VIEWER)
    open_as(VIEWER)  # a reload is a new session with the same login
    signed_in = [(a, d["role"]) for a, action, d in audit(site) if action == "sign_in"]
    assert signed_in == [(VIEWER, "viewer")]


def test_a_sign_in_signed_out_on_the_server_lets_nobody_in_again_and_the_replay_is_audited(site):
    open_as(COORDINATOR)
    service.record_sign_out(site, COORDINATOR, str(SIGNED_IN_AT))  # what the Sign out button records
    at = open_as(COORDINATOR)  # the same cookie, replayed in a fresh session
    assert set(pages(at)) == {"Sign in again"} and shows_no_data(at)  # at every address
    assert "this sign-in was signed out" in at.text[0].value and [b.label for b in at.button] == ["Sign in"]
    actor, action, detail = audit(site)[0]
    assert (actor, action, detail["action"], detail["reason"]) == (COORDINATOR, "refused", "sign_in", "this sign-in was signed out")
    assert pages(open_as(COORDINATOR, iat=SIGNED_IN_AT + 30))[0] == "upload"  # a new sign-in lets them in again


def test_a_sign_in_older_than_the_session_lifetime_must_sign_in_again(site, monkeypatch, tmp_path):
    assert set(pages(open_as(VIEWER, iat=int(time.time()) - 13 * 3600))) == {"Sign in again"}  # the default: 12 hours
    assert "older than 12 hours" in audit(site)[0][2]["reason"]
    assert pages(open_as(VIEWER, iat=int(time.time()) - 2 * 3600))[0] == "meeting"
    path = tmp_path / "access.toml"
    path.write_text("session_hours = 1\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    assert set(pages(open_as(VIEWER, iat=int(time.time()) - 2 * 3600))) == {"Sign in again"}


def test_a_coordinator_lands_on_upload_for_their_own_trial_and_site_only(site, programme):
    at = open_as(COORDINATOR)
    assert pages(at) == ["upload", "extracts", "overview", "trial", "sites", "whatif", "meeting"]
    assert at.title[0].value == "Upload an extract"
    assert at.selectbox[0].options == ["PUMP"]
    assert at.selectbox[1].options == ["From the file's site column", "EMC"]
    assert not [t for t in at.text_input if t.label == "Your name"]  # the sign-in says who
    assert f"Recorded as {COORDINATOR} in the audit log." in [t.value for t in at.text]
    assert "up to 50 MB" in at.get("file_uploader")[0].proto.label
    with pytest.raises(ValueError):
        at.switch_page("app_pages/audit.py")


def test_a_coordinators_upload_is_recorded_under_the_signed_in_address(site):
    at = open_as(COORDINATOR)
    at.get("file_uploader")[0].set_value(("emc-week.csv", template_csv("P-1,EMC,,2024-03-05,haip", "P-2,EMC,,2024-03-09,control"), "text/csv"))
    at.run()
    next(b for b in at.button if b.label == "Store the extract").click()
    at.run()
    assert not at.exception and "as extract #3" in at.success[0].value
    assert site.extracts().set_index("extract_id").loc[3, "uploaded_by"] == COORDINATOR


def test_a_coordinator_may_retract_their_own_extract_but_is_not_offered_anothers(site):
    at = open_as(COORDINATOR, page="extracts")
    choice = at.selectbox(key="extract_choice")
    assert choice.value == 2  # the newest: the other coordinator's NKI extract
    assert "Retract this extract…" not in [b.label for b in at.button]
    assert any("retracts only their own extracts" in c.value for c in at.caption)
    choice.set_value(1).run()
    assert "Retract this extract…" in [b.label for b in at.button]
    assert "Blank text fields…" not in [b.label for b in at.button]


def test_a_director_has_every_page_and_the_audit_log_with_its_csv(site):
    at = open_as(DIRECTOR)
    assert pages(at) == ["overview", "trial", "sites", "whatif", "extracts", "meeting", "upload", "audit"]
    at.switch_page("app_pages/audit.py").run()
    log = at.dataframe[0].value
    assert list(log["actor"][:1]) == [DIRECTOR] and list(log["what"][:1]) == ["Sign-in"]
    assert (log["extract_id"][0], log["trial"][0]) == ("", "")  # about no extract or trial: blank, never "None"
    assert set(log["actor"]) >= {COORDINATOR, OTHER, "system"}
    assert [d.proto.label for d in at.get("download_button")] == ["Audit log (CSV)"]
    at.multiselect[1].set_value(["ingest"]).run()
    assert list(at.dataframe[0].value["actor"]) == [OTHER, COORDINATOR]
    # The detail in words, not cut raw JSON: what was stored, for how many, what changed.
    assert all(d.startswith("Stored ") and " participant" in d and " new, " in d for d in at.dataframe[0].value["detail"])
    assert log["detail"][0] == "Signed in as director."
    assert at.dataframe[0].value["extract_id"].str.fullmatch(r"#\d+").all()  # each upload names its extract


def test_the_page_itself_refuses_a_grant_that_does_not_open_it(site, monkeypatch):
    """Defence in depth: even run directly, outside the menu, the upload page checks the grant."""
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file("../app_pages/upload.py", default_timeout=120)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": VIEWER, "iat": SIGNED_IN_AT}
    at.run()
    assert "This page is not open to you" in at.error[0].value
    assert not at.get("file_uploader")
    actor, action, detail = audit(site)[0]
    assert (actor, action, detail["action"], detail["page"]) == (VIEWER, "refused", "open_page", "upload")


def test_user_text_is_shown_as_written_never_run(site, programme):
    """A hostile file name and uploader: escaped wherever Markdown shows them."""
    checked = check_file(site, programme, template_csv("P-1,EMC,,2024-03-05,haip", "P-3,EMC,,2024-05-05,haip"), f"{HOSTILE}.csv", "PUMP", today=TODAY)
    commit(site, checked, COORDINATOR)
    at = open_as(DIRECTOR, page="extracts")
    shown = at.subheader[0].value
    assert not re.search(r"(?<!\\)[<>\[\]()*$:=]", shown.split(": ", 1)[1])  # every markup character escaped
    assert shown.endswith("\\<img src\\=x onerror\\=alert\\(1\\)\\>\\[x\\]\\(javascript\\:alert\\(1\\)\\)\\*\\*bold\\*\\*\\$x\\$\\.csv")


# ---- the set-up ----------------------------------------------------------------------------------


def test_sign_in_without_an_access_file_refuses_to_start_and_says_what_to_do(site, monkeypatch, tmp_path):
    monkeypatch.delenv("PUMP_ACCESS")
    monkeypatch.setattr("dashboard.access.DEFAULT_ACCESS_PATH", tmp_path / "absent.toml")
    at = open_as(DIRECTOR)
    assert "Sign-in is configured but there is no access file" in at.error[0].value
    assert "data/access.example.toml" in at.error[0].value
    assert shows_no_data(at) and pages(at) == []


def test_an_access_file_without_sign_in_refuses_to_start(site):
    at = open_as(None, auth=None)
    assert "There is an access file" in at.error[0].value and "[auth]" in at.error[0].value
    assert shows_no_data(at)


def test_a_mistake_in_the_access_file_lets_nobody_in_and_names_the_entry(site, tmp_path, monkeypatch):
    bad = tmp_path / "bad.toml"
    bad.write_text(f'[users."{DIRECTOR}"]\nrole = "directr"\n', encoding="utf-8")
    monkeypatch.setenv("PUMP_ACCESS", str(bad))
    at = open_as(DIRECTOR)
    assert "The access file cannot be used" in at.error[0].value and "directr" in at.error[0].value
    assert shows_no_data(at)


def test_local_mode_shows_its_banner_and_the_role_box(monkeypatch, tmp_path):
    monkeypatch.delenv("PUMP_ACCESS", raising=False)
    monkeypatch.setattr("dashboard.access.DEFAULT_ACCESS_PATH", tmp_path / "absent.toml")
    monkeypatch.setenv("PUMP_DB", str(tmp_path / "local.duckdb"))
    monkeypatch.setenv("PUMP_DEMO", "0")
    at = open_as(None, auth=None)
    assert any("Local mode" in h.proto.body for h in at.get("html"))
    assert at.selectbox(key="role").options == ["Programme director", "Trial coordinator", "Steering committee"]
    assert pages(at)[0] == "overview"
