-- The group commit's plans no longer depend on how big the tables were when they were made.
--
-- `gateway_store_frames` gets a handful of frames per call when the gateway is not saturated
-- (it commits as soon as a slot is free) and up to `COMMIT_MAX_BATCH` when it is. Its input is
-- a JSON array whose length the planner cannot know (it assumes 100 elements), and plpgsql
-- keeps each statement's plan for the connection's life. Read with auto_explain on a database
-- of 5,000 sessions, three plans went wrong for small batches:
--   * the lock on the batch's counters was a hash semi-join over a sequential scan of every
--     session's `session_counters` row (0.7 ms of PostgreSQL CPU per commit at 5,000 sessions,
--     whatever the batch's size);
--   * the resend check (`NOT EXISTS` on session, round, seq) became a hashed subplan over a
--     sequential scan of the whole `voice_transcripts` table, chosen while the table was nearly
--     empty and kept as it grew (1.4 ms a call, 3.9 ms a few thousand rows later);
--   * the active-session check became a hash join over every active session.
--
-- Both sizes now have a function of their own; the gateway calls the first for a batch of up
-- to `FEW_FRAMES` (storage/transcripts.py) frames, the second for more:
--   * `gateway_store_few_frames` plans every statement as index probes: the lock is
--     `= ANY (ARRAY(...))`, the resend check a `LATERAL ... LIMIT 1` probe (it cannot be
--     hashed), and sequential scans, hash joins and merge joins are off inside it;
--   * `gateway_store_frames` keeps 0014's plans for large batches (a hash over the batch is the
--     right plan for 2,000 frames; pinning those to probes cost 25% more CPU per frame in the
--     closed-loop benchmark), with the lock by primary key as well.
-- Measured side by side in docs/benchmarks.md (section 1a). Otherwise as in 0014.

CREATE FUNCTION gateway_store_few_frames(
  p_frames JSONB
) RETURNS TABLE (
  r_ord             BIGINT,
  r_stored          BOOLEAN,
  r_message_id      UUID,
  r_event_id        BIGINT,
  r_message_number  INTEGER,
  r_prior_role      TEXT,
  r_prior_text      TEXT
)
LANGUAGE plpgsql
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off
AS $fn$
#variable_conflict use_column
DECLARE
  stored_rows BIGINT;
BEGIN
  PERFORM 1 FROM session_counters c
  WHERE c.session_id = ANY (ARRAY(
    SELECT DISTINCT (f ->> 1)::UUID FROM jsonb_array_elements(p_frames) f))
  ORDER BY c.session_id
  FOR UPDATE;

  RETURN QUERY
  WITH input AS (
    SELECT t.*,
           row_number() OVER (PARTITION BY t.session_id, t.round_number, t.seq
                              ORDER BY t.ord) AS copy
    FROM gateway_frames(p_frames) t
  ), fresh AS (
    SELECT i.*, row_number() OVER (PARTITION BY i.session_id ORDER BY i.ord) AS n
    FROM input i
    JOIN interview_sessions s ON s.id = i.session_id AND s.status = 'active'
    LEFT JOIN LATERAL (
      SELECT TRUE AS found FROM voice_transcripts v
      WHERE v.session_id = i.session_id AND v.round_number = i.round_number AND v.seq = i.seq
      LIMIT 1
    ) earlier ON TRUE
    WHERE i.seq IS NULL OR (i.copy = 1 AND earlier.found IS NULL)
  ), numbered AS (
    SELECT f.ord, f.id, f.session_id, f.round_number, f.seq, f.role, f.text, f.ts,
           f.word_count,
           c.last_event_id + f.n AS event_id,
           (c.message_count + f.n)::INTEGER AS message_number
    FROM fresh f
    JOIN session_counters c ON c.session_id = f.session_id
  ), inserted AS (
    INSERT INTO voice_transcripts
      (id, session_id, round_number, seq, role, text, timestamp, word_count, event_id,
       message_number)
    SELECT nb.id, nb.session_id, nb.round_number, nb.seq, nb.role, nb.text, nb.ts,
           nb.word_count, nb.event_id, nb.message_number
    FROM numbered nb
    ORDER BY nb.ord
  ), bumped AS (
    UPDATE session_counters c
    SET last_event_id = c.last_event_id + b.stored,
        message_count = c.message_count + b.stored
    FROM (SELECT nb.session_id, count(*) AS stored FROM numbered nb GROUP BY nb.session_id) b
    WHERE c.session_id = b.session_id
  )
  SELECT nb.ord, TRUE, nb.id, nb.event_id, nb.message_number, NULL::TEXT, NULL::TEXT
  FROM numbered nb;

  GET DIAGNOSTICS stored_rows = ROW_COUNT;
  IF stored_rows = jsonb_array_length(p_frames) THEN
    RETURN;
  END IF;

  RETURN QUERY
  SELECT k.ord, FALSE, v.id, NULL::BIGINT, NULL::INTEGER, v.role,
         coalesce((SELECT r.previous_text FROM voice_transcript_revisions r
                   WHERE r.message_id = v.id ORDER BY r.revision LIMIT 1), v.text)
  FROM gateway_frames(p_frames) k
  JOIN voice_transcripts v
    ON v.session_id = k.session_id AND v.round_number = k.round_number AND v.seq = k.seq
  WHERE k.seq IS NOT NULL AND v.id <> k.id;
