"""What every page shares: who is here and what their grant allows (sign-in or local mode),
the store and configuration (one per process), cached reads keyed by the data version, the
shared view controls (as-of date and trials, kept in the URL), the demo-data notice, the
"data as of" line and the live refresh."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from dashboard import access, charts, clock, consort, metrics, service
from dashboard.access import Access, AccessError, Grant
from dashboard.config import Programme, load_programme
from dashboard.demo import load_demo
from dashboard.downloads import csv_bytes
from dashboard.store import Refused, Store, StoreUnavailable, lock_wait_from_environment
from dashboard.textnorm import plain  # pages show user text through common.plain

LIVE_POLL = dt.timedelta(seconds=10)

# The view lives in the URL (?as_of=YYYY-MM-DD&trial=PUMP&trial=PUMP-2) so a link reproduces it. No
# as_of means today, the live view; no trial means every trial. Streamlit drops the query string when
# the menu switches pages, so the session keeps the view too and puts it back into the URL.
AS_OF_PARAM = "as_of"
TRIAL_PARAM = "trial"
_VIEW_AS_OF = "view.as_of"  # the chosen date, None for today
_VIEW_TRIALS = "view.trials"  # the chosen trials, [] for all
_AS_OF_INPUT = "view.as_of_input"
_TRIALS_INPUT = "view.trials_input"
PILLS_AT_MOST = 12  # trials shown as buttons in the sidebar; more are chosen in a box

# On a phone: a smaller title and notice, so the first trial's numbers are on the first screen.
COMPACT_CSS = """<style>
@media (max-width: 640px) {
  h1 { font-size: 1.6rem !important; padding-bottom: 0.25rem !important; }
  [data-testid="stAlertContainer"] { padding: 0.4rem 0.75rem !important; font-size: 0.9rem; }
  [data-testid="stMetricValue"] { font-size: 2rem !important; }
  /* Plotly does not wrap titles: a smaller one fits the phone's width instead of running off it. */
  .js-plotly-plot .gtitle { font-size: 15px !important; }
  .js-plotly-plot .gtitle-subtitle { font-size: 12px !important; }
}
</style>"""

STATUS_BADGE = {"green": ("On track", "green"), "amber": ("At risk", "orange"), "red": ("Off track", "red")}


@st.cache_resource(show_spinner=False)
def get_programme() -> Programme:
    return load_programme()


def get_store() -> Store:
    """The process's Store; when the database cannot be used, the page says why in words
    (the command line's exit 3) instead of Streamlit's generic error, and stops. An empty database is
    first seeded with the demo data, once, with a progress bar."""
    with database_faults():
        store = _open_store()
        _seed_demo_once(store)
        return store


@contextmanager
def database_faults() -> Iterator[None]:
    """A database that cannot be used (busy beyond the wait, read-only for a change, disk
    full, damaged, newer) ends the page with the command line's sentence, never a traceback."""
    try:
        yield
    except StoreUnavailable as exc:
        log_fault(exc)
        st.error(f"**The dashboard cannot use its database.** {plain(str(exc))}.", icon=":material/database_off:")
        _retry_when_usable()
        st.stop()


def log_fault(exc: BaseException) -> None:
    """The traceback of a fault a page met goes to the errors log (the page shows the sentence only)."""
    service.error_log(service.log_path(service.db_path())).error("the page met a fault of its database", exc_info=exc)


@st.fragment(run_every=LIVE_POLL)
def _retry_when_usable() -> None:
    """Under the sentence of a fault: look again now and then, and redraw the page once the database
    can be used (the file is back, the other program let go of it)."""
    try:
        get_store_quietly().data_version()
    except StoreUnavailable:
        st.caption(f":material/sync: Trying again every {LIVE_POLL.seconds} s · last tried {clock.now():%H:%M:%S}")
        return
    st.rerun(scope="app")


def get_store_quietly() -> Store:
    """The process's Store, a fault raised rather than shown (for the checks that run on their own)."""
    return _open_store()


@st.cache_resource(show_spinner="Opening the database…")
def _open_store() -> Store:
    """The process's Store: sessions share its connection, each use on its own cursor, and it
    lets go of the file when idle so the command line can write. It creates the database only on the
    first start on an empty data folder (service.first_start); any other missing database is a fault."""
    db = service.db_path()
    store = Store(db, idle_release=service.DASHBOARD_IDLE_RELEASE_SECONDS, create=service.first_start(db))
    service.record_config(store, get_programme())
    return store


@st.cache_resource(show_spinner=False)
def _seeding() -> dict:
    return {"lock": threading.Lock(), "done": False}


def _seed_demo_once(store: Store) -> None:
    """An empty database gets the demo data, through the real ingest path, once per process: the first
    page shows how far it is (extracts loaded of the total); another browser opening meanwhile waits."""
    state = _seeding()
    if state["done"]:
        return
    with state["lock"]:
        if state["done"]:
            return
        if service.seed_demo_when_empty() and store.is_empty():
            bar = st.progress(0.0, text="Loading the demo data into the empty database: this first start takes a minute or two…")

            def loaded(done: int, total: int) -> None:
                bar.progress(done / total, text=f"Loading the demo data: {done} of {total} extracts, each through the checks of an upload…")

            load_demo(store, get_programme(), on_progress=loaded)
            bar.empty()
        state["done"] = True


@st.cache_data(max_entries=64, show_spinner=False)
def snapshot(version: int, as_of: dt.date) -> tuple[pd.DataFrame, dict]:
    """Participants current at `as_of`, in the columns the programme-wide pages read (the summary's:
    a full snapshot of a national programme is mostly the cost of converting columns nobody shows);
    `version` is only the cache key (new data, new key)."""
    return service.snapshot(get_store(), as_of, columns=metrics.SUMMARY_COLUMNS)


@st.cache_data(max_entries=64, show_spinner=False)
def data_arrivals(version: int, as_of: dt.date, minute: str) -> dict[str, dict[str, str]]:
    """Per trial and site, how its data came ("pulled from Castor today 06:00"); `minute` keeps "today"
    and "3 days ago" true as the clock moves."""
    return service.data_arrivals(get_store(), as_of)


def arrival(version: int, as_of: dt.date, trial: str, site: str) -> str:
    from dashboard import clock

    return data_arrivals(version, as_of, f"{clock.now():%Y-%m-%d %H:%M}").get(trial, {}).get(site, "no data yet")


@st.cache_data(max_entries=64, show_spinner=False)
def trial_rows(version: int, as_of: dt.date, code: str) -> pd.DataFrame:
    """One trial's participants current at `as_of`, every field (the trial page's charts read them all)."""
    return service.trial_rows(get_store(), as_of, code)


@st.cache_data(max_entries=64, show_spinner=False)
def summary(version: int, as_of: dt.date, trials: tuple[str, ...] | None = None) -> dict:
    """`summary --json` as of `as_of` (of these trials only, when given: `()` is the header alone), from
    the cached snapshot: the pages show the very numbers the command line prints."""
    participants, last_extract = snapshot(version, as_of)
    return metrics.programme_summary(get_programme(), participants, last_extract, as_of, None if trials is None else list(trials))


@st.cache_data(max_entries=256, show_spinner=False)
def trial_summary(version: int, as_of: dt.date, code: str) -> dict:
    """One trial's block of `summary --json`, computed for that trial alone."""
    participants, last_extract = snapshot(version, as_of)
    return metrics.trial_summary(get_programme(), code, participants, as_of, last_extract.get(code, {}))


class _Figures:
    """Built Plotly figures by (chart, data version, as-of date, trial, ...): a page redrawn for the same
    data shows them without building them again. Kept as objects, not pickled: unpickling a figure
    validates it again, which costs about as much as building it."""

    def __init__(self, most: int) -> None:
        self.most, self.lock, self.built = most, threading.Lock(), OrderedDict()

    def get(self, key: tuple, build: Callable[[], object]):
        with self.lock:
            if key in self.built:
                self.built.move_to_end(key)
                return self.built[key]
        figure = build()
        with self.lock:
            self.built[key] = figure
            while len(self.built) > self.most:
                self.built.popitem(last=False)
        return figure


@st.cache_resource(show_spinner=False)
def _figures() -> _Figures:
    return _Figures(most=512)


def figure(key: tuple, build: Callable[[], object]):
    """The figure `build()` makes, built once per `key`; the key holds the data version and the as-of
    date (and the trial), so new data or another day builds it anew. Streamlit never mutates it
    (st.plotly_chart works on a copy)."""
    return _figures().get(key, build)


@st.cache_data(max_entries=8, show_spinner=False)
def extracts(version: int, as_of: dt.date | None = None) -> pd.DataFrame:
    """Every extract; with `as_of`, those accepted by the end of that day, as they stood then."""
    return get_store().extracts(as_of=service.end_of(as_of) if as_of else None)


def data_version() -> int:
    return get_store().data_version()


def is_demo(version: int) -> bool:
    """Demo data is what the demo loader stored; any real extract makes it real data."""
    return service.is_demo(extracts(version))


def page_header(title: str, version: int) -> None:
    """The title and, on demo data, a one-line notice: small, so the first screen holds the numbers."""
    st.html(COMPACT_CSS)
    if not is_demo(version):
        st.title(title, anchor=False)
        return
    left, right = st.columns([3, 2], vertical_alignment="center")
    left.title(title, anchor=False)
    right.warning("**Demo data**: made-up participants, not real patients.", icon=":material/science:")


# ---- who is here: sign-in and grants (DESIGN.md 6.1), or local mode ----------------------------------

ROLE_KEY = "role"  # local mode's "Viewing as" box


@dataclass(frozen=True)
class Visitor:
    """`mode`: local (no sign-in, no access file: one person at this computer), signed_out,
    over (a sign-in signed out on the server or older than the session lifetime: `why`),
    unknown (signed in, not in the access file) or signed_in (with `grant`)."""

    mode: str
    grant: Grant | None = None
    email: str | None = None
    why: str | None = None


def auth_configured() -> bool:
    """Sign-in is on when .streamlit/secrets.toml has an [auth] section."""
    return st.secrets.load_if_toml_exists() and "auth" in st.secrets


def get_access() -> Access | None:
    """The access file in use (read again when it changes), None in local mode; a mistake in it
    stops every page with the sentence that names the entry."""
    try:
        return access.active(get_programme())
    except AccessError as exc:
        st.error(f"**The access file cannot be used**, so nobody is let in: {plain(exc)}. Correct it (see "
                 "data/access.example.toml); the dashboard reads it again at the next page load.", icon=":material/block:")
        st.stop()


def visitor() -> Visitor:
    """Who is here, from the sign-in (st.user) and the access file, on every run: nothing a browser
    sends can choose a grant. Stops the page when sign-in and the access file do not go together."""
    signin = auth_configured()
    grants = get_access()
    if signin and grants is None:
        st.error(
            f"**Sign-in is configured but there is no access file**, so nobody could be given any rights. Create "
            f"{plain(access.access_path())} from data/access.example.toml (or point PUMP_ACCESS at the reviewed "
            "file) and reload this page.", icon=":material/block:",
        )
        st.stop()
    if not signin and grants is not None:
        st.error(
            f"**There is an access file ({plain(grants.path)}) but no sign-in**, so nobody can be told apart. Add the "
            "[auth] section to .streamlit/secrets.toml (README: Sign-in) and restart the dashboard, or remove the access "
            "file to run in local mode, for the one person at this computer.", icon=":material/block:",
        )
        st.stop()
    if not signin:
        role = st.session_state.get(ROLE_KEY, access.DEFAULT_ROLE)
        return Visitor("local", Grant(email=service.current_user(), role=role if role in access.ROLES else access.DEFAULT_ROLE, local=True))
    if not st.user.get("is_logged_in"):
        return Visitor("signed_out")
    email = st.user.get("email")
    over = access.sign_in_over(st.user.get("iat"), time.time(), grants.session_hours,
                               get_store().signed_out(email or "", login_key()))
    if over:
        _audit_once(f"pump.over.{login_key()}", lambda: service.record_sign_in_over(get_store(), email or "(no e-mail)", login_key(), over))
        return Visitor("over", None, email, over)
    grant = grants.grant_for(email)
    return Visitor("signed_in" if grant else "unknown", grant, email)


def login_key() -> str:
    """What tells one sign-in from another: its ID token's issue time (a reload is the same sign-in)."""
    return str(st.user.get("iat") or st.user.get("sub") or "")


def _audit_once(key: str, record: Callable[[], None]) -> None:
    """Write an audit entry once per browser session (a page's reruns are not new events)."""
    if not st.session_state.get(key):
        record()
        st.session_state[key] = True


def sign_out() -> None:
    """End this sign-in on the server too: its cookie, copied before or not, lets nobody in again."""
    if st.user.get("is_logged_in"):
        service.record_sign_out(get_store(), st.user.get("email") or "(no e-mail)", login_key())
    st.logout()


def settings_problem() -> str | None:
    """A setting of the environment that is no value (PUMP_TODAY, PUMP_LOCK_WAIT), in a sentence."""
    try:
        clock.today()
        lock_wait_from_environment()
    except ValueError as exc:
        return str(exc)
    return None


def require(page: str) -> Visitor:
    """Every page's first line: the page runs only for a grant that opens it (the menu already
    leaves it out; this is the second lock). A refusal is explained, audited, and ends the page."""
    who = visitor()
    if who.grant is not None and page in access.pages_for(who.grant):
        return who
    if who.mode in ("signed_in", "unknown"):
        reason = "not in the access file" if who.grant is None else f"a {who.grant.role}'s grant does not open it"
        get_store().record(who.email or "(no e-mail)", "refused", {"action": "open_page", "page": page, "reason": reason})
    st.error("**This page is not open to you** (ask the programme office).", icon=":material/block:")
    st.stop()


def granted_trials(grant: Grant, programme: Programme) -> list[str]:
    """The trials a person may upload for, in configuration order."""
    if grant.local or grant.role == "director":
        return list(programme.trials)
    return [t for t in programme.trials if t in grant.trials]


def granted_sites(grant: Grant, sites: list[str]) -> list[str]:
    return list(sites) if grant.local or grant.role == "director" else [s for s in sites if s in grant.sites]


def allowed(who: Visitor, action: str, **what) -> bool:
    """Whether to offer a button: the store decides again when it is pressed."""
    return access.refusal(who.grant, action, **what) is None


def actor_name(who: Visitor, key: str, label: str = "Your name") -> str:
    """Who does a change: the signed-in person's address, or in local mode the name typed (kept for
    the session)."""
    if who.mode == "signed_in":
        st.text(f"Recorded as {who.email} in the audit log.")  # plain text: no Markdown, no mailto: link
        return who.email or ""
    return st.text_input(label, key=key, help="Recorded with the change in the audit log.")


def provider() -> str | None:
    """The named provider of [auth] (e.g. [auth.microsoft]), or None for the unnamed one."""
    section = st.secrets["auth"]
    named = [name for name, value in section.items() if isinstance(value, Mapping)]
    return named[0] if named else None


def sign_in_page() -> None:
    st.title("PUMP recruitment dashboard", anchor=False)
    st.markdown("Sign in with your hospital account to see how the PUMP trials are recruiting.")
    st.button("Sign in", type="primary", icon=":material/login:", on_click=st.login, args=(provider(),) if provider() else ())


def sign_in_over_page() -> None:
    who = visitor()
    st.title("Sign in again", anchor=False)
    st.text(f"Your sign-in has ended ({who.why or 'it is over'}), so the dashboard shows nothing until you sign in again.")
    st.button("Sign in", type="primary", icon=":material/login:", on_click=st.login, args=(provider(),) if provider() else ())


def no_access_page() -> None:
    who = visitor()
    grants = get_access()
    contact = grants.contact if grants and grants.contact else "the PUMP programme office"
    st.title("Ask the programme office for access", anchor=False)
    # Plain text, not Markdown: the address and the contact show as written, never as a link.
    st.text(f"You are signed in as {who.email or 'an account without an e-mail address'}, but that address has no access to "
            f"the PUMP dashboard yet. Ask {contact} to add it; then sign in again.")
    st.button("Sign out", on_click=sign_out)


@contextmanager
def internal_errors(what: str) -> Iterator[None]:
    """An unforeseen error in `what` (Markdown: escape user text in it) ends the page with a sentence, never Streamlit's generic
    error; the traceback goes to the log only (as on the command line, exit 3)."""
    try:
        yield
    except StoreUnavailable:
        raise  # said in words by database_faults
    except Refused:  # a refusal is no internal error: the page says why
        raise
    except Exception:
        log_file = service.log_path(get_store().location)
        service.error_log(log_file).exception("internal error while %s", what)
        st.error(f"Internal error while {what}: nothing was stored. The details are in {log_file}; tell the programme office.")
        st.stop()


# ---- the shared view: as-of date and trials, in the URL ------------------------------------------


def parse_as_of(text: str | None, today: dt.date, earliest: dt.date) -> dt.date | None:
    """A date from the URL; None when absent, not a date, in the future or before the programme."""
    try:
        day = dt.date.fromisoformat(str(text))
    except ValueError:
        return None
    return day if earliest <= day < today else None


def parse_trials(values: list[str], programme: Programme) -> list[str]:
    """Trial codes from the URL (aliases too), in configuration order; unknown ones dropped."""
    codes = {programme.trial_code(v) for v in values} - {None}
    return [code for code in programme.trials if code in codes]


def _earliest(programme: Programme) -> dt.date:
    return min(trial.opened_on for trial in programme.trials.values())


def _write_url(as_of: dt.date | None, trials: list[str]) -> None:
    params = st.query_params
    if as_of is None:
        params.pop(AS_OF_PARAM, None)
    elif params.get(AS_OF_PARAM) != as_of.isoformat():
        params[AS_OF_PARAM] = as_of.isoformat()
    if not trials:
        params.pop(TRIAL_PARAM, None)
    elif params.get_all(TRIAL_PARAM) != trials:
        params[TRIAL_PARAM] = trials


def _controls_changed() -> None:
    today = service.today()
    chosen = st.session_state.get(_AS_OF_INPUT)
    as_of = chosen if chosen is not None and chosen < today else None
    trials = parse_trials(list(st.session_state.get(_TRIALS_INPUT) or []), get_programme())
    st.session_state[_VIEW_AS_OF] = as_of
    st.session_state[_VIEW_TRIALS] = trials
    _write_url(as_of, trials)


def _back_to_today() -> None:
    st.session_state[_VIEW_AS_OF] = None
    _write_url(None, st.session_state.get(_VIEW_TRIALS, []))


def view_controls() -> tuple[dt.date, list[str]]:
    """The as-of date and trials every page shows, chosen in the sidebar and kept in the URL.
    Returns (as_of, trial codes); every trial when none is chosen."""
    programme = get_programme()
    today = service.today()
    params = st.query_params
    if AS_OF_PARAM in params or TRIAL_PARAM in params or _VIEW_AS_OF not in st.session_state:
        as_of = parse_as_of(params.get(AS_OF_PARAM), today, _earliest(programme))
        trials = parse_trials(params.get_all(TRIAL_PARAM), programme)
    else:  # the menu switched pages and dropped the query string: the session remembers the view
        as_of = st.session_state.get(_VIEW_AS_OF)
        trials = st.session_state.get(_VIEW_TRIALS, [])
    st.session_state[_VIEW_AS_OF] = as_of
    st.session_state[_VIEW_TRIALS] = trials
    _write_url(as_of, trials)
    # The widgets show the view; their own state would be lost when the page changes.
    st.session_state[_AS_OF_INPUT] = as_of or today
    st.session_state[_TRIALS_INPUT] = trials
    with st.sidebar:
        st.date_input(
            "As of",
            key=_AS_OF_INPUT,
            min_value=_earliest(programme),
            max_value=today,
            format="DD/MM/YYYY",
            on_change=_controls_changed,
            help="Show the programme as it was at the end of this day: the extracts accepted by then. "
            "Today is the live view.",
        )
        choose = dict(key=_TRIALS_INPUT, on_change=_controls_changed, help="Show only these trials; none chosen shows every trial.")
        if len(programme.trials) <= PILLS_AT_MOST:
            st.pills("Trials", options=list(programme.trials), selection_mode="multi", **choose)
        else:  # a national programme's 150 buttons would fill the sidebar: a box to type in instead
            st.multiselect("Trials", options=list(programme.trials), placeholder="Every trial", **choose)
        if as_of is not None:
            st.button("Back to today (live)", on_click=_back_to_today, icon=":material/today:")
        st.caption("The address bar holds this view: copy the link to share it.")
    return as_of or today, trials or list(programme.trials)


# ---- data as of, status legend, live ------------------------------------------------------------


def _days_ago(days: int) -> str:
    return "today" if days == 0 else "yesterday" if days == 1 else f"{days} days ago"


def data_as_of(overview: dict, version: int) -> None:
    """The line every analytics page starts with: the as-of date, the newest extract, and (today) the
    live check that redraws the page when new data arrives."""
    as_of = dt.date.fromisoformat(overview["as_of"])
    latest = overview["latest_extract_on"]
    newest = (
        f"newest extract accepted {dt.date.fromisoformat(latest):%d %b %Y} "
        f"({_days_ago((as_of - dt.date.fromisoformat(latest)).days)})"
        if latest
        else "no extract accepted yet"
    )
    live = as_of == service.today()
    left, right = st.columns([5, 1], vertical_alignment="center")
    left.markdown(
        f":small[**Data as of {as_of:%A %d %B %Y}**{'' if live else ' (a past view: not live)'} · {newest}.]",
        help="Accrual counts participants with an enrolment date on or before that day; a past view shows the "
        "extracts accepted by then.",
    )
    with right:
        if live:
            watch_for_new_data(version)
        else:  # a past view does not change when new data arrives: never "Live"
            st.caption(":material/history: Past view")


@st.fragment(run_every=LIVE_POLL)
def watch_for_new_data(shown_version: int) -> None:
    """Poll the cheap data version; redraw the page only when it changed. Says when it last looked. A
    fault met here redraws the page too, which says it in words (database_faults) and recovers by itself."""
    try:
        changed = get_store_quietly().data_version() != shown_version
    except Exception as exc:  # the whole page, not this corner, says what happened
        log_fault(exc)
        changed = True
    if changed:
        st.rerun(scope="app")
    st.caption(f":material/sync: Live · checked {clock.now():%H:%M:%S}")


def basis_text(overview: dict) -> str:
    """What the status and the headline forecast are computed from, in words."""
    if overview.get("status_basis", "since_opening") == "recent":
        return f"at the pace of the last {overview['recent_months']} months (blended with the plan's pace)"
    return "at the pace since the trial opened"


def status_legend(overview: dict) -> None:
    green = overview["status_thresholds"]["green"]
    amber = overview["status_thresholds"]["amber"]
    st.caption(
        f"**Status** is the chance of reaching the target by the planned end, {basis_text(overview)}: "
        f":green-badge[On track] {green:.0%} or more · :orange-badge[At risk] {amber:.0%} to {green:.0%} · "
        f":red-badge[Off track] below {amber:.0%}. **Finish**: the forecast's median date, 90% interval in brackets "
        "(Bayesian accrual model, Gajewski, Simon & Carlson 2008). "
        f"Site data older than {overview['stale_after_days']} days is flagged stale. {metrics.model_text(overview)}"
    )


def status_markdown(status: str | None) -> str:
    if status is None:
        return ":gray-badge[No forecast]"
    label, colour = STATUS_BADGE[status]
    return f":{colour}-badge[{label}]"


def status_badge(status: str | None) -> None:
    if status is None:
        st.badge("No forecast", color="gray")
        return
    label, colour = STATUS_BADGE[status]
    st.badge(label, color=colour)


def site_colours(programme: Programme, sites: list[str] | None = None) -> dict[str, str]:
    return {code: site.colour for code, site in programme.sites.items() if sites is None or code in sites}


def day(iso: str | dt.date | None) -> str:
    """A date as every page writes it: "16 Nov 2026"; a blank for none."""
    if iso is None or (not isinstance(iso, str) and pd.isna(iso)):  # None, NaN or NaT
        return ""
    return f"{pd.Timestamp(iso):%d %b %Y}"


def month(iso: str | None) -> str:
    return f"{dt.date.fromisoformat(iso):%b %Y}" if iso else "beyond 2100"


def rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}/month"


