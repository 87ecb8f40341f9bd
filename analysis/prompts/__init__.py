"""Versioned prompt templates (``analysis_v<N>.md``), loaded by :mod:`analysis.prompt`.

Prompts are files, not string literals, so a prompt change is a reviewable diff with a
version bump, and results can be traced to the prompt that produced them.
"""
