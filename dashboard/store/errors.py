"""What the store raises: a database that cannot be used (exit 3), a write refused (exit 1)."""

from __future__ import annotations


class StoreUnavailable(RuntimeError):
    """The database cannot be used (not a database, damaged, from a newer version, read-only
    for a write, disk full): nothing was changed; the message says what happened and what
    to do (exit 3)."""


class StoreBusy(StoreUnavailable):
    """Another program holds the database file for longer than we wait."""


class StoreReadOnly(StoreUnavailable):
    """A change was asked of a database this program may only read."""


class Refused(ValueError):
    """A write was refused; nothing changed. The message says why."""


class ContentRefused(Refused):
    """A refusal found inside a write's transaction, audited once the transaction is rolled back."""

    def __init__(self, message: str, code: str, **counts):
        super().__init__(message)
        self.code, self.counts = code, {k: v for k, v in counts.items() if v is not None}


class AlreadyLoaded(Refused):
    """The very file is the current extract already (another upload of it landed first)."""

    def __init__(self, extract_id: int):
        super().__init__(f"this file is already loaded as extract #{extract_id}; nothing changed")
        self.extract_id = extract_id

