"""`pull`: each configured source fetched and sent through the very same check and write path
as a dropped file (ingest.check_file + commit: the identifier screen, validation, the diff,
the mass-removal guard, the grant of the source's service user, one transaction, audit).

Outcomes, one per source, each audited as one `pull` entry (the digest reads them):
- stored: a clean pull, stored as an extract by the service user;
- confirmed: the very data that is current already: confirms it (freshness counts from it);
- waiting: it needs a person (warnings to accept, a mass removal, a mapping): stored nowhere,
  kept for the upload page as "a pull waiting for your decision", with its report;
- refused: the data breaks a rule (an identifier, a date that is no date, a grant): nothing stored;
- failed: the source could not be read (credentials, network, a study or group not found).
A failure of one source never stops the next.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dashboard import sources
from dashboard.access import Access
from dashboard.config import Programme, Source
from dashboard.fields import DATE_FIELDS, FIELD_NAMES
from dashboard.ingest import Checked, check_file, commit
from dashboard.sources.secrets import source_secrets
from dashboard.store import AlreadyLoaded, Refused, Store

log = logging.getLogger(__name__)
MAPPING_CODES = ("missing_columns", "mapped_column_missing")


@dataclass
class PullOutcome:
    source: str
    trial: str
    site: str
    outcome: str  # stored | confirmed | waiting | refused | failed
    message: str
    diff: dict | None = None
    extract_id: int | None = None
    pull_id: int | None = None
    counts: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"ok": self.outcome in ("stored", "confirmed", "waiting"), **dataclasses.asdict(self)}

    def audit_detail(self) -> dict:
        """The `pull` audit entry: no participant data and no secret, only names and counts."""
        return {"source": self.source, "site": self.site, "outcome": self.outcome, "reason": self.message,
                "extract_id": self.extract_id, "diff": self.diff, **self.counts}


def chosen_sources(programme: Programme, trial: str | None = None, site: str | None = None) -> list[tuple[str, str, Source]]:
    """The configured sources of a trial and site (codes or aliases; None: all)."""
    trial_code = programme.trial_code(trial) if trial else None
    site_code = programme.site_code(site) if site else None
    return [(t, s, src) for t, s, src in programme.sources()
            if (trial is None or t == trial_code) and (site is None or s == site_code)]


def pull_all(store: Store, programme: Programme, trial: str | None = None, site: str | None = None,
             environ: Mapping[str, str] | None = None, secrets_path: Path | None = None,
             access: Access | None = None) -> list[PullOutcome]:
    return [pull_one(store, programme, t, s, src, source_secrets(src.name, environ, secrets_path), access)
            for t, s, src in chosen_sources(programme, trial, site)]


def pull_one(store: Store, programme: Programme, trial: str, site: str, source: Source, secrets: dict[str, str],
             access: Access | None = None, mapping: dict[str, str] | None = None) -> PullOutcome:
    """Fetch one source and store, confirm, hold or refuse what it brings; audited. `mapping` (canonical
    field -> column of the pulled data) is a coordinator's choice for a pull that waited for one: it is
    remembered for the trial and format once the pull is stored, as an upload's is."""
    outcome = PullOutcome(source.name, trial, site, "failed", "")
    try:
        fetched = sources.fetch(source, secrets)
    except sources.PullFailed as exc:
        outcome.message = str(exc)
    except Exception:  # a fault of ours: the traceback to the log (it holds no secret: they are never in a message)
        log.exception("pull of %s failed", source.name)
        outcome.message = f"{source.name}: an internal error stopped the pull; nothing was stored (the details are in the log)."
    else:
        outcome.counts = fetched.counts
        return _settle(store, programme, outcome, fetched, source, access, mapping)
    log.warning("%s", outcome.message)
    store.record(source.service_user, "pull", outcome.audit_detail(), trial=trial)
    return outcome


