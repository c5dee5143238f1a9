"""The rows a Store holds of the cuts it has read (store/held.py): every read the same as a read of the
database itself, row for row and dtype for dtype, along the demo history on both engines; a redaction
blanks at once what is held, in this Store and in another; another process's upload shows at once; the
memory held stays bounded."""

import shutil
import threading

import pandas as pd
import pyarrow as pa
import pytest

from dashboard import access, metrics
from dashboard.ingest import check_file, commit
from dashboard.store import CURRENT_EXTRACTS, EVERYTHING, Store, rows_as_in
from dashboard.store.copy import copy_store
from dashboard.store.held import HeldCuts, split_by_cut
from support import TODAY, template_csv, upload, with_trial

BOTH_ENGINES = True  # each test with the `store` (or `engine`) fixture runs on DuckDB and on PostgreSQL (conftest)


@pytest.fixture
def demo(demo_db, engine, new_location):
    """The demo history on the engine under test: a copy of the file, or copied into a server database."""
    if engine == "duckdb":
        shutil.copy(demo_db, new_location)
    else:
        copy_store(Store(demo_db), Store(new_location, create=True), "test")
    return Store(new_location)


@pytest.fixture
def no_access_file(monkeypatch, tmp_path):
    """Local mode: the one person at this computer may do everything (redact included)."""
    monkeypatch.delenv("PUMP_ACCESS", raising=False)
    monkeypatch.setattr(access, "DEFAULT_ACCESS_PATH", tmp_path / "no-access.toml")


def from_the_database(store: Store, as_of=None, trial=None, columns=None) -> pd.DataFrame:
    """The snapshot read by the database alone, as current_participants read it before it held rows."""
    cuts = f"SELECT * FROM ({CURRENT_EXTRACTS}) AS c WHERE $trial IS NULL OR trial = $trial"
    sql = f"SELECT {', '.join(columns) if columns else '*'} FROM ({rows_as_in(cuts)}) AS s"
    return store.arrow_query(sql + ("" if columns else " ORDER BY trial, site, participant_id"),
                             {"as_of": as_of or EVERYTHING, "trial": trial})


def same(held: pd.DataFrame, direct: pd.DataFrame, ordered: bool) -> None:
    if not ordered:  # the summary's columns come in no order (it groups): the same rows
        held = held.sort_values(list(held.columns), ignore_index=True)
        direct = direct.sort_values(list(direct.columns), ignore_index=True)
    pd.testing.assert_frame_equal(held, direct, check_exact=True)
    assert held.dtypes.to_dict() == direct.dtypes.to_dict()


def test_every_read_along_the_demo_history_is_the_databases_own(demo):
    """As a live dashboard reads: forward through the history (new extracts landing), then back (past
    views), the whole programme in every column, the summary's columns, and one trial, each read twice
    (the second from what is held): always what the database itself gives."""
    moments = sorted(set(demo.extracts()["uploaded_at"]))[::9]
    trial = str(demo.extracts()["trial"].iloc[0])
    for at in [*moments, None, *reversed(moments)]:
        for _ in range(2):
            same(demo.current_participants(as_of=at), from_the_database(demo, at), ordered=True)
            columns = metrics.SUMMARY_COLUMNS
            same(demo.current_participants(as_of=at, columns=columns), from_the_database(demo, at, columns=columns), ordered=False)
            same(demo.current_participants(trial, as_of=at), from_the_database(demo, at, trial), ordered=True)
    assert demo._held.tables  # (what the reads above came from)


def test_a_redaction_is_never_shown_from_what_is_held(store, new_location, programme, no_access_file):
    """A reason read (and held) by this Store and by another (another process's): blanked by a redaction,
    both read the blank at once."""
    other = Store(new_location)
    reason = "moved to Zwolle-Qwertz"
    rows = template_csv(f"P-1,EMC,,2024-03-05,haip,withdrawn,{reason}", "P-2,EMC,,2024-03-06,haip,,",
                        header="participant_id,site,screened_on,enrolled_on,arm,status,withdrawal_reason")
    checked = check_file(store, with_trial(programme, "PUMP", free_text=True), rows, "extract.csv", "PUMP", today=TODAY)
    withdrawn = commit(store, checked, "anna", accept_warnings=True)
    for reader in (store, other):
        assert reason in set(reader.current_participants("PUMP")["withdrawal_reason"].dropna())
        assert reason in set(reader.current_participants(columns=("participant_id", "withdrawal_reason"))["withdrawal_reason"].dropna())
    store.redact(withdrawn, ["withdrawal_reason"], "director", "a place name")
    for reader in (store, other):
        rows = reader.current_participants("PUMP")
        assert rows["withdrawal_reason"].isna().all() and rows["participant_id"].tolist() == ["P-1", "P-2"]
        assert reader.current_participants(columns=("participant_id", "withdrawal_reason"))["withdrawal_reason"].isna().all()
        same(rows, from_the_database(reader, trial="PUMP"), ordered=True)


