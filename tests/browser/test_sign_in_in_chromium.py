"""Sign-in end to end: a real OpenID Connect provider on a local port (oidc-provider-mock, started
here), the real server with [auth] in its secrets and an access file, Streamlit's own st.login
talking to the provider; nothing inside the app is mocked. A coordinator signs in, uploads,
reloads, opens a bookmark in a new tab and signs out; a viewer cannot reach the upload page by
URL. No page of the app makes a request to any other host."""

import json
import subprocess
import sys
import time
import urllib.request

import pytest
from playwright.sync_api import Browser, Page, expect

from browser.conftest import (
    Server,
    assert_no_error_shown,
    assert_tab_icon_is_local,
    free_port,
    open_sidebar,
    record_foreign_requests,
    wait_for_app,
)
from browser.test_upload_in_chromium import castor_export_with_two_new_participants
from support import ROOT

COORDINATOR, VIEWER = "w.filipe@example.org", "chair@example.org"
SECRETS = ("a-cookie-secret-for-this-test-only-0123456789", "a-client-secret-for-this-test-only")


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    """oidc-provider-mock: its authorize form signs in whoever's address is typed as the subject
    (the e-mail claim is the subject then)."""
    port = free_port()
    log = tmp_path_factory.mktemp("oidc") / "provider.log"
    process = subprocess.Popen([sys.executable, "-m", "oidc_provider_mock", "--port", str(port)],
                               cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/.well-known/openid-configuration", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the OpenID provider did not start: {log.read_text()}") from None
            time.sleep(0.3)
    yield url
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="module")
def server(tmp_path_factory, provider):
    """The dashboard as a hospital deploys it: [auth] in its secrets, an access file, demo data."""
    folder = tmp_path_factory.mktemp("signin")
    secrets = folder / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        'redirect_uri = "http://localhost:{port}/oauth2callback"\n'
        f'cookie_secret = "{SECRETS[0]}"\n'
        'client_id = "pump-dashboard"\n'
        f'client_secret = "{SECRETS[1]}"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n',
        encoding="utf-8",
    )
    access = folder / "access.toml"
    access.write_text(
        f'[users."{COORDINATOR}"]\nrole = "coordinator"\ntrials = ["PUMP"]\nsites = ["EMC"]\n\n'
        f'[users."{VIEWER}"]\nrole = "viewer"\n',
        encoding="utf-8",
    )
    server = Server(folder / "pump.duckdb", secrets=secrets, access=access, host="localhost")
    yield server
    server.stop()


