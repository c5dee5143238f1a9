"""The embedded demo data: the committed files are what the generator makes, native Castor
(EMC) and REDCap (NKI) exports that load through the real upload path, and they tell the story
a director reads (counts, arms, freshness)."""

import datetime as dt
import itertools
import json

import pandas as pd
import pytest

from dashboard import demo, service
from dashboard.fields import DATE_FIELDS, STATUSES
from dashboard.ingest import check_file
from dashboard.readers import detect_format
from dashboard.readers.reading import Table, read_table
from dashboard.store import Store

STORY = {"PUMP": (150, 175), "PUMP-2": (38, 44), "PUMP-IT": (36, 42)}  # enrolled by DEMO_UNTIL
# What the dashboard shows as of DEMO_UNTIL (`summary --as-of 2026-11-16`): the files' format
# changes nothing of it.
ENROLLED_AS_OF_DEMO_UNTIL = {
    ("PUMP", "EMC"): 98,
    ("PUMP", "NKI"): 63,
    ("PUMP-2", "EMC"): 25,
    ("PUMP-2", "NKI"): 15,
    ("PUMP-IT", "NKI"): 28,
    ("PUMP-IT", "EMC"): 10,
}
SITE_FORMAT = {"EMC": "castor", "NKI": "redcap"}
CASTOR_COLUMNS = ["Participant Id", "Participant Status", "Site Abbreviation", "Participant Creation Date"]
CASTOR_RANDOMISATION = ["Randomization Id", "Randomization Group", "Randomized On"]
CASTOR_DATE = r"[1-9]\d?-[1-9]\d?-\d{4}"  # day first, not zero-padded: 6-3-2024


@pytest.fixture(scope="module")
def manifest() -> pd.DataFrame:
    frame = pd.read_csv(demo.DEMO_DIR / demo.MANIFEST_NAME, dtype=str)
    frame["exported_on"] = pd.to_datetime(frame["exported_on"]).dt.date
    frame["data"] = [(demo.DEMO_DIR / f).read_bytes() for f in frame["file"]]
    # A quiet week gives an export identical to an earlier one; the store refuses it as loaded.
    frame["repeat"] = frame.duplicated(subset=["trial", "data"])
    return frame


@pytest.fixture(scope="module")
def tables(manifest) -> list[Table]:
    """Every export read as the upload path reads a file, in manifest order."""
    return [read_table(data) for data in manifest["data"]]


@pytest.fixture(scope="module")
def load_run(tmp_path_factory, programme) -> tuple[Store, int, list]:
    """The demo loaded into an empty database, with the check of every export on the way
    (what the upload path read from each file, its warnings and its diff), in manifest order."""
    store = Store(tmp_path_factory.mktemp("demo") / "t.duckdb", create=True)
    results = []

    def recording(*args, **kwargs):
        results.append(check_file(*args, **kwargs))
        return results[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(demo, "check_file", recording)
        count = demo.load_demo(store, programme)
    return store, count, results


@pytest.fixture(scope="module")
def loaded(load_run) -> tuple[Store, int]:
    return load_run[0], load_run[1]


@pytest.fixture(scope="module")
def checked(load_run) -> list:
    return load_run[2]


@pytest.fixture(scope="module")
def exports(manifest, checked) -> pd.DataFrame:
    """Every participant of every export as the upload path read it (typed: dates as
    datetime64, arms and statuses as codes), with the trial, file and export date."""
    frames = [
        result.participants.assign(trial=row.trial, file=row.file, exported_on=pd.Timestamp(row.exported_on))
        for row, result in zip(manifest.itertuples(), checked, strict=True)
    ]
    return pd.concat(frames, ignore_index=True)


def test_the_committed_demo_is_what_the_generator_makes(tmp_path, programme, manifest):
    rows = demo.write_demo_files(programme, tmp_path)
    assert [r["file"] for r in rows] == manifest["file"].tolist()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in demo.DEMO_DIR.iterdir())
    for path in tmp_path.iterdir():
        assert path.read_bytes() == (demo.DEMO_DIR / path.name).read_bytes(), path.name


