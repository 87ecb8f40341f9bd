"""Voice agents: the ElevenLabs client, prompt rendering, get-or-create and clean-up."""
