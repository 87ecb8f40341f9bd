"""The fake ElevenLabs conversation and monitor sockets used by the tests.

The server itself ships with the product (`handlers/scripted_conversation.py`): the demo runs
it so the candidate page has a conversation to talk to without an ElevenLabs account. The
tests use the same server, with its faults.
"""

from __future__ import annotations

from handlers.scripted_conversation import (
    Conversation,
    FakeConversationServer,
    Faults,
    ScriptLine,
    load_script,
    script_of,
)

__all__ = [
    "Conversation",
    "FakeConversationServer",
    "Faults",
    "ScriptLine",
    "load_script",
    "script_of",
]