def test_the_manifest_is_chronological_and_names_each_sites_edc_format(manifest):
    assert manifest["exported_on"].is_monotonic_increasing
    assert (manifest["format"] == manifest["site"].map(SITE_FORMAT)).all()
    assert set(manifest["format"]) == {"castor", "redcap"}
    assert all(
        f == f"{t}_{s}_{d.isoformat()}.csv"
        for f, t, s, d in manifest[["file", "trial", "site", "exported_on"]].values
    )


def test_each_file_is_detected_as_its_sites_edc_format(manifest, tables):
    for row, table in zip(manifest.itertuples(), tables, strict=True):
        assert detect_format(table) == SITE_FORMAT[row.site], row.file


def test_emc_files_are_native_castor_study_exports(manifest, tables, programme):
    unpadded = False
    for row, table in zip(manifest.itertuples(), tables, strict=True):
        if row.site != "EMC":
            continue
        assert (table.delimiter, table.encoding) == (";", "UTF-8"), row.file  # UTF-8 without BOM
        assert row.data.count(b"\r\n") == row.data.count(b"\n") == len(table.frame) + 1, row.file
        frame, columns = table.frame, list(table.frame.columns)
        trial = programme.trials[row.trial]
        if trial.is_randomised:
            assert columns[:7] == CASTOR_COLUMNS + CASTOR_RANDOMISATION, row.file
            assert set(frame["Randomization Group"]) - {""} <= {arm.label for arm in trial.arms.values()}
            assert frame["Randomized On"].str.fullmatch(rf"({CASTOR_DATE} \d\d:\d\d)?").all(), row.file
        else:
            assert columns[:4] == CASTOR_COLUMNS and not set(CASTOR_RANDOMISATION) & set(columns), row.file
        assert set(frame["Site Abbreviation"]) == {"EMC"}
        assert set(frame["Participant Status"]) <= {"Not Set", "Completed", "Archived"}
        # Day first, not zero-padded, with the time the record was created.
        created = frame["Participant Creation Date"]
        assert created.str.fullmatch(rf"{CASTOR_DATE} \d\d:\d\d").all(), row.file
        assert frame["consented_on"].str.fullmatch(rf"({CASTOR_DATE})?").all(), row.file
        unpadded |= created.str.match(r"\d-").any()
        assert any("#" in c for c in columns), row.file  # a checkbox variable, ignored by the reader
    assert unpadded


def test_single_arm_castor_studies_map_their_inclusion_date(manifest, tables, programme):
    for trial, variable in demo.CASTOR_ENROLMENT_VARIABLE.items():
        assert not programme.trials[trial].is_randomised
        assert programme.trials[trial].mappings["castor"] == {"enrolled_on": variable}
    for row, table in zip(manifest.itertuples(), tables, strict=True):
        if row.site == "EMC" and row.trial in demo.CASTOR_ENROLMENT_VARIABLE:
            columns = table.frame.columns
            assert demo.CASTOR_ENROLMENT_VARIABLE[row.trial] in columns and "enrolled_on" not in columns, row.file
    assert "castor" not in programme.trials["PUMP"].mappings  # Randomized On is read by default


