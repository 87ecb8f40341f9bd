"""Deterministic rewordings of a call, to measure how much an analyzer's score moves on them.

A score should follow behaviour, not wording: a candidate who says "um, you know" or "we
are" instead of "we're", or "issue" instead of "problem", has not run a better or worse
call. Each transform here rewrites every message of a window the way people and speech
recognisers vary, keeps the meaning, and is seeded: the same seed and text always give the
same output, so a robustness figure can be reproduced and compared between analyzers.

The transforms are deliberately small and meaning-preserving. They are not a paraphrase
model; they catch analyzers that hinge on exact tokens.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence

from analysis.models import TranscriptLine

__all__ = [
    "PERTURBATIONS",
    "asr_style",
    "contract",
    "expand_contractions",
    "insert_fillers",
    "perturb_window",
    "swap_contractions",
    "swap_synonyms",
]

Transform = Callable[[str, random.Random], str]

_FILLERS = ("um,", "uh,", "you know,", "like,", "I mean,", "well,", "so,")
# One filler per this many words on average, and at least one in any message this long.
_FILLER_EVERY = 10
_FILLER_MIN_WORDS = 5

# Contraction -> expansion. Written out rather than generated: English contractions are
# irregular ("won't", "can't") and some are ambiguous ("he's" = "he is" / "he has"), so
# only unambiguous ones are listed, in both directions.
_CONTRACTIONS: Mapping[str, str] = {
    "i'm": "i am",
    "i've": "i have",
    "i'll": "i will",
    "i'd": "i would",
    "you're": "you are",
    "you've": "you have",
    "you'll": "you will",
    "we're": "we are",
    "we've": "we have",
    "we'll": "we will",
    "they're": "they are",
    "they've": "they have",
    "they'll": "they will",
    "it's": "it is",
    "that's": "that is",
    "there's": "there is",
    "what's": "what is",
    "who'd": "who would",
    "who's": "who is",
    "let's": "let us",
    "don't": "do not",
    "doesn't": "does not",
    "didn't": "did not",
    "isn't": "is not",
    "aren't": "are not",
    "wasn't": "was not",
    "weren't": "were not",
    "haven't": "have not",
    "hasn't": "has not",
    "can't": "cannot",
    "couldn't": "could not",
    "won't": "will not",
    "wouldn't": "would not",
    "shouldn't": "should not",
}
_EXPANSIONS: Mapping[str, str] = {v: k for k, v in _CONTRACTIONS.items() if k != "let's"}

# Meaning-preserving swaps, both directions. Only words whose swap keeps the grammar in
# nearly every use: no word that is also a noun or verb of another sense ("a fix", "for
# help", "fair enough", "sure" as an answer), which would change what was said.
_SYNONYM_PAIRS: tuple[tuple[str, str], ...] = (
    ("maybe", "perhaps"),
    ("big", "large"),
    ("start", "begin"),
    ("think", "believe"),
    ("customer", "client"),
    ("customers", "clients"),
    ("usually", "typically"),
    ("often", "frequently"),
    ("honestly", "frankly"),
    ("okay", "alright"),
    ("great", "excellent"),
    ("worried", "concerned"),
    ("quick", "fast"),
    ("important", "crucial"),
    ("whole", "entire"),
    ("right now", "at the moment"),
    ("a lot of", "lots of"),
)
# One way only: "issue" is also a verb ("issue a refund"), "problem" never is.
_ONE_WAY: tuple[tuple[str, str], ...] = (("problem", "issue"), ("problems", "issues"))
_SYNONYMS: Mapping[str, str] = {
    **{a: b for a, b in _SYNONYM_PAIRS},
    **{b: a for a, b in _SYNONYM_PAIRS},
    **dict(_ONE_WAY),
}

_TWO_WORDS = re.compile(
    r"\b(?:" + "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in _EXPANSIONS) + r")\b",
    re.IGNORECASE,
)
_EITHER = re.compile(_TWO_WORDS.pattern + r"|\b[A-Za-z]+'[A-Za-z]+\b", re.IGNORECASE)
_PHRASES = re.compile(
    r"\b(?:" + "|".join(re.escape(p) for p in sorted(_SYNONYMS, key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_SPACE = re.compile(r"\s+")


def _match_case(original: str, replacement: str) -> str:
    if original.isupper() and len(original) > 1:
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    if re.match(r"i\b", replacement):  # the tables are lower-case; "i am" is "I am"
        return "I" + replacement[1:]
    return replacement


def insert_fillers(text: str, rng: random.Random) -> str:
    """Insert spoken fillers ("um,", "you know,") where people pause: at the start of a
    sentence or after a comma. Messages without such a pause get one after the first word."""
    words = text.split(" ")
    if len(words) < 2:
        return text
    pauses = [i for i in range(len(words)) if i == 0 or words[i - 1][-1:] in ",.;:?!"]
    count = max(len(words) // _FILLER_EVERY, 1 if len(words) >= _FILLER_MIN_WORDS else 0)
    slots = pauses if len(pauses) >= count else [*pauses, 1]
    for slot in sorted(rng.sample(slots, min(count, len(slots))), reverse=True):
        filler = rng.choice(_FILLERS)
        starts_sentence = slot == 0 or words[slot - 1][-1:] in ".?!"
        if starts_sentence:
            # "Um, so what..." rather than "Um, So what..."; "I" stays upper case.
            word = words[slot]
            if word[1:].islower() and not re.match(r"I\b", word):
                words[slot] = word[:1].lower() + word[1:]
            filler = filler[:1].upper() + filler[1:]
        words.insert(slot, filler)
    return " ".join(words)


def _replace_words(text: str, table: Mapping[str, str], rng: random.Random, rate: float) -> str:
    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        target = table.get(word.lower())
        if target is None or rng.random() >= rate:
            return word
        return _match_case(word, target)

    return _WORD.sub(swap, text)


def expand_contractions(text: str, rng: random.Random) -> str:
    """Write every listed contraction out in full ("we're" -> "we are")."""
    normalized = text.replace("\u2019", "'")
    return _replace_words(normalized, _CONTRACTIONS, rng, rate=1.0)


def contract(text: str, rng: random.Random) -> str:
    """Contract every listed two-word form ("do not" -> "don't", "I am" -> "I'm")."""
    del rng  # deterministic by construction; the parameter keeps the Transform shape
    return _TWO_WORDS.sub(_flip, text)


def swap_contractions(text: str, rng: random.Random) -> str:
    """Flip the style in one pass: contractions written out, two-word forms contracted.

    Most speech is already contracted, so contracting alone would leave most calls as they
    were; the flip changes any message that has either form.
    """
    del rng
    return _EITHER.sub(_flip, text.replace("\u2019", "'"))


def _flip(match: re.Match[str]) -> str:
    phrase = match.group(0)
    key = _SPACE.sub(" ", phrase.lower())
    target = _EXPANSIONS.get(key) or _CONTRACTIONS.get(key)
    return phrase if target is None else _match_case(phrase, target)


def swap_synonyms(text: str, rng: random.Random) -> str:
    """Swap every listed word or phrase for its synonym ("problem" <-> "issue").

    All of them, not a random share: a share leaves some windows untouched, and a
    transform that changes nothing would report perfect robustness by construction.
    """
    del rng
    return _PHRASES.sub(lambda m: _match_case(m.group(0), _SYNONYMS[m.group(0).lower()]), text)


_COMMA = re.compile(r",\s*")
_END = re.compile(r"[!?;:]+")


def asr_style(text: str, rng: random.Random) -> str:
    """What a speech recogniser's transcript often looks like: lower-case, no commas, every
    sentence ending in a plain full stop (a question is a question by its words, not its
    "?"). Acronyms and names lose their capitals too ("api", "sarah")."""
    del rng
    return _END.sub(".", _COMMA.sub(" ", text)).lower()


def _combined(text: str, rng: random.Random) -> str:
    return insert_fillers(swap_synonyms(expand_contractions(text, rng), rng), rng)


PERTURBATIONS: Mapping[str, Transform] = {
    "fillers": insert_fillers,
    "expanded": expand_contractions,
    "contracted": contract,
    "swapped": swap_contractions,
    "synonyms": swap_synonyms,
    "combined": _combined,
    "asr": asr_style,
}
"""The named transforms the evaluation applies; ``combined`` stacks three of them.

``asr`` is how a call reaches the gateway from a voice platform's speech recogniser.
``contracted`` is a no-op on a call that is already fully contracted (most are); it is kept
because it is the direction written or carefully spoken answers take."""


def perturb_window(
    window: Sequence[TranscriptLine], name: str, seed: int = 0
) -> list[TranscriptLine]:
    """``window`` with transform ``name`` applied to every message, reproducibly.

    Each message gets its own generator seeded from (seed, transform, position), so
    changing one message never changes how another is rewritten.
    """
    transform = PERTURBATIONS[name]
    out: list[TranscriptLine] = []
    for index, line in enumerate(window):
        rng = random.Random(f"{seed}:{name}:{index}")
        out.append(line.model_copy(update={"text": transform(line.text, rng)}))
    return out
