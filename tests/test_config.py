import datetime as dt

import pytest
import yaml

from dashboard.config import CONFIG_VARIABLE, DEFAULT_CONFIG_PATH, ConfigError, load_programme


def test_programme_has_the_three_trials_and_two_sites(programme):
    assert list(programme.trials) == ["PUMP", "PUMP-2", "PUMP-IT"]
    assert set(programme.sites) == {"EMC", "NKI"}
    assert programme.trials["PUMP"].is_randomised
    assert list(programme.trials["PUMP-2"].arms) == ["haip"]


def test_aliases_match_whatever_the_case(programme):
    assert programme.site_code("avl") == "NKI"
    assert programme.site_code("  Erasmus MC ") == "EMC"
    assert programme.trial_code("pump ii") == "PUMP-2"
    assert programme.trials["PUMP"].arm_lookup["arm b"] == "haip"
    assert programme.trials["PUMP"].arm_lookup["controle"] == "control"


def test_target_follows_the_amendment_in_force(programme):
    pump2 = programme.trials["PUMP-2"]
    assert pump2.target_on(dt.date(2022, 1, 1)) == 40
    assert pump2.target_on(dt.date(2023, 6, 1)) == 50
    assert pump2.planned_end_on(dt.date(2023, 5, 31)) == dt.date(2025, 12, 31)


def _write(tmp_path, data) -> str:
    path = tmp_path / "programme.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _config():
    return yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())


def test_a_wrong_target_names_the_entry(tmp_path):
    data = _config()
    data["trials"]["PUMP"]["amendments"][1]["target"] = -5
    with pytest.raises(ConfigError, match=r"trials\.PUMP\.amendments\.1\.target: .*greater than 0"):
        load_programme(_write(tmp_path, data))


def test_a_trial_site_that_is_not_configured_names_the_trial(tmp_path):
    data = _config()
    data["trials"]["PUMP-IT"]["sites"]["UMCU"] = {"activated_on": "2024-01-01"}
    with pytest.raises(ConfigError, match=r"trials\.PUMP-IT\.sites: 'UMCU' is not a configured site"):
        load_programme(_write(tmp_path, data))


def test_an_alias_used_twice_is_refused(tmp_path):
    data = _config()
    data["sites"]["NKI"]["aliases"].append("Rotterdam")
    with pytest.raises(ConfigError, match="alias 'Rotterdam' is used by both EMC and NKI"):
        load_programme(_write(tmp_path, data))


def test_amendments_out_of_order_are_refused(tmp_path):
    data = _config()
    data["trials"]["PUMP"]["amendments"].reverse()
    with pytest.raises(ConfigError, match=r"trials\.PUMP: .*amendments must be in order"):
        load_programme(_write(tmp_path, data))


def test_an_unknown_setting_is_refused_not_ignored(tmp_path):
    data = _config()
    data["trials"]["PUMP"]["targt"] = 300
    with pytest.raises(ConfigError, match=r"trials\.PUMP\.targt: Extra inputs are not permitted"):
        load_programme(_write(tmp_path, data))


def test_missing_file_says_so(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the configuration"):
        load_programme(tmp_path / "nope.yaml")


def test_pump_config_points_the_app_and_the_command_line_at_another_file(tmp_path, monkeypatch, programme):
    data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    data["stale_after_days"] = 30
    monkeypatch.setenv(CONFIG_VARIABLE, str(_write(tmp_path, data)))
    assert load_programme().stale_after_days == 30
    monkeypatch.delenv(CONFIG_VARIABLE)
    assert load_programme().stale_after_days == programme.stale_after_days
