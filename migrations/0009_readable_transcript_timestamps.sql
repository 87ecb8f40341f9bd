-- Transcript timestamps that Python can read back.
--
-- A client's `timestamp` such as 0001-01-01T00:00:00+05:00 is year 0 once in UTC: PostgreSQL
-- stores it, Python's datetime cannot hold it, and every later read of the session failed
-- (no panel snapshot, `end` answering 500). The gateway now refuses such instants at the edge
-- (gateway/instants.py); rows an older gateway stored get their arrival time instead, and
-- the constraint keeps any other writer from storing one again.
UPDATE voice_transcripts
SET timestamp = COALESCE(created_at, now())
WHERE timestamp < TIMESTAMPTZ '0001-01-02 00:00:00+00'
   OR timestamp > TIMESTAMPTZ '9999-12-30 00:00:00+00';

ALTER TABLE voice_transcripts ADD CONSTRAINT voice_transcripts_timestamp_readable
  CHECK (timestamp BETWEEN TIMESTAMPTZ '0001-01-02 00:00:00+00'
                       AND TIMESTAMPTZ '9999-12-30 00:00:00+00');