def sign_in(page: Page, server, provider: str, email: str) -> None:
    page.goto(server.url)
    wait_for_app(page)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{provider}/oauth2/authorize*")
    page.locator("input[name=sub]").fill(email)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{server.url}/**")
    wait_for_app(page)


def audit(server) -> list[dict]:
    result = server.cli("audit", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_coordinator_signs_in_uploads_reloads_opens_a_bookmark_and_signs_out(page: Page, server, provider, tmp_path):
    foreign = record_foreign_requests(page, server.url)
    sign_in(page, server, provider, COORDINATOR)
    upload = page.get_by_role("heading", name="Upload an extract")
    expect(upload).to_be_visible()  # a coordinator's first page
    expect(page.get_by_text(f"Signed in as {COORDINATOR}")).to_be_visible()
    expect(page.get_by_role("combobox", name="Viewing as")).to_have_count(0)
    expect(page.get_by_test_id("pump-local-mode")).to_have_count(0)

    export = tmp_path / "PUMP_export_20261123.csv"
    export.write_bytes(castor_export_with_two_new_participants())
    page.get_by_test_id("stFileUploaderDropzone").locator("input[type=file]").set_input_files(str(export))
    wait_for_app(page)
    expect(page.get_by_text("No problems found.")).to_be_visible()
    page.get_by_role("button", name="Store the extract").click()
    wait_for_app(page)
    expect(page.get_by_text("as extract #")).to_contain_text("2 new, 0 changed")
    assert not any(secret in page.content() for secret in SECRETS)
    stored = [e for e in audit(server) if e["action"] == "ingest" and e["actor"] == COORDINATOR]
    assert len(stored) == 1 and stored[0]["trial"] == "PUMP"

    page.reload()  # a new session: the sign-in cookie, not the session, says who this is
    wait_for_app(page)
    expect(upload).to_be_visible()
    expect(page.get_by_text(f"Signed in as {COORDINATOR}")).to_be_visible()

    bookmark = page.context.new_page()  # a bookmark opened in a new tab
    bookmark.goto(f"{server.url}/upload")
    wait_for_app(bookmark)
    expect(bookmark.get_by_role("heading", name="Upload an extract")).to_be_visible()
    expect(bookmark.get_by_text("Page not found")).to_have_count(0)  # one's own first page, by its address
    assert_no_error_shown(bookmark)
    assert_tab_icon_is_local(bookmark, server.url)
    bookmark.goto(f"{server.url}/extracts")
    wait_for_app(bookmark)
    expect(bookmark.get_by_role("heading", name="Extract history")).to_be_visible()
    bookmark.close()

    page.get_by_role("button", name="Sign out").click()
    # Streamlit ends the session at the provider too (its end_session_endpoint), then comes back.
    page.wait_for_url(f"{provider}/oauth2/end_session*")
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{server.url}/**")
    wait_for_app(page)
    page.goto(f"{server.url}/upload")  # the bookmark, signed out: the sign-in page, not "page not found"
    wait_for_app(page)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(upload).to_have_count(0)
    expect(page.get_by_text("Page not found")).to_have_count(0)
    assert [e["action"] for e in audit(server) if e["actor"] == COORDINATOR] == ["sign_out", "ingest", "sign_in"]
    assert foreign == []
    assert not any(secret in server.log.read_text() for secret in SECRETS)  # nor in the server's log


def test_a_viewer_cannot_reach_the_upload_page_by_url(page: Page, server, provider):
    sign_in(page, server, provider, VIEWER)
    expect(page.get_by_role("heading", name="Steering meeting")).to_be_visible()
    page.goto(f"{server.url}/meeting")  # the viewer's own bookmark of the first page opens it
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Steering meeting")).to_be_visible()
    expect(page.get_by_text("Page not found")).to_have_count(0)
    page.goto(f"{server.url}/upload")
    wait_for_app(page)
    # An address outside the grant says so, in words, and the refusal is in the audit log.
    expect(page.get_by_text("This page is not open to you (ask the programme office).")).to_be_visible()
    expect(page.get_by_text("Page not found")).to_have_count(0)
    refused = [e for e in audit(server) if e["actor"] == VIEWER and e["action"] == "refused"]
    assert refused and refused[0]["detail"]["page"] == "upload"
    expect(page.get_by_role("heading", name="Upload an extract")).to_have_count(0)
    expect(page.get_by_test_id("stFileUploaderDropzone")).to_have_count(0)
    expect(page.get_by_role("link", name="Upload an extract")).to_have_count(0)


def test_a_sign_in_cookie_copied_before_sign_out_is_refused_after_it(browser: Browser, browser_context_args, server, provider):
    """Signing out ends the sign-in on the server: its cookie, copied before and replayed in a fresh
    browser afterwards, signs nobody in, and the attempt is in the audit log."""
    context = browser.new_context(**browser_context_args)
    page = context.new_page()
    sign_in(page, server, provider, VIEWER)
    expect(page.get_by_text(f"Signed in as {VIEWER}")).to_be_visible()
    copied = context.cookies()
    assert any(c["name"].startswith("_streamlit_user") for c in copied)
    open_sidebar(page)  # the meeting view, a viewer's first page, folds it away for the projector
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{provider}/oauth2/end_session*")
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{server.url}/**")
    context.close()

    replay = browser.new_context(**browser_context_args)
    replay.add_cookies(copied)
    page = replay.new_page()
    page.goto(f"{server.url}/meeting")
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Sign in again")).to_be_visible()
    expect(page.get_by_text("this sign-in was signed out")).to_be_visible()
    expect(page.get_by_role("heading", name="Steering meeting")).to_have_count(0)
    expect(page.get_by_text(f"Signed in as {VIEWER}")).to_have_count(0)
    replay.close()
    # The viewer's entries since the sign-out (newest first; earlier tests leave other refusals before it).
    viewer = [e for e in audit(server) if e["actor"] == VIEWER]
    since_sign_out = viewer[: [e["action"] for e in viewer].index("sign_out")]
    assert [(e["action"], e["detail"]["reason"]) for e in since_sign_out] == [("refused", "this sign-in was signed out")]


def test_after_signing_in_the_person_lands_on_the_address_asked_for(page: Page, server, provider):
    page.goto(f"{server.url}/extracts")  # a coordinator's bookmark, opened signed out
    wait_for_app(page)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{provider}/oauth2/authorize*")
    page.locator("input[name=sub]").fill(COORDINATOR)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{server.url}/extracts")
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Extract history")).to_be_visible()
    expect(page.get_by_text("Page not found")).to_have_count(0)
