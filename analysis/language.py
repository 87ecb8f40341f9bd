"""A tiny language check: is this window English? (The offline model is English only.)

Counts very common function words of English, Spanish, German, French, Portuguese and
Italian; enough to tell a Spanish or German call from an English one, which is all the
offline analyzer needs to know to say plainly that it cannot judge the call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["LANGUAGE_NAMES", "guess_language", "looks_english"]

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset("the and is are you we to of that it this what how for with not have".split()),
    "es": frozenset(
        "el la los las que y es son usted nosotros para con no una por qué cómo pero".split()
    ),
    "de": frozenset(
        "der die das und ist sind sie wir nicht ein eine mit für was wie aber ich".split()
    ),
    "fr": frozenset(
        "le la les et est sont vous nous pas un une avec pour que comment mais je".split()
    ),
    "pt": frozenset("o os as e é são você nós não um uma com para que como mas eu".split()),
    "it": frozenset("il lo gli e è sono voi noi non un una con per che come ma io".split()),
}
LANGUAGE_NAMES = {
    "en": "English", "es": "Spanish", "de": "German", "fr": "French", "pt": "Portuguese",
    "it": "Italian",
}  # fmt: skip


def guess_language(texts: Iterable[str]) -> str | None:
    """The most likely language code of ``texts``, or None with too few clues."""
    counts = dict.fromkeys(_STOPWORDS, 0)
    for text in texts:
        for word in _WORD.findall(text.lower()):
            for code, words in _STOPWORDS.items():
                counts[code] += word in words
    best = max(counts, key=lambda c: (counts[c], c == "en"))
    return best if counts[best] >= 3 else None


def looks_english(texts: Iterable[str]) -> bool:
    """True unless the texts clearly read as another language."""
    return guess_language(texts) in (None, "en")