def test_nki_files_are_longitudinal_redcap_raw_exports(manifest, tables, programme):
    for row, table in zip(manifest.itertuples(), tables, strict=True):
        if row.site != "NKI":
            continue
        frame = table.frame
        assert (table.delimiter, table.encoding) == (",", "UTF-8") and b"\r" not in row.data, row.file
        assert list(frame.columns[:3]) == ["record_id", "redcap_event_name", "redcap_data_access_group"]
        assert {programme.site_code(dag.replace("_", " ")) for dag in frame["redcap_data_access_group"]} == {"NKI"}
        assert set(frame["redcap_event_name"]) <= {demo.REDCAP_SCREENING_EVENT, demo.REDCAP_TREATMENT_EVENT}
        rows_per_record = frame.groupby("record_id").size()
        enrolled = frame.loc[frame["enrolled_on"] != "", "record_id"]
        # Every record has its screening row; an enrolled one its treatment row as well.
        assert rows_per_record.loc[enrolled].eq(2).all() and rows_per_record.drop(enrolled).eq(1).all(), row.file
        screening = frame[frame["redcap_event_name"] == demo.REDCAP_SCREENING_EVENT]
        assert screening["record_id"].is_unique and len(screening) == len(rows_per_record)
        assert frame["screened_on"].str.fullmatch(r"(\d{4}-\d\d-\d\d)?").all()  # ISO dates
        assert set(frame["arm"]) - {""} <= set(programme.trials[row.trial].arms)  # raw codes
        assert set(frame["status"]) - {""} <= set(STATUSES)
    for file in manifest[manifest["site"] == "NKI"].groupby("trial")["file"].last():
        frame = tables[manifest.index[manifest["file"] == file][0]].frame
        assert len(frame) > frame["record_id"].nunique() + 10, file  # really several rows per participant
    # REDCap quotes a value holding a comma.
    assert any(b',"pump or catheter complication (dislocation, thrombosis)",' in d for d in manifest["data"])


def test_every_export_reads_without_error_and_only_deliberate_corrections_need_a_decision(manifest, checked):
    assert len(checked) == len(manifest)
    corrections = []
    for row, result in zip(manifest.itertuples(), checked, strict=True):
        assert result.file_name == row.file and result.format == row.format
        assert result.ok, (row.file, [i.message for i in result.errors[:3]])
        assert result.sites == [row.site], row.file
        # Only the two deliberate corrections need a decision: nothing the Castor or REDCap
        # reading finds does, and a first enrolment of a screened participant is no correction.
        corrections += [(row.file, i.code) for i in result.warnings if i.needs_confirmation]
    assert corrections == [
        ("PUMP_EMC_2026-09-14.csv", "changed_enrolled_on"),
        ("PUMP_EMC_2026-09-21.csv", "participant_missing"),
    ]
    redcap = [r for r, row in zip(checked, manifest.itertuples(), strict=True) if row.format == "redcap"]
    assert all(r.rows > len(r.participants) for r in redcap if r.participants["enrolled_on"].notna().any())
    for result in redcap:
        if result.rows > len(result.participants):
            assert any(i.code == "folded_rows" and not i.needs_confirmation for i in result.warnings), result.file_name
    # User-missing codes are used sparingly, in the single-arm Castor studies only; read as empty.
    missing = {
        (row.trial, row.site)
        for row, result in zip(manifest.itertuples(), checked, strict=True)
        for issue in result.warnings
        if issue.code == "user_missing" and not issue.needs_confirmation
    }
    assert missing == {("PUMP-2", "EMC"), ("PUMP-IT", "EMC")}


def test_every_export_loads_through_the_upload_path(loaded, manifest):
    store, count = loaded
    extracts = store.extracts()
    distinct = manifest[~manifest["repeat"]]
    assert count == len(extracts) == len(distinct)
    assert sorted(extracts["file_name"]) == sorted(distinct["file"])
    assert (extracts["uploaded_by"] == "demo data").all()
    assert extracts.set_index("file_name")["format"].to_dict() == distinct.set_index("file")["format"].to_dict()


def test_the_counts_as_of_demo_until_are_unchanged(loaded, programme):
    store, _ = loaded
    summary = service.programme_summary(store, programme, demo.DEMO_UNTIL)
    per_site = {(t["trial"], s["site"]): s["enrolled"] for t in summary["trials"] for s in t["sites"]}
    assert per_site == ENROLLED_AS_OF_DEMO_UNTIL
    per_trial = {t["trial"]: (t["enrolled"], t["target"]) for t in summary["trials"]}
    assert per_trial == {"PUMP": (161, 230), "PUMP-2": (40, 50), "PUMP-IT": (38, 45)}


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
    assert exports.loc[status == "withdrawn", "withdrawal_reason"].notna().all()
    assert exports.loc[exports["arm"] == "control", "pump_implanted_on"].isna().all()
    assert exports["cycles_completed"].dropna().between(0, 6).all()
    assert exports.loc[exports["enrolled_on"].isna(), "arm"].isna().all()
    assert exports.loc[exports["enrolled_on"].notna(), "arm"].notna().all()


