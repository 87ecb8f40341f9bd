-- Fewer B-trees to maintain per stored frame.
--
-- `voice_transcripts` had four indexes, each updated for every frame: the primary key, the
-- resend check (session, round, seq), the event log (session, event id) and the design's
-- (session, round, created_at DESC). No query needs the last one: every read of a session's
-- transcript filters on the session and sorts a few hundred rows at most, and the event-log
-- index serves that filter once it is not partial (every row the gateway stores has an event
-- id; NULLs are distinct in a unique index, so rows without one are still allowed). The plans
-- of those queries are in docs/benchmarks.md. The primary key itself became cheap to maintain
-- when ids became time-ordered (UUIDv7, made by the gateway): new keys go to the right edge of
-- the B-tree instead of a random page each.

CREATE UNIQUE INDEX uq_voice_transcripts_session_event
  ON voice_transcripts (session_id, event_id);
DROP INDEX uq_voice_transcripts_event;
DROP INDEX idx_voice_transcripts_session;
