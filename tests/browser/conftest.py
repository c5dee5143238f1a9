"""The real Streamlit server in Debian's Chromium, driven by Playwright (no browser
download). A module-scoped server on a free port, on its own temporary database, that
the fixtures wait for until it is healthy; pages are loaded until the app is idle."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from support import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser
# Two cores shared with the server and the browser: what a user sees may take longer than
# Playwright's default 5 s to appear, without anything being wrong.
expect.set_options(timeout=20_000)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_FLAGS, "headless": True}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 720}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`streamlit run` on a free port. Local mode unless `secrets` (a secrets.toml with [auth]) and
    `access` (an access file) are given; the developer's own .streamlit/secrets.toml is never read."""

    def __init__(self, db: Path | str, secrets: Path | None = None, access: Path | None = None, host: str = "127.0.0.1",
                 log: Path | None = None, env: dict[str, str] | None = None):
        self.db = db  # a DuckDB file, or a PostgreSQL address (its password in `env`'s PGPASSWORD, as deployed)
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        self.log = log or db.with_suffix(".log")
        self.env = {**os.environ, **(env or {}), "PUMP_DB": str(db)}
        env = dict(self.env)
        if access is not None:
            env["PUMP_ACCESS"] = str(access)
        secrets = secrets or self.log.with_name("no-secrets.toml")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(self.port),
             "--server.address", "127.0.0.1", "--server.headless", "true", "--secrets.files", str(secrets)],
            cwd=ROOT, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT,
        )
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited: {self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"streamlit did not become healthy: {self.log.read_text()}")

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """The command line on the server's database, while the server runs."""
        return subprocess.run([sys.executable, "-m", "dashboard", "--db", str(self.db), *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=120, env=self.env)

    def ingest_replacing(self, path, trial: str, by: str) -> subprocess.CompletedProcess:
        """Ingest an extract that replaces a site's snapshot: the number it removes is read from
        `validate --json` and confirmed, as a coordinator types it on the upload page."""
        checked = json.loads(self.cli("validate", str(path), "--trial", trial, "--json").stdout)
        removes = (checked.get("mass_removal") or {}).get("removes")
        confirm = ["--confirm-removals", str(removes)] if removes else []
        return self.cli("ingest", str(path), "--trial", trial, "--by", by, "--accept-warnings", *confirm, "--json")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("server") / "pump.duckdb")
    yield server
    server.stop()


def wait_for_app(page: Page, timeout: float = 90_000) -> None:
    """Until the app is connected and its script has finished running."""
    app = page.locator('[data-testid="stApp"]')
    expect(app).to_have_attribute("data-test-connection-state", "CONNECTED", timeout=timeout)
    expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout)


def open_page(page: Page, server: Server, path: str = "") -> None:
    page.goto(f"{server.url}/{path}")
    wait_for_app(page)


def open_sidebar(page: Page) -> None:
    """The meeting view folds the sidebar away (a projector needs the width): open it again."""
    expand = page.get_by_test_id("stExpandSidebarButton")
    if expand.count() and expand.is_visible():
        expand.click()


def choose_role(page: Page, label: str) -> None:
    """Pick a role in the sidebar's 'Viewing as' box (local mode)."""
    open_sidebar(page)
    page.get_by_role("combobox", name="Viewing as").click()
    page.get_by_role("option", name=label).click()
    wait_for_app(page)


def go_to(page: Page, title: str) -> None:
    open_sidebar(page)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    wait_for_app(page)


def assert_no_error_shown(page: Page) -> None:
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    expect(page.locator('[data-testid="stAlertContentError"]')).to_have_count(0)


def record_foreign_requests(page: Page, app_url: str) -> list[str]:
    """Every request the app's pages make to another host, aborted as a hospital network would
    (a list that fills as the test goes). The identity provider's own page is not the app's."""
    foreign: list[str] = []

    def handle(route):
        request = route.request
        host = urllib.parse.urlsplit(request.url).hostname or ""
        if host in ("127.0.0.1", "localhost", "::1"):
            route.continue_()
            return
        try:
            frame = request.frame.url
        except Exception:  # a request of no frame (a worker): count it as the app's
            frame = app_url
        if frame.startswith(app_url) or frame in ("", "about:blank"):
            foreign.append(request.url)
        route.abort()

    page.context.route("**/*", handle)
    return foreign


def assert_tab_icon_is_local(page: Page, app_url: str) -> None:
    """The tab icon is served by the dashboard (or drawn inline), never fetched from another host:
    the browser loads a tab icon outside Playwright's request routing, so its address is checked."""
    href = page.locator("link[rel='shortcut icon']").get_attribute("href") or ""
    absolute = urllib.parse.urljoin(page.url, href)
    assert absolute.startswith((app_url, "data:")), href
