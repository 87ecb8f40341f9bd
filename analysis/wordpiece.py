"""A small pure-Python BERT WordPiece tokenizer (uncased), for the offline embedding model.

It reproduces what BERT's reference ``BasicTokenizer`` + ``WordpieceTokenizer`` do for an
uncased vocabulary (the one all-MiniLM-L6-v2 was trained with): clean control characters,
put spaces around CJK ideographs, lower-case, strip accents (NFD, drop combining marks),
split on whitespace and punctuation, then split each word greedily into the longest
vocabulary pieces (``##`` marks a continuation); a word that cannot be split, or is longer
than 100 characters, becomes ``[UNK]``. Written here so the analyzer needs neither the
``tokenizers`` nor the ``transformers`` package.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from pathlib import Path

__all__ = ["WordPiece", "basic_tokens"]

_MAX_CHARS_PER_WORD = 100


def _is_whitespace(ch: str) -> bool:
    if ch in " \t\n\r":
        return True
    return unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf", "Cn", "Co", "Cs")


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    # BERT treats every non-alphanumeric ASCII symbol as punctuation ("$", "^", "`"...).
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def _clean(text: str) -> str:
    out: list[str] = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        if _is_whitespace(ch):
            out.append(" ")
        elif _is_cjk(cp):
            out.append(f" {ch} ")
        else:
            out.append(ch)
    return "".join(out)


def _strip_accents(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")


def _split_punctuation(word: str) -> Iterable[str]:
    current: list[str] = []
    for ch in word:
        if _is_punctuation(ch):
            if current:
                yield "".join(current)
                current = []
            yield ch
        else:
            current.append(ch)
    if current:
        yield "".join(current)


def basic_tokens(text: str) -> list[str]:
    """BERT's basic tokenization, uncased: words and single punctuation marks."""
    tokens: list[str] = []
    for word in _clean(text).split():
        tokens.extend(_split_punctuation(_strip_accents(word.lower())))
    return tokens


class WordPiece:
    """Text to token ids with ``[CLS]`` ... ``[SEP]``, truncated to ``max_length`` ids."""

    def __init__(self, vocab: Iterable[str], max_length: int = 256) -> None:
        self.vocab: dict[str, int] = {}
        for index, token in enumerate(vocab):
            self.vocab.setdefault(token, index)
        for special in ("[CLS]", "[SEP]", "[UNK]", "[PAD]"):
            if special not in self.vocab:
                raise ValueError(f"vocabulary has no {special} token")
        if max_length < 2:
            raise ValueError("max_length must leave room for [CLS] and [SEP]")
        self.max_length = max_length
        self.cls_id = self.vocab["[CLS]"]
        self.sep_id = self.vocab["[SEP]"]
        self.unk_id = self.vocab["[UNK]"]

    @classmethod
    def from_file(cls, path: Path, max_length: int = 256) -> WordPiece:
        """Load a BERT ``vocab.txt`` (one token per line, the line number is its id)."""
        lines = path.read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return cls(lines, max_length)

    def _pieces(self, word: str) -> list[int]:
        if len(word) > _MAX_CHARS_PER_WORD:
            return [self.unk_id]
        ids: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            found: int | None = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = self.vocab.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                return [self.unk_id]
            ids.append(found)
            start = end
        return ids

    def tokenize(self, text: str) -> list[str]:
        """The word pieces of ``text`` (no special tokens), for tests and debugging."""
        inverse = {i: t for t, i in self.vocab.items()}
        return [inverse[i] for word in basic_tokens(text) for i in self._pieces(word)]

    def encode(self, text: str) -> list[int]:
        """``[CLS] pieces... [SEP]`` ids, the pieces cut to fit ``max_length``."""
        ids = [i for word in basic_tokens(text) for i in self._pieces(word)]
        return [self.cls_id, *ids[: self.max_length - 2], self.sep_id]
