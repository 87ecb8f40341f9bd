-- The design's `01_voice_realtime.sql`: personas with blueprint and difficulty, and the
-- persona/scenario/agent columns on interview_scope_packages.

CREATE TABLE IF NOT EXISTS personas (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  blueprint TEXT NOT NULL CHECK (blueprint IN ('sales', 'agentic_eng', 'fullstack', 'marketing', 'implementation', 'HR', 'security')),
  difficulty INTEGER NOT NULL CHECK (difficulty BETWEEN 1 AND 5),
  company_context TEXT NOT NULL,
  personality_traits TEXT[] NOT NULL DEFAULT '{}',
  communication_style TEXT NOT NULL,
  objection_patterns TEXT[] NOT NULL DEFAULT '{}',
  prompt_template TEXT NOT NULL, -- Full ElevenLabs prompt with placeholders
  first_message_template TEXT NOT NULL,
  is_active BOOLEAN DEFAULT true,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE INDEX idx_personas_blueprint_difficulty
  ON personas(blueprint, difficulty)
  WHERE is_active = true;

CREATE TRIGGER trg_personas_updated_at BEFORE UPDATE ON personas
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

ALTER TABLE interview_scope_packages
  ADD COLUMN IF NOT EXISTS selected_persona_id UUID REFERENCES personas(id),
  ADD COLUMN IF NOT EXISTS selected_scenario_id UUID REFERENCES scenarios(id),
  ADD COLUMN IF NOT EXISTS voice_agent_id TEXT; -- Generated ElevenLabs agent ID
