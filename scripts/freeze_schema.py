"""Write the frozen database of each schema version the dashboard has shipped, as SQL:
tests/files/schemas/schema_N.sql holds that version's own migrations (exactly as they
shipped) and a small history written in that version's tables. The upgrade tests load
each one and check that today's dashboard upgrades it with its data intact.

Run once when a migration ships (python scripts/freeze_schema.py); never regenerate an
older file: it stands for databases that exist in hospitals.
"""

import sys
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from dashboard.store import MIGRATIONS, SCHEMA_VERSION

OUT = Path(__file__).resolve().parent.parent / "tests" / "files" / "schemas"

# The history, by the version whose tables it needs. Ids come from the sequences, in order.
DATA = {
    1: """
INSERT INTO extracts (trial, file_name, sha256, format, encoding, delimiter, uploaded_by, uploaded_at, row_count, participant_count, warnings_accepted, diff)
VALUES ('PUMP', 'PUMP_export_20240101.csv', 'a1', 'castor', 'utf-8', ';', 'coordinator EMC', TIMESTAMP '2024-01-01 09:00:00', 3, 3, 0,
        '{"counts": {"new": 3, "changed": 0, "missing": 0, "unchanged": 0}}');
INSERT INTO extract_sites VALUES (1, 'EMC');
INSERT INTO extracts (trial, file_name, sha256, format, encoding, delimiter, uploaded_by, uploaded_at, row_count, participant_count, warnings_accepted, diff)
VALUES ('PUMP', 'PUMP_export_20240201.csv', 'a2', 'castor', 'utf-8', ';', 'coordinator EMC', TIMESTAMP '2024-02-01 09:00:00', 4, 4, 1,
        '{"counts": {"new": 1, "changed": 1, "missing": 0, "unchanged": 2}}');
INSERT INTO extract_sites VALUES (2, 'EMC');
INSERT INTO extracts (trial, file_name, sha256, format, encoding, delimiter, uploaded_by, uploaded_at, row_count, participant_count, warnings_accepted, diff,
                      retracted_at, retracted_by, retraction_reason)
VALUES ('PUMP-2', 'wrong_trial.csv', 'b1', 'template', 'utf-8', ',', 'coordinator NKI', TIMESTAMP '2024-02-10 10:00:00', 1, 1, 0, NULL,
        TIMESTAMP '2024-02-11 08:00:00', 'director', 'the export of another trial');
INSERT INTO extract_sites VALUES (3, 'NKI');
INSERT INTO participants (extract_id, trial, participant_id, site, screened_on, screening_outcome, consented_on, enrolled_on, arm, status, source_row) VALUES
  (1, 'PUMP', 'EMC-001', 'EMC', DATE '2023-10-01', 'eligible', DATE '2023-10-05', DATE '2023-10-10', 'haip', 'on_treatment', 2),
  (1, 'PUMP', 'EMC-002', 'EMC', DATE '2023-11-01', 'eligible', DATE '2023-11-03', DATE '2023-11-08', 'control', 'follow_up', 3),
  (1, 'PUMP', 'EMC-003', 'EMC', DATE '2023-12-01', 'ineligible', NULL, NULL, NULL, 'screening', 4),
  (2, 'PUMP', 'EMC-001', 'EMC', DATE '2023-10-01', 'eligible', DATE '2023-10-05', DATE '2023-10-09', 'haip', 'on_treatment', 2),
  (2, 'PUMP', 'EMC-002', 'EMC', DATE '2023-11-01', 'eligible', DATE '2023-11-03', DATE '2023-11-08', 'control', 'follow_up', 3),
  (2, 'PUMP', 'EMC-003', 'EMC', DATE '2023-12-01', 'ineligible', NULL, NULL, NULL, 'screening', 4),
  (2, 'PUMP', 'EMC-004', 'EMC', DATE '2024-01-10', 'eligible', DATE '2024-01-12', DATE '2024-01-20', 'haip', 'enrolled', 5),
  (3, 'PUMP-2', 'N-1', 'NKI', NULL, NULL, NULL, DATE '2024-01-15', 'haip', 'enrolled', 2);
UPDATE participants SET screen_fail_reason = 'risk score 3' WHERE participant_id = 'EMC-003';
UPDATE participants SET withdrawn_on = NULL, pump_implanted_on = DATE '2023-10-20', cycles_completed = 2 WHERE participant_id = 'EMC-001';
INSERT INTO audit_log (logged_at, actor, action, trial, extract_id, detail) VALUES
  (TIMESTAMP '2024-01-01 08:59:00', 'system', 'config_loaded', NULL, NULL, '{"sha256": "c0", "trials": ["PUMP", "PUMP-2", "PUMP-IT"]}'),
  (TIMESTAMP '2024-01-01 09:00:00', 'coordinator EMC', 'ingest', 'PUMP', 1, '{"extract_id": 1, "participants": 3}'),
  (TIMESTAMP '2024-02-01 09:00:00', 'coordinator EMC', 'ingest', 'PUMP', 2, '{"extract_id": 2, "participants": 4}'),
  (TIMESTAMP '2024-02-10 10:00:00', 'coordinator NKI', 'ingest', 'PUMP-2', 3, '{"extract_id": 3, "participants": 1}'),
  (TIMESTAMP '2024-02-11 08:00:00', 'director', 'retract', 'PUMP-2', 3, '{"extract_id": 3, "reason": "the export of another trial"}');
""",
    2: """
INSERT INTO column_mappings VALUES ('PUMP', 'castor', 'enrolled_on', 'Randomized On', 'coordinator EMC', TIMESTAMP '2024-02-01 09:00:00');
""",
    3: """
INSERT INTO extract_confirmations VALUES (2, TIMESTAMP '2024-02-08 09:00:00', 'coordinator EMC', 'PUMP_export_20240208.csv');
INSERT INTO audit_log (logged_at, actor, action, trial, extract_id, detail) VALUES
  (TIMESTAMP '2024-02-08 09:00:00', 'coordinator EMC', 'reconfirm', 'PUMP', 2, '{"extract_id": 2}');
""",
    4: """
INSERT INTO meetings (held_at, held_by, note) VALUES (TIMESTAMP '2024-02-15 16:00:00', 'chair', 'first steering meeting');
INSERT INTO meeting_cuts VALUES (1, 'PUMP', 'EMC', 2, TIMESTAMP '2024-02-08 09:00:00');
INSERT INTO audit_log (logged_at, actor, action, trial, extract_id, detail) VALUES
  (TIMESTAMP '2024-02-15 16:00:00', 'chair', 'meeting', NULL, NULL, '{"meeting_id": 1}');
""",
    5: "",  # participant_versions: migration 5 moved the rows above into it
    6: """
UPDATE extracts SET source = 'castor-pump' WHERE extract_id = 2;
INSERT INTO waiting_pulls (source, trial, site, pulled_at, pulled_by, sha256, format, report, canonical_csv) VALUES
  ('castor-pump', 'PUMP', 'EMC', TIMESTAMP '2024-02-20 06:00:00', 'scheduled pull', 'c1', 'castor',
   '{"ok": true, "warnings": [{"row": 3, "column": "enrolled_on", "message": "a date in the future"}]}',
   'participant_id,site,enrolled_on\nEMC-001,EMC,2023-10-09\n');
INSERT INTO audit_log (logged_at, actor, action, trial, extract_id, detail) VALUES
  (TIMESTAMP '2024-02-20 06:00:00', 'scheduled pull', 'pull', 'PUMP', NULL, '{"pull_id": 1, "outcome": "waiting"}');
""",    7: "",  # store_identity: migration 7 gives the database its identity
}

