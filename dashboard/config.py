"""Programme configuration: trials, sites, arms, targets with amendment history.

Loaded from `data/programme.yaml` and validated at start; a mistake names the entry
(`trials.PUMP.amendments.1.target: ...`) so whoever edited the file can find it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import unicodedata
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "data" / "programme.yaml"
# Another configuration for the app and the command line (a test's generated programme, a staging copy).
CONFIG_VARIABLE = "PUMP_CONFIG"


# The two text fields a person types: stored as codes of the trial's vocabulary (issue 19).
REASON_FIELDS = ("screen_fail_reason", "withdrawal_reason")
OTHER_REASON = "other"
OTHER_LABELS = ["other", "anders", "overig", "overige"]


def reason_key(text: str) -> str:
    """Key for matching a typed reason to a code: case, accents, spacing and punctuation aside
    ('Extrahepatische  ziekte.' == 'extrahepatische ziekte')."""
    folded = unicodedata.normalize("NFKD", str(text).casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^0-9a-z<>=+]+", " ", folded).split())


def reason_fingerprint(text: str) -> str:
    """What a coordinator's mapping of a typed reason is remembered by: a hash of its key, so the
    text itself is never stored, not even as a mapping."""
    return hashlib.sha256(reason_key(text).encode()).hexdigest()


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or wrong; the message names the entry."""


def _fold(label: str) -> str:
    """Key for case- and spacing-insensitive alias matching ('Arm  B' == 'arm b')."""
    return " ".join(str(label).strip().casefold().split())


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StatusThresholds(_Strict):
    green: float = Field(gt=0, le=1)
    amber: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> StatusThresholds:
        if self.amber > self.green:
            raise ValueError("amber must not be above green")
        return self


class Site(_Strict):
    name: str
    city: str = ""
    colour: str = "#555555"
    aliases: list[str] = []
    # Letters the site's hospital puts before its record numbers ("EMC1234567"): an id made of such a
    # prefix and 6-10 digits is a hospital record number, never a study number.
    record_number_prefixes: list[str] = []


class Amendment(_Strict):
    effective_on: dt.date
    target: int = Field(gt=0)
    planned_end_on: dt.date
    note: str = ""


class Arm(_Strict):
    label: str
    aliases: list[str] = []


class CastorSource(_Strict):
    study_id: str = Field(min_length=1)
    site: str = Field(min_length=1)  # the site's abbreviation in the Castor study
    api: str = "https://data.castoredc.com"  # Castor's EU server; a test points it at a local one


class RedcapSource(_Strict):
    url: str  # the project's API address, ending in /api/
    dag: str | None = None  # the data access group's unique name; None: every record of the project

    @field_validator("url")
    @classmethod
    def _api_address(cls, url: str) -> str:
        if not re.match(r"https?://", url) or not url.endswith("/api/"):
            raise ValueError(f"{url!r} is not a REDCap API address (http(s)://.../api/)")
        return url


