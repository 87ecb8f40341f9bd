-- 0004 added (session_id, round_number, created_at, seq), which the design's
-- idx_voice_transcripts_session (session_id, round_number, created_at DESC) already serves:
-- one index less to maintain on the ingest hot path.
DROP INDEX IF EXISTS idx_voice_transcripts_order;
