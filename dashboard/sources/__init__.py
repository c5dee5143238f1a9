"""EDC sources (DESIGN.md 3, "Source"): fetch a site's participants from Castor or REDCap
and return them as the export file the coordinator would have dropped, so that a pull is
read, checked and stored exactly as an upload is (`dashboard/pull.py`).

One module per EDC (castor.py on httpx, redcap.py on PyCap); the bounded waits and retries
they share are in retry.py, the credentials in secrets.py. A failure is `PullFailed`, whose
message is one sentence naming the source and what to do, and never holds a secret.
"""

from __future__ import annotations

from dashboard.sources.retry import Fetched, PullFailed

__all__ = ["Fetched", "PullFailed", "fetch"]


def fetch(source, secrets: dict[str, str]) -> Fetched:
    """The source's current export (dashboard.config.Source), or PullFailed."""
    if source.castor is not None:
        from dashboard.sources import castor

        return castor.fetch(source, secrets)
    from dashboard.sources import redcap

    return redcap.fetch(source, secrets)
