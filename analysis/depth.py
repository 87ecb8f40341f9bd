"""How concrete a turn is, read from its form: named things, quantities, cause and effect.

A strong engineer's answer can be short ("Cursor pagination on created_at, 50 a page, so
deep pages stay fast") and still say more than a long vague one ("I'd use a good framework
and make it scale"). Sentence embeddings judge *topic* well and *depth* poorly: the vague
and the precise answer are about the same thing. So depth is measured here as a property of
the words, independent of any transcript's vocabulary:

* **named things**: words rare in general English (a named mechanism, data structure,
  protocol, product or metric: "idempotency", "replica", "p95"), identifiers and acronyms.
  Rarity comes from the rank of a word in the model's WordPiece vocabulary, which BERT
  builds roughly in order of corpus frequency: common words ("customer", "big", "fast")
  have low ranks, specialist terms high ones or none (split into pieces). Adverbs and
  discourse words ("frankly", "alright") carry no technical content and count little;
* **quantities**: numbers and number words ("thirty rows", "five minutes", "2 replicas");
* **cause and effect**: "because", "so that", "otherwise", "which means", "instead of".

Everything is graded and saturating, so one more rare word or a synonym moves the value a
little, never across a cliff. :func:`concreteness` is 0-1 for a whole turn.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path

__all__ = ["concreteness", "rarity", "vocabulary_ranks"]

_VOCAB = Path(__file__).with_name("model") / "vocab.txt"
# Ranks below this are everyday English; above the upper one, specialist (graded between).
_COMMON_RANK, _RARE_RANK = 7000, 18000
_SUFFIXES = ("ing", "ed", "es", "s", "er", "ers", "ly", "d")
# The first whole-word entry of the BERT vocabulary ("the"); below it are symbols.
_FIRST_WORD = 1996

_WORDS = re.compile(
    r"[A-Za-z][A-Za-z0-9]*(?:[_./-][A-Za-z0-9]+)+|[A-Za-z]+(?:'[a-z]+)?|\d[\d.,:%]*"
)
_ACRONYM = re.compile(r"^[A-Z][A-Z0-9]{1,6}s?$")
_NUMBER_WORDS = frozenset(
    "two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty "
    "fifty sixty hundred hundreds thousand thousands million millions billion percent half "
    "double twice triple quarter dozen".split()
)
_CAUSE = re.compile(
    r"\b(?:because|'cause|since|so that|so (?:we|it|the|they|you|a|that|each|every)|"
    r"which means|that means|meaning|otherwise|instead of|rather than|unless|trade-?off|"
    r"at the cost of|in exchange|if (?:it|the|we|they|that|a|one|two)|when (?:the|a|it|we)|"
    r"until|before|after)\b",
    re.I,
)
# Words that are rare-ish in the vocabulary but say nothing technical.
_EMPTY = frozenset(
    "okay ok alright yeah yep yes um umm uh erm hmm gonna wanna gotta kinda sorta stuff thing "
    "things whatever basically literally actually honestly frankly obviously definitely "
    "totally awesome cool nice super".split()
)


@cache
def vocabulary_ranks(path: Path = _VOCAB) -> Mapping[str, int]:
    """Whole-word entries of the shipped vocabulary and their rank (line number)."""
    ranks: dict[str, int] = {}
    for index, token in enumerate(path.read_text(encoding="utf-8").split("\n")):
        if index >= _FIRST_WORD and token and not token.startswith("##") and token.isalpha():
            ranks.setdefault(token, index)
    return ranks


def rarity(word: str, ranks: Mapping[str, int] | None = None) -> float:
    """0 for everyday words, 1 for specialist terms, graded between (see module doc)."""
    table = vocabulary_ranks() if ranks is None else ranks
    if any(c in word for c in "_./-") and any(c.isalpha() for c in word):
        return 1.0  # an identifier: created_at, p95/p99, read-through
    if len(word) > 1 and _ACRONYM.match(word) and word not in ("OK", "I"):
        return 1.0  # CSRF, TTL, SQL
    lower = word.lower()
    if "'" in lower:
        lower = lower.split("'", 1)[0]
    if len(lower) < 3 or lower in _EMPTY:
        return 0.0
    # An inflection of a common word ("handles", "filters") is as common as its stem, which
    # the vocabulary may rank far apart; the lowest rank of the word and its stems wins.
    stems = [lower[: -len(x)] for x in _SUFFIXES if lower.endswith(x) and len(lower) - len(x) >= 3]
    known = [table[w] for w in (lower, *stems) if w in table]
    if not known:
        # Not a word of the vocabulary: a specialist or made-up term ("idempotency").
        return 1.0 if len(lower) >= 4 else 0.0
    rank = min(known)
    value = min(1.0, max(0.0, (rank - _COMMON_RANK) / (_RARE_RANK - _COMMON_RANK)))
    return 0.3 * value if lower.endswith("ly") else value


def _saturate(x: float, scale: float) -> float:
    return 1.0 - math.exp(-x / scale)


def concreteness(text: str, ranks: Mapping[str, int] | None = None) -> float:
    """0-1: how much concrete content ``text`` carries (named things, numbers, reasons).

    Counts, not densities, so a terse precise answer and a long one with the same facts
    score alike, and padding a vague answer with words adds nothing; saturating, so the
    fifth named term adds less than the first."""
    words = _WORDS.findall(text)
    if not words:
        return 0.0
    named = sum(rarity(w, ranks) for w in words if not w[0].isdigit())
    quantities = sum(1 for w in words if w[0].isdigit() or w.lower() in _NUMBER_WORDS)
    causes = len(_CAUSE.findall(text))
    evidence = named + 0.8 * min(quantities, 3) + 0.7 * min(causes, 2)
    return _saturate(evidence, 2.2)
