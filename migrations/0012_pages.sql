-- The people's pages (issue 15).

-- Sign-in links work once: the id of each used link is kept until well after it expired.
CREATE TABLE login_links_used (
  jti         TEXT PRIMARY KEY CHECK (char_length(jti) <= 64),
  role        TEXT NOT NULL,
  used_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
  expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_login_links_used_expires ON login_links_used (expires_at);

-- Follow-up questions are asked by the interviewer, not applied: "Mark asked" is their action,
-- recorded beside applied_at and dismissed_at.
ALTER TABLE voice_analysis ADD COLUMN asked_at TIMESTAMPTZ;

-- The sessions list pages newest first, with or without a status filter.
CREATE INDEX idx_interview_sessions_created ON interview_sessions (created_at DESC, id DESC);

-- Two seed personas greeted the candidate with their own name ("Hi, Samir Haddad, HR
-- Director."). Fixed in seeds/personas.json; rows an admin has edited since are left alone.
UPDATE personas
SET first_message_template = 'Hi, I''m {persona.name}, {persona.role}. Thanks for coming in. We''re going through a lot of change right now, so I''d like to start with a real situation. Tell me about a time you handled a difficult employee relations case.'
WHERE id = '7f630e8a-ec8a-47c7-a645-a15d50d54e34'
  AND first_message_template = 'Hi, {persona.name}, {persona.role}. Thanks for coming in. We''re going through a lot of change right now, so I''d like to start with a real situation. Tell me about a time you handled a difficult employee relations case.';
UPDATE personas
SET first_message_template = 'Guten Tag, hier spricht {persona.name}, {persona.role}. Ich sage es gleich offen: Das Projekt {scenario.name} liegt deutlich hinter dem Plan. Was schlagen Sie vor?'
WHERE id = 'e64ec1a6-596c-409a-aa18-d0ffff6a20b2'
  AND first_message_template = 'Guten Tag, {persona.name}, {persona.role}. Ich sage es gleich offen: Das Projekt {scenario.name} liegt deutlich hinter dem Plan. Was schlagen Sie vor?';
