"""`python -m dashboard bench`: the dashboard's speed at scale N, measured on its own parts.

Scale 1 is today: the programme of data/programme.yaml with the demo history (172 extracts).
Scale N >= 2 is a generated national programme written through the real configuration model:
ceil(1.5 N) trials (copies of today's three under new codes, demo.many_trials), two sites each
among min(20, 2 + N // 5) sites, 1,000 participants per trial and site (300,000 at N = 100), and a
history of `history` extracts per trial and site, each a few weeks after the other, with new
participants and corrections, loaded through the real ingest path (check_file, then commit).

Every figure is the median of `runs` runs: the programme summary (`summary --json`), the data
behind the overview, trial and sites pages, a cold run of the overview page in Streamlit's
AppTest, the peak memory of this process, and a 100,000-row Castor ingest against DuckDB's own
`read_csv` of the same file. A Store holds the rows of the cuts it has read (store/held.py), so a
page's figures are measured as a live page pays them: each run after one new extract of the first
trial has landed (not timed); the summary and the trial page's rows are also given cold, on a new
Store (a process's first read, every row fetched).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml

from dashboard import service
from dashboard.config import DEFAULT_CONFIG_PATH, Programme, load_programme
from dashboard.store import Store, count_csv_rows, scratch_schema

ROOT = Path(__file__).resolve().parent.parent
PER_PAIR = 1_000
TARGET = 2_000
WEEKS_BETWEEN_EXTRACTS = 4
TARGETS_MS = {"summary_ms": 150, "overview_data_ms": 150, "trial_data_ms": 150, "sites_data_ms": 150}
# What a page computes with its figures (Plotly's own building included), before Streamlit sends it: a page
# shown within about a second.
PAGE_TARGETS_MS = {"overview_page_ms": 1000, "trial_page_ms": 1000, "sites_page_ms": 1000, "whatif_page_ms": 1000}


def scaled_config(n: int) -> dict:
    """The configuration (as YAML data) of the programme at scale n >= 2: demo.many_trials's copies
    of today's trials, ceil(1.5 n) in all, at min(20, 2 + n // 5) sites."""
    from dashboard.demo import many_trials

    programme = many_trials(load_programme(DEFAULT_CONFIG_PATH), trials=math.ceil(1.5 * n), sites=min(20, 2 + n // 5))
    config = programme.model_dump(mode="json", exclude={"source_sha256"})
    for trial in config["trials"].values():  # about 1,300 enrolled of 2,000: every trial still under way
        for amendment in trial["amendments"]:
            amendment["target"] = TARGET
    return config


def _rows(rng: np.random.Generator, trial: str, site: str, count: int, first: dt.date, last: dt.date) -> list[list[str]]:
    """`count` participants of one trial and site in the template's fields, screened between two days."""
    span = max((last - first).days, 1)
    screened = np.sort(rng.integers(0, span, count))
    rows = []
    for k, day in enumerate(screened):
        on = first + dt.timedelta(days=int(day))
        eligible = rng.random() > 0.35
        enrolled = on + dt.timedelta(days=int(rng.integers(5, 20))) if eligible else None
        rows.append([
            f"{trial}-{site}-{k + 1:05d}", site, on.isoformat(), "eligible" if eligible else "ineligible",
            "" if eligible else "extrahepatic disease on CT", enrolled.isoformat() if enrolled else "",
            "haip" if eligible else "", "on_treatment" if eligible else "screening",
        ])
    return rows


HEADER = "participant_id,site,screened_on,screening_outcome,screen_fail_reason,enrolled_on,arm,status"


def _csv(rows: list[list[str]]) -> bytes:
    return ("\r\n".join([HEADER, *(",".join(r) for r in rows)]) + "\r\n").encode("utf-8")


def load_scaled(store: Store, programme: Programme, history: int, until: dt.date, seed: int = 2026) -> int:
    """Each trial and site's history of extracts through check_file and commit; returns the count."""
    from dashboard.ingest import check_file, commit

    loaded = 0
    with store.connect():  # one use for the whole load: the file stays open
        for code, trial in programme.trials.items():
            for site, trial_site in trial.sites.items():
                rng = np.random.default_rng([seed, loaded])
                opened = trial_site.activated_on or trial.opened_on
                rows = _rows(rng, code, site, PER_PAIR, opened, until - dt.timedelta(days=30))
                for k in range(history):
                    day = until - dt.timedelta(weeks=WEEKS_BETWEEN_EXTRACTS * (history - 1 - k))
                    known = [r for r in rows if r[2] <= (day - dt.timedelta(days=20)).isoformat()]
                    for r in known[k::50] if k else ():  # a few corrections each time: an enrolment date moved
                        if r[5]:
                            r[5] = (dt.date.fromisoformat(r[5]) + dt.timedelta(days=1)).isoformat()
                    checked = check_file(store, programme, _csv(known), f"{code}_{site}_{day}.csv", code, today=day)
                    commit(store, checked, "bench", accept_warnings=True, confirm_removals=checked.mass_removal.count if checked.mass_removal else None,
                           uploaded_at=dt.datetime.combine(day, dt.time(9)))
                    loaded += 1
    return loaded


def castor_100k(path: Path, rows: int = 100_000) -> None:
    """A Castor study export of `rows` participants (semicolon, day-first dates, as Castor writes)."""
    rng = np.random.default_rng(100)
    header = "Participant Id;Participant Status;Site Abbreviation;Randomization Id;Randomization Group;Randomized On;Participant Creation Date"
    lines = [header]
    base = dt.date(2019, 4, 1)
    for k in range(rows):
        created = base + dt.timedelta(days=int(rng.integers(0, 2000)))
        randomised = created + dt.timedelta(days=10)
        group = "Arm A" if k % 2 else "Arm B"
        lines.append(f"PUMP-EMC-{k + 1:06d};Not Set;EMC;{k + 1};{group};{randomised.day}-{randomised.month}-{randomised.year} 10:00;"
                     f"{created.day}-{created.month}-{created.year} 09:00")
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")


def _median_seconds(runs: int, work: Callable[[], object], before: Callable[[], object] | None = None) -> float:
    """The median time of `work`, each run after `before` (not timed: a new extract landing, a new Store)."""
    work()  # a first run to warm up (imports, DuckDB's caches): not counted
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def new_extract(store: Store, programme: Programme, today: dt.date) -> Callable[[], int]:
    """What lands between two reads of a live page: one new extract of the first trial's first site through the
    write path (check_file, then commit), its current rows and one participant more each time; returns its id."""
    import pandas as pd

    from dashboard.ingest import check_file, commit

    code = next(iter(programme.trials))
    site = next(iter(programme.trials[code].sites))
    columns = HEADER.split(",")

    def text(value) -> str:
        return "" if pd.isna(value) else value.date().isoformat() if isinstance(value, pd.Timestamp) else str(value)

    def land() -> int:
        current = store.current_participants(code)
        rows = [[text(v) for v in row] for row in current.loc[current["site"] == site, columns].itertuples(index=False)]
        rows.append([f"{code}-{site}-N{len(rows) + 1:05d}", site, (today - dt.timedelta(days=1)).isoformat(), "ineligible",
                     "extrahepatic disease on CT", "", "", "screening"])
        checked = check_file(store, programme, _csv(rows), f"{code}_{site}_new_{len(rows)}.csv", code, today=today)
        return commit(store, checked, "bench", accept_warnings=True)

    return land


def _ingest_ratio(folder: Path, runs: int) -> dict:
    from dashboard.ingest import check_file, commit

    export = folder / "castor_100k.csv"
    castor_100k(export)
    base = load_programme()

    def ingest():
        store = Store(folder / f"ingest-{time.perf_counter_ns()}.duckdb", create=True)
        checked = check_file(store, base, export.read_bytes(), export.name, "PUMP", today=dt.date(2026, 11, 21))
        commit(store, checked, "bench", accept_warnings=True)

    def read_csv():
        count_csv_rows(export, ";")

    ours, theirs = _median_seconds(runs, ingest), _median_seconds(runs, read_csv)
    return {"ingest_100k_s": round(ours, 2), "read_csv_100k_s": round(theirs, 3), "ingest_vs_read_csv": round(ours / theirs, 1)}


def _page_figures(store: Store, open_store: Callable[[], Store], programme: Programme, today: dt.date, runs: int) -> dict:
    """The pages' data as a live page reads it: each run after one new extract of the first trial has landed (the
    Store holds the rows of every other cut it has read); and the summary cold, on a new Store (a process's first
    read: every row fetched)."""
    from dashboard import metrics

    first = next(iter(programme.trials))
    land = new_extract(store, programme, today)

    # What the pages read, as they read it (app_pages/common.py): the snapshot in the summary's columns,
    # and on the trial page that trial's own rows in every field.
    def snapshot(on: Store):
        return service.snapshot(on, today, columns=metrics.SUMMARY_COLUMNS)

    def overview(on: Store = store):
        participants, last = snapshot(on)
        return participants, metrics.programme_summary(programme, participants, last, today)

    def trial(on: Store = store):
        participants, last = snapshot(on)
        summary = metrics.trial_summary(programme, first, participants, today, last.get(first, {}))
        return summary, service.trial_rows(on, today, first)

    cold = {"store": open_store()}

    def new_store() -> None:
        cold["store"] = open_store()

    pages = {"overview": lambda: _overview_page(programme, today, *overview()), "trial": lambda: _trial_page(programme, today, first, *trial()),
             "sites": lambda: _sites_page(programme, today, *overview()), "whatif": lambda: _whatif_page(programme, today, first, trial()[1])}
    figures = {
        "snapshot_ms": round(1000 * _median_seconds(runs, lambda: snapshot(store), land), 1),
        "snapshot_cold_ms": round(1000 * _median_seconds(runs, lambda: snapshot(cold["store"]), new_store), 1),
        "summary_ms": round(1000 * _median_seconds(runs, lambda: service.programme_summary(store, programme, today), land), 1),
        "summary_cold_ms": round(1000 * _median_seconds(runs, lambda: service.programme_summary(cold["store"], programme, today),
                                                        new_store), 1),
        "overview_data_ms": round(1000 * _median_seconds(runs, overview, land), 1),
        "trial_data_ms": round(1000 * _median_seconds(runs, trial, land), 1),
        "trial_data_cold_ms": round(1000 * _median_seconds(runs, lambda: trial(cold["store"]), new_store), 1),
        "sites_data_ms": round(1000 * _median_seconds(runs, overview, land), 1),  # the sites page reads the same summary
    }
    for name, page in pages.items():  # what the page computes, its figures included
        try:
            figures[f"{name}_page_ms"] = round(1000 * _median_seconds(runs, page, land), 1)
        except Exception as exc:  # a page that crashes at this scale is a finding, not the end of the benchmark
            figures[f"{name}_page_ms"] = None
            figures.setdefault("page_errors", {})[name] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    return figures


def _overview_page(programme: Programme, today: dt.date, participants, summary: dict) -> None:
    """app_pages/overview.py's computation: tiles (a few trials) or the table with its inline curves, and the big charts."""
    from dashboard import charts, metrics
    from dashboard.overview import BIG_CHARTS_AT_MOST, big_chart_trials, monthly_cumulative, trials_table, uses_tiles

    summaries = summary["trials"]
    codes = [s["trial"] for s in summaries]
    if uses_tiles(len(summaries)):
        codes_shown = codes
        for s in summaries:
            metrics.story(s)
    else:
        trials_table(summaries, monthly_cumulative(participants, today, codes))
        codes_shown, _ = big_chart_trials(summaries, False, BIG_CHARTS_AT_MOST)
    by_code = {s["trial"]: s for s in summaries}
    for code in codes_shown:
        trial, s = programme.trials[code], by_code[code]
        charts.cumulative_accrual(code, metrics.cumulative_accrual(participants[participants["trial"] == code], today),
                                  metrics.expected_curve(trial, today), s["target"], today, trial.colour, height=340, compact=True)


def _trial_page(programme: Programme, today: dt.date, code: str, s: dict, mine) -> None:
    """app_pages/trial.py's computation: the two forecast fans and the accrual chart, the monthly chart, the funnel,
    the reasons, arms, statuses and milestones, and the sites' multi-centre forecast with the centres needed."""
    from dashboard import charts, metrics, whatif

    trial, certainty = programme.trials[code], programme.forecast_prior_certainty
    per_site = s["forecast_model"] == "multi-centre"
    fan = metrics.trial_fan(trial, mine, today, certainty, recent_months=s["recent_months"], per_site=per_site)
    metrics.trial_fan(trial, mine, today, certainty, per_site=per_site)
    charts.cumulative_accrual(code, metrics.cumulative_accrual(mine, today), metrics.expected_curve(trial, today), s["target"], today,
                              trial.colour, fan=fan, planned_end=trial.planned_end_on(today))
    monthly = metrics.accrual_per_period(mine, today, "month", by="site", groups=list(trial.sites))
    charts.monthly_by_site(code, monthly, {site: "#555555" for site in trial.sites}, today, needed=s["rate_needed"], planned=s["rate_planned"])
    charts.funnel(code, metrics.screening_funnel(mine, today), today, trial.colour)
    reasons = metrics.screen_fail_reasons(mine, today)
    if len(reasons):
        charts.fail_reasons(code, reasons, today)
    charts.status_breakdown(code, metrics.status_breakdown(mine, today), today)
    metrics.milestones(trial, mine, today)
    if trial.is_randomised:
        metrics.arm_balance(trial, mine, today)
    whatif.what_if(trial, metrics.accrual_of(mine, today), whatif.default_scenario(programme, trial, today))


def _sites_page(programme: Programme, today: dt.date, participants, summary: dict) -> None:
    """app_pages/sites.py's computation: the tables, the rates chart and the aligned curves of the trials it
    charts (all up to a few, else those off track or at risk, as the page chooses)."""
    import pandas as pd

    from dashboard import charts, metrics
    from dashboard.overview import sites_page_charted
    from dashboard.rounding import whole_site_figures

    for s in summary["trials"]:
        whole_site_figures(s)
    charted, _ = sites_page_charted(summary["trials"], chosen=False)
    summaries = [s for s in summary["trials"] if s["trial"] in charted]
    rates = pd.DataFrame([{"trial": s["trial"], "site": x["site"], "rate_per_month": x["rate_per_month"], "rate_6m": x["rate_6m"]}
                          for s in summaries for x in s["sites"]])
    colours = {site: programme.sites[site].colour for site in programme.sites}
    slowest: dict[str, list[str]] = {}  # the page's title, as long as the page makes it
    for s in summaries:
        if s["slowest_site"]:
            slowest.setdefault(s["slowest_site"], []).append(s["trial"])
    title = "Slowest site: " + "; ".join(f"{site} in {', '.join(codes)}" for site, codes in slowest.items()) if slowest else "Rates"
    charts.site_rates(title, rates, colours, today)
    for s in summaries:
        trial = programme.trials[s["trial"]]
        curves = metrics.aligned_site_curves(trial, participants[participants["trial"] == s["trial"]], today)
        if not curves.empty:
            charts.aligned_curves(s["trial"], curves, {site: colours[site] for site in trial.sites}, today)


def _whatif_page(programme: Programme, today: dt.date, code: str, mine) -> None:
    """app_pages/whatif.py's computation on the trial's own plan with two extra sites: the forecasts and the figure."""
    from dashboard import metrics, whatif

    trial = programme.trials[code]
    plan = whatif.default_scenario(programme, trial, today)
    extra = (today + dt.timedelta(days=91), today + dt.timedelta(days=182))
    scenario = whatif.Scenario(plan.target, plan.planned_end, plan.certainty, 0.8, extra)
    whatif.figure(code, trial, whatif.what_if(trial, metrics.accrual_of(mine, today), scenario))


# Streamlit's loggers that speak when its caches are cleared outside a session ("missing ScriptRunContext",
# "No runtime found"): the bench's own doing, printed 16 times above its table.
BARE_MODE_LOGGERS = ("streamlit.runtime.scriptrunner_utils.script_run_context", "streamlit.runtime.caching.cache_data_api")


def _silent(record: logging.LogRecord) -> bool:
    return False


def _overview_apptest(db: Path, config: Path | None, runs: int) -> float:
    """A cold run of the overview page (streamlit_app.py, caches cleared) in Streamlit's AppTest."""
    import streamlit as st  # only the benchmark drives the app; dashboard/ never imports Streamlit otherwise
    from streamlit.testing.v1 import AppTest

    for name in BARE_MODE_LOGGERS:  # clearing the caches outside a session: notices, not findings of the bench
        if _silent not in logging.getLogger(name).filters:
            logging.getLogger(name).addFilter(_silent)
    os.environ.update({"PUMP_DB": str(db), "PUMP_DEMO": "0"})
    if config:
        os.environ["PUMP_CONFIG"] = str(config)

    def run():
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=600)
        at.session_state["role"] = "director"
        at.run()
        if at.exception:
            raise RuntimeError(at.exception[0].message)

    try:
        return _median_seconds(runs, run)
    finally:
        os.environ.pop("PUMP_CONFIG", None)


def measure(n: int, runs: int, history: int, folder: Path, apptest: bool = True, server: str | None = None) -> dict:
    """Every figure at scale n: on a DuckDB file, or with `server` (a PostgreSQL address) on a copy of it in a
    schema of its own there, dropped afterwards."""
    from dashboard import clock
    from dashboard.demo import load_demo

    today = clock.today()
    db = folder / f"scale-{n}.duckdb"
    config_path = None
    started = time.perf_counter()
    if n == 1:
        programme = load_programme()
        extracts = load_demo(Store(db, create=True), programme)
    else:
        config_path = folder / f"scale-{n}.yaml"
        config_path.write_text(yaml.safe_dump(scaled_config(n), sort_keys=False), encoding="utf-8")
        programme = load_programme(config_path)
        extracts = load_scaled(Store(db, create=True), programme, history, today)
    load_s = round(time.perf_counter() - started, 1)
    if server is None:
        return _figures(n, lambda: Store(db, idle_release=service.DASHBOARD_IDLE_RELEASE_SECONDS), db, programme, config_path,
                        extracts, load_s, runs, today, apptest)
    from dashboard.store.copy import copy_store

    with scratch_schema(server, f"pump_bench_{n}_{os.getpid()}") as address:
        copy_store(Store(db), Store(address, create=True), "bench")
        return _figures(n, lambda: Store(address), address, programme, config_path, extracts, load_s, runs, today, apptest)


def _figures(n: int, open_store: Callable[[], Store], db: Path | str, programme: Programme, config_path: Path | None, extracts: int,
             load_s: float, runs: int, today: dt.date, apptest: bool) -> dict:
    # The store opened as the dashboard opens it (a DuckDB file kept open between uses, a server's pool):
    # the figures are a page's, not a command's.
    store = open_store()
    figures = {
        "scale": n,
        "trials": len(programme.trials),
        "trial_sites": sum(len(t.sites) for t in programme.trials.values()),
        "participants": len(store.current_participants()),
        "extracts": extracts,
        "load_s": load_s,
        **_page_figures(store, open_store, programme, today, runs),
    }
    if apptest:
        figures["overview_apptest_s"] = round(_overview_apptest(db, config_path, runs), 2)
    figures["peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return figures


def run(scales: list[int], runs: int = 3, history: int = 3, ingest: bool = True, apptest: bool = True, server: str | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results = {"runs": runs, "history": history, "engine": "PostgreSQL" if server else "DuckDB",
                   "scales": [measure(n, runs, history, folder, apptest, server) for n in scales]}
        if ingest:
            results.update(_ingest_ratio(folder, runs))
    first, last = results["scales"][0], results["scales"][-1]
    results["growth"] = {k: round(last[k] / first[k], 1) for k in TARGETS_MS if first[k]}
    results["targets_met"] = {k: last[k] <= limit for k, limit in TARGETS_MS.items()}
    results["targets_met"].update({k: last.get(k) is not None and last[k] <= limit for k, limit in PAGE_TARGETS_MS.items()})
    if "overview_apptest_s" in last:
        results["targets_met"]["overview_apptest_s"] = last["overview_apptest_s"] <= 1.5
    if "ingest_vs_read_csv" in results:
        results["targets_met"]["ingest_vs_read_csv"] = results["ingest_vs_read_csv"] <= 3
    results["targets_met"]["peak_memory_mb"] = last["peak_memory_mb"] < 1024
    return results


def report(results: dict) -> str:
    """The figures as a table, one column per scale, and the targets at the largest."""
    rows = [("trials", "trials"), ("trial-site pairs", "trial_sites"), ("participants", "participants"), ("extracts", "extracts"),
            ("load through ingest (s)", "load_s"), ("snapshot read, after one new extract (ms)", "snapshot_ms"),
            ("snapshot read, cold: every row read (ms)", "snapshot_cold_ms"),
            ("programme summary, after one new extract (ms)", "summary_ms"),
            ("programme summary, cold: every row read (ms)", "summary_cold_ms"),
            ("overview page data (ms)", "overview_data_ms"), ("trial page data (ms)", "trial_data_ms"),
            ("trial page data, cold (ms)", "trial_data_cold_ms"),
            ("sites page data (ms)", "sites_data_ms"), ("overview page with figures (ms)", "overview_page_ms"),
            ("trial page with figures (ms)", "trial_page_ms"), ("sites page with figures (ms)", "sites_page_ms"),
            ("what-if page with figure (ms)", "whatif_page_ms"), ("overview page, AppTest cold (s)", "overview_apptest_s"),
            ("peak memory (MB)", "peak_memory_mb")]
    scales = results["scales"]
    lines = [f"store: {results.get('engine', 'DuckDB')}", f"{'N':<46}" + "".join(f"{s['scale']:>12}" for s in scales)]
    for label, key in rows:
        if key in scales[0]:
            lines.append(f"{label:<46}" + "".join(f"{'crashed' if s.get(key) is None else s[key]:>12}" for s in scales))
    if "ingest_vs_read_csv" in results:
        lines.append(f"100,000-row Castor ingest {results['ingest_100k_s']} s, DuckDB read_csv {results['read_csv_100k_s']} s: "
                     f"{results['ingest_vs_read_csv']}x")
    lines.append("growth from the first to the last scale: " + ", ".join(f"{k} x{v}" for k, v in results["growth"].items()))
    for s in scales:
        for page, error in s.get("page_errors", {}).items():
            lines.append(f"N = {s['scale']}: the {page} page crashed: {error}")
    lines.append("targets at the last scale: " + ", ".join(f"{k} {'met' if ok else 'NOT met'}" for k, ok in results["targets_met"].items()))
    lines.append(f"(median of {results['runs']} runs; {results['history']} extracts per trial and site at N >= 2)")
    return "\n".join(lines)