END;
$fn$;

-- Large batches: as in 0014, but the counters locked by primary-key probes.
CREATE OR REPLACE FUNCTION gateway_store_frames(
  p_frames JSONB
) RETURNS TABLE (
  r_ord             BIGINT,
  r_stored          BOOLEAN,
  r_message_id      UUID,
  r_event_id        BIGINT,
  r_message_number  INTEGER,
  r_prior_role      TEXT,
  r_prior_text      TEXT
)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  stored_rows BIGINT;
BEGIN
  PERFORM 1 FROM session_counters c
  WHERE c.session_id = ANY (ARRAY(
    SELECT DISTINCT (f ->> 1)::UUID FROM jsonb_array_elements(p_frames) f))
  ORDER BY c.session_id
  FOR UPDATE;

  RETURN QUERY
  WITH input AS (
    SELECT t.*,
           row_number() OVER (PARTITION BY t.session_id, t.round_number, t.seq
                              ORDER BY t.ord) AS copy
    FROM gateway_frames(p_frames) t
  ), fresh AS (
    SELECT i.*, row_number() OVER (PARTITION BY i.session_id ORDER BY i.ord) AS n
    FROM input i
    JOIN interview_sessions s ON s.id = i.session_id AND s.status = 'active'
    WHERE i.seq IS NULL
       OR (i.copy = 1 AND NOT EXISTS (
             SELECT 1 FROM voice_transcripts v
             WHERE v.session_id = i.session_id AND v.round_number = i.round_number
               AND v.seq = i.seq))
  ), numbered AS (
    SELECT f.ord, f.id, f.session_id, f.round_number, f.seq, f.role, f.text, f.ts,
           f.word_count,
           c.last_event_id + f.n AS event_id,
           (c.message_count + f.n)::INTEGER AS message_number
    FROM fresh f
    JOIN session_counters c ON c.session_id = f.session_id
  ), inserted AS (
    INSERT INTO voice_transcripts
      (id, session_id, round_number, seq, role, text, timestamp, word_count, event_id,
       message_number)
    SELECT nb.id, nb.session_id, nb.round_number, nb.seq, nb.role, nb.text, nb.ts,
           nb.word_count, nb.event_id, nb.message_number
    FROM numbered nb
    ORDER BY nb.ord
  ), bumped AS (
    UPDATE session_counters c
    SET last_event_id = c.last_event_id + b.stored,
        message_count = c.message_count + b.stored
    FROM (SELECT nb.session_id, count(*) AS stored FROM numbered nb GROUP BY nb.session_id) b
    WHERE c.session_id = b.session_id
  )
  SELECT nb.ord, TRUE, nb.id, nb.event_id, nb.message_number, NULL::TEXT, NULL::TEXT
  FROM numbered nb;

  GET DIAGNOSTICS stored_rows = ROW_COUNT;
  IF stored_rows = jsonb_array_length(p_frames) THEN
    RETURN;
  END IF;

  RETURN QUERY
  SELECT k.ord, FALSE, v.id, NULL::BIGINT, NULL::INTEGER, v.role,
         coalesce((SELECT r.previous_text FROM voice_transcript_revisions r
                   WHERE r.message_id = v.id ORDER BY r.revision LIMIT 1), v.text)
  FROM gateway_frames(p_frames) k
  JOIN voice_transcripts v
    ON v.session_id = k.session_id AND v.round_number = k.round_number AND v.seq = k.seq
  WHERE k.seq IS NOT NULL AND v.id <> k.id;
END;
$fn$;
