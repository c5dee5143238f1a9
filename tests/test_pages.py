"""The pages through Streamlit's AppTest: what a director sees, on demo data and on a
database where a trial has no extract yet. Every number on screen is checked against
`summary --json`'s computation (service.programme_summary)."""

import base64
import datetime as dt
import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import streamlit as st
import yaml
from streamlit.testing.v1 import AppTest

from dashboard import consort, demo, metrics, service
from dashboard.config import load_programme
from dashboard.demo import load_latest
from dashboard.ingest import check_file, commit
from dashboard.overview import BIG_CHARTS_AT_MOST, big_chart_trials
from dashboard.rounding import whole_site_figures
from dashboard.store import Store
from dashboard.textnorm import plain
from support import TODAY, template_csv

APP = "../streamlit_app.py"
PAST = dt.date(2025, 6, 30)


def run_app(monkeypatch, db, role="director", demo="1", query=None, page=None) -> AppTest:
    monkeypatch.setenv("PUMP_DB", str(db))
    monkeypatch.setenv("PUMP_DEMO", demo)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["role"] = role
    at.query_params.update(query or {})
    at.run()
    if page:
        at.switch_page(f"app_pages/{page}.py").run()
    return at


@pytest.fixture
def demo_copy(demo_db, tmp_path):
    copy = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, copy)
    return copy


@pytest.fixture
def one_extract(tmp_path, programme):
    """PUMP has one extract, from EMC; PUMP-2 and PUMP-IT have none."""
    store = Store(tmp_path / "one.duckdb", create=True)
    checked = check_file(store, programme, template_csv("P-1,EMC,,2024-03-05,haip"), "pump.csv", "PUMP", today=TODAY)
    commit(store, checked, "coordinator")
    return store.path


def summary_of(db, programme, as_of=None) -> dict:
    return {t["trial"]: t for t in service.programme_summary(Store(db), programme, as_of or service.today())["trials"]}


def markdown(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def chart_titles(at) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]


def trial_pills(at):
    [pills] = [w for w in at.get("button_group") if w.key == "view.trials_input"]
    return pills


def month(iso: str) -> str:
    return f"{dt.date.fromisoformat(iso):%b %Y}"


# ---- overview ----------------------------------------------------------------------------------------


def test_overview_on_demo_data_shows_each_trial_as_summary_says(monkeypatch, demo_copy, programme):
    at = run_app(monkeypatch, demo_copy)
    assert not at.exception
    assert "Demo data" in at.warning[0].value
    trials = summary_of(demo_copy, programme)
    assert [m.value for m in at.metric] == [f"{t['enrolled']} / {t['target']}" for t in trials.values()]
    text = markdown(at)
    for t in trials.values():
        f = t["forecast"]
        assert f"### {t['trial']}" in text
        assert f"**Finish** {month(f['median'])} (90%: {month(f['p05'])} – {month(f['p95'])})" in text
        assert f"**Chance by {month(t['planned_end_on'])}** {f['p_on_time']:.0%}" in text
        assert f"**needed** {t['rate_needed']:.1f}/month" in text
    # The demo's story: PUMP off track, NKI the slowest site of PUMP, PUMP-IT's EMC data stale.
    assert ":red-badge[Off track]" in text and "**Slowest site** NKI" in text
    assert ":material/warning: **EMC** data stale: last extract 47 days ago" in text
    assert "Data as of Saturday 21 November 2026" in text
    assert any("Live · checked" in c.value for c in at.caption)
    # The legend says which model and basis the statuses come from (the demo's trials have two sites: a rate per site).
    legend = next(c.value for c in at.caption if "**Status**" in c.value)
    assert "Forecast model: a rate per site" in legend and legend.count("at the pace of the last 6 months") == 1


def test_overview_freshness_flags_the_stale_site_and_keeps_it(monkeypatch, demo_copy):
    at = run_app(monkeypatch, demo_copy)
    table = at.dataframe[0].value
    assert len(table) == 6  # three trials, two sites each
    stale = table[table["Data"] == "stale"]
    assert stale[["Trial", "Site", "Days since extract"]].values.tolist() == [["PUMP-IT", "EMC", 47]]


def test_overview_of_a_trial_without_extracts_says_so(monkeypatch, one_extract):
    at = run_app(monkeypatch, one_extract, demo="0")
    assert not at.exception
    assert not at.warning  # real data: no demo notice
    assert at.metric[0].value == "1 / 230"
    assert [i.value for i in at.info] == ["No extract received yet for this trial."] * 2
    assert ":gray-badge[No forecast]" in markdown(at)


