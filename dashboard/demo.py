"""The embedded demo data set: a simulated, deterministic history of the PUMP programme,
exported the way coordinators do (quarterly at first, then every Monday) in the formats the
sites really send: a native Castor EDC study export from EMC, a REDCap raw export (a
longitudinal project, several rows per participant) from NKI. The files are in `data/demo/`
and are loaded through the real upload path (`check_file` + `commit`), readers included.

The story it tells as of DEMO_UNTIL: PUMP well behind its plan, PUMP-2 roughly on track,
PUMP-IT close to its target with NKI recruiting most, and PUMP-IT at EMC exporting no more
since October (stale data). Regenerate with `python -m dashboard.demo`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dashboard import clock
from dashboard.access import Access, Grant
from dashboard.config import Programme, Trial, load_programme
from dashboard.fields import DATE_FIELDS, FIELD_NAMES
from dashboard.ingest import check_file, commit
from dashboard.store import Store

DEMO_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"
DEMO_UNTIL = dt.date(2026, 11, 16)  # a Monday: the last weekly export
DEMO_SEED = 1  # of the first seeds tried, the one whose sites mostly enrol within months of activation
MANIFEST_NAME = "manifest.csv"
# The demo loader stores the made-up history itself, whatever the access file says (a system task,
# like a migration; a real deployment turns the demo off with PUMP_DEMO=0).
DEMO_LOADER = Access(users={"demo data": Grant(email="demo data", role="director")})
MANIFEST_COLUMNS = ("file", "trial", "site", "format", "exported_on")

# Export habits: quarterly (first Monday of Jan/Apr/Jul/Oct) until the end of May 2026,
# nothing over the summer, then weekly from the end of August.
QUARTERLY_UNTIL = dt.date(2026, 5, 31)
WEEKLY_FROM = dt.date(2026, 8, 31)
LAST_EXPORT = {("PUMP-IT", "EMC"): dt.date(2026, 10, 5)}  # a coordinator who stopped exporting

# Participants enrolled by DEMO_UNTIL per (trial, site): the story, not a forecast.
ENROLLED_BY_DEMO_UNTIL = {
    ("PUMP", "EMC"): 98,
    ("PUMP", "NKI"): 64,
    ("PUMP-2", "EMC"): 26,
    ("PUMP-2", "NKI"): 15,
    ("PUMP-IT", "NKI"): 28,
    ("PUMP-IT", "EMC"): 11,
}
ID_FORMAT = {"PUMP": ("PUMP", 4), "PUMP-2": ("P2", 3), "PUMP-IT": ("PIT", 3)}  # prefix, digits

# Corrections between snapshots, so that diffs have something to show. Both at one site: the
# date fix makes the export after the removal differ from the one before the error, which the
# store would otherwise refuse as a file it has already loaded (and keep the error current).
ENROLMENT_DATE_FIX = ("PUMP", "EMC", dt.date(2026, 9, 14))  # a typo (+7 days) corrected on this export
REGISTRATION_ERROR = ("PUMP", "EMC", dt.date(2026, 9, 3), dt.date(2026, 9, 21))  # registered twice, removed

# Steering meetings of the demo, on Thursdays after the Monday exports, each with the data cut of its
# moment: the meeting view shows what changed since the last one (the 16 Nov exports came after it).
DEMO_MEETINGS = (
    (dt.datetime(2026, 10, 29, 10, 0), "Asked EMC for PUMP-IT's overdue export."),
    (dt.datetime(2026, 11, 5, 10, 0), "PUMP behind plan: NKI to review its screening log."),
    (dt.datetime(2026, 11, 12, 10, 0), "No decisions; next meeting as usual."),
)

# Relative screening activity per calendar month: summer and Christmas holidays are quiet.
SEASON = np.array([1.0, 1.05, 1.1, 0.95, 0.9, 1.0, 0.6, 0.45, 1.1, 1.1, 1.05, 0.7])
# Elective surgery and trial visits paused in the first COVID-19 waves.
COVID = {
    (2020, 3): 0.35,
    (2020, 4): 0.2,
    (2020, 5): 0.45,
    (2020, 6): 0.75,
    (2020, 11): 0.8,
    (2020, 12): 0.7,
    (2021, 1): 0.75,
}
RAMP_UP_MONTHS = 4.0  # a new site takes a few months to find its patients
CYCLE_DAYS = 28
MISSING = np.nan


@dataclass(frozen=True)
class TrialTraits:
    screen_fail: float  # share of screened patients who are ineligible or decline
    fail_reasons: dict[str, float]  # reason -> weight; "declined ..." reasons mean outcome `declined`
    resection_first: bool = False  # PUMP: the pump is placed at the liver resection
    no_pump: float = 0.03  # pump not placed at surgery (anatomy, disease found): off study
    withdraw: float = 0.06
    death_per_year: float = 0.05
    conversion: float = 0.0  # downstaged to resection or transplant
    follow_up_years: float = 2.0
    lost: float = 0.02


TRAITS = {
    "PUMP": TrialTraits(
        screen_fail=0.40,
        fail_reasons={
            "extrahepatic disease on CT": 0.27,
            "clinical risk score > 2": 0.24,
            "declined randomisation": 0.19,
            "anatomy unsuitable for pump (aberrant hepatic artery)": 0.1,
            "insufficient liver function": 0.07,
            "prior HAIP/hepatic radiotherapy": 0.05,
            "other medical reason": 0.08,
        },
        resection_first=True,
        no_pump=0.05,
        death_per_year=0.05,
        follow_up_years=3.0,
    ),
    "PUMP-2": TrialTraits(
        screen_fail=0.36,
        fail_reasons={
            "extrahepatic disease on CT": 0.32,
            "insufficient liver function": 0.18,
            "anatomy unsuitable for pump (aberrant hepatic artery)": 0.13,
            "declined participation": 0.12,
            "WHO performance status > 1": 0.1,
            "resectable after multidisciplinary review": 0.09,
            "prior HAIP/hepatic radiotherapy": 0.06,
        },
        death_per_year=0.35,
        conversion=0.12,
    ),
    "PUMP-IT": TrialTraits(
        screen_fail=0.34,
        fail_reasons={
            "extrahepatic disease on CT": 0.3,
            "declined participation": 0.17,
            "anatomy unsuitable for pump (aberrant hepatic artery)": 0.14,
            "insufficient liver function": 0.13,
            "resectable after multidisciplinary review": 0.14,
            "prior HAIP/hepatic radiotherapy": 0.12,
        },
        death_per_year=0.25,
        conversion=0.35,
    ),
}
DEFAULT_TRAITS = TRAITS["PUMP-2"]
WITHDRAWAL_BEFORE_TREATMENT = {
    "patient request": 0.5,
    "rapid disease progression": 0.3,
    "investigator decision": 0.2,
}
WITHDRAWAL_ON_TREATMENT = {
    "toxicity (biliary sclerosis)": 0.35,
    "disease progression": 0.3,
    "patient request": 0.2,
    "pump or catheter complication (dislocation, thrombosis)": 0.15,
}
NO_PUMP_REASON = "no pump placed at surgery"


# ---- simulation: every participant's life course, as float days since 1970 (NaN = never) ----


def _days(day: dt.date) -> float:
    return float((day - dt.date(1970, 1, 1)).days)


def _uniform_days(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
    return rng.integers(low, high + 1, n).astype(float)


def _on_weekday(days: np.ndarray) -> np.ndarray:
    """Move Saturdays and Sundays to the Monday: clinics consent, randomise and operate on weekdays."""
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    return days + np.where(weekday == 5, 2, np.where(weekday == 6, 1, 0))


def _pick(rng: np.random.Generator, choices: dict[str, float], n: int) -> np.ndarray:
    weights = np.array(list(choices.values()))
    return rng.choice(np.array(list(choices), dtype=object), size=n, p=weights / weights.sum())


def _screening_rate(rng: np.random.Generator, days: pd.DatetimeIndex, activated: dt.date) -> np.ndarray:
    """Relative screening rate per day: weekdays only, ramp-up, season, COVID, uneven months."""
    months = days.year * 12 + days.month - 1
    unique_months, month_index = np.unique(months, return_inverse=True)
    unevenness = rng.gamma(4.0, 1 / 4.0, len(unique_months))[month_index]
    covid = np.array([COVID.get((y, m), 1.0) for y, m in zip(days.year, days.month, strict=True)])
    elapsed_months = (days - pd.Timestamp(activated)).days.to_numpy() / 30.44
    ramp = 0.25 + 0.75 * (1 - np.exp(-elapsed_months / RAMP_UP_MONTHS))
    weekday = (days.day_of_week < 5).astype(float)
    return weekday * ramp * SEASON[days.month - 1] * covid * unevenness


def _screening_days(
    rng: np.random.Generator, activated: dt.date, horizon: dt.date, planned: int, fail: float
) -> np.ndarray:
    """Screening dates of a Poisson process with that rate. Its count up to DEMO_UNTIL is set
    so that about `planned` are enrolled by then (given the count, a Poisson process places
    its points independently with density proportional to the rate); beyond, it runs free."""
    days = pd.date_range(activated, horizon, freq="D")
    rate = _screening_rate(rng, days, activated)
    before = days <= pd.Timestamp(DEMO_UNTIL)
    # Patients screened in the last ~2.5 weeks are not yet enrolled at DEMO_UNTIL.
    settled = days <= pd.Timestamp(DEMO_UNTIL - dt.timedelta(days=17))
    share_settled = rate[settled].sum() / rate[before].sum()
    count = round(planned / ((1 - fail) * share_settled))
    per_day = count / rate[before].sum()
    extra = rng.poisson(per_day * rate[~before].sum()) if (~before).any() else 0
    day_numbers = (days - pd.Timestamp("1970-01-01")).days.to_numpy().astype(float)
    chosen = [
        rng.choice(day_numbers[mask], size=k, p=rate[mask] / rate[mask].sum())
        for mask, k in ((before, count), (~before, extra))
        if k
    ]
    return np.sort(np.concatenate(chosen)) if chosen else np.array([])


def _block_randomise(rng: np.random.Generator, arms: list[str], n: int) -> np.ndarray:
    """Permuted blocks of 2 or 3 per arm, in order of enrolment: arms never more than 3 apart."""
    allocation: list[str] = []
    while len(allocation) < n:
        block = arms * int(rng.choice([2, 3]))
        allocation += list(rng.permutation(block))
    return np.array(allocation[:n], dtype=object)


def _site_lives(
    trial_code: str, programme: Programme, site: str, rng: np.random.Generator, horizon: dt.date
) -> pd.DataFrame:
    trial = programme.trials[trial_code]
    traits = TRAITS.get(trial_code, DEFAULT_TRAITS)
    activated = max(trial.sites[site].activated_on or trial.opened_on, trial.opened_on)
    planned = ENROLLED_BY_DEMO_UNTIL.get((trial_code, site), 10)
    screened = _screening_days(rng, activated, horizon, planned, traits.screen_fail)
    n = len(screened)

    failed = np.zeros(n, dtype=bool)
    failed[rng.choice(n, round(n * traits.screen_fail), replace=False)] = True
    reason = np.where(failed, _pick(rng, traits.fail_reasons, n), None)
    declined = np.array([str(r).startswith("declined") for r in reason], dtype=bool)
    outcome = np.where(~failed, "eligible", np.where(declined, "declined", "ineligible"))
    consented = np.where(failed, MISSING, _on_weekday(screened + _uniform_days(rng, n, 3, 14)))
    decided = np.where(failed, _on_weekday(screened + _uniform_days(rng, n, 2, 21)), consented)
    enrolled = _on_weekday(consented + _uniform_days(rng, n, 2, 14))

    arm = np.full(n, None, dtype=object)
    order = np.argsort(enrolled[~failed], kind="stable")
    arm[np.flatnonzero(~failed)[order]] = _block_randomise(rng, list(trial.arms), int((~failed).sum()))
    haip = arm == "haip"

    # Surgery: resection for PUMP (both arms, pump at the resection), pump placement otherwise.
    surgery = _on_weekday(enrolled + _uniform_days(rng, n, 14, 42))
    resected = surgery if traits.resection_first else np.full(n, MISSING)
    no_pump = haip & (rng.random(n) < traits.no_pump)
    pump = np.where(haip & ~no_pump, surgery, MISSING)
    # After a hepatectomy, adjuvant HAIP waits for recovery; after pump placement alone ~2 weeks.
    start = _on_weekday(
        pump + (_uniform_days(rng, n, 21, 42) if traits.resection_first else _uniform_days(rng, n, 10, 21))
    )
    # Most complete the 6 cycles; some stop early (toxicity, progression) and stay in follow-up.
    cycles_planned = np.where(rng.random(n) < 0.78, 6, rng.integers(1, 6, n))
    end = start + cycles_planned * CYCLE_DAYS

    withdrawn = np.where(
        rng.random(n) < traits.withdraw, _on_weekday(enrolled + _uniform_days(rng, n, 7, 300)), MISSING
    )
    withdrawn = np.where(no_pump, surgery, withdrawn)
    died = enrolled + rng.exponential(365.25 / traits.death_per_year, n).round()
    follow_up = round(365.25 * traits.follow_up_years)
    lost = np.where(rng.random(n) < traits.lost, enrolled + _uniform_days(rng, n, 200, follow_up), MISSING)
    completed = enrolled + follow_up
    # The first of these ends the participant's time in the study; later events never happen.
    off = np.fmin.reduce([withdrawn, died, lost, completed])
    withdrawn, died, lost, completed = (
        np.where(x == off, x, MISSING) for x in (withdrawn, died, lost, completed)
    )
    resected, pump, start = (np.where(x <= off, x, MISSING) for x in (resected, pump, start))
    end = np.where(np.isnan(start), MISSING, np.fmin(end, off))
    cycles = np.floor((end - start) / CYCLE_DAYS)
    converted = np.where(
        rng.random(n) < traits.conversion, _on_weekday(start + _uniform_days(rng, n, 90, 240)), MISSING
    )
    converted = np.where(converted <= off, converted, MISSING)
    on_treatment = withdrawn >= start
    why = np.where(
        on_treatment, _pick(rng, WITHDRAWAL_ON_TREATMENT, n), _pick(rng, WITHDRAWAL_BEFORE_TREATMENT, n)
    )
    withdrawal_reason = np.where(np.isnan(withdrawn), None, np.where(no_pump, NO_PUMP_REASON, why))

    return pd.DataFrame(
        {
            "trial": trial_code,
            "site": site,
            "registered": screened,
            "screened_on": screened,
            "outcome": outcome,
            "screen_fail_reason": reason,
            "decided": decided,
            "consented_on": consented,
            "enrolled_on": enrolled,
            "arm": arm,
            "resected": resected,
            "pump_implanted_on": pump,
            "treatment_started_on": start,
            "treatment_ended_on": end,
            "cycles": cycles,
            "withdrawn_on": withdrawn,
            "withdrawal_reason": withdrawal_reason,
            "died": died,
            "lost": lost,
            "completed": completed,
            "converted_on": converted,
            "removed": MISSING,
            "enrolled_typo": MISSING,
            "corrected": MISSING,
        }
    )


def _add_corrections(lives: pd.DataFrame) -> pd.DataFrame:
    """The two data errors of the demo: an enrolment date typed wrong and corrected later,
    and a patient registered twice whose second record is removed."""
    trial, site, corrected_on = ENROLMENT_DATE_FIX
    typo = pd.Timedelta(days=7)
    # Someone enrolled between the last quarterly and the first weekly export, so the wrong
    # date is shown from their first appearance.
    window = (
        (lives["trial"] == trial)
        & (lives["site"] == site)
        & lives["enrolled_on"].between(_days(QUARTERLY_UNTIL), _days(WEEKLY_FROM - typo))
    )
    if window.any():
        fixed = lives.index[window][-1]
        lives.loc[fixed, ["enrolled_typo", "corrected"]] = [
            lives.at[fixed, "enrolled_on"] + typo.days,
            _days(corrected_on),
        ]

    trial, site, registered_on, removed_on = REGISTRATION_ERROR
    enrolled = lives[
        (lives["trial"] == trial) & (lives["site"] == site) & (lives["enrolled_on"] <= _days(registered_on))
    ]
    if len(enrolled):
        twin = enrolled.sort_values("enrolled_on").iloc[[-1]].copy()
        later = [
            "resected",
            "pump_implanted_on",
            "treatment_started_on",
            "treatment_ended_on",
            "cycles",
            "withdrawn_on",
            "died",
            "lost",
            "completed",
            "converted_on",
            "enrolled_typo",
            "corrected",
        ]
        twin[later] = MISSING
        twin[["registered", "removed"]] = [_days(registered_on), _days(removed_on)]
        lives = pd.concat([lives, twin], ignore_index=True)
    return lives


def _number(lives: pd.DataFrame) -> pd.DataFrame:
    """Study numbers in order of registration per trial and site, e.g. PUMP-EMC-0012."""
    lives = lives.sort_values(
        ["trial", "site", "registered", "screened_on"], kind="stable", ignore_index=True
    )
    number = lives.groupby(["trial", "site"]).cumcount() + 1
    prefix, width = zip(*(ID_FORMAT.get(t, (t, 3)) for t in lives["trial"]), strict=True)
    lives["participant_id"] = [
        f"{p}-{s}-{k:0{w}d}" for p, s, k, w in zip(prefix, lives["site"], number, width, strict=True)
    ]
    # The EDC's allocation number, in the order the allocations were made (a record created
    # twice is allocated when it is created): it never changes once given.
    allocated = lives[lives["arm"].notna()].assign(on=lambda f: np.fmax(f["enrolled_on"], f["registered"]))
    order = allocated.sort_values(["trial", "site", "on", "participant_id"], kind="stable")
    lives["randomisation_id"] = (order.groupby(["trial", "site"]).cumcount() + 1).reindex(lives.index).astype("Int64")
    return lives


def simulate_lives(
    programme: Programme, horizon: dt.date = DEMO_UNTIL, seed: int = DEMO_SEED
) -> pd.DataFrame:
    """Every participant's full course (events may lie beyond any given date), as float days
    since 1970. One generator per (trial, site), seeded by name: adding a trial changes no other."""
    horizon = max(horizon, DEMO_UNTIL)
    frames = []
    for trial_code, trial in programme.trials.items():
        for site, trial_site in trial.sites.items():
            if (trial_site.activated_on or trial.opened_on) > horizon:
                continue
            rng = np.random.default_rng([seed, zlib.crc32(f"{trial_code}/{site}".encode())])
            frames.append(_site_lives(trial_code, programme, site, rng, horizon))
    return _number(_add_corrections(pd.concat(frames, ignore_index=True)))


def snapshot(lives: pd.DataFrame, on: dt.date) -> pd.DataFrame:
    """What an export on `on` holds: the participants registered by then and not removed,
    with only the events up to `on` (canonical fields, dates as datetime64)."""
    t = _days(on)
    known = lives[(lives["registered"] <= t) & ~(lives["removed"] <= t)]
    seen = {name: known[name].where(known[name] <= t) for name in DATE_FIELDS if name != "enrolled_on"}
    enrolled_true = known["enrolled_on"].where(known["enrolled_on"] <= t)
    seen["enrolled_on"] = enrolled_true.where(~(known["corrected"] > t), known["enrolled_typo"])
    is_enrolled = enrolled_true.notna()
    decided = known["decided"] <= t

    status = pd.Series(
        np.where(known["outcome"].eq("eligible") | ~decided, "screening", ""), index=known.index
    )
    for name, reached in (
        ("enrolled", is_enrolled),
        ("on_treatment", seen["treatment_started_on"].notna()),
        (
            "follow_up",
            seen["treatment_ended_on"].notna() | (known["resected"] <= t) & known["arm"].eq("control"),
        ),
        ("completed", known["completed"] <= t),
        ("withdrawn", seen["withdrawn_on"].notna()),
        ("lost_to_follow_up", known["lost"] <= t),
        ("deceased", known["died"] <= t),
    ):
        status = status.mask(reached, name)

    started = seen["treatment_started_on"]
    until = np.fmin(known["treatment_ended_on"].where(seen["treatment_ended_on"].notna(), t), t)
    cycles = np.minimum(np.floor((until - started) / CYCLE_DAYS), known["cycles"]).where(started.notna())
    out = pd.DataFrame(
        {
            "trial": known["trial"],
            "participant_id": known["participant_id"],
            "site": known["site"],
            "screening_outcome": known["outcome"].where(decided, "pending"),
            "screen_fail_reason": known["screen_fail_reason"].where(decided),
            "arm": known["arm"].where(is_enrolled),
            "status": status.where(status != ""),
            "withdrawal_reason": known["withdrawal_reason"].where(seen["withdrawn_on"].notna()),
            "cycles_completed": cycles.astype("Int64"),
        }
    )
    for name, days in seen.items():
        out[name] = pd.to_datetime(days, unit="D")
    return out[["trial", *FIELD_NAMES]].reset_index(drop=True)


def simulate_programme(
    programme: Programme, until: dt.date = DEMO_UNTIL, seed: int = DEMO_SEED
) -> pd.DataFrame:
    """Every participant of every trial as known on `until`: trial + the canonical fields."""
    return snapshot(simulate_lives(programme, until, seed), until)


# ---- exports --------------------------------------------------------------------------


def export_schedule(programme: Programme, until: dt.date = DEMO_UNTIL) -> list[tuple[dt.date, str, str]]:
    """(exported_on, trial, site) in chronological order: quarterly from the site's activation
    to the end of May 2026, weekly from WEEKLY_FROM, none after a site's LAST_EXPORT."""
    first = min(trial.opened_on for trial in programme.trials.values())
    quarters = pd.date_range(first, min(until, QUARTERLY_UNTIL), freq="QS")
    quarterly = [d.date() + dt.timedelta(days=-d.day_of_week % 7) for d in quarters]  # first Monday
    weekly = [d.date() for d in pd.date_range(WEEKLY_FROM, until, freq="7D")]
    schedule = []
    for trial_code, trial in programme.trials.items():
        for site, trial_site in trial.sites.items():
            activated = max(trial_site.activated_on or trial.opened_on, trial.opened_on)
            last = min(until, LAST_EXPORT.get((trial_code, site), until))
            schedule += [(day, trial_code, site) for day in quarterly + weekly if activated < day <= last]
    order = {code: i for i, code in enumerate(programme.trials)}
    return sorted(schedule, key=lambda s: (s[0], order[s[1]], s[2]))


