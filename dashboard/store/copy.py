"""`store copy`: every table of one store into an empty one, either engine to either, in one
transaction on the target, verified before it commits (every table's rows, every as-of view of the
history, the next ids). Engine-blind: what an engine does its own way is asked of its hooks
`tables(con)`, `arrow(con, sql)`, `bulk_insert(con, table, rows)`, `continue_ids(con, sequence, next)` and
`analyze()`."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dashboard.store.database import Store
from dashboard.store.errors import Refused, StoreUnavailable
from dashboard.store.schema import forward_moment, identity
from dashboard.store.writes import audit_entry

# The sequences behind the ids, and the column each numbers: after a copy they give max + 1 next.
SEQUENCES = {"extract_ids": ("extracts", "extract_id"), "audit_ids": ("audit_log", "audit_id"),
             "meeting_ids": ("meetings", "meeting_id"), "pull_ids": ("waiting_pulls", "pull_id")}
# Each database keeps its own identity (a copy is another database); the schema's history is the source's.
OWN_TABLES = ("store_identity",)
SCHEMA_TABLES = ("schema_version", "store_identity")
COPIED_ACTION = "store_copied"


class CopyFailed(StoreUnavailable):
    """The copy could not be made or did not verify: nothing was copied (exit 3)."""


def copy_store(source: Store, target: Store, actor: str) -> dict:
    """Copy every table of `source` into `target`, which must hold nothing; returns the audit detail
    (the source's location, a password masked, and the rows per table). Refused (a non-empty target) or
    failed (CopyFailed, StoreUnavailable), the target is left as it was."""
    target_location = target.location
    with source.connect() as con, target.connect() as other:  # (the target is made here when it is not there)
        if identity(con) == identity(other):
            raise Refused(f"{source.location} and {target_location} are the same database; nothing was copied")
    with _one_moment(source) as con, source.reading_through(con):
        tables = source.engine.tables(con)
        json_columns = _json_columns(con)
        rows = {table: source.engine.arrow(con, f'SELECT * FROM "{table}"') for table in tables if table not in OWN_TABLES}
        views = as_of_views(source, rows["extracts"], json_columns)
    with target.transaction() as con, target.reading_through(con):
        _check_empty(con, target.engine.tables(con), tables, target_location)
        con.execute("DELETE FROM schema_version")  # the target's own migrations give way to the source's history
        for table, table_rows in rows.items():
            try:
                target.engine.bulk_insert(con, table, table_rows)
            except Exception as exc:
                raise CopyFailed(f"the rows of {table} could not be written into {target_location} ({_first_line(exc)}); "
                                 "nothing was copied") from exc
        for sequence, (table, column) in SEQUENCES.items():
            highest = pc.max(rows[table][column]).as_py()
            target.engine.continue_ids(con, sequence, (highest or 0) + 1)
        _verify(target, con, rows, views, json_columns, target_location)
        detail = {"source": source.location, "rows": {t: r.num_rows for t, r in rows.items()}}
        audit_entry(con, forward_moment(con), actor, COPIED_ACTION, detail)
    target.engine.analyze()  # committed: the planner's statistics of what was loaded in bulk
    return detail


@contextmanager
def _one_moment(source: Store) -> Iterator:
    """A connection that reads the source as it stood at one moment: a transaction of its own, during which
    no write of another replica or command lands (every write takes the store's write lock); a database this
    program may only read is read as it is (nobody writes it meanwhile through this dashboard)."""
    with source.connect() as con:
        if source.read_only:
            yield con
            return
    with source.transaction() as con:  # nothing is written in it
        yield con


def _check_empty(con, found: list[str], expected: list[str], location: str) -> None:
    """The target holds the schema its migrations made, and no row in it: anything else is refused."""
    if found != expected:
        raise CopyFailed(f"the database at {location} does not have the dashboard's tables after its upgrade "
                         f"({', '.join(sorted(set(found) ^ set(expected)))} differ); nothing was copied")
    held = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in found if t not in SCHEMA_TABLES}
    held = {t: n for t, n in held.items() if n}
    if held:
        raise Refused(f"the database at {location} is not empty: it holds " + ", ".join(f"{n} row{'s' if n != 1 else ''} of {t}" for t, n in held.items())
                      + "; store copy only fills an empty database, and nothing was copied or changed")


def _verify(target: Store, con, rows: dict[str, pa.Table], views: dict, json_columns: dict, location: str) -> None:
    """Before the commit: every table as the target holds it now, and every as-of view read through it,
    equal to the source's."""
    for table, source_rows in rows.items():
        copied = target.engine.arrow(con, f'SELECT * FROM "{table}"')
        if copied.num_rows != source_rows.num_rows:
            raise CopyFailed(f"{table} holds {copied.num_rows} rows in {location} after the copy, not the source's "
                             f"{source_rows.num_rows}; nothing was copied")
        if fingerprint(copied, json_columns.get(table, ())) != fingerprint(source_rows, json_columns.get(table, ())):
            raise CopyFailed(f"the rows of {table} in {location} differ from the source's after the copy; nothing was copied")
    copied_views = as_of_views(target, rows["extracts"], json_columns)
    for key, checksum in views.items():
        if copied_views.get(key) != checksum:
            view, moment = key
            raise CopyFailed(f"the {view} as of {moment or 'now'} read from {location} differ from the source's after the "
                             "copy; nothing was copied")


def as_of_views(store: Store, extracts: pa.Table, json_columns: dict) -> dict[tuple[str, str | None], str]:
    """The fingerprint of every as-of view of the history: the current participants and the extracts,
    as the store reads them at each extract's upload moment, and now."""
    moments = sorted(set(extracts["uploaded_at"].to_pylist()))
    diff_columns = json_columns.get("extracts", ())
    views = {}
    for moment in [*moments, None]:
        label = moment.isoformat(sep=" ") if moment else None
        views["participants", label] = fingerprint(_arrow(store.current_participants(as_of=moment)), ())
        views["extracts", label] = fingerprint(_arrow(store.extracts(as_of=moment)), diff_columns)
    return views


def _arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def fingerprint(table: pa.Table, json_columns=()) -> str:
    """A checksum of a table's rows that any engine gives alike: values in one type per kind (timestamps
    to the microsecond without a zone, JSON text re-written with sorted keys), rows sorted by every
    column, each row hashed by pandas (vectorised: a 100,000-row snapshot in a fraction of a second)."""
    table = _normalised(table, set(json_columns))
    table = table.select(sorted(table.column_names))
    if table.num_rows and table.num_columns:
        table = table.sort_by([(name, "ascending") for name in table.column_names])
    digest = hashlib.sha256(f"{table.num_rows}:{','.join(table.column_names)}".encode())
    if table.num_rows and table.num_columns:
        rows = pd.util.hash_pandas_object(table.to_pandas(date_as_object=False), index=False)
        digest.update(rows.to_numpy().tobytes())
    return digest.hexdigest()


def _normalised(table: pa.Table, json_columns: set[str]) -> pa.Table:
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = field.type
        if field.name in json_columns:
            column = pa.array([None if v is None else json.dumps(_json(v), sort_keys=True) for v in column.to_pylist()], pa.string())
        elif pa.types.is_timestamp(kind):  # (a zone, were there one, goes: the values are UTC)
            column = pc.cast(column, pa.timestamp("us"))
        elif pa.types.is_date(kind):
            column = pc.cast(column, pa.date32())
        elif pa.types.is_integer(kind):
            column = pc.cast(column, pa.int64())
        elif pa.types.is_floating(kind):
            column = pc.cast(column, pa.float64())
        elif pa.types.is_null(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            column = pc.cast(column, pa.string())
        elif not (pa.types.is_string(kind) or pa.types.is_boolean(kind)):
            column = pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _json(value):
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _json_columns(con) -> dict[str, tuple[str, ...]]:
    """{table: its JSON columns} (standard SQL: DuckDB's JSON, PostgreSQL's json and jsonb)."""
    found: dict[str, tuple[str, ...]] = {}
    for table, column in con.execute(
        """SELECT table_name, column_name FROM information_schema.columns
           WHERE table_schema = current_schema() AND lower(data_type) IN ('json', 'jsonb') ORDER BY table_name, column_name"""
    ).fetchall():
        found[table] = (*found.get(table, ()), column)
    return found


def _first_line(exc: BaseException) -> str:
    """The engine's reason, without the values it quotes (a row's text may be a participant's)."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return re.sub(r"=\([^)]*\)", "=(…)", re.sub(r"'[^']*'", "'…'", line))