def test_overview_follows_the_trial_and_date_in_the_url(monkeypatch, demo_copy, programme):
    at = run_app(monkeypatch, demo_copy, query={"trial": ["PUMP-2"], "as_of": PAST.isoformat()})
    assert not at.exception
    past = summary_of(demo_copy, programme, PAST)["PUMP-2"]
    assert [m.value for m in at.metric] == [f"{past['enrolled']} / {past['target']}"]
    assert "Data as of Monday 30 June 2025" in markdown(at)
    assert set(at.dataframe[0].value["Trial"]) == {"PUMP-2"}
    assert chart_titles(at) and all(t.startswith("PUMP-2") for t in chart_titles(at))
    assert at.date_input[0].value == PAST and trial_pills(at).value == ["PUMP-2"]


def test_a_bad_date_in_the_url_falls_back_to_today(monkeypatch, demo_copy):
    at = run_app(monkeypatch, demo_copy, query={"as_of": "31-02-2025", "trial": ["nonsense"]})
    assert not at.exception
    assert "Data as of Saturday 21 November 2026" in markdown(at)
    assert len(at.metric) == 3 and "as_of" not in at.query_params and "trial" not in at.query_params


def test_choosing_a_date_and_trials_puts_them_in_the_url(monkeypatch, demo_copy, programme):
    at = run_app(monkeypatch, demo_copy)
    at.date_input[0].set_value(PAST).run()
    trial_pills(at).set_value(["PUMP", "PUMP-IT"]).run()
    assert at.query_params["as_of"] == PAST.isoformat()
    assert at.query_params["trial"] == ["PUMP", "PUMP-IT"]
    past = summary_of(demo_copy, programme, PAST)
    assert [m.value for m in at.metric] == [f"{past[c]['enrolled']} / {past[c]['target']}" for c in ("PUMP", "PUMP-IT")]
    at.button[0].click().run()  # back to today (live)
    assert "as_of" not in at.query_params
    assert "Data as of Saturday 21 November 2026" in markdown(at)


def test_the_view_survives_a_page_switch(monkeypatch, demo_copy):
    at = run_app(monkeypatch, demo_copy, query={"as_of": PAST.isoformat(), "trial": ["PUMP-2"]})
    at.query_params.clear()  # the menu drops the query string when it switches pages
    at.switch_page("app_pages/sites.py").run()
    assert not at.exception
    assert "Data as of Monday 30 June 2025" in markdown(at)
    assert at.query_params["as_of"] == PAST.isoformat() and at.query_params["trial"] == "PUMP-2"
    assert set(at.dataframe[0].value["Trial"]) == {"PUMP-2"}


# ---- trial status ------------------------------------------------------------------------------------


def test_trial_page_on_demo_data(monkeypatch, demo_copy, programme):
    at = run_app(monkeypatch, demo_copy, page="trial")
    assert not at.exception
    s = summary_of(demo_copy, programme)["PUMP"]
    values = {m.label: m.value for m in at.metric}
    assert values["Enrolled / target"] == f"{s['enrolled']} / {s['target']}"
    deltas = {m.label: m.proto.delta for m in at.metric}
    # The pace of the same recent months the headline forecast weighs, against the pace needed.
    assert values[f"Pace, last {s['recent_months']} months"] == f"{s['rate_recent']:.1f}/month"
    assert deltas[f"Pace, last {s['recent_months']} months"] == f"{s['rate_needed']:.1f}/month needed"
    assert values["Forecast finish (90%)"] == month(s["forecast"]["median"])
    assert deltas["Forecast finish (90%)"] == f"{month(s['forecast']['p05'])} – {month(s['forecast']['p95'])}"
    end = month(s["planned_end_on"])
    assert values[f"Chance by {end}"] == f"{s['forecast']['p_on_time']:.0%}"
    # The number enrolled by the planned end, with its 90% interval, as summary --json says.
    assert values[f"Enrolled by {end}"] == str(s["enrolled_by_end_median"])
    assert deltas[f"Enrolled by {end}"] == f"{s['enrolled_by_end_p05']} – {s['enrolled_by_end_p95']}"
    # Per site: its target, expected by now and forecast by the planned end.
    sites = at.dataframe[0].value
    # Whole site targets that add up to the trial's (largest remainder), as on the sites page.
    assert sites["Site target"].tolist() == [whole_site_figures(s)[x["site"]][0] for x in s["sites"]]
    assert sites["Site target"].sum() == s["target"]
    assert sites[f"By {end}"].tolist() == [
        f"{x['enrolled_by_end_median']} ({x['enrolled_by_end_p05']}–{x['enrolled_by_end_p95']})" for x in s["sites"]
    ]
    titles = chart_titles(at)
    # Accrual with forecast, monthly by site, funnel, screen-fail reasons, arms (PUMP is randomised), statuses.
    assert len(titles) == 6
    assert titles[0].replace("<br>", " ").startswith(f"{s['enrolled']} of {s['target']}, {-s['ahead_of_plan']} behind plan")
    assert f"{s['rate_needed']:.1f} needed" in titles[1]
    assert any(t.startswith("Arms: EMC") for t in titles)
    assert values["Pump placed"] and values["Converted"] == "0"
    # The page says which model gives its status and finish, as summary --json does.
    assert s["forecast_model"] == "multi-centre" and any(s["forecast_model_text"] in c.value for c in at.caption)