def write_template(frame: pd.DataFrame, trial: Trial) -> bytes:
    """The project's CSV template: canonical headers, ISO dates, UTF-8, comma, LF."""
    text = frame[list(FIELD_NAMES)].copy()
    for name in DATE_FIELDS:
        text[name] = text[name].dt.strftime("%Y-%m-%d")
    return text.to_csv(index=False, lineterminator="\n").encode("utf-8")


# -- Castor EDC: the EMC studies. One row per participant, Castor's own columns first.
# The single-arm studies have no randomisation in Castor: their inclusion date is a study
# variable of their own (mapped to `enrolled_on` in data/programme.yaml, trials.<T>.mappings).
CASTOR_ENROLMENT_VARIABLE = {"PUMP-2": "inclusiedatum", "PUMP-IT": "datum_inclusie"}
# A checkbox variable, one `variable#Option` column per option with 0/1 (the reader ignores it).
CASTOR_CHECKBOX = "eligibility_criteria"
CASTOR_CRITERIA = ("Inclusion 1", "Inclusion 2", "Exclusion 1")
# Castor's user-missing date for "not applicable" (-96): in the single-arm studies, the consent
# date of a patient who declined (read as empty, with a warning that needs no decision).
CASTOR_NOT_APPLICABLE_DATE = "1-1-2996"
FINISHED = ("completed", "withdrawn", "lost_to_follow_up", "deceased")


