-- What the gateway adds to the design so that acks, resends, resume and restarts are exact.

-- Idempotent ingest: the client numbers its frames per session and round.
ALTER TABLE voice_transcripts ADD COLUMN seq INTEGER CHECK (seq >= 1);
CREATE UNIQUE INDEX uq_voice_transcripts_seq
  ON voice_transcripts (session_id, round_number, seq) WHERE seq IS NOT NULL;
CREATE INDEX idx_voice_transcripts_order
  ON voice_transcripts (session_id, round_number, created_at, seq);

-- Counters that must survive a restart and be shared by several gateway processes.
-- Bumping `last_event_id` row-locks the session, so event ids are handed out in commit order.
CREATE TABLE session_counters (
  session_id     UUID PRIMARY KEY REFERENCES interview_sessions (id) ON DELETE CASCADE,
  last_event_id  BIGINT NOT NULL DEFAULT 0,
  message_count  INTEGER NOT NULL DEFAULT 0
);

-- One analysis run groups its say_meter row and its suggestion rows.
ALTER TABLE voice_analysis
  ADD COLUMN run_id       UUID,
  ADD COLUMN label        TEXT,
  ADD COLUMN rubric       TEXT,
  ADD COLUMN reasoning    TEXT,
  ADD COLUMN analyzer     TEXT,
  ADD COLUMN applied_at   TIMESTAMPTZ,
  ADD COLUMN dismissed_at TIMESTAMPTZ;
CREATE INDEX idx_voice_analysis_run ON voice_analysis (run_id);

-- Applying a suggestion twice creates one command.
ALTER TABLE voice_commands
  ADD COLUMN suggestion_id UUID UNIQUE REFERENCES voice_analysis (id) ON DELETE SET NULL;

-- Ending a session keeps its whole transcript as one artifact.
ALTER TABLE interview_sessions ADD COLUMN transcript_artifact JSONB;

-- Rendered prompts (inspectable in offline mode) and agent clean-up bookkeeping.
ALTER TABLE interview_scope_packages
  ADD COLUMN rendered_prompt         TEXT,
  ADD COLUMN rendered_first_message  TEXT,
  ADD COLUMN voice_agent_provider    TEXT,
  ADD COLUMN agent_deleted_at        TIMESTAMPTZ,
  ADD COLUMN agent_cleanup_attempts  INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN agent_cleanup_after     TIMESTAMPTZ;
CREATE INDEX idx_scope_packages_agent_cleanup ON interview_scope_packages (agent_cleanup_after)
  WHERE voice_agent_id IS NOT NULL AND agent_deleted_at IS NULL;

-- Multi-language personas (the design's Future Enhancement 5).
ALTER TABLE personas ADD COLUMN language TEXT NOT NULL DEFAULT 'en'
  CHECK (language ~ '^[a-z]{2}(-[A-Z]{2})?$');
