-- The small-batch store function reads a frame's session by its key, whatever the statistics.
--
-- 0015 pinned `gateway_store_few_frames` to index probes, but "an index" left the planner a
-- choice for the active-session check (`s.id = ... AND s.status = 'active'`): the primary key,
-- or `idx_interview_sessions_status`, a bitmap over every active session, filtered by id. A
-- connection that plans the function while `interview_sessions` has no statistics yet (a new
-- deployment, a bulk import of sessions, the benchmark's fresh sessions) chooses the second and
-- keeps it until the next ANALYZE: with 1,000 active sessions a one-frame call cost PostgreSQL
-- 640-660 us of CPU against 440-500 us by key, and a five-frame call 1,000-1,200 against
-- 700-750 (docs/benchmarks.md). Making the status test unindexable is not enough: without
-- statistics the planner then reads every session by a full scan of the primary key, once.
--
-- The session is now read like the resend check: a `LATERAL ... LIMIT 1` subquery that has only
-- the key to go on (a LIMIT keeps the status test from being pushed into it), so its one plan
-- is a probe of the primary key per frame. Otherwise as in 0015. The large-batch function keeps
-- its hash join, the right plan for thousands of frames over most active sessions.

CREATE OR REPLACE FUNCTION gateway_store_few_frames(
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
    CROSS JOIN LATERAL (
      SELECT s.status FROM interview_sessions s WHERE s.id = i.session_id LIMIT 1
    ) session
    LEFT JOIN LATERAL (
      SELECT TRUE AS found FROM voice_transcripts v
      WHERE v.session_id = i.session_id AND v.round_number = i.round_number AND v.seq = i.seq
      LIMIT 1
    ) earlier ON TRUE
    WHERE session.status = 'active' AND (i.seq IS NULL OR (i.copy = 1 AND earlier.found IS NULL))
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