def _castor_date(dates: pd.Series) -> pd.Series:
    """Day first, not zero-padded: 6-3-2024."""
    return dates.dt.strftime("%d-%m-%Y").str.replace(r"\b0", "", regex=True).where(dates.notna(), "")


def _clock(ids: pd.Series, what: str) -> pd.Series:
    """A time of day in office hours, fixed per participant and event (the EDC's timestamp)."""
    minutes = np.array([zlib.crc32(f"{pid}/{what}".encode()) % 600 for pid in ids]) + 8 * 60
    return pd.Series([f" {m // 60:02d}:{m % 60:02d}" for m in minutes], index=ids.index, dtype=object)


def _castor_datetime(dates: pd.Series, ids: pd.Series, what: str) -> pd.Series:
    """Day first with a time, as Castor stamps creation and randomisation: 6-3-2024 13:38."""
    return (_castor_date(dates) + _clock(ids, what)).where(dates.notna(), "")


def _text(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), "").astype(str)


def write_castor(frame: pd.DataFrame, trial: Trial) -> bytes:
    """A native Castor EDC study export: `;`, CRLF, UTF-8 without BOM, day-first dates.
    `Participant Status` is Castor's record state (Not Set / Completed), not the trial status."""
    code = str(frame["trial"].iloc[0]) if len(frame) else ""
    ids = frame["participant_id"]
    outcome, status = frame["screening_outcome"], frame["status"]
    done = status.isin(FINISHED) | outcome.isin(["ineligible", "declined"])
    out = pd.DataFrame(
        {
            "Participant Id": ids,
            "Participant Status": np.where(done, "Completed", "Not Set"),
            "Site Abbreviation": frame["site"],
            "Participant Creation Date": _castor_datetime(frame["screened_on"], ids, "created"),
        },
        index=frame.index,
    )
    enrolment = CASTOR_ENROLMENT_VARIABLE.get(code)
    if enrolment is None:  # randomised in Castor
        labels = {arm: spec.label for arm, spec in trial.arms.items()}
        allocated = frame["enrolled_on"].notna()
        out["Randomization Id"] = _text(frame["randomisation_id"].where(allocated))
        out["Randomization Group"] = _text(frame["arm"].map(labels).where(allocated))
        out["Randomized On"] = _castor_datetime(frame["enrolled_on"], ids, "randomised")
    # Ticked once screening is decided: the inclusion criteria met, the exclusion criteria
    # present. An ineligible patient fails one criterion of the three.
    decided = outcome != "pending"
    failing = pd.Series([zlib.crc32(pid.encode()) % len(CASTOR_CRITERIA) for pid in ids], index=frame.index)
    fails = outcome.eq("ineligible")
    for i, option in enumerate(CASTOR_CRITERIA):
        failed = fails & failing.eq(i)
        ticked = failed if option.startswith("Exclusion") else ~failed
        out[f"{CASTOR_CHECKBOX}#{option}"] = np.where(decided, np.where(ticked, "1", "0"), "")
    out["screening_outcome"] = outcome
    out["screen_fail_reason"] = _text(frame["screen_fail_reason"])
    out["consented_on"] = _castor_date(frame["consented_on"])
    if enrolment is not None:
        out[enrolment] = _castor_date(frame["enrolled_on"])
        # The single-arm studies' consent date offers "not applicable" (a user-missing code).
        out["consented_on"] = out["consented_on"].mask(outcome == "declined", CASTOR_NOT_APPLICABLE_DATE)
    for name in ("pump_implanted_on", "treatment_started_on"):
        out[name] = _castor_date(frame[name])
    out["cycles_completed"] = _text(frame["cycles_completed"])
    out["treatment_ended_on"] = _castor_date(frame["treatment_ended_on"])
    if TRAITS.get(code, DEFAULT_TRAITS).conversion:
        out["converted_on"] = _castor_date(frame["converted_on"])
    out["status"] = _text(status)
    out["withdrawn_on"] = _castor_date(frame["withdrawn_on"])
    out["withdrawal_reason"] = _text(frame["withdrawal_reason"])
    return out.to_csv(index=False, sep=";", lineterminator="\r\n").encode("utf-8")


