"""The embedded demo data: the committed files are what the generator makes, they load through
the real upload path, and they tell the story a director reads (counts, arms, freshness)."""

import datetime as dt
import itertools
import json

import pandas as pd
import pytest

from dashboard import demo
from dashboard.fields import DATE_FIELDS
from dashboard.store import Store

STORY = {"PUMP": (150, 175), "PUMP-2": (38, 44), "PUMP-IT": (36, 42)}  # enrolled by DEMO_UNTIL


@pytest.fixture(scope="module")
def manifest() -> pd.DataFrame:
    frame = pd.read_csv(demo.DEMO_DIR / demo.MANIFEST_NAME, dtype=str)
    frame["exported_on"] = pd.to_datetime(frame["exported_on"]).dt.date
    frame["data"] = [(demo.DEMO_DIR / f).read_bytes() for f in frame["file"]]
    # A quiet week gives an export identical to an earlier one; the store refuses it as loaded.
    frame["repeat"] = frame.duplicated(subset=["trial", "data"])
    return frame


@pytest.fixture(scope="module")
def exports(manifest) -> pd.DataFrame:
    """Every row of every export, with its trial and export date; dates parsed."""
    frames = [
        pd.read_csv(demo.DEMO_DIR / row.file, dtype=str, keep_default_na=False).assign(
            trial=row.trial, file=row.file, exported_on=pd.Timestamp(row.exported_on)
        )
        for row in manifest.itertuples()
    ]
    rows = pd.concat(frames, ignore_index=True)
    for name in DATE_FIELDS:
        rows[name] = pd.to_datetime(rows[name].replace("", None), format="%Y-%m-%d")
    return rows


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, programme) -> tuple[Store, int]:
    store = Store(tmp_path_factory.mktemp("demo") / "t.duckdb")
    return store, demo.load_demo(store, programme)


def test_the_committed_demo_is_what_the_generator_makes(tmp_path, programme, manifest):
    rows = demo.write_demo_files(programme, tmp_path)
    assert [r["file"] for r in rows] == manifest["file"].tolist()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in demo.DEMO_DIR.iterdir())
    for path in tmp_path.iterdir():
        assert path.read_bytes() == (demo.DEMO_DIR / path.name).read_bytes(), path.name


def test_the_manifest_is_chronological_and_names_template_files(manifest):
    assert manifest["exported_on"].is_monotonic_increasing
    assert set(manifest["format"]) == {"template"}
    assert all(
        f == f"{t}_{s}_{d.isoformat()}.csv"
        for f, t, s, d in manifest[["file", "trial", "site", "exported_on"]].values
    )


def test_every_export_loads_through_the_upload_path(loaded, manifest):
    store, count = loaded
    extracts = store.extracts()
    distinct = manifest[~manifest["repeat"]]
    assert count == len(extracts) == len(distinct)
    assert sorted(extracts["file_name"]) == sorted(distinct["file"])
    assert (extracts["uploaded_by"] == "demo data").all()


def test_the_demo_is_only_loaded_into_an_empty_database(loaded, programme):
    store, _ = loaded
    with pytest.raises(ValueError, match="already holds extracts"):
        demo.load_demo(store, programme)


def test_enrolled_counts_tell_the_story_and_stay_below_target(loaded, programme):
    store, _ = loaded
    current = store.current_participants()
    enrolled = current[current["enrolled_on"] <= pd.Timestamp(demo.DEMO_UNTIL)]
    per_trial = enrolled.groupby("trial").size()
    for trial, (low, high) in STORY.items():
        assert low <= per_trial[trial] <= high, (trial, per_trial[trial])
        assert per_trial[trial] < programme.trials[trial].target_on(demo.DEMO_UNTIL)
    per_site = enrolled.groupby(["trial", "site"]).size()
    assert per_site["PUMP-IT", "NKI"] > 2 * per_site["PUMP-IT", "EMC"]


def test_no_export_holds_a_date_after_its_export_date(exports):
    for name in DATE_FIELDS:
        late = exports[exports[name] > exports["exported_on"]]
        assert late.empty, late[["file", "participant_id", name]].head().to_string()


def test_nobody_is_enrolled_before_the_trial_or_site_opened(exports, programme):
    opened = {
        (code, site): pd.Timestamp(max(trial.opened_on, s.activated_on or trial.opened_on))
        for code, trial in programme.trials.items()
        for site, s in trial.sites.items()
    }
    first = exports.groupby(["trial", "site"])["enrolled_on"].min()
    for key, day in first.items():
        assert day >= opened[key], key