def test_trial_page_draws_the_consort_flow_with_the_counts_of_summary(monkeypatch, demo_copy, programme):
    at = run_app(monkeypatch, demo_copy, page="trial")
    assert not at.exception
    s = summary_of(demo_copy, programme)["PUMP"]
    url = at.get("image")[0].proto.imgs[0].url
    drawn = base64.b64decode(url.split(",", 1)[1]).decode("utf-8")
    assert f"Screened: {s['screened']}" in drawn and f"Enrolled and randomised: {s['enrolled']}" in drawn
    # The screening chart's title says what each number counts, and they add up to the screened.
    flow = consort.flow("PUMP", programme.trials["PUMP"], service.trial_rows(Store(demo_copy), service.today(), "PUMP"), service.today())
    c = flow["counts"]
    assert c["screened"] == c["enrolled"] + c["not_eligible"] + c["declined"] + c["pending"]
    funnel = next(t for t in chart_titles(at) if " screened" in t).replace("<br>", " ")
    assert funnel == f"{c['screened']} screened · {c['enrolled']} enrolled · {c['not_eligible'] + c['declined']} not eligible or declined · {c['pending']} pending"


def test_trial_page_shows_the_trial_chosen_in_the_url(monkeypatch, demo_copy, programme):
    at = run_app(monkeypatch, demo_copy, query={"show": "PUMP-2"}, page="trial")
    assert not at.exception
    s = summary_of(demo_copy, programme)["PUMP-2"]
    assert at.metric[0].value == f"{s['enrolled']} / {s['target']}"
    assert any(m.value.startswith("### PUMP-2") for m in at.markdown)
    assert not any(t.startswith("Arms") for t in chart_titles(at))  # single arm: no arm balance
    milestones = {m.label: m.value for m in at.metric}
    assert int(milestones["Converted"]) > 0  # PUMP-2's demo patients include conversions


def test_trial_page_of_a_trial_without_extracts(monkeypatch, one_extract):
    at = run_app(monkeypatch, one_extract, demo="0", query={"trial": ["PUMP-2"]}, page="trial")
    assert not at.exception
    assert at.metric[0].value == "0 / 50"
    assert [i.value for i in at.info] == ["No extract received yet for PUMP-2: its charts appear once a coordinator uploads one."]
    assert not at.get("plotly_chart")


# ---- site comparison ---------------------------------------------------------------------------------


