"""Explainable conversation features for the offline analyzer.

Every number here can be said in one sentence to an interviewer ("the candidate spoke
72% of the words"), which is the point: the offline Say Meter must be able to justify
itself without a model. The vocabularies are small, general sales/interview-coaching
cues (acknowledge-then-explore, reflect the other side's words, quantify value, agree a
concrete next step) rather than anything tuned to particular transcripts.

Pure functions over plain data; nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from analysis.models import TranscriptLine

__all__ = ["CallFeatures", "extract_features", "words"]


def _phrases(*phrases: str) -> re.Pattern[str]:
    """One regex matching any phrase at a word start, longest first, without overlaps
    (so "send the contract" is one pressure cue, not two)."""
    ordered = sorted(phrases, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(p) for p in ordered) + ")")


_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SENTENCE = re.compile(r"[^.!?]+[.!?]*")

# Question starters. "Open" invites a story; "closed" invites yes/no.
_OPEN_STARTERS = frozenset(
    {"what", "what's", "how", "how's", "why", "where", "when", "who", "which", "tell",
     "walk", "describe", "explain", "help"}
)  # fmt: skip
_LEAD_INS = frozenset(
    {"so", "and", "but", "okay", "ok", "well", "now", "then", "also", "right"}
)  # fmt: skip
# Prompts that work as open questions even when said without a question mark.
_OPEN_PROMPTS = _phrases(
    "tell me about", "tell me more", "walk me through", "help me understand",
    "can you describe", "could you describe", "i'd love to understand", "i'd love to hear",
    "can i ask how", "can i ask what", "can i ask why", "curious how", "curious what",
)  # fmt: skip

_ACKNOWLEDGE = _phrases(
    "i understand", "that makes sense", "makes sense", "that's fair", "completely fair",
    "totally fair", "fair point", "good question", "i appreciate", "thank you for",
    "thanks for sharing", "that's helpful", "really helpful", "that sounds painful",
    "sounds painful", "sounds frustrating", "that must be", "i can see why",
    "i'd be skeptical", "i hear you", "understood", "that's important", "i see",
    "sorry to hear",
)  # fmt: skip
_REFLECT = _phrases(
    "what i'm hearing", "so what i heard", "if i understand", "did i get that right",
    "let me make sure", "to summarize", "in other words", "sounds like you",
    "it sounds like", "so you're saying", "correct me if",
)  # fmt: skip
_DISMISSIVE = _phrases(
    "trust me", "not a concern", "not really a concern", "not an issue",
    "won't be an issue", "no problem", "don't worry", "don't need to worry",
    "not something you need to worry", "doesn't matter", "not really in our league",
    "you'll forget all about", "everyone does", "you're going to love", "you'll love",
    "that's not a problem", "not a big deal",
)  # fmt: skip
_PRESSURE = _phrases(
    "sign this", "sign before", "sign the", "if we sign", "order form", "paperwork",
    "send the contract", "send over the contract", "send the contract over",
    "the contract", "close this week", "lock in the pric", "locks in the pric", "only good until",
    "end of the month", "end of the quarter", "regret", "can't afford not",
    "money left on the table", "put you down for", "best pricing", "great deal",
    "fall behind", "limited time",
)  # fmt: skip
_PAIN = _phrases(
    "pain", "painful", "challenge", "problem", "struggle", "frustrat", "bottleneck",
    "risk", "cost", "costing", "impact", "late", "delay", "churn", "overtime",
    "burn", "worr", "concern", "issue", "slow", "manual", "lose", "losing", "lost",
    "chargeback", "penalt", "drop", "downtime", "error", "complain", "behind",
)  # fmt: skip
_VALUE = _phrases(
    "roi", "return on", "save", "saving", "reduce", "reducing", "cut ", "faster",
    "pays for itself", "payback", "efficien", "increase", "improve", "recover",
    "revenue", "margin", "productiv", "hours back", "time back",
)  # fmt: skip
_NEXT_STEP = _phrases(
    "demo", "proposal", "schedule", "next week", "follow-up", "follow up", "next step",
    "calendar", "invite", "pilot", "trial", "meeting", "call with", "pencil",
    "loop in", "send you", "send over", "send me", "data request", "workshop",
)  # fmt: skip
_CONCRETE_TIME = re.compile(
    r"\b(monday|tuesday|wednesday|thursday|friday|tomorrow|today|tonight|"
    r"within the hour|this afternoon|next (?:week|month)|at (?:one|two|three|four|five|"
    r"six|seven|eight|nine|ten|eleven|twelve|\d{1,2})\b|\d{1,2}(?::\d\d)?\s?(?:am|pm))"
)
# Questions that qualify the deal or plan: timing, decision process, budget, people.
_QUALIFY = _phrases(
    "timeline", "timing", "deadline", "by when", "why now", "moment", "decision",
    "decide", "who else", "involved", "approve", "approval", "sign off", "sign-off",
    "budget", "stakeholder", "priority", "priorities", "success look", "live before",
    "what would need to happen", "what would it take", "convinced", "criteria",
)  # fmt: skip
_VAGUE = _phrases(
    "at some point", "sometime", "some time", "or so", "no rush", "we'll see",
    "go from there", "whenever", "down the road", "circle back",
)  # fmt: skip

# The persona's reactions are evidence too: pushback it raised and how it feels.
_PERSONA_OBJECTION = _phrases(
    "not sure", "budget", "expensive", "a lot", "more than i", "worried", "concern",
    "skeptic", "every vendor", "everyone says", "how would i know", "why would",
    "doesn't answer", "not how we", "what about", "price", "cost", "already",
    "don't have", "tried", "won't", "can't", "don't know if", "not convinced", "doubt",
)  # fmt: skip
_PERSONA_POSITIVE = _phrases(
    "that's a fair summary", "fair summary", "i like that", "that's helpful", "good question",
    "works for me", "that helps", "makes sense", "that's exactly", "that's right", "yes,",
    "better conversation", "great question", "pencil it in", "sounds good", "i'd love",
    "i can connect you", "tell you more",
)  # fmt: skip
_PERSONA_NEGATIVE = _phrases(
    "slow down", "can i finish", "you haven't", "doesn't answer", "not how we buy",
    "i have to go", "i don't appreciate", "don't send", "goodbye", "not interested",
    "i need to jump", "that's not what", "i said don't", "i said no", "you're not listening",
    "i already told", "i told you",
)  # fmt: skip

_STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    few for from further had has have having he her here hers him his how i i'd i'm if
    in into is it it's its just let like me more most much my no nor not now of off on
    once only or other our ours out over own really right same she should so some such
    than that that's the their them then there these they this those through to too
    under until up very was we we're well were what when where which while who whom why
    will with would you you're your yours yes okay yeah sure get got going one two
    three four five thing things think know want make see way lot say said""".split()
)
_NUMBER_WORDS = frozenset(
    """one two three four five six seven eight nine ten eleven twelve fifteen twenty
    thirty forty fifty sixty seventy eighty ninety hundred thousand million billion
    percent half quarter""".split()
)

