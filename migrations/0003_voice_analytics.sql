-- The design's `02_voice_analytics.sql`: message-level transcripts, the unified analysis
-- table, and the `source` of voice commands.

CREATE TABLE IF NOT EXISTS voice_transcripts (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  session_id UUID NOT NULL REFERENCES interview_sessions(id) ON DELETE CASCADE,
  round_number INTEGER NOT NULL DEFAULT 1,
  role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
  text TEXT NOT NULL,
  timestamp TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  word_count INTEGER,
  created_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE INDEX idx_voice_transcripts_session
  ON voice_transcripts(session_id, round_number, created_at DESC);

CREATE TABLE IF NOT EXISTS voice_analysis (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  session_id UUID NOT NULL REFERENCES interview_sessions(id) ON DELETE CASCADE,
  round_number INTEGER NOT NULL DEFAULT 1,
  analysis_type TEXT NOT NULL CHECK (analysis_type IN ('say_meter', 'suggestion', 'curveball', 'followup')),

  -- Say Meter fields
  meter_score INTEGER CHECK (meter_score BETWEEN 0 AND 100),
  meter_factors JSONB DEFAULT '{}', -- {rapport: 80, discovery: 70, ...}

  -- Suggestion fields
  suggestion_text TEXT,
  suggestion_category TEXT,
  priority TEXT CHECK (priority IN ('low', 'medium', 'high', 'critical')),

  -- Metadata
  triggered_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  dismissed BOOLEAN DEFAULT false,
  created_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE INDEX idx_voice_analysis_session
  ON voice_analysis(session_id, analysis_type, triggered_at DESC);

ALTER TABLE voice_commands
  ADD COLUMN IF NOT EXISTS source TEXT DEFAULT 'manual'
    CHECK (source IN ('manual', 'ai_suggested'));