class Source(_Strict):
    """Where a trial's data at a site comes from, when not only from uploads (DESIGN.md 3).
    Credentials are never here: they are in .streamlit/secrets.toml or the environment."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    castor: CastorSource | None = None
    redcap: RedcapSource | None = None
    # The pull acts as this user: with an access file, a coordinator of the trial and site there
    # (the file is keyed by e-mail address, hence the @).
    service_user: str = "pump-pull@service"
    # Bounds, so a scheduled pull ends: seconds per request, retries of a failed request,
    # and the longest wait a rate limit may ask for.
    timeout_seconds: float = Field(default=30, gt=0, le=300)
    retries: int = Field(default=3, ge=0, le=10)
    max_wait_seconds: float = Field(default=60, ge=0, le=900)

    @model_validator(mode="before")
    @classmethod
    def _no_credentials(cls, data):
        """A credential written into the configuration is refused (without repeating it)."""
        if isinstance(data, dict):
            parts = [data, *(v for v in data.values() if isinstance(v, dict))]
            found = sorted({k for part in parts for k in part if k in ("token", "client_id", "client_secret", "password")})
            if found:
                raise ValueError(
                    f"{', '.join(found)} must not be in the configuration (it is reviewed and shared): put it in "
                    f"[sources.{data.get('name', 'NAME')}] of .streamlit/secrets.toml or the environment, and remove it here"
                )
        return data

    @model_validator(mode="after")
    def _one_kind(self) -> Source:
        if (self.castor is None) == (self.redcap is None):
            raise ValueError(f"source {self.name!r}: give exactly one of castor: {{study_id, site}} or redcap: {{url, dag}}")
        return self

    @property
    def kind(self) -> str:
        return "castor" if self.castor else "redcap"
class SiteChange(_Strict):
    """A site's dates as changed from `effective_on` on (history, like the amendments of a target): a view
    as of an earlier day shows the site as it was known then. A date left out stays as it was."""

    effective_on: dt.date
    activated_on: dt.date | None = None
    closed_on: dt.date | None = None
    planned_activation: dt.date | None = None
    note: str = ""


class TrialSite(_Strict):
    activated_on: dt.date | None = None
    closed_on: dt.date | None = None
    # The site's planned share of the trial's accrual (its target is share x the trial's target); when no
    # site of a trial has one, the sites share equally.
    share: float | None = Field(default=None, gt=0, le=1)
    # Where its data is pulled from (Castor or REDCap); None: uploads only.
    source: Source | None = None
    # A site being negotiated: the multi-centre forecast counts it from this day on by its prior alone.
    planned_activation: dt.date | None = None
    changes: list[SiteChange] = []

    @model_validator(mode="after")
    def _ordered(self) -> TrialSite:
        dates = [c.effective_on for c in self.changes]
        if dates != sorted(dates) or len(set(dates)) != len(dates):
            raise ValueError("changes must be in order of effective_on, one per date")
        for site in (self, *(self.on(day) for day in dates)):
            if site.activated_on and site.closed_on and site.closed_on < site.activated_on:
                raise ValueError("closed_on is before activated_on")
        return self

    def on(self, day: dt.date) -> TrialSite:
        """The site as known on `day`: every change in force by then applied, in order."""
        dates: dict = {}
        for change in self.changes:
            if change.effective_on <= day:
                dates.update(change.model_dump(include={"activated_on", "closed_on", "planned_activation"}, exclude_none=True))
        return self.model_copy(update=dates) if dates else self


class Trial(_Strict):
    title: str
    population: str = ""
    design: str = ""
    coordinating_site: str
    colour: str = "#333333"
    registry_id: str = ""
    aliases: list[str] = []
    opened_on: dt.date
    amendments: list[Amendment] = Field(min_length=1)
    arms: dict[str, Arm] = Field(min_length=1)
    sites: dict[str, TrialSite] = Field(min_length=1)
    # Study-specific column names per export format: {format: {canonical field: column}}.
    mappings: dict[str, dict[str, str]] = {}
    # What the trial's study numbers look like (a regular expression the whole id must match),
    # so that a hospital record number in the id column is refused: e.g. "PUMP-(EMC|NKI)-[0-9]{4}".
    participant_id_pattern: str | None = None
    # The codes a reason field (screen_fail_reason, withdrawal_reason) is stored as: {field: {code:
    # [label, aliases...]}}, the first label shown. A value matching none is stored as `other`, its text
    # never kept, unless the trial allows free text (then the identifier screen is all that guards it).
    reasons: dict[str, dict[str, list[str]]] = {}
    free_text: bool = False
    # No trial event happens more than this long before the trial opened: an earlier date is an error
    # (most often a date of birth in the wrong column).
    earliest_event_years_before_opening: int = Field(default=2, ge=0, le=20)
    # The model of the trial's status and headline forecast, overriding the programme's `forecast_model`.
    forecast_model: Literal["multicentre", "single"] | None = None

    @field_validator("reasons")
    @classmethod
    def _reason_fields(cls, reasons: dict[str, dict[str, list[str]]]) -> dict[str, dict[str, list[str]]]:
        for name, codes in reasons.items():
            if name not in REASON_FIELDS:
                raise ValueError(f"reasons: {name!r} is not a reason field ({', '.join(REASON_FIELDS)})")
            for code, labels in codes.items():
                if not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", code):
                    raise ValueError(f"reasons.{name}: {code!r} is not a code (lower case letters, digits and _)")
                if not labels:
                    raise ValueError(f"reasons.{name}.{code}: give at least its label")
            owner: dict[str, str] = {}
            for code, labels in {**codes, OTHER_REASON: OTHER_LABELS}.items():
                for label in [code, *labels]:  # matched as reason_key matches: punctuation aside
                    if owner.setdefault(reason_key(label), code) != code:
                        raise ValueError(f"reasons.{name}: alias {label!r} is used by both {owner[reason_key(label)]} and {code}")
        return reasons

    @field_validator("participant_id_pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"participant_id_pattern is not a regular expression: {exc}") from exc
        return pattern

    @model_validator(mode="after")
    def _consistent(self) -> Trial:
        dates = [a.effective_on for a in self.amendments]
        if dates != sorted(dates) or len(set(dates)) != len(dates):
            raise ValueError("amendments must be in order of effective_on, one per date")
        if self.amendments[0].effective_on > self.opened_on:
            raise ValueError("the first amendment must take effect on or before opened_on")
        for i, a in enumerate(self.amendments):
            if a.planned_end_on <= self.opened_on:
                raise ValueError(f"amendments.{i}.planned_end_on is not after opened_on")
        if self.coordinating_site not in self.sites:
            raise ValueError(f"coordinating_site {self.coordinating_site!r} is not one of its sites")
        shares = [site.share for site in self.sites.values()]
        if any(shares) and not all(shares):
            raise ValueError("sites: give every site a share, or none (equal shares)")
        if all(shares) and abs(sum(shares) - 1) > 1e-6:
            raise ValueError(f"sites: the shares must add up to 1, they add up to {sum(shares):g}")
        return self

    def site_share(self, site: str) -> float:
        """The site's planned share of the trial's accrual: configured, else equal."""
        return self.sites[site].share or 1 / len(self.sites)

    def amendment_on(self, day: dt.date) -> Amendment:
        """The protocol version in force on `day` (the first one before the trial opened)."""
        current = self.amendments[0]
        for amendment in self.amendments:
            if amendment.effective_on <= day:
                current = amendment
        return current

    def target_on(self, day: dt.date) -> int:
        return self.amendment_on(day).target

    def planned_end_on(self, day: dt.date) -> dt.date:
        return self.amendment_on(day).planned_end_on

    def site_on(self, site: str, day: dt.date | None) -> TrialSite | None:
        """The trial's site as known on `day` (its changes by then applied; None: as configured)."""
        plan = self.sites.get(site)
        return plan.on(day) if plan and day else plan

    @cached_property
    def reason_lookup(self) -> dict[str, dict[str, str]]:
        """Per reason field: folded code, label or alias -> code (`other` always among them)."""
        return {
            name: {reason_key(label): code for code, labels in {**codes, OTHER_REASON: OTHER_LABELS}.items() for label in [code, *labels]}
            for name, codes in self.reasons.items()
        }

    def reason_label(self, name: str, code: object) -> str:
        """What a stored reason is shown as: a code's first label; free text (or a code no
        longer configured) as it is. The one place a chart or a table turns codes into words."""
        if code is None or (isinstance(code, float) and code != code):
            return ""
        if code == OTHER_REASON:
            return OTHER_LABELS[0]
        labels = self.reasons.get(name, {}).get(str(code))
        return labels[0] if labels else str(code)

    @property
    def is_randomised(self) -> bool:
        return len(self.arms) > 1

    @cached_property
    def arm_lookup(self) -> dict[str, str]:
        """Folded label or alias -> arm code."""
        lookup: dict[str, str] = {}
        for code, arm in self.arms.items():
            for label in [code, arm.label, *arm.aliases]:
                lookup[_fold(label)] = code
        return lookup


