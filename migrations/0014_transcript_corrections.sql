-- Transcript corrections (docs/protocol.md "Transcript corrections").
--
-- A correction replaces a stored message's text: the row keeps the current text (so snapshots,
-- the analysis window and the event-log replay all read the corrected one) and every earlier
-- text is kept in `voice_transcript_revisions`, one row per revision. A correction is its own
-- `transcript_updated` event (in `live_events`), not a new message: it bumps the event id, not
-- the message count.

ALTER TABLE voice_transcripts ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;

CREATE TABLE voice_transcript_revisions (
  message_id     UUID        NOT NULL REFERENCES voice_transcripts(id) ON DELETE CASCADE,
  revision       INTEGER     NOT NULL CHECK (revision >= 1),
  text           TEXT        NOT NULL,
  previous_text  TEXT        NOT NULL,
  word_count     INTEGER     NOT NULL,
  event_id       BIGINT      NOT NULL,
  created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (message_id, revision)
);

-- One correction, in the caller's transaction. The session's counters row is locked first (as
-- every writer of the session's events does), so corrections and frames of one session are
-- numbered in commit order. Outcomes:
--   stored     the row now has `p_text`; r_event_id is the new event's id
--   duplicate  this (seq, revision) is already stored with this text
--   conflict   this (seq, revision) is stored with another text, or an older revision
--   unknown    no message with that seq in that round
--   refused    the session is not active
CREATE FUNCTION gateway_correct_transcript(
  p_session_id UUID, p_round_number INTEGER, p_seq INTEGER, p_revision INTEGER, p_text TEXT,
  p_word_count INTEGER
) RETURNS TABLE (
  r_outcome        TEXT,
  r_message_id     UUID,
  r_event_id       BIGINT,
  r_role           TEXT,
  r_previous_text  TEXT,
  r_revision       INTEGER
)
LANGUAGE plpgsql AS $fn$
DECLARE
  msg        voice_transcripts%ROWTYPE;
  prior      voice_transcript_revisions%ROWTYPE;
  new_event  BIGINT;
BEGIN
  PERFORM 1 FROM session_counters c WHERE c.session_id = p_session_id FOR UPDATE;
  IF NOT EXISTS (SELECT 1 FROM interview_sessions s
                 WHERE s.id = p_session_id AND s.status = 'active') THEN
    RETURN QUERY SELECT 'refused'::TEXT, NULL::UUID, NULL::BIGINT, NULL::TEXT, NULL::TEXT,
                        NULL::INTEGER;
    RETURN;
  END IF;
  SELECT * INTO msg FROM voice_transcripts v
  WHERE v.session_id = p_session_id AND v.round_number = p_round_number AND v.seq = p_seq
  FOR UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'unknown'::TEXT, NULL::UUID, NULL::BIGINT, NULL::TEXT, NULL::TEXT,
                        NULL::INTEGER;
    RETURN;
  END IF;
  SELECT * INTO prior FROM voice_transcript_revisions r
  WHERE r.message_id = msg.id AND r.revision = p_revision;
  IF FOUND THEN
    RETURN QUERY SELECT CASE WHEN prior.text = p_text THEN 'duplicate' ELSE 'conflict' END,
                        msg.id, prior.event_id, msg.role, prior.previous_text, msg.revision;
    RETURN;
  END IF;
  IF p_revision < msg.revision THEN  -- an older revision arriving after a newer one
    RETURN QUERY SELECT 'conflict'::TEXT, msg.id, NULL::BIGINT, msg.role, msg.text, msg.revision;
    RETURN;
  END IF;

  UPDATE session_counters c SET last_event_id = c.last_event_id + 1
  WHERE c.session_id = p_session_id RETURNING c.last_event_id INTO new_event;
  INSERT INTO voice_transcript_revisions
    (message_id, revision, text, previous_text, word_count, event_id)
  VALUES (msg.id, p_revision, p_text, msg.text, p_word_count, new_event);
  UPDATE voice_transcripts v SET text = p_text, word_count = p_word_count, revision = p_revision
  WHERE v.id = msg.id;
  RETURN QUERY SELECT 'stored'::TEXT, msg.id, new_event, msg.role, msg.text, p_revision;
END;
$fn$;

-- A resend of a corrected message is still a duplicate of what was first sent: the resend
-- check compares against the original text (revision 1's previous text) when there is one.
-- Otherwise as in 0007.
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
  WHERE c.session_id IN (SELECT (f ->> 1)::UUID FROM jsonb_array_elements(p_frames) f)
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
