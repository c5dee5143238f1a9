"""`python -m dashboard` as a nightly job or a coordinator uses it: exit codes and JSON."""

import datetime as dt
import json
import os
import subprocess
import sys

import pandas as pd
import psycopg
import pytest
from scipy import stats

from dashboard import bench, service
from dashboard.cli import main
from dashboard.store import SCHEMA_VERSION, Store
from support import ROOT, template_csv


@pytest.fixture
def db(tmp_path):
    """A database made as the README says: `init` first (no other command creates one)."""
    path = str(tmp_path / "cli.duckdb")
    assert main(["--db", path, "init"]) == 0
    return path


def run(db, *args, capsys):
    code = main(["--db", db, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


GOOD = template_csv("P-1,EMC,,2024-03-05,haip", "P-2,NKI,,2024-03-06,control")


def test_init_and_demo_answer_in_json_for_a_deployment_script(tmp_path, capsys):
    """A hospital's install script runs `init --json` and reads the schema version; `demo --json` on a database
    holding real extracts is refused in one JSON object and loads nothing."""
    path = str(tmp_path / "fresh.duckdb")
    code, out, _ = run(path, "init", "--json", capsys=capsys)
    ready = json.loads(out)
    assert code == 0 and ready["ok"] is True and ready["schema_version"] == SCHEMA_VERSION and ready["database"] == path
    assert run(path, "ingest", write(tmp_path, "good.csv", GOOD), "--trial", "PUMP", "--by", "anna", capsys=capsys)[0] == 0
    code, out, _ = run(path, "demo", "--json", capsys=capsys)
    refused = json.loads(out)
    assert code == 1 and refused["ok"] is False and "already holds extracts" in refused["message"]
    assert len(Store(path).extracts()) == 1


def test_validate_json_of_a_good_file(tmp_path, db, capsys):
    code, out, _ = run(db, "validate", write(tmp_path, "good.csv", GOOD), "--trial", "PUMP", "--json", capsys=capsys)
    result = json.loads(out)
    assert code == 0
    assert result["ok"] is True and result["rows"] == 2 and result["participants"] == 2
    assert result["errors"] == [] and result["warnings"] == []
    assert result["first_enrolment"] == "2024-03-05" and result["last_enrolment"] == "2024-03-06"
    assert result["diff"] == {"new": 2, "changed": 0, "missing": 0, "unchanged": 0}


def test_validate_json_of_a_bad_file_lists_errors_and_exits_1(tmp_path, db, capsys):
    bad = template_csv("P-1,EMC,,31-02-2024,haip")
    code, out, _ = run(db, "validate", write(tmp_path, "bad.csv", bad), "--trial", "PUMP", "--json", capsys=capsys)
    result = json.loads(out)
    assert code == 1 and result["ok"] is False
    assert result["errors"] == [
        {
            "row": 2,
            "column": "enrolled_on",
            "code": "bad_date",
            "message": "row 2, `enrolled_on`: '31-02-2024' is not a date (write day-month-year, e.g. 27-10-2024, or 2024-10-27)",
            "value": "31-02-2024",
            "needs_confirmation": False,
        }
    ]


def test_ingest_then_duplicate_then_summary(tmp_path, db, capsys):
    path = write(tmp_path, "good.csv", GOOD)
    code, out, _ = run(db, "ingest", path, "--trial", "PUMP", "--by", "anna", "--json", capsys=capsys)
    assert code == 0 and json.loads(out)["extract_id"] == 1
    code, out, _ = run(db, "ingest", path, "--trial", "PUMP", "--by", "anna", capsys=capsys)
    assert code == 0 and "already loaded as extract #1; nothing changed" in out
    code, out, _ = run(db, "extracts", "--json", capsys=capsys)
    assert len(json.loads(out)) == 1
    code, out, _ = run(db, "summary", "--as-of", "2024-03-05", "--json", capsys=capsys)
    summary = json.loads(out)
    assert summary["as_of"] == "2024-03-05"
    pump = next(t for t in summary["trials"] if t["trial"] == "PUMP")
    # As of 5 March 2024 the extract was not yet accepted (it arrived today): nothing is counted.
    assert pump["enrolled"] == 0 and pump["sites"][0]["last_extract_on"] is None
    code, out, _ = run(db, "summary", "--json", capsys=capsys)
    pump = next(t for t in json.loads(out)["trials"] if t["trial"] == "PUMP")
    assert pump["enrolled"] == 2 and pump["target"] == 230 and pump["screened"] == 2
    assert [(s["site"], s["enrolled"]) for s in pump["sites"]] == [("EMC", 1), ("NKI", 1)]
    assert set(pump["forecast"]) == {"median", "p05", "p95", "p_on_time"}
    assert pump["forecast"]["p05"] <= pump["forecast"]["median"] <= pump["forecast"]["p95"]


def test_summary_json_forecast_counts_each_site_from_its_activation(tmp_path, db, capsys):
    run(db, "ingest", write(tmp_path, "good.csv", GOOD), "--trial", "PUMP", "--by", "anna", capsys=capsys)
    code, out, _ = run(db, "summary", "--json", capsys=capsys)
    assert code == 0
    result = json.loads(out)
    pump = next(t for t in result["trials"] if t["trial"] == "PUMP")
    today = service.today()
    # PUMP: target 230 by 31 Dec 2027 (amendment 4), opened 1 Apr 2019; EMC open since then, NKI since
    # 1 Nov 2019, half the planned rate each. Posterior a = 230*0.5 + 2, b = T*0.5 + exposure.
    opened, end = dt.date(2019, 4, 1), dt.date(2027, 12, 31)
    exposure = 0.5 * (today - opened).days + 0.5 * (today - dt.date(2019, 11, 1)).days
    a, b, left = 117.0, (end - opened).days * 0.5 + exposure, (end - today).days
    p_on_time = stats.beta.cdf(left / (b + left), 228, a) if left > 0 else 0.0
    assert pump["forecast_since_opening"]["p_on_time"] == round(p_on_time, 4)
    assert pump["status"] == pump["status_since_opening"] == "red"  # 2 of 230 after seven years
    # The headline forecast is the recent pace's (the configured basis), with the number by the planned end.
    assert pump["forecast_basis"] == "recent" and pump["forecast"] == pump["forecast_recent"]
    assert pump["enrolled_by_end_p05"] <= pump["enrolled_by_end_median"] <= pump["enrolled_by_end_p95"] < 230
    emc, nki = pump["sites"]
    assert nki["months_open"] == round((today - dt.date(2019, 11, 1)).days / 30.44, 2)
    assert nki["rate_per_month"] == round(1 / nki["months_open"], 2)
    assert (emc["stale"], emc["days_since_last_extract"]) == (False, 0)
    assert result["status_thresholds"] == {"green": 0.8, "amber": 0.5}
    # PUMP-2 and PUMP-IT have no extract: listed, with no forecast and every site stale.
    pump2 = next(t for t in result["trials"] if t["trial"] == "PUMP-2")
    assert pump2["forecast"] is None and pump2["status"] is None and pump2["stale_sites"] == ["EMC", "NKI"]


def test_summary_text_says_how_far_behind_and_flags_stale_sites(tmp_path, db, capsys):
    run(db, "ingest", write(tmp_path, "emc.csv", template_csv("P-1,EMC,,2024-03-05,haip")), "--trial", "PUMP", "--by", "anna", capsys=capsys)
    code, out, _ = run(db, "summary", capsys=capsys)
    assert code == 0
    lines = out.splitlines()
    pump = lines.index(next(line for line in lines if line.startswith("PUMP ")))
    assert "behind plan" in lines[pump + 1] and "needed" in lines[pump + 1]
    assert lines[pump + 2].strip().startswith("EMC") and "STALE" not in lines[pump + 2]
    assert lines[pump + 3].strip().startswith("NKI") and lines[pump + 3].endswith("last extract none  STALE")


def test_forecast_text_and_certainty(capsys):
    # n=10, m=9, P=1: a = 19, b = 190; one more enrolment, R = b*((1-p)^(-1/a) - 1): median
    # 190*(2^(1/19) - 1) = 7.08 days, p05 190*(0.95^(-1/19) - 1) = 0.51, p95 190*(20^(1/19) - 1) = 32.45;
    # P(R <= 10) = 1 - (190/200)^19 = 0.6226.
    code = main(["forecast", "--target", "10", "--enrolled", "9", "--elapsed-days", "90", "--planned-days", "100", "--certainty", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.strip() == (
        "target reached in 7 days (90% interval 1 to 32); probability of reaching it by the planned end: 62%; "
        "enrolled by the planned end: 10 (90% interval 9 to 12)"
    )


def test_ingest_refuses_warnings_unless_accepted(tmp_path, db, capsys):
    run(db, "ingest", write(tmp_path, "a.csv", GOOD), "--trial", "PUMP", "--by", "anna", capsys=capsys)
    fewer = write(tmp_path, "b.csv", template_csv("P-1,EMC,,2024-03-05,haip"))
    code, out, _ = run(db, "ingest", fewer, "--trial", "PUMP", "--site", "EMC", "--by", "anna", "--json", capsys=capsys)
    assert code == 0  # EMC only: NKI's P-2 is not in this snapshot's scope
    corrected = write(tmp_path, "c.csv", template_csv("P-1,EMC,,2024-03-06,haip"))
    code, out, _ = run(db, "ingest", corrected, "--trial", "PUMP", "--site", "EMC", "--by", "anna", "--json", capsys=capsys)
    result = json.loads(out)
    assert code == 1 and result["ok"] is False and "need a decision" in result["message"]
    assert [w["code"] for w in result["warnings"]] == ["changed_enrolled_on"]
    code, out, _ = run(db, "ingest", corrected, "--trial", "PUMP", "--site", "EMC", "--by", "anna", "--accept-warnings", capsys=capsys)
    assert code == 0 and "0 new, 1 changed, 0 no longer in the extract" in out


def test_a_mass_removal_is_stored_only_with_its_number_typed(tmp_path, db, capsys):
    run(db, "ingest", write(tmp_path, "a.csv", GOOD), "--trial", "PUMP", "--by", "anna", capsys=capsys)
    wrong = write(tmp_path, "c.csv", template_csv("P-9,NKI,,2024-03-07,haip"))
    before = Store(db).table_counts()
    code, out, _ = run(db, "ingest", wrong, "--trial", "PUMP", "--by", "anna", "--accept-warnings", "--json", capsys=capsys)
    # NKI's only participant would go: 1 of 1 is 20% or more, so its number must be typed.
    assert code == 1 and json.loads(out)["message"] == (
        "refused: This removes 1 of 1 NKI participants of PUMP. An extract is a full snapshot, so a filtered or wrong "
        "export removes participants. If that is right, type the number of participants it removes (1) to confirm "
        "(--confirm-removals 1 on the command line). Nothing was stored."
    )
    code, out, _ = run(db, "ingest", wrong, "--trial", "PUMP", "--by", "anna", "--accept-warnings", "--confirm-removals", "2", "--json", capsys=capsys)
    assert code == 1 and "You confirmed 2, but it removes 1" in json.loads(out)["message"]
    # Nothing stored; each refusal is one audit entry with its kind and count, no participant in it.
    assert Store(db).table_counts() == {**before, "audit_log": before["audit_log"] + 2}
    refusals = Store(db).audit_log(action="refused")
    assert [json.loads(d) for d in refusals["detail"]] == [{"action": "ingest", "reason": "mass removal", "removed": 1}] * 2
    assert "P-9" not in refusals.to_string()
    code, out, _ = run(db, "ingest", wrong, "--trial", "PUMP", "--by", "anna", "--accept-warnings", "--confirm-removals", "1", capsys=capsys)
    assert code == 0 and "1 new, 0 changed, 1 no longer in the extract" in out
    assert Store(db).current_participants("PUMP")["participant_id"].tolist() == ["P-1", "P-9"]


def test_extracts_and_retract(tmp_path, db, capsys):
    run(db, "ingest", write(tmp_path, "a.csv", GOOD), "--trial", "PUMP", "--by", "anna", capsys=capsys)
    code, out, _ = run(db, "extracts", "--json", capsys=capsys)
    [extract] = json.loads(out)
    assert code == 0 and extract["status"] == "current" and extract["uploaded_by"] == "anna" and extract["sites"] == "EMC, NKI"
    code, out, _ = run(db, "retract", "1", "--by", "director", "--reason", "test upload", capsys=capsys)
    assert code == 0 and "retracted" in out
    code, _, err = run(db, "retract", "1", "--by", "director", "--reason", "again", capsys=capsys)
    assert code == 1 and "already retracted" in err
    code, _, err = run(db, "retract", "7", "--by", "director", "--reason", "x", capsys=capsys)
    assert code == 1 and "there is no extract #7" in err


def test_forecast_json_is_the_model_on_its_own(capsys):
    code = main(["forecast", "--target", "10", "--enrolled", "9", "--elapsed-days", "90", "--planned-days", "100", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    # n=10, m=9, P=0.5: a = 14, b = 140; one more enrolment: R = 140 * x/(1-x), x = 1-(1-p)^(1/14).
    assert result["median_days"] == pytest.approx(140 * (2 ** (1 / 14) - 1), rel=1e-6)
    assert result["p_on_time"] == pytest.approx(1 - (140 / 150) ** 14, rel=1e-6)
    # By the planned end (10 days on): 9 + NegBin(14, 140/150); the target is reached with P(X >= 1).
    assert (result["enrolled_by_end_p05"], result["enrolled_by_end_median"], result["enrolled_by_end_p95"]) == (9, 10, 12)


def test_forecast_json_predicts_the_number_by_the_planned_end(capsys):
    # n = 300, T = 36 months (1096 days), P = 0.5, 100 enrolled after 10 months (304 days).
    code = main(["forecast", "--target", "300", "--enrolled", "100", "--elapsed-days", "304", "--planned-days", "1096", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (result["enrolled_by_end_median"], result["enrolled_by_end_p05"], result["enrolled_by_end_p95"]) == (332, 298, 368)


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "x.csv"],  # --trial missing
        ["summary", "--as-of", "21-11-2026"],
        ["forecast", "--target", "10", "--enrolled", "11", "--elapsed-days", "1", "--planned-days", "-5"],
        ["frobnicate"],
    ],
)
def test_bad_usage_exits_2(db, args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        code = main(["--db", db, *args])
        raise SystemExit(code)
    assert exit_info.value.code == 2


def test_python_dash_m_dashboard_runs_as_a_program(tmp_path):
    result = subprocess.run([sys.executable, "-m", "dashboard", "--db", str(tmp_path / "x.duckdb"), "init"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0 and f"schema version {SCHEMA_VERSION}" in result.stdout


def test_the_command_line_maps_a_column_and_remembers_it_like_the_page(tmp_path, db, capsys):
    header = "participant_id,site,ic_date,arm"
    week1 = write(tmp_path, "w1.csv", template_csv("P-1,EMC,05-03-2024,haip", header=header))
    code, out, _ = run(db, "validate", week1, "--trial", "PUMP", "--json", capsys=capsys)
    assert code == 1 and json.loads(out)["errors"][0]["code"] == "missing_columns"
    code, out, _ = run(db, "ingest", week1, "--trial", "PUMP", "--by", "anna", "--map", "enrolled_on=ic_date", "--json", capsys=capsys)
    assert code == 0 and json.loads(out)["last_enrolment"] == "2024-03-05"
    assert Store(db).mappings("PUMP") == {"template": {"enrolled_on": "ic_date"}}
    week2 = write(tmp_path, "w2.csv", template_csv("P-1,EMC,05-03-2024,haip", "P-2,EMC,12-03-2024,haip", header=header))
    code, out, _ = run(db, "ingest", week2, "--trial", "PUMP", "--by", "anna", "--json", capsys=capsys)
    assert code == 0 and json.loads(out)["diff"]["new"] == 1


def test_the_command_line_lists_reasons_that_are_no_code_and_maps_them_like_the_page(tmp_path, db, capsys):
    header = "participant_id,site,screened_on,enrolled_on,arm,screening_outcome,screen_fail_reason"
    week = write(tmp_path, "w1.csv", template_csv("P-1,EMC,2024-03-01,,,declined,te ver van huis", header=header))
    code, out, _ = run(db, "validate", week, "--trial", "PUMP", "--json", capsys=capsys)
    assert code == 0 and json.loads(out)["unmatched_reasons"] == {"screen_fail_reason": ["te ver van huis"]}
    mapped = "--map-reason", "screen_fail_reason:te ver van huis=travel_distance"
    code, out, _ = run(db, "ingest", week, "--trial", "PUMP", "--by", "anna", *mapped, "--json", capsys=capsys)
    assert code == 0 and json.loads(out)["unmatched_reasons"] == {}
    assert Store(db).current_participants("PUMP")["screen_fail_reason"].tolist() == ["travel_distance"]
    assert main(["--db", db, "validate", week, "--trial", "PUMP", "--map-reason", "te ver van huis"]) == 2


def test_a_bad_map_argument_is_bad_usage(db, capsys):
    assert main(["--db", db, "validate", "x.csv", "--trial", "PUMP", "--map", "enrolled_on"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m dashboard validate") and "'enrolled_on' is not FIELD=COLUMN" in err


def test_bench_measures_a_generated_programme_and_says_which_targets_are_met(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "dashboard", "bench", "--scale", "2", "--runs", "1", "--history", "2", "--no-apptest",
         "--no-ingest", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    (scale,) = out["scales"]
    # N = 2: three trials of two sites, 1,000 participants each, known by the last of two extracts.
    assert (scale["scale"], scale["trials"], scale["trial_sites"], scale["extracts"]) == (2, 3, 6, 12)
    assert 5_000 < scale["participants"] <= 6_000
    pages = ("overview_page_ms", "trial_page_ms", "sites_page_ms", "whatif_page_ms")  # what each page computes, figures included
    for key in ("summary_ms", "overview_data_ms", "trial_data_ms", "sites_data_ms", *pages, "peak_memory_mb", "load_s",
                "snapshot_ms", "snapshot_cold_ms", "summary_cold_ms", "trial_data_cold_ms"):  # after one new extract, and cold
        assert scale[key] > 0
    assert "programme summary, cold: every row read (ms)" in bench.report(out)
    assert "page_errors" not in scale  # three trials: no page crashes
    assert set(out["targets_met"]) == {"summary_ms", "overview_data_ms", "trial_data_ms", "sites_data_ms", *pages, "peak_memory_mb"}


def test_the_bench_lands_one_new_extract_of_the_first_trial_between_runs(tmp_path, programme):
    """What a live page pays for is measured after a new extract: one really lands, through the write path, with
    the site's rows and one participant more; the figures read it."""
    store = Store(tmp_path / "bench.duckdb", create=True)
    bench.load_scaled(store, programme, history=1, until=dt.date(2026, 11, 21))
    code = next(iter(programme.trials))
    site = next(iter(programme.trials[code].sites))
    before = store.current_participants(code)
    land = bench.new_extract(store, programme, dt.date(2026, 11, 21))
    first, second = land(), land()
    after = store.current_participants(code)
    assert second == first + 1 and set(store.extracts().set_index("extract_id").loc[[first, second], "trial"]) == {code}
    assert len(after) == len(before) + 2 and set(after["extract_id"][after["site"] == site]) == {second}
    kept = after[after["participant_id"].isin(before["participant_id"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept.drop(columns=["extract_id", "source_row"]), before.drop(columns=["extract_id", "source_row"]))


def test_forecast_with_sites_gives_the_multi_centre_number_by_the_end_and_the_centres_needed(capsys):
    # accrual.multi.n's worked example in days (months of 30.44): ten sites open 10 months with 108 in all, to
    # month 36: 108 + NegBin(258, 28/54), quantiles 313, 347, 384.
    sites = [a for m in (9, 10, 10, 10, 11, 11, 11, 12, 12, 12) for a in ("--site", f"304.4:{m}")]
    code = main(["forecast", "--target", "300", "--enrolled", "108", "--elapsed-days", "304.4", "--planned-days", "1095.84", *sites,
                 "--extra-sites-from", "2027-01-01", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["model"] == "multi-centre"
    assert (result["enrolled_by_end_p05"], result["enrolled_by_end_median"], result["enrolled_by_end_p95"]) == (313, 347, 384)
    assert result["centres_needed"] == 0 and len(result["multicentre"]["sites"]) == 10
    # The single-rate fields stay the single-rate model's.
    assert result["p_on_time"] == pytest.approx(json.loads(_forecast_json(capsys, "300", "108", "304.4", "1095.84"))["p_on_time"])
    # A trial far behind, one site closed after 10 in 100 days, a planned one opening in 20 days (written as
    # `--site -20:0`): extra sites from today are needed, and none is enough from after the planned end.
    base = ["forecast", "--target", "80", "--enrolled", "10", "--elapsed-days", "100", "--planned-days", "200",
            "--site", "100:10", "--site", "-20:0", "--json"]
    code = main([*base, "--extra-sites-from", "2026-11-21"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["centres_needed"] >= 2 and result["multicentre"]["sites"][1]["planned"]
    main([*base, "--extra-sites-from", "2027-12-01"])
    assert json.loads(capsys.readouterr().out)["centres_needed"] is None


def _forecast_json(capsys, target, enrolled, elapsed, planned) -> str:
    main(["forecast", "--target", target, "--enrolled", enrolled, "--elapsed-days", elapsed, "--planned-days", planned, "--json"])
    return capsys.readouterr().out


@pytest.mark.parametrize("site", ["10", "x:3", "10:-1", "10:3:1.5", "-20:4"])
def test_a_forecast_site_that_is_not_days_open_enrolled_share_is_bad_usage(site, capsys):
    code = main(["forecast", "--target", "10", "--enrolled", "3", "--elapsed-days", "10", "--planned-days", "100", "--site", site])
    err = capsys.readouterr().err
    assert code == 2 and f"{site!r}" in err and ("DAYS_OPEN:ENROLLED" in err or "days open must be" in err)


def test_forecast_site_shares_all_or_none_adding_to_one(capsys):
    args = ["forecast", "--target", "10", "--enrolled", "3", "--elapsed-days", "10", "--planned-days", "100"]
    assert main([*args, "--site", "10:3:0.5", "--site", "10:0"]) == 2 and "every --site a share" in capsys.readouterr().err
    assert main([*args, "--site", "10:3:0.5", "--site", "10:0:0.2"]) == 2 and "add up to 1" in capsys.readouterr().err


def test_bench_on_postgresql_gives_the_same_figures_and_leaves_the_database_as_it_was(postgres_server, pg_url):
    """`bench --db URL`: the generated programme copied into a schema of its own on the server, every figure
    measured there (the snapshot through Arrow), and the schema dropped afterwards, even though the pages'
    reads left connections open (none may hold a lock that keeps the schema from going)."""
    address, password = pg_url.replace(":pump-test-secret-3141@", "@"), "pump-test-secret-3141"
    result = subprocess.run(
        [sys.executable, "-m", "dashboard", "bench", "--db", address, "--scale", "2", "--runs", "1", "--history", "2",
         "--no-apptest", "--no-ingest", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "PGPASSWORD": password},
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    (scale,) = out["scales"]
    assert out["engine"] == "PostgreSQL" and (scale["trials"], scale["extracts"]) == (3, 12)
    assert 5_000 < scale["participants"] <= 6_000
    assert all(scale[k] > 0 for k in ("summary_ms", "overview_page_ms", "trial_page_ms", "sites_page_ms"))
    with psycopg.connect(pg_url) as con:
        assert con.execute("SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'pump_bench_%'").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").fetchone() == (0,)
    assert password not in result.stdout + result.stderr