# -- REDCap: the NKI projects. A raw export of a longitudinal project built from the project's
# REDCap data dictionary (dashboard/templates.py): canonical field names and choice codes, the
# site as the record's data access group, and two events per enrolled participant.
REDCAP_DAG = {"NKI": "nki_avl", "EMC": "erasmus_mc"}  # unique group names; "nki avl" is an NKI alias
REDCAP_SCREENING_EVENT, REDCAP_TREATMENT_EVENT = "screening_arm_1", "treatment_arm_1"
REDCAP_FORMS = {  # instrument -> its fields, in data-dictionary order; event -> its instruments
    "screening_and_enrolment": (
        "screened_on",
        "screening_outcome",
        "screen_fail_reason",
        "consented_on",
        "enrolled_on",
        "arm",
    ),
    "haip_treatment": (
        "pump_implanted_on",
        "treatment_started_on",
        "treatment_ended_on",
        "cycles_completed",
        "converted_on",
    ),
    "study_status": ("status", "withdrawn_on", "withdrawal_reason"),
}
REDCAP_EVENTS = {
    REDCAP_SCREENING_EVENT: ("screening_and_enrolment",),
    REDCAP_TREATMENT_EVENT: ("haip_treatment", "study_status"),
}


def write_redcap(frame: pd.DataFrame, trial: Trial) -> bytes:
    """A REDCap raw export ("CSV / Microsoft Excel (raw data)"): `,`, LF, UTF-8, ISO dates,
    values quoted only when they hold a comma, quote or newline; a screening event row per
    record and, once enrolled, a treatment event row."""
    text = frame[list(FIELD_NAMES)].copy()
    for name in DATE_FIELDS:
        text[name] = text[name].dt.strftime("%Y-%m-%d")
    text = text.astype(object).where(text.notna(), "").astype(str)
    # Instrument status: 2 = Complete, 0 = Incomplete.
    complete = {
        "screening_and_enrolment": frame["screening_outcome"].ne("pending") & (
            frame["enrolled_on"].notna() | frame["screening_outcome"].ne("eligible")
        ),
        "haip_treatment": frame["treatment_ended_on"].notna() | frame["status"].isin(FINISHED),
        "study_status": frame["status"].isin(FINISHED),
    }
    for form in REDCAP_FORMS:
        text[f"{form}_complete"] = np.where(complete[form], "2", "0")
    columns = ["record_id", "redcap_event_name", "redcap_data_access_group"]
    for form, names in REDCAP_FORMS.items():
        columns += [*names, f"{form}_complete"]
    events = []
    for order, (event, forms) in enumerate(REDCAP_EVENTS.items()):
        rows = frame.index if event == REDCAP_SCREENING_EVENT else frame.index[frame["enrolled_on"].notna()]
        fields = [name for form in forms for name in (*REDCAP_FORMS[form], f"{form}_complete")]
        part = text.loc[rows, fields].assign(
            record_id=frame.loc[rows, "participant_id"],
            redcap_event_name=event,
            redcap_data_access_group=frame.loc[rows, "site"].map(REDCAP_DAG),
            _record=rows,
            _event=order,
        )
        events.append(part)
    export = pd.concat(events).sort_values(["_record", "_event"], kind="stable").reindex(columns=columns).fillna("")
    return export.to_csv(index=False, lineterminator="\n").encode("utf-8")


