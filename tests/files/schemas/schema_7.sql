-- A dashboard database of schema version 7, frozen by scripts/freeze_schema.py.

CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL);

-- migration 1
CREATE SEQUENCE extract_ids START 1;
    CREATE TABLE extracts (
        extract_id INTEGER PRIMARY KEY DEFAULT nextval('extract_ids'),
        trial VARCHAR NOT NULL,
        file_name VARCHAR NOT NULL,
        sha256 VARCHAR NOT NULL,
        format VARCHAR NOT NULL,
        encoding VARCHAR,
        delimiter VARCHAR,
        uploaded_by VARCHAR NOT NULL,
        uploaded_at TIMESTAMP NOT NULL,
        row_count INTEGER NOT NULL,
        participant_count INTEGER NOT NULL,
        warnings_accepted INTEGER NOT NULL DEFAULT 0,
        diff JSON,
        retracted_at TIMESTAMP,
        retracted_by VARCHAR,
        retraction_reason VARCHAR
    );
    CREATE TABLE extract_sites (
        extract_id INTEGER NOT NULL,
        site VARCHAR NOT NULL,
        PRIMARY KEY (extract_id, site)
    );
    CREATE TABLE participants (
        extract_id INTEGER NOT NULL,
        trial VARCHAR NOT NULL,
        participant_id VARCHAR NOT NULL,
        site VARCHAR NOT NULL,
        screened_on DATE,
        screening_outcome VARCHAR,
        screen_fail_reason VARCHAR,
        consented_on DATE,
        enrolled_on DATE,
        arm VARCHAR,
        status VARCHAR,
        withdrawn_on DATE,
        withdrawal_reason VARCHAR,
        pump_implanted_on DATE,
        treatment_started_on DATE,
        treatment_ended_on DATE,
        cycles_completed INTEGER,
        converted_on DATE,
        source_row INTEGER,
        PRIMARY KEY (extract_id, participant_id)
    );
    CREATE SEQUENCE audit_ids START 1;
    CREATE TABLE audit_log (
        audit_id INTEGER PRIMARY KEY DEFAULT nextval('audit_ids'),
        logged_at TIMESTAMP NOT NULL,
        actor VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        trial VARCHAR,
        extract_id INTEGER,
        detail JSON
    );

INSERT INTO schema_version VALUES (1, TIMESTAMP '2023-09-01 12:00:00');

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

-- migration 2
CREATE TABLE column_mappings (
        trial VARCHAR NOT NULL,
        format VARCHAR NOT NULL,
        field VARCHAR NOT NULL,
        column_name VARCHAR NOT NULL,
        saved_by VARCHAR NOT NULL,
        saved_at TIMESTAMP NOT NULL,
        PRIMARY KEY (trial, format, field)
    );

INSERT INTO schema_version VALUES (2, TIMESTAMP '2023-09-01 12:00:00');

INSERT INTO column_mappings VALUES ('PUMP', 'castor', 'enrolled_on', 'Randomized On', 'coordinator EMC', TIMESTAMP '2024-02-01 09:00:00');

-- migration 3
CREATE TABLE extract_confirmations (
        extract_id INTEGER NOT NULL,
        confirmed_at TIMESTAMP NOT NULL,
        confirmed_by VARCHAR NOT NULL,
        file_name VARCHAR NOT NULL
    );

INSERT INTO schema_version VALUES (3, TIMESTAMP '2023-09-01 12:00:00');

INSERT INTO extract_confirmations VALUES (2, TIMESTAMP '2024-02-08 09:00:00', 'coordinator EMC', 'PUMP_export_20240208.csv');
INSERT INTO audit_log (logged_at, actor, action, trial, extract_id, detail) VALUES
  (TIMESTAMP '2024-02-08 09:00:00', 'coordinator EMC', 'reconfirm', 'PUMP', 2, '{"extract_id": 2}');

-- migration 4
CREATE SEQUENCE meeting_ids START 1;
    CREATE TABLE meetings (
        meeting_id INTEGER PRIMARY KEY DEFAULT nextval('meeting_ids'),
        held_at TIMESTAMP NOT NULL,
        held_by VARCHAR NOT NULL,
        note VARCHAR
    );
    CREATE TABLE meeting_cuts (
        meeting_id INTEGER NOT NULL,
        trial VARCHAR NOT NULL,
        site VARCHAR NOT NULL,
        extract_id INTEGER NOT NULL,
        data_at TIMESTAMP NOT NULL,
        PRIMARY KEY (meeting_id, trial, site)
    );

INSERT INTO schema_version VALUES (4, TIMESTAMP '2023-09-01 12:00:00');

INSERT INTO meetings (held_at, held_by, note) VALUES (TIMESTAMP '2024-02-15 16:00:00', 'chair', 'first steering meeting');
INSERT INTO meeting_cuts VALUES (1, 'PUMP', 'EMC', 2, TIMESTAMP '2024-02-08 09:00:00');
INSERT INTO audit_log (logged_at, actor, action, trial, extract_id, detail) VALUES
  (TIMESTAMP '2024-02-15 16:00:00', 'chair', 'meeting', NULL, NULL, '{"meeting_id": 1}');