MONOLOGUE_WORDS = 120
"""Candidate turns longer than this are treated as a monologue (feature dumping)."""


def words(text: str) -> list[str]:
    """Lower-cased word tokens (apostrophes kept: "don't", "i'm")."""
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def _count(text: str, pattern: re.Pattern[str]) -> int:
    return len(pattern.findall(text))


def _content(tokens: Iterable[str]) -> set[str]:
    return {t[:6] for t in tokens if len(t) > 3 and t not in _STOPWORDS}


def _sentence_kind(sentence: str) -> str | None:
    """Classify one candidate sentence: "open", "closed", or None (not a question)."""
    s = sentence.strip().lower()
    if not s:
        return None
    tokens = words(s)
    while tokens and tokens[0] in _LEAD_INS:
        tokens = tokens[1:]
    is_prompt = _OPEN_PROMPTS.search(s) is not None
    if not s.endswith("?") and not is_prompt:
        return None
    if is_prompt or (tokens and tokens[0] in _OPEN_STARTERS):
        return "open"
    return "closed"


@dataclass(frozen=True, slots=True)
class CallFeatures:
    """Counts over one transcript window; candidate-side unless the name says persona.

    ``*_terms`` and ``*_positive``/``*_negative`` count phrase hits; everything else counts
    turns (``dismissive`` = candidate turns with dismissive language, and so on).
    """

    candidate_turns: int = 0
    persona_turns: int = 0
    candidate_words: int = 0
    persona_words: int = 0
    questions: int = 0
    open_questions: int = 0
    question_turns: int = 0
    longest_monologue: int = 0
    monologue_turns: int = 0
    acknowledgements: int = 0
    acknowledge_turns: int = 0
    objection_responses: int = 0
    explored_objections: int = 0
    acknowledged_objections: int = 0
    questioned_objections: int = 0
    qualification_questions: int = 0
    reflections: int = 0
    dismissive: int = 0
    pressure: int = 0
    pain_terms: int = 0
    pain_explored: int = 0
    value_terms: int = 0
    quantified_turns: int = 0
    grounded_value_turns: int = 0
    next_steps: int = 0
    concrete_next_steps: int = 0
    next_step_questions: int = 0
    vague_next_steps: int = 0
    persona_objection_turns: int = 0
    persona_positive: int = 0
    persona_negative: int = 0

    @property
    def total_words(self) -> int:
        return self.candidate_words + self.persona_words

    @property
    def talk_share(self) -> float:
        """Candidate share of all words (0.5 when nobody has spoken yet)."""
        return self.candidate_words / self.total_words if self.total_words else 0.5

    @property
    def closed_questions(self) -> int:
        return self.questions - self.open_questions

    @property
    def question_turn_rate(self) -> float:
        """Share of candidate turns that ask at least one question."""
        return self.question_turns / self.candidate_turns if self.candidate_turns else 0.0