class Programme(_Strict):
    programme: str
    status_thresholds: StatusThresholds
    stale_after_days: int = Field(gt=0)
    forecast_prior_certainty: float = Field(gt=0, le=1)
    # The recent pace: the forecast fitted to this many last months, and the pace shown beside it.
    forecast_recent_months: int = Field(default=6, ge=1, le=24)
    # Which forecast the status (and the headline finish) comes from: the recent pace or since opening.
    status_basis: Literal["recent", "since_opening"] = "recent"
    # Which model the status (and the headline finish) comes from: `multicentre`, a rate per site (Jiang et al.
    # 2015), or `single`, one rate for the trial (Gajewski et al. 2008); unset: multicentre for a trial with more
    # than one site, single for a trial with one. A trial's own `forecast_model` overrides it.
    forecast_model: Literal["multicentre", "single"] | None = None
    sites: dict[str, Site] = Field(min_length=1)
    trials: dict[str, Trial] = Field(min_length=1)
    # sha256 of the file it came from, recorded in the audit log when it changes.
    source_sha256: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Programme:
        for code, trial in self.trials.items():
            for site in trial.sites:
                if site not in self.sites:
                    raise ValueError(f"trials.{code}.sites: {site!r} is not a configured site")
            for arm in trial.arms:
                if arm not in ("control", "haip"):
                    raise ValueError(f"trials.{code}.arms: {arm!r} is not an arm code (control, haip)")
            _check_unique_aliases(f"trials.{code}.arms", {a: [a, arm.label, *arm.aliases] for a, arm in trial.arms.items()})
        names = [(trial, site, ts.source.name) for trial, t in self.trials.items() for site, ts in t.sites.items() if ts.source]
        seen: dict[str, str] = {}
        for trial, site, name in names:
            if name in seen:
                raise ValueError(f"trials.{trial}.sites.{site}.source: the name {name!r} is used by {seen[name]} too; give each source its own")
            seen[name] = f"trials.{trial}.sites.{site}"
        _check_unique_aliases("sites", {s: [s, site.name, *site.aliases] for s, site in self.sites.items()})
        _check_unique_aliases("trials", {t: [t, *trial.aliases] for t, trial in self.trials.items()})
        return self

    @cached_property
    def site_lookup(self) -> dict[str, str]:
        return {_fold(label): code for code, site in self.sites.items() for label in [code, site.name, *site.aliases]}

    @cached_property
    def trial_lookup(self) -> dict[str, str]:
        return {_fold(label): code for code, trial in self.trials.items() for label in [code, *trial.aliases]}

    def site_code(self, label: str) -> str | None:
        """Site code for a code, name or alias, whatever its case; None when unknown."""
        return self.site_lookup.get(_fold(label))

    def trial_code(self, label: str) -> str | None:
        return self.trial_lookup.get(_fold(label))

    def sources(self) -> list[tuple[str, str, Source]]:
        """(trial, site, source) of every configured source, in configuration order."""
        return [(t, s, ts.source) for t, trial in self.trials.items() for s, ts in trial.sites.items() if ts.source]

    def trial(self, code_or_alias: str) -> Trial:
        code = self.trial_code(code_or_alias)
        if code is None:
            raise KeyError(f"unknown trial {code_or_alias!r}; the trials are {', '.join(self.trials)}")
        return self.trials[code]


def _check_unique_aliases(where: str, labels_by_code: dict[str, list[str]]) -> None:
    owner: dict[str, str] = {}
    for code, labels in labels_by_code.items():
        for label in labels:
            key = _fold(label)
            if owner.setdefault(key, code) != code:
                raise ValueError(f"{where}: alias {label!r} is used by both {owner[key]} and {code}")


def config_path() -> Path:
    """$PUMP_CONFIG, else data/programme.yaml."""
    return Path(os.environ.get(CONFIG_VARIABLE) or DEFAULT_CONFIG_PATH)


def load_programme(path: Path | str | None = None) -> Programme:
    """The programme configuration: `path`, else $PUMP_CONFIG, else data/programme.yaml."""
    path = Path(path) if path else config_path()
    try:
        raw = path.read_bytes()
        data = yaml.safe_load(raw)
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of settings at the top level")
    try:
        return Programme(**data, source_sha256=hashlib.sha256(raw).hexdigest())
    except ValidationError as exc:
        raise ConfigError(f"{path}: " + _describe(exc)) from exc


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        message = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)
