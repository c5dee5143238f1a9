"""`python -m dashboard` as a nightly job or a coordinator uses it: exit codes and JSON."""

import json
import subprocess
import sys

import pytest

from dashboard.cli import main
from dashboard.store import SCHEMA_VERSION
from support import ROOT, template_csv


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "cli.duckdb")


def run(db, *args, capsys):
    code = main(["--db", db, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


GOOD = template_csv("P-1,EMC,,2024-03-05,haip", "P-2,NKI,,2024-03-06,control")


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


def test_ingest_refuses_warnings_unless_accepted(tmp_path, db, capsys):
    run(db, "ingest", write(tmp_path, "a.csv", GOOD), "--trial", "PUMP", "--by", "anna", capsys=capsys)
    fewer = write(tmp_path, "b.csv", template_csv("P-1,EMC,,2024-03-05,haip"))
    code, out, _ = run(db, "ingest", fewer, "--trial", "PUMP", "--site", "EMC", "--by", "anna", "--json", capsys=capsys)
    assert code == 0  # EMC only: NKI's P-2 is not in this snapshot's scope
    code, out, _ = run(db, "ingest", write(tmp_path, "c.csv", template_csv("P-9,NKI,,2024-03-07,haip")), "--trial", "PUMP", "--by", "anna", "--json", capsys=capsys)
    result = json.loads(out)
    assert code == 1 and result["ok"] is False and "need a decision" in result["message"]
    assert [w["code"] for w in result["warnings"]] == ["participant_missing"]
    code, out, _ = run(db, "ingest", write(tmp_path, "c.csv", template_csv("P-9,NKI,,2024-03-07,haip")), "--trial", "PUMP", "--by", "anna", "--accept-warnings", capsys=capsys)
    assert code == 0 and "1 new, 0 changed, 1 no longer in the extract" in out


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
