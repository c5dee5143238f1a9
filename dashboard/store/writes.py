"""The single write path: every change and its audit entry in one transaction, and the changes
built on it (extracts, retractions, redactions, meetings, waiting pulls)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import NoReturn

import pandas as pd

from dashboard import access as rules
from dashboard.fields import DATE_FIELDS, FIELD_NAMES
from dashboard.identifiers import screen_mapping, screen_stored
from dashboard.removals import check_confirmation, mass_removal
from dashboard.store.errors import AlreadyLoaded, ContentRefused, Refused
from dashboard.store.reads import _loaded_already, extract_per_site
from dashboard.store.schema import CURRENT_EXTRACTS, WRITING, forward_moment, now, rows_as_in, same_version

# Free-text fields a director may blank in a stored extract (and its file name).
REDACTABLE = ("screen_fail_reason", "withdrawal_reason", "file_name")
SYSTEM_ACTOR = "system"
# The uploader of demo extracts: how the pages know to label the data as demo; its audit entries say demo.
DEMO_ACTOR = "demo data"
# The audit entry that remembers the access file a database is used with (Store.bind_access).
ACCESS_FILE_ACTION = "access_file"


class Writes:
    """The write path of a Store (mixed into it: `transaction`, `query`, `scalar` are its)."""

    def write(self, actor: str, action: str, change: Callable[[object], dict], trial: str | None = None) -> dict:
        """Run `change` and its audit record in one transaction: all of it lands or none.
        `change` returns the audit detail (with `extract_id` when it concerns one: the audit entry's
        trial is then the extract's, unless `trial` is given). Inside it `now()` is the write's
        moment (forward_moment: never before anything stored), and the audit entry has it too."""
        if not actor or not actor.strip():
            raise Refused("say who you are: every change is recorded with the acting user")
        with self.transaction() as con:
            try:
                moment = WRITING.moment = forward_moment(con)
                detail = change(con)
                if actor.strip() == DEMO_ACTOR:
                    detail = {**detail, "demo": True}
                if self.run_by:
                    detail = {**detail, **self.run_by}
                audit_entry(con, moment, actor, action, detail, trial)
            finally:
                WRITING.moment = None
        return detail

    def refuse(self, actor: str | None, action: str, reason: str, trial: str | None = None, **counts) -> NoReturn:
        """Write one audit entry for a refusal (the reason and counts, never participant text), in a
        transaction of its own, then raise Refused with the reason."""
        who = actor.strip() if actor and actor.strip() else "(no name given)"
        self.write(who, "refused", lambda con: {"action": action, "reason": reason, **counts}, trial=trial)
        raise Refused(reason)

    def adopt_access(self, access: rules.Access, actor: str) -> dict:
        """From now on this database is used with `access` (another file): the caller has checked
        that `actor` is a programme director of the file it was used with (cli.py `access adopt`)."""
        detail = {"path": str(Path(access.path).resolve()), "sha256": access.sha256, "adopted": True}
        return self.write(actor, ACCESS_FILE_ACTION, lambda con: detail)

    def refused_content(self, actor: str | None, action: str, message: str, code: str, trial: str | None = None,
                        **counts) -> NoReturn:
        """Refuse for what a write would store (an identifier, errors, a mass removal): the audit entry
        holds the kind of problem (`code`) and counts, never the message, which may quote the data."""
        with suppress(Refused):
            self.refuse(actor, action, code, trial=trial, **counts)
        raise Refused(message)

    def check_grant(
        self,
        actor: str,
        action: str,
        access: rules.Access | None = None,
        trial: str | None = None,
        sites: list[str] | None = None,
        extract_uploaded_by: str | None = None,
        detail: dict | None = None,
    ) -> None:
        """Refuse `action` when the access file does not grant it to `actor` (DESIGN.md 6.1):
        the refusal is written to the audit log in a transaction of its own, then raised. `access`
        is the access file in use; None reads it from $PUMP_ACCESS or data/access.toml, so no
        caller can skip the check by leaving it out. Without an access file (local mode) the one
        person at this computer may do everything, unless the database has been used with an access
        file: then it is a signed-in deployment and a write without one is refused (bind_access)."""
        access = access if access is not None else rules.active()
        reason = self.bind_access(access)
        if reason is None and access is not None:
            reason = rules.refusal(access.grant_for(actor), action, trial, sites, extract_uploaded_by, who=actor)
        if reason is not None:
            self.refuse(actor, action, reason, trial=trial, sites=sites, **(detail or {}))

    def remembered_access(self) -> dict | None:
        """The access file this database was last used with ({path, sha256}), or None: never with one."""
        text = self.scalar(f"SELECT detail FROM audit_log WHERE action = '{ACCESS_FILE_ACTION}' ORDER BY audit_id DESC LIMIT 1")
        return json.loads(text) if text else None

    def bind_access(self, access: rules.Access | None) -> str | None:
        """Why a write with `access` (None: no access file) may not go ahead on this database, or None.
        The first use with an access file is remembered (its path and fingerprint, in the audit log);
        from then on a write needs that very file: none at all is refused, and so is another file (a
        file of one's own named by PUMP_ACCESS); the same file with new content is a change of the
        grants, recorded. A programme director moves the database to another file (`access adopt`)."""
        if access is not None and access.path is None:
            return None  # grants given in code (the demo loader's), not a file
        remembered = self.remembered_access()
        if access is None:
            if remembered is None:
                return None
            return (f"this database is used with sign-in: give the access file (PUMP_ACCESS={remembered['path']}); "
                    "nothing was changed")
        path = str(Path(access.path).resolve())
        if remembered is not None and remembered["path"] != path:
            return (f"this database is used with the access file {remembered['path']}, not {path}; nothing was changed. "
                    "A programme director moves it to another file with `python -m dashboard access adopt`")
        if remembered is None or remembered["sha256"] != access.sha256:
            self.record(SYSTEM_ACTOR, ACCESS_FILE_ACTION, {"path": path, "sha256": access.sha256,
                                                           "changed": remembered is not None})
        return None

    def add_extract(
        self,
        extract: dict,
        sites: list[str],
        participants: pd.DataFrame,
        actor: str,
        mapping: dict[str, str] | None = None,
        confirm_removals: int | None = None,
        based_on: dict[str, int] | None = None,
        access: rules.Access | None = None,
        reasons: dict[str, dict[str, str]] | None = None,
    ) -> int:
        """Store one accepted extract and its participant rows, and the column mapping the
        coordinator chose for it (remembered for the trial and format), in one transaction;
        returns the extract's id. Refused, with nothing stored, when any text holds a direct
        identifier, when it removes many current participants and `confirm_removals` is not
        that number, or when the sites' current extracts are no longer `based_on`, those the
        preview was made against (another upload landed in between). Refused and audited when the
        actor's grant does not cover the trial and every site (check_grant). `reasons`, the codes
        chosen for typed reasons ({"reasons:<field>": {fingerprint: code}}), are added to those remembered."""
        self.check_grant(actor, "ingest", access, trial=extract["trial"], sites=list(sites), detail={"sha256": extract["sha256"]})
        problem = screen_mapping(mapping) or screen_stored(
            {
                "The file name": extract["file_name"],
                "`screen_fail_reason`": participants["screen_fail_reason"],
                "`withdrawal_reason`": participants["withdrawal_reason"],
            },
            ids=participants["participant_id"],
        )
        if problem:
            self.refused_content(actor, "ingest", problem, "identifier", trial=extract["trial"], rows=len(participants))

        def change(con) -> dict:
            at = extract.get("uploaded_at") or now()
            duplicate = _loaded_already(con, extract["trial"], extract["sha256"], at)
            if duplicate is not None:
                raise AlreadyLoaded(duplicate)
            trial_rows = self.frame(
                con,
                f"""SELECT site, participant_id, extract_id FROM ({rows_as_in(CURRENT_EXTRACTS)}) AS current_rows
                    WHERE trial = $trial""",
                {"as_of": at, "trial": extract["trial"]},
            )
            mine = trial_rows["site"].isin(sites)
            current = trial_rows[mine]
            if based_on is not None and extract_per_site(current) != based_on:
                raise Refused(
                    f"another {extract['trial']} extract was stored while you were checking this one, so what it "
                    "changes is no longer what you saw; check the file again. Nothing was stored."
                )
            _refuse_ids_now_elsewhere(participants, trial_rows[~mine])
            removal = mass_removal(extract["trial"], current, participants["participant_id"])
            refusal = check_confirmation(removal, confirm_removals)
            if refusal:
                raise ContentRefused(refusal, "mass removal", removed=removal.count)
            extract_id = con.execute(
                """INSERT INTO extracts (trial, file_name, sha256, format, encoding, delimiter, uploaded_by,
                       uploaded_at, row_count, participant_count, warnings_accepted, diff, source)
                   VALUES ($trial, $file_name, $sha256, $format, $encoding, $delimiter, $actor, $uploaded_at,
                       $row_count, $participant_count, $warnings_accepted, $diff, $source)
                   RETURNING extract_id""",
                {**extract, "actor": actor.strip(), "uploaded_at": at, "source": extract.get("source")},
            ).fetchone()[0]
            con.executemany("INSERT INTO extract_sites VALUES (?, ?)", [[extract_id, s] for s in sites])
            _store_versions(con, extract["trial"], sites, extract_id, participants, self.as_table)
            if mapping:
                _replace_mapping(con, extract["trial"], extract["format"], mapping, actor)
            for key, chosen in (reasons or {}).items():
                _add_mapping(con, extract["trial"], key, chosen, actor)
            return {
                "mapping": mapping or None,
                # How many typed reasons were mapped to a code: a count, the words are never stored.
                "reasons_mapped": sum(len(chosen) for chosen in (reasons or {}).values()) or None,
                "extract_id": extract_id,
                # No file name: the history shows the one confirmed after the screen, and a redaction blanks it there.
                "sha256": extract["sha256"],
                "sites": sites,
                "participants": len(participants),
                # Counts only: the audit log is never changed, so it holds no participant's text.
                "diff": json.loads(extract["diff"]).get("counts") if extract.get("diff") else None,
                "removals_confirmed": confirm_removals,
            }

        try:
            return self.write(actor, "ingest", change, trial=extract["trial"])["extract_id"]
        except ContentRefused as exc:  # rolled back; now the refusal's own audit entry
            self.refused_content(actor, "ingest", str(exc), exc.code, trial=extract["trial"], rows=len(participants), **exc.counts)

    def confirm_extract(
        self, extract_id: int, actor: str, file_name: str, at: dt.datetime | None = None, access: rules.Access | None = None
    ) -> None:
        """Record that the current extract was uploaded again: its data is confirmed current (an
        upload, so the actor's grant must cover the extract's trial and sites)."""
        sites = self.query("SELECT e.trial, s.site FROM extracts e JOIN extract_sites s USING (extract_id) WHERE extract_id = ?",
                           [extract_id])
        trial = None if sites.empty else str(sites["trial"].iloc[0])
        self.check_grant(actor, "ingest", access, trial=trial, sites=sorted(sites["site"]), detail={"extract_id": extract_id})

        def change(con) -> dict:
            con.execute(
                "INSERT INTO extract_confirmations VALUES (?, ?, ?, ?)", [extract_id, at or now(), actor.strip(), file_name]
            )
            return {"extract_id": extract_id}

        self.write(actor, "reconfirm", change)

    def retract(self, extract_id: int, actor: str, reason: str, access: rules.Access | None = None) -> dict:
        """Mark an extract retracted; the previous extract of its sites becomes current again.
        A coordinator retracts only their own extracts; a director any (check_grant)."""
        owner = self.query("SELECT trial, uploaded_by FROM extracts WHERE extract_id = ?", [extract_id])
        if not owner.empty:
            self.check_grant(actor, "retract", access, trial=str(owner["trial"].iloc[0]),
                             extract_uploaded_by=str(owner["uploaded_by"].iloc[0]), detail={"extract_id": extract_id})
        if not reason or not reason.strip():
            raise Refused("give a reason for the retraction; it is kept in the audit log")
        problem = screen_stored({"The reason": reason})
        if problem:
            self.refused_content(actor, "retract", problem, "identifier", extract_id=extract_id)

        def change(con) -> dict:
            row = con.execute("SELECT trial, retracted_at FROM extracts WHERE extract_id = ?", [extract_id]).fetchone()
            if row is None:
                raise Refused(f"there is no extract #{extract_id}")
            if row[1] is not None:
                raise Refused(f"extract #{extract_id} was already retracted on {row[1]:%d-%m-%Y %H:%M}")
            con.execute(
                "UPDATE extracts SET retracted_at = ?, retracted_by = ?, retraction_reason = ? WHERE extract_id = ?",
                [now(), actor.strip(), reason.strip(), extract_id],
            )
            return {"extract_id": extract_id, "trial": row[0], "reason": reason.strip()}

        return self.write(actor, "retract", change)

    def redact(self, extract_id: int, fields: list[str], actor: str, reason: str, access: rules.Access | None = None) -> dict:
        """Blank named text fields of a stored extract that should never have held them: the
        one exception to "nothing is deleted". Each text this extract holds goes from every place it
        is stored: every version of that participant that carries it (before and after this
        extract), every stored diff of the trial that carries it, and (for `file_name`) the file name
        of the extract and of its confirmations. The audit entry says who, when, which fields and how
        many values, never the content. Then the file is rewritten, so that the old bytes are gone
        from it too (rewrite_file). Directors only (check_grant)."""
        self.check_grant(actor, "redact", access, detail={"extract_id": extract_id})
        unknown = sorted(set(fields) - set(REDACTABLE))
        if not fields or unknown:
            raise Refused(f"choose the fields to blank from {', '.join(REDACTABLE)}" + (f"; not {', '.join(unknown)}" if unknown else ""))
        if not reason or not reason.strip():
            raise Refused("give a reason for the redaction; it is kept in the audit log")
        problem = screen_stored({"The reason": reason})
        if problem:
            self.refused_content(actor, "redact", problem, "identifier", extract_id=extract_id)

        def change(con) -> dict:
            row = con.execute("SELECT trial, diff FROM extracts WHERE extract_id = ?", [extract_id]).fetchone()
            if row is None:
                raise Refused(f"there is no extract #{extract_id}")
            trial = row[0]
            blanked, texts = {}, {}
            for name in (f for f in fields if f != "file_name"):
                texts[name] = _held_texts(con, extract_id, name)
                blanked[name] = _blank_versions(con, trial, name, texts[name], self.as_table)
            _forget_in_pulls(con, trial, [text for pairs in texts.values() for _, text in pairs])
            diffs = 0
            for other_id, diff in con.execute("SELECT extract_id, diff FROM extracts WHERE trial = ? AND diff IS NOT NULL",
                                              [trial]).fetchall():
                cleaned = _forgotten_in_diff(_redacted_diff(diff, fields) if other_id == extract_id else diff, texts)
                if cleaned != diff:
                    con.execute("UPDATE extracts SET diff = ? WHERE extract_id = ?", [cleaned, other_id])
                    diffs += 1
            if "file_name" in fields:
                con.execute("UPDATE extracts SET file_name = ? WHERE extract_id = ?", [f"(redacted) extract #{extract_id}", extract_id])
                blanked["file_name"] = 1 + con.execute(
                    "UPDATE extract_confirmations SET file_name = ? WHERE extract_id = ?", [f"(redacted) extract #{extract_id}", extract_id]
                ).fetchone()[0]
            return {"extract_id": extract_id, "fields": sorted(fields), "values_blanked": blanked, "diffs_cleaned": diffs,
                    "reason": reason.strip()}

        detail = self.write(actor, "redact", change)
        return {**detail, "files_rewritten": self.rewrite_file()}

    def rewrite(self, actor: str) -> dict:
        """`store rewrite`: the tables written afresh (a redaction's old values gone from the files), by the
        role that owns them; audited. Refused for a role that may not."""
        if not self.rewrite_file():
            raise Refused("only the role that owns the dashboard's tables (the one init ran as) may rewrite them: run this with its address")
        return self.write(actor, "rewrite", lambda con: {"rewritten": True})

    def grant_role(self, role: str, actor: str) -> dict:
        """`store grant`: let a PostgreSQL role that owns nothing use the tables as the dashboard does (read and write
        them, only add to the audit log), so that the dashboard, running as it, cannot undo the audit log's guard."""
        return self.write(actor, "grant", lambda con: self._engine.grant(con, role) or {"role": role})

    def record(self, actor: str, action: str, detail: dict, trial: str | None = None) -> None:
        """An audit entry for an action that changes no data (e.g. a new configuration)."""
        self.write(actor, action, lambda con: detail, trial=trial)

    def hold_meeting(
        self, actor: str, note: str | None = None, at: dt.datetime | None = None, access: rules.Access | None = None
    ) -> dict:
        """Record a steering meeting held now (or `at`), by `actor`, with an optional note, and
        freeze the data cut it saw: the extract current for each (trial, site) at that moment.
        A correction uploaded later never rewrites that cut. Directors only (check_grant)."""
        self.check_grant(actor, "meeting", access)
        note = (note or "").strip() or None
        problem = screen_stored({"The meeting note": note})
        if problem:
            self.refused_content(actor, "meeting", problem, "identifier")

        def change(con) -> dict:
            held_at = at or now()
            meeting_id = con.execute(
                "INSERT INTO meetings (held_at, held_by, note) VALUES (?, ?, ?) RETURNING meeting_id",
                [held_at, actor.strip(), note],
            ).fetchone()[0]
            con.execute(
                f"""INSERT INTO meeting_cuts
                    SELECT $meeting_id, c.trial, c.site, c.extract_id,
                           greatest(e.uploaded_at, coalesce(max(k.confirmed_at), e.uploaded_at))
                    FROM ({CURRENT_EXTRACTS}) c JOIN extracts e USING (extract_id)
                    LEFT JOIN extract_confirmations k ON k.extract_id = e.extract_id AND k.confirmed_at <= $as_of
                    GROUP BY c.trial, c.site, c.extract_id, e.uploaded_at""",
                {"meeting_id": meeting_id, "as_of": held_at},
            )
            extracts = con.execute("SELECT count(DISTINCT extract_id) FROM meeting_cuts WHERE meeting_id = ?", [meeting_id]).fetchone()[0]
            return {"meeting_id": meeting_id, "held_at": held_at.isoformat(sep=" "), "note": note, "extracts": extracts}

        return self.write(actor, "meeting", change)

    # ---- pulls that wait for a person ------------------------------------------------

    def hold_pull(self, actor: str, pull: dict, detail: dict) -> int:
        """Keep a pull that needs a person's decision, and audit it (action `pull`, `detail`), in one
        transaction; an earlier undecided pull of the same source is superseded by it."""

        def change(con) -> dict:
            at = now()
            con.execute(
                """UPDATE waiting_pulls SET decided_at = $at, decided_by = $actor, decision = 'superseded'
                   WHERE source = $source AND decided_at IS NULL""",
                {"at": at, "actor": actor.strip(), "source": pull["source"]},
            )
            pull_id = con.execute(
                """INSERT INTO waiting_pulls (source, trial, site, pulled_at, pulled_by, sha256, format, report, canonical_csv)
                   VALUES ($source, $trial, $site, $at, $actor, $sha256, $format, $report, $canonical_csv) RETURNING pull_id""",
                {**pull, "at": at, "actor": actor.strip(), "report": json.dumps(pull["report"], default=str)},
            ).fetchone()[0]
            return {**detail, "pull_id": pull_id}

        return self.write(actor, "pull", change, trial=pull["trial"])["pull_id"]

    def supersede_pulls(self, source: str, actor: str) -> int:
        """Close the undecided pulls of a source that a later pull has overtaken (stored or confirmed
        its data): they no longer wait for anyone. Returns how many; audited when there were any."""
        if not self.scalar("SELECT count(*) FROM waiting_pulls WHERE source = ? AND decided_at IS NULL", [source]):
            return 0

        def change(con) -> dict:
            closed = con.execute(
                """UPDATE waiting_pulls SET decided_at = $at, decided_by = $actor, decision = 'superseded'
                   WHERE source = $source AND decided_at IS NULL""",
                {"at": now(), "actor": actor.strip(), "source": source},
            ).fetchone()[0]
            return {"source": source, "decision": "superseded", "pulls": closed}

        return self.write(actor, "pull_decision", change)["pulls"]

    def decide_pull(self, pull_id: int, actor: str, decision: str, extract_id: int | None = None, detail: dict | None = None) -> None:
        """Record what became of a waiting pull (`stored` as `extract_id`), audited as a `pull` entry whose
        outcome is the decision: the pull's final outcome, as the digest reads it."""

        trial = self.scalar("SELECT trial FROM waiting_pulls WHERE pull_id = ?", [pull_id])

        def change(con) -> dict:
            row = con.execute("SELECT trial, decided_at FROM waiting_pulls WHERE pull_id = ?", [pull_id]).fetchone()
            if row is None:
                raise Refused(f"there is no waiting pull #{pull_id}")
            if row[1] is not None:
                raise Refused(f"pull #{pull_id} was decided already, on {row[1]:%d-%m-%Y %H:%M}")
            con.execute(
                "UPDATE waiting_pulls SET decided_at = ?, decided_by = ?, decision = ?, extract_id = ? WHERE pull_id = ?",
                [now(), actor.strip(), decision, extract_id, pull_id],
            )
            return {**(detail or {}), "outcome": decision, "pull_id": pull_id, "extract_id": extract_id}

        self.write(actor, "pull", change, trial=trial)


def audit_entry(con, moment: dt.datetime, actor: str, action: str, detail: dict, trial: str | None = None) -> None:
    """The audit entry of a write, in its transaction (its trial: `trial`, else its extract's)."""
    con.execute(
        """INSERT INTO audit_log (logged_at, actor, action, trial, extract_id, detail)
           VALUES ($at, $actor, $action,
                   coalesce($trial, (SELECT trial FROM extracts WHERE extract_id = $extract_id)),
                   $extract_id, $detail)""",
        {"at": moment, "actor": actor.strip(), "action": action, "trial": trial,
         "extract_id": detail.get("extract_id"), "detail": json.dumps(detail, default=str)},
    )


def _store_versions(con, trial: str, sites: list[str], extract_id: int, participants: pd.DataFrame, as_table) -> None:
    """Store an extract's rows as versions: a row that an open version of its site already holds
    keeps that version; any other row starts one; an open version of the extract's sites that no
    row holds any more ends here. Afterwards the open versions of these sites are this extract."""
    casts = ", ".join(f"CAST({n} AS DATE) AS {n}" if n in DATE_FIELDS else n for n in FIELD_NAMES)
    with as_table(con, "incoming_frame", participants):
        con.execute(f"CREATE TEMP TABLE incoming AS SELECT {casts}, source_row FROM incoming_frame")
    con.execute(
        f"""INSERT INTO participant_versions (trial, {', '.join(FIELD_NAMES)}, source_row, valid_from)
            SELECT $trial, {', '.join(f'i.{n}' for n in FIELD_NAMES)}, i.source_row, $id FROM incoming i
            WHERE NOT EXISTS (SELECT 1 FROM participant_versions v
                              WHERE v.trial = $trial AND v.valid_to IS NULL AND {same_version('i', 'v')})""",
        {"trial": trial, "id": extract_id},
    )
    con.execute(
        f"""UPDATE participant_versions v SET valid_to = $id
            WHERE v.trial = $trial AND v.site IN (SELECT unnest($sites)) AND v.valid_to IS NULL AND v.valid_from < $id
              AND NOT EXISTS (SELECT 1 FROM incoming i WHERE {same_version('i', 'v')})""",
        {"trial": trial, "sites": sites, "id": extract_id},
    )
    con.execute("DROP TABLE incoming")  # on failure the rollback drops it


def _redacted_diff(diff: str | None, fields: list[str]) -> str | None:
    """The stored changes of an extract with the old and new values of `fields` blanked."""
    if not diff:
        return diff
    data = json.loads(diff)
    for changes in (data.get("changed") or {}).values():
        for name in fields:
            if name in changes:
                changes[name] = {"old": None if changes[name]["old"] is None else "(redacted)",
                                 "new": None if changes[name]["new"] is None else "(redacted)"}
    return json.dumps(data)


def _refuse_ids_now_elsewhere(participants: pd.DataFrame, elsewhere: pd.DataFrame) -> None:
    """The preview refused ids current at another site of the trial (validation.ids_at_other_sites); one that
    became current there since (that site's upload landed while this one was being checked) is refused here,
    in the commit's transaction, so that no participant is ever counted at two sites."""
    at = elsewhere.drop_duplicates("participant_id").set_index("participant_id")["site"]
    clash = sorted(set(participants["participant_id"]) & set(at.index))
    if clash:
        more = f" and {len(clash) - 1} more" if len(clash) > 1 else ""
        raise ContentRefused(
            f"{clash[0]!r}{more} became current at {at[clash[0]]} while you were checking this file, which has "
            f"{'it' if len(clash) == 1 else 'them'} at another site; one participant belongs to one site. Nothing was "
            "stored: correct the id, or ask the trial office to record a transfer, and check the file again",
            "participant at another site", participants=len(clash))


def _held_texts(con, extract_id: int, name: str) -> list[tuple[str, str]]:
    """(participant, text) of field `name` in the rows of an extract."""
    cuts = "SELECT e.trial, s.site, e.extract_id FROM extracts e JOIN extract_sites s USING (extract_id) WHERE e.extract_id = $id"
    return con.execute(f"SELECT DISTINCT participant_id, {name} FROM ({rows_as_in(cuts)}) AS extract_rows WHERE {name} IS NOT NULL",
                       {"id": extract_id}).fetchall()


def _blank_versions(con, trial: str, name: str, texts: list[tuple[str, str]], as_table) -> int:
    """Blank field `name` in every version of the trial's participants that holds their text; the count."""
    if not texts:
        return 0
    with as_table(con, "forgotten_frame", pd.DataFrame(texts, columns=["participant_id", "text"])):
        return con.execute(
            f"""UPDATE participant_versions v SET {name} = NULL FROM forgotten_frame f
                WHERE v.trial = $trial AND v.participant_id = f.participant_id AND v.{name} = f.text""",
            {"trial": trial},
        ).fetchone()[0]


def _forget_in_pulls(con, trial: str, texts: list[str]) -> None:
    """Blank the texts in the trial's pulls kept for a decision (their rows and check report)."""
    for text in set(texts):
        con.execute(
            """UPDATE waiting_pulls SET canonical_csv = replace(canonical_csv, $text, ''),
                                        report = CAST(replace(CAST(report AS VARCHAR), $text, '(redacted)') AS JSON)
               WHERE trial = $trial AND (strpos(canonical_csv, $text) > 0 OR strpos(CAST(report AS VARCHAR), $text) > 0)""",
            {"trial": trial, "text": text},
        )


def _forgotten_in_diff(diff: str | None, texts: dict[str, list[tuple[str, str]]]) -> str | None:
    """A stored diff without the texts ({field: [(participant, text)]}) of its participants."""
    if not diff or not any(texts.values()):
        return diff
    data = json.loads(diff)
    changed, found = data.get("changed") or {}, False
    for name, pairs in texts.items():
        for participant, text in pairs:
            values = changed.get(participant, {}).get(name) or {}
            if text in values.values():
                changed[participant][name] = {k: "(redacted)" if v == text else v for k, v in values.items()}
                found = True
    return json.dumps(data) if found else diff


def _replace_mapping(con, trial: str, fmt: str, mapping: dict[str, str], actor: str) -> None:
    con.execute("DELETE FROM column_mappings WHERE trial = ? AND format = ?", [trial, fmt])
    _add_mapping(con, trial, fmt, mapping, actor)


def _add_mapping(con, trial: str, fmt: str, mapping: dict[str, str], actor: str) -> None:
    if not mapping:
        return
    con.executemany(
        """INSERT INTO column_mappings VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (trial, format, field)
           DO UPDATE SET column_name = excluded.column_name, saved_by = excluded.saved_by, saved_at = excluded.saved_at""",
        [[trial, fmt, f, c, actor.strip(), now()] for f, c in mapping.items()],
    )
