"""The store: schema and migrations (schema), the engines (duckdb_engine: the file, its
connection, the waiting-marker protocol, faults in sentences; postgres_engine: a server database, its pool,
the dialect, faults in sentences), the read queries (reads), the single
write path (writes), and the Store over them (database). Importers use this package's names only."""

from dashboard.store.database import DEFAULT_DB_PATH, Store
from dashboard.store.duckdb_engine import LOCK_WAIT_SECONDS, count_csv_rows, lock_wait_from_environment
from dashboard.store.errors import AlreadyLoaded, Refused, StoreBusy, StoreReadOnly, StoreUnavailable
from dashboard.store.postgres_engine import is_address, scratch_schema
from dashboard.store.reads import extract_per_site
from dashboard.store.schema import CURRENT_EXTRACTS, EVERYTHING, MIGRATIONS, SCHEMA_VERSION, SNAPSHOT_COLUMNS, migrate, rows_as_in
from dashboard.store.writes import ACCESS_FILE_ACTION, DEMO_ACTOR, REDACTABLE, SYSTEM_ACTOR

__all__ = [
    "ACCESS_FILE_ACTION",
    "CURRENT_EXTRACTS",
    "DEFAULT_DB_PATH",
    "DEMO_ACTOR",
    "EVERYTHING",
    "LOCK_WAIT_SECONDS",
    "MIGRATIONS",
    "REDACTABLE",
    "SCHEMA_VERSION",
    "SNAPSHOT_COLUMNS",
    "SYSTEM_ACTOR",
    "AlreadyLoaded",
    "Refused",
    "Store",
    "StoreBusy",
    "StoreReadOnly",
    "StoreUnavailable",
    "count_csv_rows",
    "extract_per_site",
    "is_address",
    "lock_wait_from_environment",
    "migrate",
    "rows_as_in",
    "scratch_schema",
]