def test_screen_failures_are_30_to_45_percent_with_ranked_reasons(exports, manifest):
    last = exports[exports["file"].isin(manifest.groupby(["trial", "site"])["file"].last())]
    decided = last[last["screening_outcome"] != "pending"]
    for trial, rows in decided.groupby("trial"):
        failed = rows["screening_outcome"].isin(["ineligible", "declined"])
        assert 0.30 <= failed.mean() <= 0.45, trial
        assert rows.loc[failed, "screen_fail_reason"].notna().all()
        assert rows.loc[failed, "screen_fail_reason"].value_counts().iloc[0] >= 0.2 * failed.sum()


def test_participant_ids_are_study_numbers(exports):
    assert exports["participant_id"].str.fullmatch(r"(PUMP-(EMC|NKI)-\d{4})|((P2|PIT)-(EMC|NKI)-\d{3})").all()


def test_pump_arms_stay_balanced_per_site_in_every_export(exports):
    pump = exports[(exports["trial"] == "PUMP") & exports["arm"].notna()]
    counts = pump.groupby(["file", "arm"]).size().unstack(fill_value=0)
    assert (counts["control"] - counts["haip"]).abs().max() <= 3
    assert set(exports.loc[exports["trial"] != "PUMP", "arm"].dropna()) == {"haip"}


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


# ---- a demo that is always this week's -----------------------------------------------------------------


@pytest.mark.parametrize(
    "today,weeks",
    [(dt.date(2026, 11, 21), 0), (dt.date(2026, 11, 16), 0), (dt.date(2026, 11, 23), 1), (dt.date(2027, 6, 10), 29), (dt.date(2026, 9, 1), 0)],
)
def test_the_demo_moves_by_whole_weeks_to_end_on_the_latest_monday(today, weeks):
    shift = demo.demo_shift(today)
    assert shift == dt.timedelta(weeks=weeks)
    end = demo.DEMO_UNTIL + shift
    assert end.weekday() == 0 and (end <= today or weeks == 0)


def test_on_a_later_day_the_demo_ends_this_week_with_the_same_story(tmp_path, programme, monkeypatch):
    today = dt.date(2027, 6, 10)  # a Thursday, 29 weeks after the committed demo's last Monday
    monkeypatch.setenv("PUMP_TODAY", today.isoformat())
    store = Store(tmp_path / "shifted.duckdb", create=True)
    seen = []
    count = demo.load_demo(store, programme, on_progress=lambda done, total: seen.append((done, total)))
    extracts = store.extracts()
    # The newest extract is this week's Monday: every site that exports weekly is fresh, not stale.
    assert extracts["uploaded_at"].max().date() == dt.date(2027, 6, 7)
    assert (today - extracts["uploaded_at"].max().date()).days <= 7
    summary = service.programme_summary(store, programme, today)
    stale = {(t["trial"], s) for t in summary["trials"] for s in t["stale_sites"]}
    assert stale == {("PUMP-IT", "EMC")}  # the one site the story leaves stale, as on the committed demo's day
    # The same shape: the participants of DEMO_UNTIL's story, moved on by 29 weeks.
    shifted = service.programme_summary(store, programme, dt.date(2027, 6, 7))
    assert {t["trial"]: t["enrolled"] for t in shifted["trials"]} == {"PUMP": 161, "PUMP-2": 40, "PUMP-IT": 38}
    # Progress said as it goes, extracts loaded of the total; the meetings moved with the history.
    assert seen[-1][0] == seen[-1][1] and len(seen) == seen[-1][1] >= count
    assert service.meeting_list(store)[0]["held_on"] == "2027-06-03"  # the newest of the three