Writer = Callable[[pd.DataFrame, Trial], bytes]
# format -> (writer, file extension). A writer gets one (trial, site)'s snapshot (`trial`, the
# canonical fields, `randomisation_id`) and the trial's configuration.
WRITERS: dict[str, tuple[Writer, str]] = {
    "template": (write_template, "csv"),
    "castor": (write_castor, "csv"),
    "redcap": (write_redcap, "csv"),
}
SITE_FORMAT = {"EMC": "castor", "NKI": "redcap"}
# (trial, site) -> format; default "template": every EMC export is Castor, every NKI export REDCap.
EXPORT_FORMAT: dict[tuple[str, str], str] = {
    (trial, site): fmt for trial in ID_FORMAT for site, fmt in SITE_FORMAT.items()
}


@dataclass
class DemoExport:
    exported_on: dt.date
    trial: str
    site: str
    format: str = "template"
    data: bytes = field(default=b"", repr=False)

    @property
    def file(self) -> str:
        return f"{self.trial}_{self.site}_{self.exported_on.isoformat()}.{WRITERS[self.format][1]}"

    def row(self) -> dict:
        return {
            "file": self.file,
            "trial": self.trial,
            "site": self.site,
            "format": self.format,
            "exported_on": self.exported_on,
        }


def demo_shift(today: dt.date, until: dt.date = DEMO_UNTIL) -> dt.timedelta:
    """How far to move the demo's history so that it ends on the latest Monday on or before `today`:
    whole weeks (the weekly exports stay on Mondays), never backwards (the files as they are then)."""
    monday = today - dt.timedelta(days=today.weekday())
    return dt.timedelta(weeks=max(0, (monday - until).days // 7))


def shifted_lives(lives: pd.DataFrame, shift: dt.timedelta) -> pd.DataFrame:
    """Every participant's course moved later by `shift`: the same shape, on other days."""
    days = [c for c in lives.columns if lives[c].dtype == "float64" and c != "cycles"]
    return lives.assign(**{c: lives[c] + shift.days for c in days}) if shift else lives


def demo_exports(
    programme: Programme, until: dt.date = DEMO_UNTIL, seed: int = DEMO_SEED, shift: dt.timedelta = dt.timedelta(0)
) -> list[DemoExport]:
    """Every export of the schedule with its bytes, except those of a site with no participant
    yet (nobody exports an empty list). In a quiet week an export equals the previous one. `shift`:
    the whole history (participants and exports) moved later by so much (demo_shift)."""
    lives = shifted_lives(simulate_lives(programme, until, seed), shift)
    exports = []
    for day, trial, site in export_schedule(programme, until):
        day += shift
        site_lives = lives[(lives["trial"] == trial) & (lives["site"] == site)]
        rows = snapshot(site_lives, day)
        if not rows.empty:
            allocation = site_lives.set_index("participant_id")["randomisation_id"]
            rows["randomisation_id"] = rows["participant_id"].map(allocation)
            fmt = EXPORT_FORMAT.get((trial, site), "template")
            exports.append(DemoExport(day, trial, site, fmt, WRITERS[fmt][0](rows, programme.trials[trial])))
    return exports


def write_demo_files(
    programme: Programme, out_dir: Path | str = DEMO_DIR, until: dt.date = DEMO_UNTIL
) -> list[dict]:
    """Write every export and `manifest.csv` (chronological); returns the manifest rows.
    Files of a previous manifest in `out_dir` are removed first, nothing else."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / MANIFEST_NAME
    if manifest.exists():
        for row in _read_manifest(manifest):
            (out_dir / row["file"]).unlink(missing_ok=True)
    rows = []
    for export in demo_exports(programme, until):
        (out_dir / export.file).write_bytes(export.data)
        rows.append(export.row())
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({**r, "exported_on": r["exported_on"].isoformat()} for r in rows)
    manifest.write_bytes(buffer.getvalue().encode("utf-8"))
    return rows


# ---- a national programme: many trials, for the pages' tests and the benchmarks ------------------

SCALE_TARGETS = (24, 60, 30, 90, 36, 45)
SCALE_ENDS = (dt.date(2028, 12, 31), dt.date(2027, 6, 30), dt.date(2029, 6, 30), dt.date(2027, 12, 31))
SCALE_COLOURS = ("#1f4e79", "#2e7d32", "#7b1fa2", "#b71c1c", "#00695c", "#6d4c41", "#283593", "#ef6c00")


def many_trials(base: Programme, trials: int = 150, sites: int = 20) -> Programme:
    """The base programme's trials and copies of them under new codes (PUMP-2-07, ...) up to `trials` in
    all, each copy at two sites among `sites` (the base's and made-up ones, S03, ...) with its own
    target and planned end; validated through the configuration model. The demo simulates the
    copies with DEFAULT_TRAITS, about ten enrolled per site by DEMO_UNTIL."""
    data = base.model_dump(exclude={"source_sha256"})
    pool = list(base.sites)
    for k in range(len(pool) + 1, sites + 1):
        data["sites"][f"S{k:02d}"] = {"name": f"Hospital {k:02d}", "city": "", "colour": SCALE_COLOURS[k % len(SCALE_COLOURS)]}
        pool.append(f"S{k:02d}")
    originals = list(base.trials.items())
    width = max(2, len(str(trials)))
    for k in range(len(originals) + 1, trials + 1):
        code, trial = originals[k % len(originals)]
        chosen = [pool[(2 * k) % len(pool)], pool[(2 * k + 1) % len(pool)]]
        activations = [s.activated_on for s in trial.sites.values()]
        data["trials"][f"{code}-{k:0{width}d}"] = {
            **trial.model_dump(exclude={"aliases", "amendments", "sites", "mappings", "registry_id"}),
            "title": f"{code}-{k:0{width}d} - {trial.title.split(' - ', 1)[-1]}",
            "colour": SCALE_COLOURS[k % len(SCALE_COLOURS)],
            "coordinating_site": chosen[0],
            "amendments": [
                {
                    "effective_on": trial.opened_on,
                    "target": SCALE_TARGETS[k % len(SCALE_TARGETS)],
                    "planned_end_on": SCALE_ENDS[k % len(SCALE_ENDS)],
                }
            ],
            "sites": {site: {"activated_on": activations[i % len(activations)]} for i, site in enumerate(chosen)},
        }
    return Programme.model_validate(data)


def load_latest(store: Store, programme: Programme, until: dt.date = DEMO_UNTIL, stale_every: int = 9) -> int:
    """A short history, quick to load: one template extract per trial and site, exported on `until`
    (every `stale_every`-th pair five weeks earlier: stale data), through check + commit. Returns the
    number of extracts stored."""
    lives = simulate_lives(programme, until)
    loaded = 0
    with store.connect():
        pairs = [(code, site) for code, trial in programme.trials.items() for site in trial.sites]
        for i, (code, site) in enumerate(pairs):
            day = until - dt.timedelta(weeks=5) if stale_every and i % stale_every == stale_every - 1 else until
            site_lives = lives[(lives["trial"] == code) & (lives["site"] == site)]
            rows = snapshot(site_lives, day)
            if rows.empty:
                continue
            rows["randomisation_id"] = rows["participant_id"].map(site_lives.set_index("participant_id")["randomisation_id"])
            name = f"{code}_{site}_{day.isoformat()}.csv"
            checked = check_file(store, programme, write_template(rows, programme.trials[code]), name, code, fmt="template", today=day)
            if not checked.ok:
                raise ValueError(f"{name}: " + "; ".join(i.message for i in checked.errors[:5]))
            commit(store, checked, actor="demo data", accept_warnings=True, uploaded_at=dt.datetime.combine(day, dt.time(7, 0)))
            loaded += 1
    return loaded


def _read_manifest(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [{**r, "exported_on": dt.date.fromisoformat(r["exported_on"])} for r in csv.DictReader(handle)]


def load_demo(store: Store, programme: Programme, demo_dir: Path | str = DEMO_DIR, on_progress: Callable[[int, int], None] | None = None) -> int:
    """Load every demo export, in order, through the upload path a coordinator uses
    (validation, diff, commit with the export's date); returns the number of extracts stored.
    An export byte-identical to the current one (a quiet week) stores nothing new but
    confirms the data as current on its date, as it would for a coordinator.
    The demo is always this week's: on a day after DEMO_UNTIL's week its history is moved to end on the
    latest Monday (demo_shift), the exports made afresh from the same simulation, so a newcomer sees fresh
    sites and a live status; on DEMO_UNTIL's week (the tests' pinned day) the files are loaded as they are.
    `on_progress(loaded, total)` after each export. Only for an empty database."""
    if not store.is_empty():
        raise ValueError(
            f"the database {store.location} already holds extracts; demo data goes into an empty one only"
        )
    demo_dir = Path(demo_dir)
    shift = demo_shift(clock.today())
    if shift:
        exports = [(export.row(), export.data) for export in demo_exports(programme, shift=shift)]
    else:
        exports = [(row, None) for row in _read_manifest(demo_dir / MANIFEST_NAME)]
    loaded = 0
    # Holding one connection open keeps the database instance alive in this process, so the
    # upload path's own connections reuse it instead of reopening the file for every query.
    with store.connect():
        for done, (row, data) in enumerate(exports, start=1):
            loaded += _load_export(store, programme, demo_dir, row, data)
            if on_progress:
                on_progress(done, len(exports))
        for at, note in DEMO_MEETINGS:
            if at + shift <= clock.now():
                store.hold_meeting("demo data", note, at=at + shift, access=DEMO_LOADER)
    return loaded


def _load_export(store: Store, programme: Programme, demo_dir: Path, row: dict, data: bytes | None = None) -> int:
    data = (demo_dir / row["file"]).read_bytes() if data is None else data
    checked = check_file(
        store, programme, data, row["file"], row["trial"], fmt=row["format"], today=row["exported_on"]
    )
    if not checked.ok:
        problems = "; ".join(i.message for i in checked.errors[:5])
        raise ValueError(f"demo file {row['file']} has {len(checked.errors)} validation error(s): {problems}")
    uploaded_at = dt.datetime.combine(row["exported_on"], dt.time(7, 0))
    commit(store, checked, actor="demo data", accept_warnings=True, uploaded_at=uploaded_at, access=DEMO_LOADER)
    return int(checked.already_loaded is None)


if __name__ == "__main__":
    written = write_demo_files(load_programme())
    size = sum(p.stat().st_size for p in DEMO_DIR.iterdir())
    print(f"wrote {len(written)} exports and {MANIFEST_NAME} to {DEMO_DIR} ({size / 1e6:.2f} MB)")