def change_counts(counts: dict[str, int]) -> None:
    """What an extract changes (or changed) against the data before it, in four numbers."""
    labels = {"new": "New participants", "changed": "Changed", "missing": "No longer in the extract", "unchanged": "Unchanged"}
    for column, (key, label) in zip(st.columns(4), labels.items(), strict=True):
        column.metric(label, counts[key])


def plan_delta(gap: int) -> dict:
    """st.metric's delta for the gap to the planned curve: 'on plan' has no arrow."""
    if gap:
        return {"delta": f"{gap:+d} vs plan", "delta_color": "normal"}
    return {"delta": "on plan", "delta_color": "off", "delta_arrow": "off"}


def metric(label: str, value, delta=None, **kwargs) -> None:
    """A metric of a fixed width, for rows in a horizontal container that wrap on a narrow screen."""
    st.metric(label, value, delta, **{"width": 220, **kwargs})


def plot(figure, key: str, height: str = "content") -> None:
    """A chart with one button, its PNG (for the minutes or a slide). `height="stretch"`: the chart fills
    its container's height (set by the page's CSS from the viewport) instead of its own."""
    shown = charts.themed(figure, st.context.theme.type)
    if height == "stretch":
        shown = charts.stretched(shown)
    # theme=None: the figure's own fonts and colours, not Streamlit's smaller defaults; in the page's
    # theme (light or dark template), so a chart is never a white box on a dark page.
    st.plotly_chart(
        shown, width="stretch", height=height, theme=None, key=key,
        config=PNG_ONLY | {"toImageButtonOptions": {**PNG_ONLY["toImageButtonOptions"], "filename": key}},
    )


