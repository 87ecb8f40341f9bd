-- ElevenLabs agent creations whose outcome is not known yet.
--
-- Creating an agent is not idempotent: a create that timed out may still have made the agent.
-- The gateway records the attempt (committed on its own, so a failed request keeps it) before
-- it calls ElevenLabs, and deletes the row in the transaction that stores the agent. A request
-- that finds a row looks the agent's name up first and adopts an agent made by an earlier try.
CREATE TABLE voice_agent_attempts (
  session_id  UUID PRIMARY KEY REFERENCES interview_sessions (id) ON DELETE CASCADE,
  attempts    INTEGER NOT NULL DEFAULT 1 CHECK (attempts >= 1),
  started_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