def test_events_follow_each_other_and_statuses_match_the_dates(exports):
    order = [
        "screened_on",
        "consented_on",
        "enrolled_on",
        "pump_implanted_on",
        "treatment_started_on",
        "treatment_ended_on",
    ]
    for before, after in itertools.pairwise(order):
        assert not (exports[after] < exports[before]).any(), (before, after)
    status, outcome = exports["status"], exports["screening_outcome"]
    assert (status[outcome == "pending"] == "screening").all()
    assert exports.loc[status == "on_treatment", "treatment_started_on"].notna().all()
    assert exports.loc[status == "on_treatment", "treatment_ended_on"].isna().all()
    assert exports.loc[status == "withdrawn", ["withdrawn_on"]].notna().all().all()
    assert (exports.loc[status == "withdrawn", "withdrawal_reason"] != "").all()
    assert exports.loc[exports["arm"] == "control", "pump_implanted_on"].isna().all()
    cycles = pd.to_numeric(exports["cycles_completed"].replace("", None))
    assert cycles.dropna().between(0, 6).all()
    assert exports.loc[exports["enrolled_on"].isna(), "arm"].eq("").all()


def test_screen_failures_are_30_to_45_percent_with_ranked_reasons(exports, manifest):
    last = exports[exports["file"].isin(manifest.groupby(["trial", "site"])["file"].last())]
    decided = last[last["screening_outcome"] != "pending"]
    for trial, rows in decided.groupby("trial"):
        failed = rows["screening_outcome"].isin(["ineligible", "declined"])
        assert 0.30 <= failed.mean() <= 0.45, trial
        assert rows.loc[failed, "screen_fail_reason"].ne("").all()
        assert rows.loc[failed, "screen_fail_reason"].value_counts().iloc[0] >= 0.2 * failed.sum()


def test_participant_ids_are_study_numbers(exports):
    assert exports["participant_id"].str.fullmatch(r"(PUMP-(EMC|NKI)-\d{4})|((P2|PIT)-(EMC|NKI)-\d{3})").all()


def test_pump_arms_stay_balanced_per_site_in_every_export(exports):
    pump = exports[(exports["trial"] == "PUMP") & (exports["arm"] != "")]
    counts = pump.groupby(["file", "arm"]).size().unstack(fill_value=0)
    assert (counts["control"] - counts["haip"]).abs().max() <= 3
    assert set(exports.loc[exports["trial"] != "PUMP", "arm"]) <= {"", "haip"}


def test_the_stale_site_stopped_exporting_in_october(manifest):
    last = manifest.groupby(["trial", "site"])["exported_on"].max()
    assert last["PUMP-IT", "EMC"] == dt.date(2026, 10, 5)
    assert (last.drop(("PUMP-IT", "EMC")) == demo.DEMO_UNTIL).all()
    weekly = manifest[manifest["exported_on"] >= demo.WEEKLY_FROM]
    assert (pd.to_datetime(weekly["exported_on"]).dt.day_of_week == 0).all()


def test_freshness_in_the_store_is_the_date_of_each_sites_last_export(loaded, manifest):
    store, _ = loaded
    stored = store.last_extract_per_site().set_index(["trial", "site"])["uploaded_at"].dt.date
    assert stored.sort_index().to_dict() == manifest.groupby(["trial", "site"])["exported_on"].max().to_dict()


def test_corrections_between_snapshots_show_as_diffs(loaded):
    store, _ = loaded
    extracts = store.extracts().sort_values("extract_id")
    changed_dates, missing = [], []
    for row in extracts.itertuples():
        diff = json.loads(row.diff)
        missing += [(row.file_name, pid) for pid in diff["missing"]]
        changed_dates += [
            row.file_name
            for fields in diff["changed"].values()
            if isinstance(fields.get("enrolled_on", {}).get("old"), str)
        ]
    assert changed_dates == ["PUMP_EMC_2026-09-14.csv"]
    assert [name for name, _ in missing] == ["PUMP_EMC_2026-09-21.csv"]
    # The record registered in error counts no more.
    assert missing[0][1] not in set(store.current_participants("PUMP")["participant_id"])


def test_the_history_is_deterministic_for_a_seed(programme):
    first = demo.simulate_programme(programme, until=dt.date(2023, 1, 1), seed=7)
    again = demo.simulate_programme(programme, until=dt.date(2023, 1, 1), seed=7)
    other = demo.simulate_programme(programme, until=dt.date(2023, 1, 1), seed=8)
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)
    assert not (first[list(DATE_FIELDS)] > pd.Timestamp(2023, 1, 1)).any().any()
