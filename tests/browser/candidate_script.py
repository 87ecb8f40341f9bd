"""The scripted call the candidate-page tests play (shared by the page, SDK and monitor tests)."""

from __future__ import annotations

from typing import Any

from tests.fakes.fake_elevenlabs_conversation import script_of

__all__ = ["FINAL", "SCRIPT", "candidate_url"]

SCRIPT = script_of(
    ("assistant", "Hi, this is Sarah Chen from Regional Logistics. What did you want to cover?"),
    ("user", "Thanks for making the time, Sarah. How is dispatch going this quarter?"),
    ("assistant", "Honestly it is a mess, we keep losing trucks to", "Honestly, it is a mess."),
    ("user", "What does a lost truck cost you on a typical day?"),
    ("assistant", "A few thousand dollars a day, more during the peak season."),
    ("user", "Who on your team feels that pain the most?"),
    ("assistant", "Our dispatchers. They rebuild routes by hand every morning."),
    ("user", "If that went away, what would your dispatchers do instead?"),
)
FINAL = [line.corrected or line.text for line in SCRIPT]


def candidate_url(interview: dict[str, Any]) -> str:
    return (f"{interview['server_url']}/candidate/{interview['session_id']}"
            f"?token={interview['candidate_token']}")
