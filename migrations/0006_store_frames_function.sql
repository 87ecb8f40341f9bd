-- Group commit in one round trip, and transcript events kept in their transcript row.
--
-- A batch of transcript frames used to take six statements (BEGIN, INSERT, lock, bump, event
-- INSERT, COMMIT), each waiting for the gateway's busy event loop to read the reply, and wrote
-- every frame twice: its row and a `live_events` row repeating it as JSON. Now a transcript
-- event is its `voice_transcripts` row (which carries the event id and the message number);
-- the session's event log is `live_events` plus those rows, ordered by event id.

ALTER TABLE voice_transcripts
  ADD COLUMN event_id        BIGINT CHECK (event_id >= 1),
  ADD COLUMN message_number  INTEGER CHECK (message_number >= 1);

-- Transcript events logged before this migration move into their rows.
UPDATE voice_transcripts v
SET event_id = e.event_id,
    message_number = (e.payload ->> 'message_count')::INTEGER
FROM live_events e
WHERE e.event_type = 'transcript'
  AND e.session_id = v.session_id
  AND e.payload ->> 'message_id' = v.id::TEXT;
DELETE FROM live_events WHERE event_type = 'transcript';

CREATE UNIQUE INDEX uq_voice_transcripts_event
  ON voice_transcripts (session_id, event_id) WHERE event_id IS NOT NULL;

-- Store a batch of frames, in the call's own transaction:
--   1. lock the batch's session counters in session order: every transcript writer takes
--      these locks first, so what is stored cannot change under this call, and concurrent
--      multi-session batches (several gateway processes) cannot deadlock;
--   2. keep the frames of active sessions that are not a resend: neither of a stored
--      (session, round, seq) nor of an earlier frame in this batch;
--   3. number them per session in batch order (event ids and message numbers follow the
--      counters), insert them and bump the counters;
--   4. for frames not stored, return the row that holds their seq (a resend or a conflict).
-- Frames with no row returned were refused: their session is not active.
CREATE FUNCTION gateway_store_frames(
  p_id       UUID[],
  p_session  UUID[],
  p_round    INTEGER[],
  p_seq      INTEGER[],
  p_role     TEXT[],
  p_text     TEXT[],
  p_ts       TIMESTAMPTZ[],
  p_words    INTEGER[]
) RETURNS TABLE (
  r_ord             BIGINT,   -- 1-based position in the batch
  r_stored          BOOLEAN,
  r_message_id      UUID,     -- the stored row (for a resend: the earlier one)
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
  WHERE c.session_id = ANY (p_session)
  ORDER BY c.session_id
  FOR UPDATE;

  RETURN QUERY
  WITH input AS (
    SELECT t.*,
           row_number() OVER (PARTITION BY t.session_id, t.round_number, t.seq
                              ORDER BY t.ord) AS copy
    FROM unnest(p_id, p_session, p_round, p_seq, p_role, p_text, p_ts, p_words)
      WITH ORDINALITY AS t(id, session_id, round_number, seq, role, text, ts, word_count, ord)
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
    -- Every part of one statement reads the same snapshot: these are the counters as they
    -- were before `bumped` below.
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
  IF stored_rows = coalesce(cardinality(p_id), 0) THEN
    RETURN;  -- the usual case: every frame stored
  END IF;

  -- A later statement sees the rows this call inserted: resends within the batch included.
  RETURN QUERY
  SELECT k.ord, FALSE, v.id, NULL::BIGINT, NULL::INTEGER, v.role, v.text
  FROM unnest(p_id, p_session, p_round, p_seq)
    WITH ORDINALITY AS k(id, session_id, round_number, seq, ord)
  JOIN voice_transcripts v
    ON v.session_id = k.session_id AND v.round_number = k.round_number AND v.seq = k.seq
  WHERE k.seq IS NOT NULL AND v.id <> k.id;
END;
$fn$;
