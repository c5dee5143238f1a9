"""The what-if page and the trial page's multi-centre forecast through AppTest, on the demo data: the numbers on
screen are dashboard.whatif's for the same trial and scenario, and the scenario lives in the address."""

import datetime as dt
import shutil

import pytest
import yaml
from test_pages import chart_titles, run_app

from dashboard import metrics, service, whatif
from dashboard.config import load_programme
from dashboard.store import Store

AS_OF = service.today()


@pytest.fixture
def demo_copy(demo_db, tmp_path):
    copy = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, copy)
    return copy


def expected(db, programme, code, scenario):
    rows = service.trial_rows(Store(db), AS_OF, code)
    return whatif.what_if(programme.trials[code], metrics.accrual_of(rows, AS_OF), scenario)


def test_the_what_if_page_redraws_the_forecast_for_the_scenario_in_the_address(monkeypatch, demo_copy, programme):
    query = {"show": "PUMP-2", "target": "70", "end": "2028-12-31", "extra": "2", "open1": "2027-03-01", "open2": "2027-09-01"}
    at = run_app(monkeypatch, demo_copy, query=query, page="whatif")
    assert not at.exception
    scenario = whatif.Scenario(70, dt.date(2028, 12, 31), programme.forecast_prior_certainty, 0.8, (dt.date(2027, 3, 1), dt.date(2027, 9, 1)))
    want = expected(demo_copy, programme, "PUMP-2", scenario)
    values = {m.label: m.value for m in at.metric}
    deltas = {m.label: m.proto.delta for m in at.metric}
    assert values["Chance, sites now"] == f"{want.now.p_on_time:.0%}"
    assert values["Chance, with extras"] == f"{want.extra.p_on_time:.0%}"
    assert deltas["Chance, with extras"].startswith(f"{want.extra.enrolled_by_end_median} by Dec 2028")
    assert want.extra.p_on_time > want.now.p_on_time  # two more sites help
    assert values["Centres needed"] == str(want.centres_needed) and deltas["Centres needed"] == "opening Mar 2027, for 80%"
    assert any(m.value == "### PUMP-2 with EMC, NKI and 2 extra sites" for m in at.markdown)
    [title] = chart_titles(at)
    assert title.replace("<br>", " ").startswith("PUMP-2 with EMC, NKI and 2 extra sites: 70 by")
    # The status elsewhere: the trial's declared model and basis, in words.
    assert any("The status on the other pages: Status and finish from a rate per site" in c.value for c in at.caption)
    # The scenario stays in the address: copied, it opens the same view.
    assert at.query_params["target"] == "70" and at.query_params["open2"] == "2027-09-01"


def test_the_what_if_page_opens_on_the_trials_own_plan(monkeypatch, demo_copy, programme):
    at = run_app(monkeypatch, demo_copy, query={"show": "PUMP"}, page="whatif", role="viewer")
    assert not at.exception
    trial = programme.trials["PUMP"]
    assert at.number_input(key="target").value == trial.target_on(AS_OF)
    want = expected(demo_copy, programme, "PUMP", whatif.default_scenario(programme, trial, AS_OF))
    values = {m.label: m.value for m in at.metric}
    assert values["Chance, sites now"] == f"{want.now.p_on_time:.0%}"
    assert values["Centres needed"] == str(want.centres_needed) and want.centres_needed >= 1  # PUMP is far behind


def test_the_trial_page_shows_the_sites_and_the_centres_needed(monkeypatch, demo_copy, programme):
    at = run_app(monkeypatch, demo_copy, page="trial")
    assert not at.exception
    trial = programme.trials["PUMP"]
    want = expected(demo_copy, programme, "PUMP", whatif.default_scenario(programme, trial, AS_OF))
    values = {m.label: m.value for m in at.metric}
    assert values["Centres needed"] == str(want.centres_needed)
    end = f"{trial.planned_end_on(AS_OF):%b %Y}"
    assert values[f"Sites there now: by {end}"] == str(want.now.enrolled_by_end_median)
    assert any("with EMC and NKI" in m.value for m in at.markdown)


def test_the_trial_page_forecasts_with_and_without_the_planned_sites(monkeypatch, demo_copy, programme, tmp_path):
    # PUMP negotiates two more centres, opening in spring and autumn 2027 (the shares re-planned over four).
    data = programme.model_dump(mode="json", exclude={"source_sha256"})
    data["sites"].update({"UMCU": {"name": "UMC Utrecht"}, "AMC": {"name": "Amsterdam UMC"}})
    pump = data["trials"]["PUMP"]["sites"]
    pump["EMC"]["share"] = pump["NKI"]["share"] = 0.35
    pump["UMCU"] = {"planned_activation": "2027-03-01", "share": 0.15}
    pump["AMC"] = {"planned_activation": "2027-09-01", "share": 0.15}
    config = tmp_path / "programme.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    monkeypatch.setenv("PUMP_CONFIG", str(config))
    planned = load_programme(config)
    at = run_app(monkeypatch, demo_copy, page="trial")
    assert not at.exception
    assert any(m.value == "#### PUMP with EMC, NKI and 2 planned sites" for m in at.markdown)
    want = expected(demo_copy, planned, "PUMP", whatif.default_scenario(planned, planned.trials["PUMP"], AS_OF))
    values = {m.label: m.value for m in at.metric}
    assert values["Sites there now: by Dec 2027"] == str(want.now.enrolled_by_end_median)
    assert values["With planned sites: by Dec 2027"] == str(want.planned.enrolled_by_end_median)
    assert want.planned.enrolled_by_end_median > want.now.enrolled_by_end_median
    assert values["Centres needed"] == str(want.centres_needed)