def _settle(store, programme, outcome: PullOutcome, fetched, source: Source, access, mapping: dict[str, str] | None) -> PullOutcome:
    checked = check_file(store, programme, fetched.data, fetched.file_name, outcome.trial, site=outcome.site, fmt=fetched.format,
                         mapping=mapping)
    checked.source = source.name
    outcome.diff = checked.diff.counts() if checked.diff else None
    needs_mapping = any(i.code in MAPPING_CODES for i in checked.errors)
    actor = source.service_user
    if not checked.ok and not needs_mapping:
        outcome.outcome = "refused"
        outcome.message = (f"{source.name}: the pulled data has {len(checked.errors)} error(s), the first {_where(checked.errors[0])}; "
                           "nothing was stored. Correct it in the EDC (the upload page shows every error for a file); "
                           "the next pull checks it again.")
    elif checked.already_loaded is None and (needs_mapping or checked.needs_confirmation or checked.mass_removal is not None):
        return _hold(store, outcome, checked, source, needs_mapping, mapping)
    else:
        try:
            outcome.extract_id = commit(store, checked, actor, access=access, mapping=mapping)
        except AlreadyLoaded as exc:  # the same data landed from elsewhere (a "Pull now") while this one was checked
            checked = dataclasses.replace(checked, already_loaded=exc.extract_id)
            outcome.extract_id = commit(store, checked, actor, access=access)
        except Refused as exc:
            outcome.outcome, outcome.message = "refused", f"{source.name}: {exc}"
        if outcome.outcome != "refused":
            if checked.already_loaded is not None:
                outcome.outcome = "confirmed"
                outcome.message = f"{source.name}: unchanged since extract #{outcome.extract_id}; confirmed current"
            else:
                counts = outcome.diff
                outcome.outcome = "stored"
                outcome.message = (f"{source.name}: stored as extract #{outcome.extract_id}: {counts['new']} new, "
                                   f"{counts['changed']} changed, {counts['missing']} no longer in the data, {counts['unchanged']} unchanged")
    store.record(actor, "pull", outcome.audit_detail(), trial=outcome.trial)
    if outcome.outcome in ("stored", "confirmed"):  # a pull waiting from before is overtaken
        store.supersede_pulls(source.name, actor)
    return outcome


def _hold(store: Store, outcome: PullOutcome, checked: Checked, source: Source, needs_mapping: bool,
          mapping: dict[str, str] | None) -> PullOutcome:
    if needs_mapping:
        why = "a required field is not mapped to a column of the data (" + ", ".join(checked.unmapped or ["see the report"]) + ")"
    elif checked.mass_removal is not None:
        why = checked.mass_removal.sentences()[0]
    else:
        why = f"{sum(i.needs_confirmation for i in checked.warnings)} warning(s) need a decision"
    outcome.outcome = "waiting"
    outcome.message = f"{source.name}: {why}; nothing was stored. It waits on the upload page for a coordinator's decision."
    pull = {"source": source.name, "trial": outcome.trial, "site": outcome.site, "sha256": checked.sha256,
            # The column names (no values) to map from, and the mapping chosen so far.
            "format": checked.format, "report": {**checked.to_json(), "columns": checked.columns, "unmapped": checked.unmapped,
                                                 "mapping": mapping or {}},
            "canonical_csv": None if checked.participants is None else canonical_csv(checked.participants)}
    outcome.pull_id = store.hold_pull(source.service_user, pull, outcome.audit_detail())
    return outcome


def canonical_csv(participants: pd.DataFrame) -> str:
    """Validated participants as the project's template CSV: what a waiting pull keeps (the
    canonical fields, as an extract stores them, nothing more)."""
    table = participants[list(FIELD_NAMES)].copy()
    for name in DATE_FIELDS:
        table[name] = pd.to_datetime(table[name]).dt.strftime("%Y-%m-%d")
    return table.astype(object).where(table.notna(), "").to_csv(index=False)


def decide(store: Store, programme: Programme, pull_id: int, actor: str, confirm_removals: int | None = None,
           access: Access | None = None) -> int:
    """Store a waiting pull as the person who decided it, after checking its canonical rows again
    against what is current now (the same report, from the same path); returns the extract's id.
    Refused (nothing stored) when it still has errors, needs a mapping, or the removals are not typed."""
    waiting = store.waiting_pulls()
    row = waiting[waiting["pull_id"] == pull_id]
    if row.empty:
        raise Refused(f"there is no pull #{pull_id} waiting for a decision")
    pull = row.iloc[0]
    if pull["canonical_csv"] is None:
        raise Refused(f"pull #{pull_id} needs a mapping first: choose the column of each field and pull again")
    checked = check_file(store, programme, pull["canonical_csv"].encode("utf-8"), f"pull {pull['source']}", pull["trial"],
                         site=pull["site"], fmt="template")
    # Stored under the pulled data's fingerprint, so that the same data pulled again confirms it.
    checked = dataclasses.replace(checked, sha256=pull["sha256"], format=pull["format"], file_name=pull["report"]["file"],
                                  already_loaded=None, source=pull["source"])
    extract_id = commit(store, checked, actor, accept_warnings=True, confirm_removals=confirm_removals, access=access,
                        mapping=pull["report"].get("mapping") or None)
    store.decide_pull(pull_id, actor, "stored", extract_id, {
        "source": pull["source"], "site": pull["site"],
        "reason": f"{pull['source']}: the pull waiting for a decision was stored as extract #{extract_id} by {actor.strip()}"})
    return extract_id


def _where(issue) -> str:
    """Where an error is, by row, column and kind: never its value (the audit log keeps no
    participant text, and an identifier found must not be repeated)."""
    parts = [f"in row {issue.row}" if issue.row else "", f"column `{issue.column}`" if issue.column else ""]
    return " ".join(p for p in parts if p) + f" ({issue.code})"
