-- Grounded suggestions and the final analysis (issue 14).
--
-- A suggestion keeps what it responds to (a short quote or the concern) and its intent (a
-- stable key of kind + concern). `intent_key` is the session's deduplication key: the type
-- plus the normalized intent, or plus the normalized text when the analyzer gave no intent.
-- `stale_runs` counts the analyses since one last raised it; `expired_at` is set when a later
-- analysis made it moot (the panel stops offering it). A say_meter row records the message
-- count its window covered and whether it was the call's final analysis.
ALTER TABLE voice_analysis
  ADD COLUMN responds_to   TEXT,
  ADD COLUMN intent        TEXT,
  ADD COLUMN intent_key    TEXT,
  ADD COLUMN stale_runs    INTEGER NOT NULL DEFAULT 0 CHECK (stale_runs >= 0),
  ADD COLUMN expired_at    TIMESTAMPTZ,
  ADD COLUMN is_final      BOOLEAN NOT NULL DEFAULT false,
  ADD COLUMN message_count INTEGER CHECK (message_count >= 0);

-- Suggestions stored before: deduplicated by their text, as they were.
UPDATE voice_analysis
SET intent_key = coalesce(suggestion_category, analysis_type) || '|text:'
                 || lower(regexp_replace(btrim(coalesce(suggestion_text, '')), '\s+', ' ', 'g'))
WHERE analysis_type <> 'say_meter';

CREATE INDEX idx_voice_analysis_intent ON voice_analysis (session_id, intent_key)
  WHERE analysis_type <> 'say_meter';
