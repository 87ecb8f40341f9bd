-- Base schema: the tables the design refers to but does not define.
-- (The design's `00_base_schema.sql`.)

CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;

CREATE TABLE interview_sessions (
  id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  status        TEXT NOT NULL DEFAULT 'active'
                  CHECK (status IN ('scheduled', 'active', 'completed', 'cancelled')),
  round_number  INTEGER NOT NULL DEFAULT 1 CHECK (round_number BETWEEN 1 AND 100),
  candidate_name TEXT CHECK (char_length(candidate_name) <= 200),
  started_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  ended_at      TIMESTAMPTZ,
  created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  CHECK (ended_at IS NULL OR status IN ('completed', 'cancelled'))
);
CREATE INDEX idx_interview_sessions_status ON interview_sessions (status, created_at DESC);
CREATE TRIGGER trg_interview_sessions_updated_at BEFORE UPDATE ON interview_sessions
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE scenarios (
  id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  name              TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  description       TEXT NOT NULL CHECK (char_length(description) BETWEEN 1 AND 5000),
  industry          TEXT NOT NULL,
  company_size      TEXT NOT NULL,
  pain_points       TEXT[] NOT NULL DEFAULT '{}',
  budget_range      TEXT NOT NULL,
  decision_timeline TEXT NOT NULL,
  blueprint         TEXT CHECK (blueprint IN ('sales', 'agentic_eng', 'fullstack', 'marketing',
                                              'implementation', 'HR', 'security')),
  is_active         BOOLEAN NOT NULL DEFAULT true,
  created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_scenarios_blueprint ON scenarios (blueprint, name) WHERE is_active = true;
CREATE TRIGGER trg_scenarios_updated_at BEFORE UPDATE ON scenarios
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- What an interview round is set up with (persona, scenario, voice agent): one per session.
CREATE TABLE interview_scope_packages (
  id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  session_id   UUID NOT NULL UNIQUE REFERENCES interview_sessions (id) ON DELETE CASCADE,
  blueprint    TEXT,
  created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TRIGGER trg_interview_scope_packages_updated_at BEFORE UPDATE ON interview_scope_packages
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Commands for the live voice agent (context injections, curveballs...).
CREATE TABLE voice_commands (
  id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  session_id   UUID NOT NULL REFERENCES interview_sessions (id) ON DELETE CASCADE,
  round_number INTEGER NOT NULL DEFAULT 1,
  command_type TEXT NOT NULL CHECK (command_type IN ('difficulty_change', 'curveball_inject',
                                                      'context_update', 'end_call')),
  payload      JSONB NOT NULL DEFAULT '{}',
  status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered')),
  created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
  delivered_at TIMESTAMPTZ
);
CREATE INDEX idx_voice_commands_pending ON voice_commands (session_id, created_at)
  WHERE status = 'pending';

-- The per-session event log panels resume from: `event_id` increases per session without gaps.
CREATE TABLE live_events (
  session_id  UUID NOT NULL REFERENCES interview_sessions (id) ON DELETE CASCADE,
  event_id    BIGINT NOT NULL CHECK (event_id >= 1),
  event_type  TEXT NOT NULL,
  payload     JSONB NOT NULL DEFAULT '{}',
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (session_id, event_id)
);
