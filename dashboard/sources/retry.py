"""Bounded waits and retries shared by the EDC clients, and what a fetch returns.

A request that meets a rate limit (429) waits what the server asks (Retry-After, or until
X-RateLimit-Reset), but never longer than the source's `max_wait_seconds`: a longer wait
fails the pull in words instead. A server error (5xx) or a time-out is retried
`retries` times with a doubling back-off, itself within `max_wait_seconds`.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from dashboard import clock

BACKOFF_START = 0.5  # seconds before the first retry; doubled each time


class PullFailed(RuntimeError):
    """A pull that could not be done; the message is one sentence for a person."""


class Retry(Exception):
    """A request that may succeed when asked again (server error, time-out, rate limit)."""

    def __init__(self, what: str, wait: float | None = None):
        super().__init__(what)
        self.what = what
        self.wait = wait  # seconds the server asked for (rate limit); None: our own back-off


@dataclass
class Fetched:
    data: bytes  # the export as the EDC would write it (CSV)
    format: str  # "castor" or "redcap"
    file_name: str  # how the extract is named: the source and the moment
    counts: dict = field(default_factory=dict)  # requests, pages, waits: for the audit and the log


def server_wait(status: int, headers: Mapping[str, str]) -> float | None:
    """Seconds a rate-limited server asks to wait: Retry-After (seconds or an HTTP date), else
    X-RateLimit-Reset (seconds, or a Unix time); None when it does not say."""
    retry_after = headers.get("retry-after") or headers.get("Retry-After")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            moment = email.utils.parsedate_to_datetime(retry_after)
            if moment is not None:
                return max(0.0, moment.timestamp() - time.time())
    reset = headers.get("x-ratelimit-reset") or headers.get("X-RateLimit-Reset")
    if reset:
        try:
            value = float(reset)
        except ValueError:
            return None
        return max(0.0, value - time.time()) if value > 1e9 else value
    return None


def exhausted(headers: Mapping[str, str]) -> bool:
    """The response says no call is left in this window (X-RateLimit-Remaining: 0)."""
    remaining = headers.get("x-ratelimit-remaining") or headers.get("X-RateLimit-Remaining")
    return remaining is not None and remaining.strip() == "0"


def pause_for_rate_limit(wait: float, name: str, max_wait: float, counts: dict, sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait what a rate limit asks, when it is within the source's bound; else fail in words."""
    if wait > max_wait:
        raise PullFailed(
            f"{name}: the server's rate limit asks to wait {wait:.0f} s, longer than this source's "
            f"limit of {max_wait:g} s; nothing was stored. Pull again later, or raise max_wait_seconds."
        )
    counts["rate_limit_waits"] = counts.get("rate_limit_waits", 0) + 1
    counts["waited_seconds"] = round(counts.get("waited_seconds", 0) + wait, 3)
    sleep(wait)


def with_retries(call: Callable[[], object], name: str, retries: int, max_wait: float, counts: dict,
                 sleep: Callable[[float], None] = time.sleep):
    """`call()`, asked again after a `Retry` within the bounds; PullFailed when they are spent."""
    attempt = 0
    while True:
        try:
            return call()
        except Retry as exc:
            if exc.wait is not None:  # a rate limit: the server says how long
                pause_for_rate_limit(exc.wait, name, max_wait, counts, sleep)
                continue
            if attempt >= retries:
                raise PullFailed(
                    f"{name}: {exc.what}, also after {retries} retr{'y' if retries == 1 else 'ies'}; nothing was stored. "
                    "The EDC may be down: pull again later, and tell the EDC's support if it lasts."
                ) from None
            pause = min(BACKOFF_START * 2**attempt, max_wait)
            attempt += 1
            counts["retries"] = counts.get("retries", 0) + 1
            sleep(pause)


def extract_name(source_name: str, kind: str) -> str:
    """The file name an extract of this pull is stored under (no participant data in it)."""
    return f"pull {source_name} ({kind}) {clock.now():%Y-%m-%d %H:%M}.csv"