def test_sites_page_on_demo_data_agrees_with_summary(monkeypatch, demo_copy, programme):
    at = run_app(monkeypatch, demo_copy, page="sites")
    assert not at.exception
    table, details = at.dataframe[0].value, at.dataframe[1].value
    trials = summary_of(demo_copy, programme)
    every = [s for t in trials.values() for s in t["sites"]]
    # The main table fits a laptop: nine columns with human names; the rest in the detail table.
    assert list(table.columns) == ["Trial", "Site", "Enrolled", "Target", "Expected now", "Rate", "6 months", "Last enrolment", "Data"]
    expected = [[t["trial"], s["site"], s["enrolled"], s["rate_per_month"], s["days_since_last_enrolment"]] for t in trials.values() for s in t["sites"]]
    assert table[["Trial", "Site", "Enrolled", "Rate", "Last enrolment"]].values.tolist() == expected
    assert details["Months open"].tolist() == [s["months_open"] for s in every]
    # Stale is said in one column, only where it is so.
    assert table.loc[table["Data"] == "⚠ stale", ["Trial", "Site"]].values.tolist() == [["PUMP-IT", "EMC"]]
    assert set(table["Data"]) == {"fresh", "⚠ stale"}
    # Per site: its target and expected-by-now (its planned share) and its forecast by the planned end.
    # ... in whole numbers that add up to the trial's target and its expected-by-now (whence its "vs plan").
    for code, t in trials.items():
        mine = table[table["Trial"] == code]
        assert mine["Target"].sum() == t["target"] and mine["Expected now"].sum() == round(t["expected_by_now"])
        assert all(abs(a - s["target"]) < 1 for a, s in zip(mine["Target"], t["sites"], strict=True))
    assert details["By end"].tolist() == [f"{s['enrolled_by_end_median']} ({s['enrolled_by_end_p05']}–{s['enrolled_by_end_p95']})" for s in every]
    titles = chart_titles(at)
    assert titles[0] == "Slowest site: NKI in PUMP, PUMP-2; EMC in PUMP-IT"
    assert titles[1:] == ["PUMP: EMC fastest", "PUMP-2: EMC fastest", "PUMP-IT: NKI fastest"]
    assert any("Forecast model: a rate per site" in c.value for c in at.caption)


def test_sites_page_lists_sites_with_nobody(monkeypatch, one_extract):
    at = run_app(monkeypatch, one_extract, demo="0", query={"trial": ["PUMP"]}, page="sites")
    assert not at.exception
    table, details = at.dataframe[0].value, at.dataframe[1].value
    # EMC's extract came in today; NKI has sent none: listed with nobody, flagged stale.
    assert table[["Site", "Enrolled", "Data"]].values.tolist() == [["EMC", 1, "fresh"], ["NKI", 0, "⚠ stale"]]
    assert details["Last extract"].tolist() == [f"{service.today():%d %b %Y}", "none"]
    assert table.loc[1, "Rate"] == 0.0  # NKI is open for PUMP since Nov 2019: nobody yet is a rate of 0


def test_a_database_that_is_not_one_is_a_sentence_on_the_page_not_a_crash(monkeypatch, tmp_path):
    path = tmp_path / "foreign.duckdb"
    path.write_bytes(b"not a database\n" * 100)
    at = run_app(monkeypatch, path, demo="0")
    assert not at.exception
    assert at.error[0].value.startswith(f"**The dashboard cannot use its database.** {plain(str(path))} is not a dashboard database")



