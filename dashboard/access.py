"""Who may do what (DESIGN.md section 6.1): the access file, the grants in it, the pages
each grant opens and the one rule that says whether an action is allowed.

The access file (`data/access.toml`, or the file `$PUMP_ACCESS` names) is reviewed by the
programme office and keyed by e-mail address:

    [users."w.filipe@example.org"]
    role = "coordinator"        # director | coordinator | viewer
    trials = ["PUMP"]           # coordinators: the trials and sites they may upload for
    sites = ["EMC"]
    os_user = "wfilipe"         # the login on the command line's computer (optional)

Without an access file (and without sign-in) the dashboard runs in local mode: one person
at this computer, who may do everything; the write path then checks nothing. With one,
every write names a user of the file and `refusal` decides, whatever the caller.

Pure logic: no Streamlit here. The store's write path and the pages both use `refusal`.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ACCESS_PATH = Path(__file__).resolve().parent.parent / "data" / "access.toml"
ACCESS_VARIABLE = "PUMP_ACCESS"
DEFAULT_SESSION_HOURS = 12.0  # a sign-in older than this signs in again


class AccessError(ValueError):
    """The access file cannot be used; the message names the entry and what to change."""


# ---- pages and roles ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PageSpec:
    script: str
    title: str
    icon: str  # the menu's icon, from the icon font the dashboard serves itself


PAGES = {
    "overview": PageSpec("app_pages/overview.py", "Programme overview", ":material/dashboard:"),
    "trial": PageSpec("app_pages/trial.py", "Trial status", ":material/monitoring:"),
    "sites": PageSpec("app_pages/sites.py", "Site comparison", ":material/compare_arrows:"),
    "upload": PageSpec("app_pages/upload.py", "Upload an extract", ":material/upload_file:"),
    "extracts": PageSpec("app_pages/extracts.py", "Extract history", ":material/history:"),
    "meeting": PageSpec("app_pages/meeting.py", "Steering meeting", ":material/co_present:"),
    "whatif": PageSpec("app_pages/whatif.py", "What if", ":material/tune:"),
    "audit": PageSpec("app_pages/audit.py", "Audit log", ":material/policy:"),
}

# DESIGN.md 6.1's roles; the steering committee's members are viewers.
ROLES = {
    "director": "Programme director",
    "coordinator": "Trial coordinator",
    "viewer": "Steering committee",
}
DEFAULT_ROLE = "director"

ROLE_PAGES = {
    "director": ["overview", "trial", "sites", "whatif", "extracts", "meeting", "upload", "audit"],
    "coordinator": ["upload", "extracts", "overview", "trial", "sites", "whatif", "meeting"],
    "viewer": ["meeting", "overview", "trial", "sites", "whatif"],
}

# What each action is called in a refusal, and who may do it at all.
ACTIONS = {
    "ingest": "upload an extract",
    "retract": "retract an extract",
    "meeting": "mark a meeting as held",
    "redact": "blank stored text",
}


@dataclass(frozen=True)
class Grant:
    """One person's rights. `trials` and `sites` only matter for a coordinator; `local` is the
    one person at this computer in local mode (no access file): everything is theirs."""

    email: str
    role: str
    trials: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    name: str | None = None
    local: bool = False
    os_user: str | None = None  # the person's operating-system login, for the command line

    @property
    def label(self) -> str:
        return ROLES[self.role]


def pages_for(grant: Grant | None) -> list[str]:
    """The pages a grant opens, in menu order; nobody without a grant opens any."""
    return [] if grant is None else list(ROLE_PAGES[grant.role])


def refusal(
    grant: Grant | None,
    action: str,
    trial: str | None = None,
    sites: list[str] | tuple[str, ...] | None = None,
    extract_uploaded_by: str | None = None,
    who: str | None = None,
) -> str | None:
    """Why `grant` may not do `action` (one of ACTIONS), in a sentence for the person refused;
    None when it may. `who` names the person when there is no grant (not in the access file)."""
    what = ACTIONS[action]
    if grant is None:
        return f"{who or 'this user'} is not in the access file, so may not {what}; ask the programme office for access"
    if grant.local or grant.role == "director":
        return None
    if grant.role == "viewer":
        return f"{grant.email} has a steering committee (viewer) grant: it views and downloads, it may not {what}"
    if action == "ingest":
        if trial not in grant.trials:
            return (f"{grant.email} may upload for {_listed(grant.trials)} only, not for {trial}; "
                    "ask the programme office to extend the grant")
        other = sorted(set(sites or ()) - set(grant.sites))
        if other:
            return (f"{grant.email} may upload for site {_listed(grant.sites)} only; this extract holds site "
                    f"{_listed(other)}. Upload each site's own extract, or ask the programme office")
        return None
    if action == "retract":
        if extract_uploaded_by is not None and _same(extract_uploaded_by, grant.email):
            return None
        return (f"a coordinator retracts only their own extracts; this one was uploaded by {extract_uploaded_by or 'someone else'}. "
                "Ask a programme director to retract it")
    return f"only a programme director may {what}; {grant.email} is a trial coordinator"


def sign_in_over(issued_at, now: float, hours: float, signed_out: bool) -> str | None:
    """Why a sign-in (its ID token's `iat`, seconds since 1970) no longer lets its person in, or None:
    it was signed out (a copied cookie replayed), or it is older than the access file's session_hours."""
    if signed_out:
        return "this sign-in was signed out"
    if isinstance(issued_at, bool) or not isinstance(issued_at, (int, float)):
        return "the sign-in does not say when it was made"
    if now - issued_at > hours * 3600:
        return f"the sign-in is older than {hours:g} hours"
    return None


def _listed(values) -> str:
    values = list(values)
    return ", ".join(values) if values else "none"


def _same(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


# ---- the access file ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """The grants of an access file, by e-mail address (compared without regard to case)."""

    users: dict[str, Grant]
    path: Path | None = None
    contact: str | None = None
    sha256: str | None = None  # of the file's bytes: the database remembers which grants it saw
    session_hours: float = DEFAULT_SESSION_HOURS
    _by_key: dict[str, Grant] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {email.casefold(): g for email, g in self.users.items()})

    def grant_for(self, email: str | None) -> Grant | None:
        return None if not email else self._by_key.get(email.strip().casefold())

    def grant_for_login(self, login: str) -> Grant | None:
        """The person whose `os_user` is this operating-system login (the command line's actor)."""
        return next((g for g in self.users.values() if g.os_user is not None and g.os_user == login), None)


def command_line_refusal(access: Access, login: str, by: str) -> str | None:
    """Why the operating-system user `login` may not act on the command line as `by`, or None: the
    access file maps the login to a person (os_user), and `--by` names that person, or anyone when
    the person is a programme director running a service (the audit entry records both)."""
    person = access.grant_for_login(login)
    if person is None:
        return (f"the login {login!r} of this computer is no os_user of the access file, so it may not change "
                "the database; ask the programme office to add os_user to your entry")
    if _same(person.email, by) or person.role == "director":
        return None
    return (f"--by {by} is not you: the login {login!r} is {person.email} in the access file; "
            "changes are recorded under your own name")


def access_path() -> Path:
    """$PUMP_ACCESS, else data/access.toml."""
    return Path(os.environ.get(ACCESS_VARIABLE) or DEFAULT_ACCESS_PATH)


_ENTRY_KEYS = {"role", "trials", "sites", "name", "os_user"}


def parse_access(data: dict, path: Path | None = None, trials: dict[str, list[str]] | None = None,
                 site_codes: list[str] | None = None) -> Access:
    """The grants of a parsed access file. With `trials` ({trial code: its site codes}) and
    `site_codes`, trial and site codes are checked against the programme's configuration.
    A mistake raises AccessError naming the entry."""
    where = str(path) if path else "the access file"
    unknown = sorted(set(data) - {"users", "contact", "session_hours"})
    if unknown:
        raise AccessError(f"{where}: unknown setting {', '.join(unknown)} (expected [users.\"e-mail\"] entries, an optional "
                          "contact and session_hours)")
    contact = data.get("contact")
    if contact is not None and not isinstance(contact, str):
        raise AccessError(f"{where}: contact must be text (how to reach the programme office)")
    hours = data.get("session_hours", DEFAULT_SESSION_HOURS)
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not 0 < hours <= 24 * 30:
        raise AccessError(f"{where}: session_hours must be a number of hours, more than 0 and at most 720 (e.g. 12)")
    logins: dict[str, str] = {}
    users = data.get("users", {})
    if not isinstance(users, dict):
        raise AccessError(f"{where}: users must be a table of [users.\"e-mail\"] entries")
    grants: dict[str, Grant] = {}
    seen: dict[str, str] = {}
    for email, entry in users.items():
        name = f'{where}: users."{email}"'
        if "@" not in email or email != email.strip() or " " in email:
            raise AccessError(f"{name}: the key must be the person's e-mail address as the sign-in reports it")
        if email.casefold() in seen:
            raise AccessError(f'{name}: the same address as users."{seen[email.casefold()]}" (case does not count)')
        seen[email.casefold()] = email
        if not isinstance(entry, dict):
            raise AccessError(f"{name}: must be a table with role (and for a coordinator trials and sites)")
        extra = sorted(set(entry) - _ENTRY_KEYS)
        if extra:
            raise AccessError(f"{name}: unknown setting {', '.join(extra)} (allowed: {', '.join(sorted(_ENTRY_KEYS))})")
        role = entry.get("role")
        if role not in ROLES:
            raise AccessError(f"{name}.role: {role!r} is not one of {', '.join(ROLES)}")
        granted = {}
        for key in ("trials", "sites"):
            value = entry.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise AccessError(f"{name}.{key}: must be a list of codes, e.g. {key} = [\"{'PUMP' if key == 'trials' else 'EMC'}\"]")
            granted[key] = tuple(value)
        if role == "coordinator":
            for key in ("trials", "sites"):
                if not granted[key]:
                    raise AccessError(f"{name}.{key}: a coordinator needs the {key} they may upload for")
        elif granted["trials"] or granted["sites"]:
            raise AccessError(f"{name}: trials and sites are for coordinators; a {role} sees every trial (remove them)")
        if trials is not None:
            for code in granted["trials"]:
                if code not in trials:
                    raise AccessError(f"{name}.trials: {code!r} is not a trial code of the configuration ({', '.join(trials)})")
        if site_codes is not None:
            for code in granted["sites"]:
                if code not in site_codes:
                    raise AccessError(f"{name}.sites: {code!r} is not a site code of the configuration ({', '.join(site_codes)})")
            if trials is not None and granted["trials"] and not any(set(granted["sites"]) & set(trials[t]) for t in granted["trials"]):
                raise AccessError(f"{name}: none of the sites {', '.join(granted['sites'])} takes part in "
                                  f"{', '.join(granted['trials'])}")
        display = entry.get("name")
        if display is not None and not isinstance(display, str):
            raise AccessError(f"{name}.name: must be text")
        login = entry.get("os_user")
        if login is not None and (not isinstance(login, str) or not login.strip() or login != login.strip()):
            raise AccessError(f"{name}.os_user: must be the person's login name on the command line's computer, e.g. os_user = \"wfilipe\"")
        if login in logins:
            raise AccessError(f'{name}.os_user: {login!r} is already the os_user of users."{logins[login]}" (one login, one person)')
        if login is not None:
            logins[login] = email
        grants[email] = Grant(email=email, role=role, trials=granted["trials"], sites=granted["sites"], name=display, os_user=login)
    return Access(users=grants, path=path, contact=contact, session_hours=float(hours))


def load_access(path: Path | str, programme=None) -> Access:
    """Read and check an access file; with `programme`, its trial and site codes too."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except OSError as exc:
        raise AccessError(f"cannot read the access file {path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AccessError(f"{path} is not valid TOML: {exc}") from exc
    trials = sites = None
    if programme is not None:
        trials = {code: list(trial.sites) for code, trial in programme.trials.items()}
        sites = list(programme.sites)
    parsed = parse_access(data, path, trials, sites)
    return Access(users=parsed.users, path=path, contact=parsed.contact, sha256=hashlib.sha256(raw).hexdigest(),
                  session_hours=parsed.session_hours)


_cache: dict[tuple, Access] = {}


def active(programme=None) -> Access | None:
    """The access file in use, or None in local mode (no file). Read again whenever it changes,
    so a grant withdrawn by the programme office takes effect without a restart. A file named by
    $PUMP_ACCESS that does not exist is a mistake, not local mode."""
    path = access_path()
    try:
        stat = path.stat()
    except FileNotFoundError:
        if os.environ.get(ACCESS_VARIABLE):
            raise AccessError(f"{ACCESS_VARIABLE} names {path}, which does not exist; "
                              "create it from data/access.example.toml or unset the variable") from None
        return None
    key = (str(path), stat.st_mtime_ns, stat.st_size, programme is not None)
    if key not in _cache:
        if len(_cache) > 8:
            _cache.clear()
        _cache[key] = load_access(path, programme)
    return _cache[key]
