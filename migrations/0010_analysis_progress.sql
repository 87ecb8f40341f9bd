-- A durable analysis boundary per session.
--
-- Every ANALYSIS_EVERY messages a session is owed an analysis. The gateway used to remember a
-- pending (coalesced) one only in memory, so a process that died took it along and nobody ran
-- it. `analyzed_through` is the message count the session's last finished run covered; a run
-- holds a short lease while it works, so two processes never run the same boundary; a periodic
-- sweep in every process runs what is owed once no lease is live. Its own table, not
-- session_counters: group commit locks that row for every batch.
CREATE TABLE analysis_progress (
  session_id        UUID PRIMARY KEY REFERENCES interview_sessions (id) ON DELETE CASCADE,
  analyzed_through  INTEGER NOT NULL DEFAULT 0 CHECK (analyzed_through >= 0),
  lease_run         UUID,
  lease_until       TIMESTAMPTZ
);

-- Sessions that exist already are taken as analyzed: an upgrade does not start a backlog.
INSERT INTO analysis_progress (session_id, analyzed_through)
SELECT session_id, message_count FROM session_counters;