def extract_features(window: Sequence[TranscriptLine]) -> CallFeatures:
    """Compute :class:`CallFeatures` for ``window`` (oldest line first)."""
    n: dict[str, int] = dict.fromkeys(CallFeatures.__slots__, 0)
    previous_persona: set[str] = set()
    concern_pending = False  # the persona's last turn raised a concern

    for line in window:
        text = " ".join(line.text.lower().replace("\u2019", "'").split())
        tokens = words(text)
        if line.role == "assistant":
            n["persona_turns"] += 1
            n["persona_words"] += len(tokens)
            negative = _count(text, _PERSONA_NEGATIVE)
            n["persona_positive"] += _count(text, _PERSONA_POSITIVE)
            n["persona_negative"] += negative
            # Open frustration is a concern too, and the one most worth exploring.
            concern_pending = negative > 0 or _PERSONA_OBJECTION.search(text) is not None
            n["persona_objection_turns"] += concern_pending
            previous_persona = _content(tokens)
            continue

        n["candidate_turns"] += 1
        n["candidate_words"] += len(tokens)
        n["longest_monologue"] = max(n["longest_monologue"], len(tokens))
        n["monologue_turns"] += len(tokens) > MONOLOGUE_WORDS

        sentences = _SENTENCE.findall(text)
        kinds = [_sentence_kind(s) for s in sentences]
        asked = sum(k is not None for k in kinds)
        n["questions"] += asked
        # "So what do you think, can we get the paperwork going?" is a push, not discovery.
        n["open_questions"] += sum(
            k == "open" and _PRESSURE.search(s) is None
            for k, s in zip(kinds, sentences, strict=True)
        )
        n["question_turns"] += asked > 0
        probed = any(
            k is not None and _PRESSURE.search(s) is None
            for k, s in zip(kinds, sentences, strict=True)
        )
        n["qualification_questions"] += sum(
            k is not None and _QUALIFY.search(s) is not None
            for k, s in zip(kinds, sentences, strict=True)
        )

        # Reflecting = summarising in so many words, or re-using the other side's words.
        echoed = len(_content(tokens) & previous_persona)
        reflected = _count(text, _REFLECT) > 0 or echoed >= 3
        n["reflections"] += reflected

        acks = _count(text, _ACKNOWLEDGE)
        n["acknowledgements"] += acks
        n["acknowledge_turns"] += acks > 0
        if concern_pending:
            # Best practice is acknowledge-then-explore (a question in the same turn),
            # not acknowledge-and-pivot back to the pitch.
            n["objection_responses"] += 1
            n["explored_objections"] += acks > 0 and probed
            n["acknowledged_objections"] += acks > 0 and not probed
            n["questioned_objections"] += probed and not acks
            concern_pending = False

        # Per turn, not per phrase: one pushy sentence often trips several cues.
        n["dismissive"] += _DISMISSIVE.search(text) is not None
        n["pressure"] += _PRESSURE.search(text) is not None

        pain = _count(text, _PAIN)
        n["pain_terms"] += pain
        if asked or reflected:
            n["pain_explored"] += pain

        n["value_terms"] += _count(text + " ", _VALUE)
        quantified = any(t.isdigit() or t in _NUMBER_WORDS for t in tokens)
        n["quantified_turns"] += quantified
        # Quantified value tied to what the other side just said, not a generic claim.
        n["grounded_value_turns"] += (
            quantified and _VALUE.search(text + " ") is not None and echoed >= 2
        )

        steps = _count(text, _NEXT_STEP)
        n["next_steps"] += steps
        vague = _VAGUE.search(text) is not None
        n["vague_next_steps"] += vague
        if steps:
            # "sometime next week or so" names a time but commits to nothing.
            n["concrete_next_steps"] += not vague and _CONCRETE_TIME.search(text) is not None
            n["next_step_questions"] += asked > 0

    return CallFeatures(**n)