# The text colour of each theme (.streamlit/config.toml): a drawing shown as a picture does not inherit it.
INK = {"light": "#1c2833", "dark": "#f1f4f7"}


def consort_flow(flow: dict) -> None:
    """A trial's CONSORT flow (dashboard.consort.flow) drawn as a vector picture in the page's theme."""
    as_of = dt.date.fromisoformat(flow["as_of"])
    st.image(consort.svg(flow, ink=INK.get(st.context.theme.type or "light", INK["light"])), width="content")
    st.caption(
        f"{flow['trial']} as of {as_of:%d %b %Y}: the counts of `consort --trial {flow['trial']}`; "
        "\"not recorded\": no extract of the trial holds that field."
    )


# The chart's own menu holds a single button: download it as a PNG, at twice the screen's resolution.
PNG_ONLY = {"displaylogo": False, "modeBarButtons": [["toImage"]], "toImageButtonOptions": {"format": "png", "scale": 2}}


def csv_download(frame: pd.DataFrame, file_name: str, key: str, label: str = "Table (CSV)") -> None:
    """The table as a CSV file that a spreadsheet never runs (dashboard.downloads.csv_bytes)."""
    st.download_button(label, csv_bytes(frame), file_name=file_name, mime="text/csv", icon=":material/download:", key=key)
