"""The participant rows of each cut (trial, site, extract) this process has read, held as Arrow, so that
a snapshot fetches only the cuts it has not read before.

The rows of a cut never change once its extract is stored (a later extract closes versions with a later
id, and its own versions start at its id), with one exception: a redaction blanks fields of stored
versions in place. So whatever is held is good only with the stamp it was read under (schema.ROWS_STAMP,
which grows with every such change): a read that finds a newer stamp lets go of everything held.
A "now" read lets go of the cuts it no longer sees (superseded, retracted); past views' cuts are
held while there is room (HELD_BYTES), the least recently read let go first."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# A 300,000-participant programme's current rows take about 15 MB in the summary's columns and 45 MB in
# all: room for those and a few past views (a meeting's cut, the digest's week ago) within the 1 GB a
# dashboard process is to stay under.
HELD_BYTES = 256 * 2**20

Cut = tuple[str, str, int]  # (trial, site, extract_id)


def split_by_cut(rows: pa.Table, wanted: list[Cut]) -> dict[Cut, pa.Table]:
    """The rows of each wanted cut, in the order they came, as slices of `rows` (which mostly come grouped by
    cut: sorted here when not); a cut without rows gets an empty table of the same columns. (A copy per cut
    would cost a kernel call per column and cut, several times the read itself.)"""
    rows = rows.combine_chunks()
    runs = _runs(rows)
    if len({key for key, _, _ in runs}) < len(runs):  # not grouped by cut: sort (stable, keeping each cut's order)
        rows = rows.take(pc.sort_indices(rows, sort_keys=[("extract_id", "ascending"), ("site", "ascending")]))
        runs = _runs(rows)
    found = {key: rows.slice(start, end - start) for key, start, end in runs}
    empty = rows.schema.empty_table()
    return {cut: found.get(cut, empty) for cut in wanted}


def _runs(rows: pa.Table) -> list[tuple[Cut, int, int]]:
    """(cut, first row, end) of each run of rows of one cut."""
    ids = rows["extract_id"].to_numpy()
    sites = rows["site"].combine_chunks().dictionary_encode().indices.to_numpy(zero_copy_only=False)
    if not len(ids):
        return []
    starts = np.flatnonzero(np.r_[True, (ids[1:] != ids[:-1]) | (sites[1:] != sites[:-1])])
    ends = np.r_[starts[1:], len(ids)]
    trials, names = rows["trial"], rows["site"]
    return [((trials[int(s)].as_py(), names[int(s)].as_py(), int(ids[s])), int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


class _Read:
    """One read's rows, which its cuts' slices share: in memory while any of them is held."""

    __slots__ = ("held", "nbytes")

    def __init__(self, nbytes: int):
        self.nbytes, self.held = nbytes, 0


class HeldCuts:
    """The cuts' rows one Store has read, per column set (`kind`), under one stamp; safe across threads."""

    def __init__(self, limit: int = HELD_BYTES):
        self.limit = limit
        self.lock = threading.Lock()
        self.stamp: int | None = None
        # (kind, cut) -> (its rows, the read they share), least recently used first
        self.tables: OrderedDict[tuple[object, Cut], tuple[pa.Table, _Read]] = OrderedDict()
        self.bytes = 0  # of the reads whose rows are held (a read's whole, while any of its cuts is held)

    def held(self, kind: object, stamp: int, cuts: list[Cut]) -> dict[Cut, pa.Table]:
        """Those of `cuts` held for `kind` under `stamp` (a newer stamp: nothing held is good any more)."""
        with self.lock:
            if self.stamp is None or stamp > self.stamp:
                self.tables.clear()
                self.bytes, self.stamp = 0, stamp
            if stamp != self.stamp:
                return {}  # an older stamp than what is held (a read that started before a redaction): read afresh
            found = {}
            for cut in cuts:
                entry = self.tables.get((kind, cut))
                if entry is not None:
                    self.tables.move_to_end((kind, cut))
                    found[cut] = entry[0]
            return found

    def keep(self, kind: object, stamp: int, read: dict[Cut, pa.Table], current: set[Cut] | None = None,
             trial: str | None = None) -> None:
        """Hold the cuts just `read` under `stamp` (unless a newer stamp is held by now). `current`: the cuts a
        "now" read saw (of `trial`, or of every trial): the others held of them are superseded or retracted."""
        with self.lock:
            if stamp != self.stamp:
                return
            if current is not None:
                for key in [key for key in self.tables
                            if key[0] == kind and key[1] not in current and trial in (None, key[1][0])]:
                    self._let_go(key)
            # (each slice's buffers are the whole read's: its size is any non-empty slice's buffer size)
            shared = _Read(max((table.get_total_buffer_size() for table in read.values()), default=0))
            for cut, table in read.items():
                if (kind, cut) in self.tables:  # (read by another thread meanwhile)
                    self._let_go((kind, cut))
                self.tables[(kind, cut)] = (table, shared)
                shared.held += 1
            self.bytes += shared.nbytes if shared.held else 0
            while self.bytes > self.limit and len(self.tables) > len(read):
                self._let_go(next(iter(self.tables)))

    def _let_go(self, key: tuple[object, Cut]) -> None:
        _, shared = self.tables.pop(key)
        shared.held -= 1
        if not shared.held:
            self.bytes -= shared.nbytes

    def size(self) -> int:
        """The bytes of the reads whose rows are held."""
        return self.bytes