def test_another_process_upload_and_retraction_show_at_once(store, new_location, programme, no_access_file):
    """The second extract changes P2-E1 (its first version closed: valid_to, the one other UPDATE of stored
    versions) and adds P2-E2; retracted, the first cut is current again, read from what is held, as it was."""
    other = Store(new_location)
    upload(store, programme, ["P2-E1,EMC,,2026-10-01,haip,on_treatment,"])
    first = other.current_participants("PUMP-2")
    assert first["participant_id"].tolist() == ["P2-E1"]
    second = upload(store, programme, ["P2-E1,EMC,,2026-10-02,haip,on_treatment,", "P2-E2,EMC,,2026-10-10,haip,on_treatment,"])
    assert other.current_participants("PUMP-2")["participant_id"].tolist() == ["P2-E1", "P2-E2"]
    assert other.current_participants("PUMP-2")["enrolled_on"].dt.day.tolist() == [2, 10]
    before = store.extracts().set_index("extract_id")["uploaded_at"].min()
    same(other.current_participants("PUMP-2", as_of=before), first, ordered=True)  # a past view: its cut held
    store.retract(second, "director", "wrong file")
    same(other.current_participants("PUMP-2"), first, ordered=True)
    same(other.current_participants("PUMP-2"), from_the_database(other, trial="PUMP-2"), ordered=True)


def test_readers_on_several_threads_read_the_same_rows(demo):
    """Streamlit serves each session on a thread of its own: eight at once on one Store, all right."""
    expected = from_the_database(demo)
    results, errors = [], []

    def read() -> None:
        try:
            for _ in range(3):
                results.append(demo.current_participants())
        except Exception as exc:  # (shown by the assertion below)
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 24
    for result in results:
        pd.testing.assert_frame_equal(result, expected)


# ---- what is held, and letting go of it -----------------------------------------------------------------

def cut_rows(trial: str, site: str, extract_id: int, n: int) -> pa.Table:
    return pa.table({"extract_id": [extract_id] * n, "trial": [trial] * n, "site": [site] * n, "participant_id": [f"{site}-{i}" for i in range(n)]})


def test_rows_are_split_by_cut_in_the_order_they_came():
    rows = pa.concat_tables([cut_rows("A", "EMC", 3, 2), cut_rows("A", "NKI", 3, 1), cut_rows("A", "EMC", 3, 1).slice(0, 0),
                             cut_rows("B", "EMC", 1, 3)])
    mixed = rows.take([5, 0, 3, 2, 4, 1])  # not grouped: sorted by cut, each cut's order kept
    for given in (rows, mixed):
        parts = split_by_cut(given, [("A", "EMC", 3), ("A", "NKI", 3), ("B", "EMC", 1), ("C", "UMCG", 4)])
        assert parts[("A", "EMC", 3)]["participant_id"].to_pylist() == ["EMC-0", "EMC-1"]
        assert parts[("A", "NKI", 3)].num_rows == 1 and parts[("C", "UMCG", 4)].num_rows == 0
        assert parts[("C", "UMCG", 4)].schema == rows.schema
    assert split_by_cut(mixed, [("B", "EMC", 1)])[("B", "EMC", 1)]["participant_id"].to_pylist() == ["EMC-2", "EMC-0", "EMC-1"]


def test_a_newer_stamp_lets_go_of_everything_and_an_older_one_keeps_nothing():
    held = HeldCuts()
    emc = ("A", "EMC", 3)
    held.held("summary", 5, [emc])
    held.keep("summary", 5, {emc: cut_rows(*emc, 2)})
    assert held.held("summary", 5, [emc])[emc].num_rows == 2
    assert held.held("every column", 5, [emc]) == {}  # another column set: its own cuts
    assert held.held("summary", 9, [emc]) == {}  # a redaction since: nothing held is good
    held.keep("summary", 5, {emc: cut_rows(*emc, 2)})  # a read that began before it: not kept
    assert held.held("summary", 9, [emc]) == {} and held.held("summary", 5, [emc]) == {}


def test_a_now_read_lets_go_of_superseded_cuts_and_past_ones_stay_within_the_bound():
    big = cut_rows("A", "EMC", 1, 1000)
    held = HeldCuts(limit=3 * big.get_total_buffer_size())
    held.held("k", 0, [])
    for extract_id in (1, 2, 3):  # past views: held, up to the bound
        held.keep("k", 0, {("A", "EMC", extract_id): cut_rows("A", "EMC", extract_id, 1000)})
    held.keep("k", 0, {("B", "EMC", 4): cut_rows("B", "EMC", 4, 1000)})  # over the bound: the least recently read goes
    assert sorted(c for _, c in held.tables) == [("A", "EMC", 2), ("A", "EMC", 3), ("B", "EMC", 4)]
    # A read of trial A now sees extract 3 current: 2 is superseded; B is not what it read.
    held.keep("k", 0, {}, current={("A", "EMC", 3)}, trial="A")
    assert sorted(c for _, c in held.tables) == [("A", "EMC", 3), ("B", "EMC", 4)]
    held.keep("k", 0, {}, current={("B", "EMC", 4)})  # the whole programme now: only B's cut
    assert [c for _, c in held.tables] == [("B", "EMC", 4)] and held.size() == big.get_total_buffer_size()


def test_cuts_read_together_are_in_memory_until_the_last_of_them_goes():
    rows = pa.concat_tables([cut_rows("A", "EMC", 1, 500), cut_rows("A", "NKI", 1, 500)]).combine_chunks()
    held = HeldCuts()
    held.held("k", 0, [])
    held.keep("k", 0, split_by_cut(rows, [("A", "EMC", 1), ("A", "NKI", 1)]))
    assert held.size() == rows.get_total_buffer_size()  # one read: its slices share its buffers
    held.keep("k", 0, {}, current={("A", "NKI", 1), ("A", "EMC", 2)})  # EMC superseded: NKI's slice keeps the read
    assert held.size() == rows.get_total_buffer_size()
    held.keep("k", 0, {}, current=set())
    assert held.size() == 0 and not held.tables