-- migration 5
CREATE TABLE participant_versions (
        trial VARCHAR NOT NULL,
        participant_id VARCHAR NOT NULL,
        site VARCHAR NOT NULL,
        screened_on DATE,
        screening_outcome VARCHAR,
        screen_fail_reason VARCHAR,
        consented_on DATE,
        enrolled_on DATE,
        arm VARCHAR,
        status VARCHAR,
        withdrawn_on DATE,
        withdrawal_reason VARCHAR,
        pump_implanted_on DATE,
        treatment_started_on DATE,
        treatment_ended_on DATE,
        cycles_completed INTEGER,
        converted_on DATE,
        source_row INTEGER,
        valid_from INTEGER NOT NULL,
        valid_to INTEGER,
        PRIMARY KEY (trial, participant_id, valid_from)
    );
    INSERT INTO participant_versions
    WITH chain AS (
        SELECT e.trial, s.site, e.extract_id,
               lag(e.extract_id) OVER (PARTITION BY e.trial, s.site ORDER BY e.extract_id) AS previous,
               lead(e.extract_id) OVER (PARTITION BY e.trial, s.site ORDER BY e.extract_id) AS next
        FROM extracts e JOIN extract_sites s USING (extract_id)
    ),
    marked AS (
        SELECT p.*, c.next,
               (q.participant_id IS NULL
                   OR q.screened_on IS DISTINCT FROM p.screened_on
                   OR q.screening_outcome IS DISTINCT FROM p.screening_outcome
                   OR q.screen_fail_reason IS DISTINCT FROM p.screen_fail_reason
                   OR q.consented_on IS DISTINCT FROM p.consented_on
                   OR q.enrolled_on IS DISTINCT FROM p.enrolled_on
                   OR q.arm IS DISTINCT FROM p.arm
                   OR q.status IS DISTINCT FROM p.status
                   OR q.withdrawn_on IS DISTINCT FROM p.withdrawn_on
                   OR q.withdrawal_reason IS DISTINCT FROM p.withdrawal_reason
                   OR q.pump_implanted_on IS DISTINCT FROM p.pump_implanted_on
                   OR q.treatment_started_on IS DISTINCT FROM p.treatment_started_on
                   OR q.treatment_ended_on IS DISTINCT FROM p.treatment_ended_on
                   OR q.cycles_completed IS DISTINCT FROM p.cycles_completed
                   OR q.converted_on IS DISTINCT FROM p.converted_on)::INTEGER AS starts
        FROM participants p
        JOIN chain c ON c.extract_id = p.extract_id AND c.site = p.site AND c.trial = p.trial
        LEFT JOIN participants q
          ON q.extract_id = c.previous AND q.trial = p.trial AND q.site = p.site AND q.participant_id = p.participant_id
    ),
    runs AS (
        SELECT *, sum(starts) OVER (PARTITION BY trial, site, participant_id ORDER BY extract_id) AS run FROM marked
    )
    -- A run's rows are equal in every field (that is what continues it): take the first's.
    SELECT trial, participant_id, site,
           first(screened_on ORDER BY extract_id),
           first(screening_outcome ORDER BY extract_id),
           first(screen_fail_reason ORDER BY extract_id),
           first(consented_on ORDER BY extract_id),
           first(enrolled_on ORDER BY extract_id),
           first(arm ORDER BY extract_id),
           first(status ORDER BY extract_id),
           first(withdrawn_on ORDER BY extract_id),
           first(withdrawal_reason ORDER BY extract_id),
           first(pump_implanted_on ORDER BY extract_id),
           first(treatment_started_on ORDER BY extract_id),
           first(treatment_ended_on ORDER BY extract_id),
           first(cycles_completed ORDER BY extract_id),
           first(converted_on ORDER BY extract_id),
           first(source_row ORDER BY extract_id), min(extract_id), last(next ORDER BY extract_id)
    FROM runs GROUP BY trial, site, participant_id, run;
    DROP TABLE participants;

INSERT INTO schema_version VALUES (5, TIMESTAMP '2023-09-01 12:00:00');



-- migration 6
CREATE SEQUENCE pull_ids START 1;
    CREATE TABLE waiting_pulls (
        pull_id INTEGER PRIMARY KEY DEFAULT nextval('pull_ids'),
        source VARCHAR NOT NULL,
        trial VARCHAR NOT NULL,
        site VARCHAR NOT NULL,
        pulled_at TIMESTAMP NOT NULL,
        pulled_by VARCHAR NOT NULL,
        sha256 VARCHAR NOT NULL,
        format VARCHAR NOT NULL,
        report JSON NOT NULL,
        canonical_csv VARCHAR,
        decided_at TIMESTAMP,
        decided_by VARCHAR,
        decision VARCHAR,
        extract_id INTEGER
    );
    ALTER TABLE extracts ADD COLUMN source VARCHAR;

INSERT INTO schema_version VALUES (6, TIMESTAMP '2023-09-01 12:00:00');

UPDATE extracts SET source = 'castor-pump' WHERE extract_id = 2;
INSERT INTO waiting_pulls (source, trial, site, pulled_at, pulled_by, sha256, format, report, canonical_csv) VALUES
  ('castor-pump', 'PUMP', 'EMC', TIMESTAMP '2024-02-20 06:00:00', 'scheduled pull', 'c1', 'castor',
   '{"ok": true, "warnings": [{"row": 3, "column": "enrolled_on", "message": "a date in the future"}]}',
   'participant_id,site,enrolled_on
EMC-001,EMC,2023-10-09
');
INSERT INTO audit_log (logged_at, actor, action, trial, extract_id, detail) VALUES
  (TIMESTAMP '2024-02-20 06:00:00', 'scheduled pull', 'pull', 'PUMP', NULL, '{"pull_id": 1, "outcome": "waiting"}');

-- migration 7
CREATE TABLE store_identity (identity VARCHAR PRIMARY KEY, created_at TIMESTAMP NOT NULL);
    INSERT INTO store_identity SELECT CAST(gen_random_uuid() AS VARCHAR), CAST(current_timestamp AS TIMESTAMP);

INSERT INTO schema_version VALUES (7, TIMESTAMP '2023-09-01 12:00:00');