SCHEMA_VERSION_TABLE = "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL);\n"


def frozen_sql(version: int) -> str:
    parts = [f"-- A dashboard database of schema version {version}, frozen by scripts/freeze_schema.py.\n",
             SCHEMA_VERSION_TABLE]
    if version <= 4:  # as these shipped (never regenerated): the migrations, then the history
        for number in range(1, version + 1):
            parts.append(f"-- migration {number}\n{MIGRATIONS[number - 1].strip()}\n")
            parts.append(f"INSERT INTO schema_version VALUES ({number}, TIMESTAMP '2023-09-01 12:00:00');\n")
        parts.extend(DATA[n].strip() + "\n" for n in range(1, version + 1))
        return "\n".join(parts)
    # From version 5 on, a database lived through its migrations: each version's history is
    # written in its own tables, before the next migration moves it on (5 folds the per-extract
    # participant rows into versions).
    for number in range(1, version + 1):
        parts.append(f"-- migration {number}\n{MIGRATIONS[number - 1].strip()}\n")
        parts.append(f"INSERT INTO schema_version VALUES ({number}, TIMESTAMP '2023-09-01 12:00:00');\n")
        parts.append(DATA[number].strip() + "\n")
    return "\n".join(parts)


def main(versions: list[int]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for version in versions:
        sql = frozen_sql(version)
        duckdb.connect().execute(sql)  # it must load
        (OUT / f"schema_{version}.sql").write_text(sql)
        print(f"wrote {OUT / f'schema_{version}.sql'}")


if __name__ == "__main__":
    main([int(v) for v in sys.argv[1:]] or list(range(1, SCHEMA_VERSION + 1)))