def test_a_database_held_by_another_program_beyond_the_wait_is_a_sentence_on_the_page(monkeypatch, one_extract):
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(one_extract)!r}); print('open', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        monkeypatch.setenv("PUMP_LOCK_WAIT", "1")
        at = run_app(monkeypatch, one_extract, demo="0")
    finally:
        holder.kill()
        holder.wait()
    assert not at.exception
    assert at.error[0].value.startswith(
        "**The dashboard cannot use its database.** " + plain(f"the database {one_extract} is in use by another program (process")
    )
    assert plain("for more than 1 s; nothing was changed. Try again in a minute") in at.error[0].value

# ---- one story, and the as-of date everywhere ------------------------------------------------------------


def test_overview_says_why_when_the_signals_differ(monkeypatch, demo_copy, programme):
    at = run_app(monkeypatch, demo_copy)
    captions = [c.value for c in at.caption]
    trials = summary_of(demo_copy, programme)
    # The demo's PUMP-IT: on the planned curve, red at the recent pace, amber since opening: one line says why.
    why = metrics.story(trials["PUMP-IT"])
    assert why and why in captions and "The status follows the recent pace." in why
    # The legend names the status's basis.
    assert any("at the pace of the last 6 months" in c and "On track" in c for c in captions)
    # The pace shown is the one the forecast weighs; red only when below the pace needed as both are shown:
    # PUMP-IT's 0.50 beside the 0.54 needed both read 0.5, so it is not red.
    it = trials["PUMP-IT"]
    assert f"{it['rate_recent']:.1f}" == f"{it['rate_needed']:.1f}" and it["rate_recent"] < it["rate_needed"]
    assert f"**Pace** :green[{it['rate_recent']:.1f}/month] (6 months) · **needed** {it['rate_needed']:.1f}/month" in markdown(at)


def test_a_past_view_never_says_live(monkeypatch, demo_copy):
    for page in (None, "trial", "sites", "extracts"):
        at = run_app(monkeypatch, demo_copy, query={"as_of": PAST.isoformat()}, page=page)
        assert not at.exception
        assert not any("Live" in c.value for c in at.caption), page
        text = markdown(at)
        assert "a past view: not live" in text, page
    assert any("Past view" in c.value for c in run_app(monkeypatch, demo_copy, query={"as_of": PAST.isoformat()}).caption)


def test_extract_history_shows_what_was_known_at_the_as_of_date(monkeypatch, demo_copy):
    at = run_app(monkeypatch, demo_copy, query={"as_of": PAST.isoformat()}, page="extracts")
    assert not at.exception
    table = at.dataframe[0].value
    then = Store(demo_copy).extracts(as_of=service.end_of(PAST))
    assert len(table) == len(then) < len(Store(demo_copy).extracts())
    assert (table["uploaded_at"] <= service.end_of(PAST)).all()
    # One current extract per trial and site then (PUMP-IT's EMC had opened by then too).
    assert (table["status"] == "current").sum() == 6
    assert f"What was known on {PAST:%A %d %B %Y}" in markdown(at)
    assert not [b for b in at.button if "Retract" in b.label]  # retraction happens in today's view
    live = run_app(monkeypatch, demo_copy, page="extracts")
    assert len(live.dataframe[0].value) == len(Store(demo_copy).extracts())
    assert "Every extract" in markdown(live)


# ---- a national programme: many trials ----------------------------------------------------------------

MANY = 14  # more than OVERVIEW_TILES_UP_TO: the overview is a table


@pytest.fixture(scope="session")
def many(tmp_path_factory, programme):
    """A generated programme of MANY trials at six sites (the three trials and copies of them, through the
    configuration model), written to a YAML file for $PUMP_CONFIG, with one recent extract per trial and site."""
    folder = tmp_path_factory.mktemp("many")
    config = folder / "programme.yaml"
    config.write_text(yaml.safe_dump(demo.many_trials(programme, MANY, sites=6).model_dump(mode="json", exclude={"source_sha256"})))
    generated = load_programme(config)
    load_latest(Store(folder / "many.duckdb", create=True), generated)
    return config, folder / "many.duckdb", generated


def run_many(monkeypatch, many, tmp_path, **kwargs) -> AppTest:
    config, db, _ = many
    monkeypatch.setenv("PUMP_CONFIG", str(config))
    copy = tmp_path / "many.duckdb"
    shutil.copy(db, copy)
    return run_app(monkeypatch, copy, **kwargs)


def test_overview_of_many_trials_is_one_table_with_the_numbers_of_summary(monkeypatch, many, tmp_path):
    _, db, generated = many
    at = run_many(monkeypatch, many, tmp_path)
    assert not at.exception
    assert not at.metric  # no tiles
    table = at.dataframe[0].value
    summary = {t["trial"]: t for t in service.programme_summary(Store(db), generated, service.today())["trials"]}
    assert sorted(table["Trial"]) == sorted(generated.trials) and len(table) == MANY
    rows = table.set_index("Trial")
    for code, s in summary.items():
        row, f = rows.loc[code], s["forecast"]
        assert row["Enrolled / target"] == f"{s['enrolled']} / {s['target']}"
        assert row["% of target"] == s["percent_of_target"]
        assert row["Status"] == {"red": "Off track", "amber": "At risk", "green": "On track"}[s["status"]]
        assert row["Chance on time"] == round(100 * f["p_on_time"])
        assert row["Finish"] == pd.Timestamp(f["median"])
        assert row["Slowest site"] == (s["slowest_site"] or "")
        assert row["Stale sites"] == ", ".join(s["stale_sites"])
        assert row["Accrual"][-1] == s["enrolled"]  # the inline curve ends at the number enrolled
    assert table["Chance on time"].tolist()[:3] == sorted(table["Chance on time"])[:3]  # worst first
    # Big charts only for the off-track or at-risk trials, worst first, at most six, and a caption saying so.
    codes, why = big_chart_trials(list(summary.values()), chosen=False)
    assert 0 < len(codes) <= BIG_CHARTS_AT_MOST < MANY
    assert [t.split(":")[0] for t in chart_titles(at)] == codes
    assert all(summary[c]["status"] in ("red", "amber") for c in codes)
    assert any(c.value.startswith(why) for c in at.caption)
    # Freshness keeps every trial and site; the stale ones are flagged.
    freshness = at.dataframe[1].value
    assert len(freshness) == 2 * MANY and (freshness["Data"] == "stale").sum() == sum(len(s["stale_sites"]) for s in summary.values())


def test_overview_of_many_trials_charts_the_trials_chosen(monkeypatch, many, tmp_path):
    chosen = ["PUMP", "PUMP-2-04", "PUMP-IT-05", "PUMP-06", "PUMP-2-07", "PUMP-IT-08", "PUMP-09"]  # seven: still a table
    at = run_many(monkeypatch, many, tmp_path, query={"trial": chosen})
    assert not at.exception and not at.metric
    assert sorted(at.dataframe[0].value["Trial"]) == sorted(chosen)
    assert {t.split(":")[0] for t in chart_titles(at)} <= set(chosen)
    # A few chosen in the sidebar's box (this many trials would be a wall of buttons): their tiles and
    # charts, as with the three trials.
    at = run_many(monkeypatch, many, tmp_path)
    assert not [w for w in at.get("button_group") if w.key == "view.trials_input"]
    [box] = [w for w in at.multiselect if w.key == "view.trials_input"]
    assert box.placeholder == "Every trial" and len(box.options) == MANY
    box.set_value(["PUMP-2-04", "PUMP-IT-05"]).run()
    assert not at.exception
    assert at.query_params["trial"] == ["PUMP-2-04", "PUMP-IT-05"]  # the link holds the choice
    assert len(at.metric) == 2
    assert [t.split(":")[0] for t in chart_titles(at)] == ["PUMP-2-04", "PUMP-IT-05"]


def test_trial_page_of_many_trials_computes_its_trial_alone(monkeypatch, many, tmp_path):
    _, db, generated = many
    asked = []
    whole = metrics.programme_summary

    def counting(programme, participants, last_extract, as_of, trials=None):
        asked.append(trials)
        return whole(programme, participants, last_extract, as_of, trials)

    monkeypatch.setattr(metrics, "programme_summary", counting)
    at = run_many(monkeypatch, many, tmp_path, query={"show": "PUMP-2-07"})  # the overview: every trial
    asked.clear()
    at.switch_page("app_pages/trial.py").run()
    assert not at.exception
    assert asked == [[]]  # the programme's header only, no trial in it
    participants, last_extract = service.snapshot(Store(db), service.today())
    s = metrics.trial_summary(generated, "PUMP-2-07", participants, service.today(), last_extract.get("PUMP-2-07", {}))
    values = {m.label: m.value for m in at.metric}
    assert values["Enrolled / target"] == f"{s['enrolled']} / {s['target']}"
    assert values["Forecast finish (90%)"] == month(s["forecast"]["median"])
    assert any(m.value.startswith("### PUMP-2-07") for m in at.markdown)
    assert len(chart_titles(at)) >= 4


# ---- a national programme at full scale: 150 trials ----------------------------------------------------


@pytest.fixture(scope="session")
def national(tmp_path_factory, programme):
    """150 trials (the three and copies of them) at 20 sites, one recent extract per trial and site."""
    folder = tmp_path_factory.mktemp("national")
    config = folder / "programme.yaml"
    config.write_text(yaml.safe_dump(demo.many_trials(programme, 150, sites=20).model_dump(mode="json", exclude={"source_sha256"})))
    generated = load_programme(config)
    load_latest(Store(folder / "national.duckdb", create=True), generated)
    return config, folder / "national.duckdb", generated


def test_sites_page_of_150_trials_charts_the_worrying_ones_only(monkeypatch, national, tmp_path):
    _, db, generated = national
    at = run_many(monkeypatch, national, tmp_path, page="sites")
    assert not at.exception  # the slowest-site title of 150 trials once made Plotly refuse the chart
    summary = [t for t in service.programme_summary(Store(db), generated, service.today())["trials"]]
    assert len(at.dataframe[0].value) == sum(len(t["sites"]) for t in summary)  # every trial and site in the table
    codes, why = big_chart_trials(summary, chosen=False)
    titles = chart_titles(at)
    assert 0 < len(codes) <= BIG_CHARTS_AT_MOST
    assert [t.split(":")[0] for t in titles[1:]] == codes  # aligned curves of the worrying trials only
    assert all(len(t.split("<br>")) <= 3 for t in titles)
    assert any(c.value == why for c in at.caption)
