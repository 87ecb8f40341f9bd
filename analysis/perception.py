"""What each message *does*: behaviours of the candidate, reactions of the persona.

Each candidate sentence is compared (cosine of sentence embeddings) with short example
sentences of each behaviour - the prototypes in ``analysis/prototypes/<blueprint>.json``
plus ``common.json`` - and each persona sentence with examples of reactions (agrees,
raises a concern, declines, loses patience...). A behaviour's strength in a sentence is how
close its nearest examples are, discounted when another behaviour (or plain small talk)
is clearly closer. A message's strength is its strongest sentence.

Question *form* is read structurally, because embeddings capture topic better than form:
open ("what/how/why...", "walk me through"), leading ("wouldn't you agree...", "..., right?"),
offers ("what if we...", "how about..."), after dropping fillers ("um", "so", "you know").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from analysis.depth import concreteness
from analysis.embedder import Embedder
from analysis.models import TranscriptLine

__all__ = [
    "Blueprint",
    "Perceived",
    "Prototypes",
    "acknowledges",
    "blueprint_config",
    "perceive",
    "question_kind",
    "restore_questions",
    "sentences",
]

# Cosine (mean of the two nearest examples) where a behaviour starts to count / fully counts.
_LOW, _HIGH = 0.18, 0.58
# Behaviours that cost points need clearer evidence (a penalty on a near miss is unfair).
_HARM_LOW, _HARM_HIGH = 0.36, 0.58
# How much of a depth behaviour's strength a sentence without any concrete content keeps.
_DEPTH_FLOOR = 0.3
# A behaviour this far below the best match of the sentence is not what it does.
_MARGIN = 0.07

# Saying a concern needs no thought is dismissal however warm the words around it (the
# embeddings put "no need to worry" next to "I understand your worry").
_DISMISSAL = re.compile(
    r"\b(?:don't|do not|no need to|nothing to|never|wouldn't|shouldn't) (?:\w+ ){0,2}"
    r"(?:worry|be concerned|be worried)"
    r"|not (?:\w+ ){0,3}(?:you need|you have|to) (?:to )?worry|trust me|"
    r"(?:that's|it's|is|that is|it is) not (?:really )?(?:a|an) "
    r"(?:problem|concern|issue|(?:big|large|huge) deal)"
)
# Polarity of the persona's answer. Sentence embeddings place "that works for me" and "that
# doesn't work for me" side by side (same topic), so yes/no/leaving is read from short cues.
_YES = re.compile(
    r"^(?:yes|yeah|yep|sure|absolutely|definitely|of course|okay,? let's|ok,? let's|deal|"
    r"perfect|great,? (?:let's|send|see)|fine,? (?:let's|book|send))\b|"
    r"\b(?:sounds good|sounds great|sounds like a plan|works for me|that works|"
    r"(?:\w+day|that|it|this) (?:at \w+ )?works|let's do (?:it|that)|happy to|i'm in|count me in|"
    r"pencil it in|book it|send (?:me )?the invite|i'll be there|see you (?:then|on)|"
    r"talk to you (?:then|on|\w+day)|looking forward|fine by me|i can make|i like that|"
    r"(?:'s|is|sounds|that's|that is) (?:fine|ok|okay)|come by|see you)\b"
    r"|\bworks(?: for (?:me|us|both of us))?[.!]?$"
)
_NO = re.compile(
    r"^(?:no|nope)(?:[,.!]|$)|"
    r"^(?:no,? thanks|not (?:now|yet|this|really|today|interested|ready)|i don't think so|"
    r"i'd rather not|i would rather not|let's not|don't|i can't|we can't|i won't|we won't|"
    r"i don't think (?:we|i)(?:'ll| will| want| need)|(?:we'll|i'll) pass|"
    r"no thanks|pass)\b|"
    r"\b(?:not interested|no thanks|(?:we'll|i'll|we will|i will) reach out|not going to happen|"
    r"hold off|not ready|too early|not a priority|not this (?:quarter|year|month|week)|"
    r"(?:doesn't|does not|won't|will not) work for (?:me|us))\b"
)
_LEAVING = re.compile(
    r"\b(?:i have to go|i've got to go|i need to (?:go|run|jump|drop)|got to run|goodbye|"
    r"we're done|we are done|i'm done|i am done|wasting my time|not listening|let me finish|"
    r"can i finish|"
    r"i already (?:said|told)|i told you|stop (?:pushing|selling)|never ?mind|forget it|"
    r"whatever you (?:think|say|want))\b"
    # Giving up quietly is leaving too: "Okay. I think I'll leave it then."
    r"|\b(?:i'll|i will|let's|let us|we'll|we can|i'd rather) (?:just )?(?:leave it|drop it|"
    r"stop (?:here|there))(?:,? (?:there|then|at that|for now))?[.!]?$"
    r"|\b(?:it|that) (?:doesn't|does not) (?:really )?matter(?: anymore| then)?[.!]?$"
    r"|\b(?:not|no) (?:much |any )?point (?:in )?(?:going on|continuing|carrying on)\b"
)
_WARM = re.compile(
    r"\b(?:good question|great question|good point|fair point|that's helpful|that helps|"
    r"really helpful|thank you|thanks|appreciate|i like|makes sense|exactly|that's right|"
    r"fair summary|better conversation|well put|interesting)\b"
)
_YES_BUT = re.compile(
    r"^(?:totally|sure|understood|i understand|i hear you|i get (?:it|that)|right|yes|yeah|"
    r"absolutely|of course|fair enough|i know|i see|got it|okay|ok|true)\b[^.?!]{0,12}?\bbut\b"
)
_SENTENCE = re.compile(r"[^.!?…]+(?:[.!?…]+|$)")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_FILLERS = frozenset(
    "um umm uh uhh er erm hmm mm so well okay ok and but now then also right like actually "
    "basically just yeah yes alright anyway honestly look listen great cool sure got it "
    "perfect thanks thank you excellent awesome wonderful brilliant fantastic nice alright "
    "frankly".split()
)
_FILLER_PHRASES = re.compile(
    r"^(?:you know|i mean|i guess|let me ask(?: you)?|can i ask(?: you)?|may i ask|"
    r"i'm curious|i am curious|i was wondering|i wonder|quick question|one more thing|"
    r"out of curiosity|just to check|just curious)\b[,:]?\s*"
)
_OPEN_STARTS = frozenset(
    "what what's whats how how's hows why why's where where's when when's who who's who'd "
    "whose which tell walk describe explain help share talk".split()
)
_OPEN_AFTER_MODAL = re.compile(
    r"^(?:can|could|would|will) you (?:please )?(?:walk|tell|describe|explain|share|talk|"
    r"help|give me a sense|say more|expand)"
)
_OFFER = re.compile(
    r"^(?:what if (?:i|we)|how about|why (?:don't|do not) (?:i|we)|why do not (?:i|we)|"
    r"shall (?:i|we)|should (?:i|we)|"
    r"would you like|do you want (?:me|us)|can (?:i|we)|could (?:i|we)|may (?:i|we)|"
    r"let me|let's|would it (?:help|work|make sense)|does .{0,30}work for you)"
)
_LEADING_START = re.compile(
    r"^(?:wouldn't|don't|isn't|aren't|doesn't|won't|can't|couldn't|shouldn't|didn't|"
    r"haven't|hasn't|surely)\b"
)
_LEADING_ANY = re.compile(
    r"(?:wouldn't you (?:agree|say)|don't you (?:think|agree)|you'd agree|you would agree|"
    r"isn't that (?:right|true)|you must (?:agree|admit)|obviously you)"
)
_TAG = re.compile(
    r"(?:,\s*(?:right|correct|yes|no|yeah)|\b(?:isn't it|don't you|wouldn't it|won't you|"
    r"aren't you|doesn't it|can't you|wouldn't you|didn't you))\s*\?$"
)
_PROMPT = re.compile(
    r"^(?:tell me|walk me through|help me understand|describe|explain|talk me through|"
    r"i'd love to (?:hear|understand)|i would love to (?:hear|understand))\b"
)
DATE = re.compile(
    r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|today|tonight|"
    r"this (?:afternoon|morning|evening|week)|next (?:week|month|monday|tuesday|wednesday|"
    r"thursday|friday)|end of (?:day|the week)|by (?:the )?\d{1,2}(?:st|nd|rd|th)?|"
    r"(?:first|1st|15th|tenth|10th) of|within (?:the|a|an|\w+) (?:hour|day|week)s?|"
    r"at (?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|noon|\d{1,2})\b|"
    r"\d{1,2}(?::\d\d)?\s?(?:am|pm|a\.m\.|p\.m\.))"
)


# One canonical spelling for contractions, so "I would" and "I'd" read (and embed) the same.
_CONTRACT = {
    "do not": "don't", "does not": "doesn't", "did not": "didn't", "cannot": "can't",
    "can not": "can't", "will not": "won't", "would not": "wouldn't", "should not": "shouldn't",
    "could not": "couldn't", "is not": "isn't", "are not": "aren't", "was not": "wasn't",
    "were not": "weren't", "have not": "haven't", "has not": "hasn't", "i am": "i'm",
    "i would": "i'd", "i will": "i'll", "i have": "i've", "we are": "we're", "we will": "we'll",
    "we would": "we'd", "we have": "we've", "you are": "you're", "you would": "you'd",
    "you will": "you'll", "they are": "they're", "they will": "they'll", "it is": "it's",
    "that is": "that's", "there is": "there's", "what is": "what's", "who is": "who's",
    "who would": "who'd", "let us": "let's",
}  # fmt: skip
_CONTRACTION = re.compile(
    r"\b(?:" + "|".join(re.escape(k) for k in sorted(_CONTRACT, key=len, reverse=True)) + r")\b"
)


def canonical(text: str) -> str:
    """Lower-cased, straight apostrophes, single spaces, contractions in one spelling."""
    flat = " ".join(text.lower().replace("\u2019", "'").replace("\u2018", "'").split())
    return _CONTRACTION.sub(lambda m: _CONTRACT[m.group(0)], flat)


def _normalise(text: str) -> str:
    return canonical(text)


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` (punctuation kept, so a question keeps its mark)."""
    out = [s.strip() for s in _SENTENCE.findall(" ".join(text.split()))]
    return [s for s in out if any(c.isalnum() for c in s)]


def _strip_fillers(sentence: str) -> str:
    s = _normalise(sentence)
    for _ in range(8):
        before = s
        s = _FILLER_PHRASES.sub("", s)
        match = re.match(r"^([a-z']+)[,.!]?\s+", s)
        if match and match.group(1) in _FILLERS:
            s = s[match.end() :]
        if s == before:
            break
    return s


# A question by its words, for transcripts whose punctuation cannot be trusted (speech
# recognisers often end every sentence with a full stop): a wh-word before an auxiliary
# ("how would you", "what budget do you have"), an auxiliary before its subject ("do you",
# "could the team"), or a tag ("... isn't it", "... right" after a statement).
_AUX = (
    r"(?:do|does|did|is|are|was|were|would|will|can|could|should|shall|has|have|had|may|"
    r"might|isn't|aren't|don't|doesn't|didn't|wouldn't|won't|can't|couldn't|shouldn't|"
    r"haven't|hasn't|wasn't|weren't)"
)
_SUBJECT = (
    r"(?:you|we|they|i|it|he|she|your|our|their|the|this|that|these|those|there|anyone|"
    r"anybody|someone|somebody|any|a|an|[a-z]+'s)"
)
_PRONOUN = r"(?:you|we|they|i|it|he|she|your|our|their|there)"
_WH = r"(?:what|how|why|where|when|who|which|whose)"
_NOT_A_SUBJECT = r"(?!(?:i|you|we|they|he|she|it|i'm|we're|they're|you're|there)\b)"
_WH_QUESTION = re.compile(
    # At the start: "what does...", "what's", "how many..." (and `_WH_VERB`).
    rf"^(?!which (?:is|was) (?:why|what|how)\b){_WH}(?:'s|'re|'d| {_AUX}\b"
    rf"| (?:many|much|long|often|far|soon|big)\b)"
    rf"|^who\b(?! knows\b)"  # a sentence that opens with "who" asks ("who on your team...")
    # Anywhere: a wh-word, a few words that are not a subject, then an inverted auxiliary
    # ("and the part-timers, how do they feel", "which one of those would be"); "what we did
    # was" has its subject first and stays a statement.
    rf"|\b{_WH}(?: {_NOT_A_SUBJECT}[a-z'-]+){{0,3}} {_AUX} (?:{_PRONOUN}|be)\b"
    rf"|\b(?:and|so|like|but|then|or) who [a-z]+s\b"
    rf"|\b(?:how|why|what|where|when) (?:do|does|did)\b"
)
# "What happened with the alerts?" asks; "what happened was..." and "what worries me is..."
# state (a main verb follows the wh-clause).
_WH_VERB = re.compile(r"^(?:what|who) [a-z]+(?:ed|s)\b")
_MAIN_VERB = re.compile(r"\b(?:is|was|are|were)\b")
_INVERTED = re.compile(rf"^{_AUX} {_SUBJECT}\b(?: [a-z']+)")
_TAG_END = re.compile(
    r"\b(?:isn't it|don't you|wouldn't you|aren't you|doesn't it|can't you|didn't you|"
    r"won't you|wouldn't it|isn't that|(?P<before>[a-z']+) right)$"
)
# "That's right." and "all right" state; "... makes sense right" asks.
_NOT_A_TAG = frozenset({"that's", "all", "you're", "exactly", "just", "yeah", "is", "it's"})


def restore_questions(text: str) -> str:
    """``text`` with a question mark on each sentence that asks by its words, when the text
    has none at all (a speech recogniser's transcript); text that uses question marks is
    trusted as it is."""
    if "?" in text:
        return text
    out: list[str] = []
    changed = False
    for sentence in sentences(text):
        body = sentence.rstrip(".!…;: ")
        s = _strip_fillers(body)
        words = len(_WORD.findall(s))
        tag = _TAG_END.search(s) if words >= 4 else None
        wh_verb = _WH_VERB.match(s) is not None and not _MAIN_VERB.search(s)
        asks = bool(wh_verb or _WH_QUESTION.search(s) or (words >= 3 and _INVERTED.match(s))) or (
            tag is not None and tag.group("before") not in _NOT_A_TAG
        )
        if asks:
            changed = True
            sentence = (body[: -len(" right")] + ", right" if s.endswith(" right") else body) + "?"
        out.append(sentence)
    return " ".join(out) if changed else text


def question_kind(sentence: str) -> str | None:
    """``open``, ``leading``, ``offer``, ``closed`` or None (not a question)."""
    raw = _normalise(sentence)
    s = _strip_fillers(sentence)
    is_prompt = _PROMPT.match(s) is not None
    if not raw.endswith("?") and not is_prompt:
        return None
    if _LEADING_START.match(s) or _LEADING_ANY.search(s) or _TAG.search(raw):
        return "leading"
    if _OPEN_AFTER_MODAL.match(s) or is_prompt:
        return "open"
    if _OFFER.match(s):
        return "offer"
    first = _WORD.findall(s)[:1]
    if first and first[0] in _OPEN_STARTS:
        return "open"
    return "closed"


@dataclass(frozen=True, slots=True)
class Behaviour:
    name: str
    label: str
    vectors: npt.NDArray[np.float32]
    target: float = 1.5
    question: bool = False  # only a question (or "tell me...") does this
    concrete: bool = False  # only concrete content does this (a named mechanism, a number)


# Behaviours that cost points must be the sentence's best match, not a near miss.
HARMFUL = frozenset(
    {"dismiss", "pressure", "argue", "deflect", "pitch", "handwave", "blame", "buzzwords",
     "overpromise"}
)  # fmt: skip
_FILLER_WORDS = re.compile(
    r"\b(?:um+|uh+|erm|er|hmm+|you know|i mean|kind of|sort of)\b,?\s*|\b(?:like|well),\s*",
    re.I,
)


def for_model(sentence: str) -> str:
    """The sentence as embedded: fillers dropped and contractions in one spelling, so "um, you
    know" or "I would" for "I'd" does not move the score."""
    return " ".join(_FILLER_WORDS.sub(" ", canonical(sentence)).split()) or sentence


@dataclass(frozen=True, slots=True)
class Prototypes:
    """Embedded examples of one side's behaviours (candidate or persona)."""

    behaviours: tuple[Behaviour, ...]

    @property
    def question_only(self) -> frozenset[str]:
        return frozenset(b.name for b in self.behaviours if b.question)

    @property
    def concrete_only(self) -> frozenset[str]:
        return frozenset(b.name for b in self.behaviours if b.concrete)

    def labels(self) -> dict[str, str]:
        return {b.name: b.label for b in self.behaviours}

    def similarities(self, vector: npt.NDArray[np.float32]) -> dict[str, float]:
        """Each behaviour's closeness to ``vector``: the mean of its two nearest examples."""
        return {b.name: float(np.sort(b.vectors @ vector)[-2:].mean()) for b in self.behaviours}

    def strengths(
        self,
        vector: npt.NDArray[np.float32],
        words: int = 8,
        question: bool = True,
        sims: dict[str, float] | None = None,
    ) -> dict[str, float]:
        sims = self.similarities(vector) if sims is None else sims
        best = max(sims.values())
        out: dict[str, float] = {}
        for name, sim in sims.items():
            if name == "neutral":
                continue
            low, high = (_HARM_LOW, _HARM_HIGH) if name in HARMFUL else (_LOW, _HIGH)
            strength = min(1.0, max(0.0, (sim - low) / (high - low)))
            # Continuous in the gap to the best match, so a reworded sentence that swaps which
            # behaviour is nearest moves strengths a little, not by a step.
            gap = best - sim
            if name in HARMFUL:
                strength *= max(0.3, 1.0 - 0.7 * gap / (0.5 * _MARGIN))
            else:
                strength *= max(0.25, 1.0 - 0.75 * gap / (2 * _MARGIN))
            if not question and name in self.question_only:
                strength *= 0.3  # "customers say it pays for itself" probes nothing
            out[name] = strength * min(1.0, (words + 1) / 5)  # "I see." says little
        return out


@dataclass(frozen=True, slots=True)
class Blueprint:
    """A blueprint's prototypes, talk-share norm and factor recipes (from its JSON file)."""

    name: str
    candidate: Prototypes
    persona: Prototypes
    talk_share: Mapping[str, float]
    monologue_words: int
    factors: Mapping[str, Mapping[str, Any]]
    labels: Mapping[str, str] = field(default_factory=dict)
    # The track's own substantive behaviours: what concrete content must be about to count.
    substance: frozenset[str] = frozenset()


@cache
def _raw(name: str) -> dict[str, Any]:
    path = resources.files("analysis") / "prototypes" / f"{name}.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def prototype_file_names() -> list[str]:
    folder = resources.files("analysis") / "prototypes"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def _embed_side(
    embedder: Embedder, sections: Sequence[Mapping[str, Any]]
) -> tuple[Prototypes, dict[str, str]]:
    behaviours: list[Behaviour] = []
    labels: dict[str, str] = {}
    for section in sections:
        for name, spec in section.items():
            examples = [str(e) for e in spec["examples"]]
            if not examples:
                raise ValueError(f"behaviour {name!r} has no examples")
            vectors = embedder.embed_fixed(examples)
            behaviours.append(
                Behaviour(
                    name,
                    str(spec["label"]),
                    vectors,
                    float(spec.get("target", 1.5)),
                    spec.get("form") == "question",
                    bool(spec.get("needs_concrete", False)),
                )
            )
            labels[name] = str(spec["label"])
    return Prototypes(tuple(behaviours)), labels


def blueprint_config(embedder: Embedder, blueprint: str) -> Blueprint:
    """Load and embed ``blueprint``'s prototypes (sales for a blueprint without a file)."""
    names = prototype_file_names()
    name = blueprint if blueprint in names else "sales"
    common, own = _raw("common"), _raw(name)
    candidate, labels = _embed_side(embedder, [common["candidate"], own.get("behaviours", {})])
    # A track adds its own examples of the persona's reactions (an employee's worry is not a
    # prospect's price objection) to the shared classes.
    reactions = {name: dict(spec) for name, spec in common["persona"].items()}
    for name, extra in own.get("persona", {}).items():
        if name not in reactions:
            raise ValueError(f"{name}: unknown persona reaction in {blueprint}.json")
        reactions[name]["examples"] = [*reactions[name]["examples"], *extra]
    persona, persona_labels = _embed_side(embedder, [reactions])
    return Blueprint(
        name=name,
        candidate=candidate,
        persona=persona,
        talk_share={k: float(v) for k, v in own["talk_share"].items()},
        monologue_words=int(own["monologue_words"]),
        factors=own["factors"],
        labels={**labels, **{f"persona:{k}": v for k, v in persona_labels.items()}},
        substance=frozenset(own.get("behaviours", {})) - HARMFUL,
    )


@dataclass(slots=True)
class Perceived:
    """One message, read: its behaviours (or reactions) and its questions."""

    index: int
    role: str
    text: str
    words: int
    sentences: list[str]
    vectors: npt.NDArray[np.float32]
    strengths: dict[str, float]
    questions: list[str] = field(default_factory=list)  # the kind of each question
    dated: bool = False
    specific: float = 0.0  # 0-1: concrete content on the track's subject (see perceive)

    @property
    def vector(self) -> npt.NDArray[np.float32]:
        """The mean of its sentence vectors, re-normalised (the message's gist)."""
        if not len(self.vectors):
            return np.zeros(0, dtype=np.float32)
        mean = self.vectors.mean(axis=0)
        unit: npt.NDArray[np.float32] = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(
            np.float32
        )
        return unit


# Cosine to the track's own behaviours where concrete content starts / fully counts as being
# about the track's subject (wide and low: it only keeps out small talk and anecdotes).
_ON_TOPIC = (0.05, 0.25)


def _on_topic(sims: Mapping[str, float], substance: frozenset[str]) -> float:
    """0-1: how much a sentence is about the track's substance rather than small talk."""
    low, high = _ON_TOPIC
    topic = max((sims.get(k, 0.0) for k in substance), default=0.0)
    return min(1.0, max(0.0, (topic - low) / (high - low)))


# Softmax temperature for which kind of depth a concrete sentence shows (trade-off, failure
# mode, test...), and how much of a depth behaviour comes from that relative reading.
_KIND_TEMPERATURE = 0.04
_RELATIVE = 0.6


def _depth(
    found: dict[str, float],
    sims: Mapping[str, float],
    kinds: frozenset[str],
    concrete: float,
    on_topic: float,
) -> None:
    """Depth behaviours are topic *and* substance: "caching would help" is on topic but says
    nothing; the same topic with a named mechanism or a number is depth.

    Two readings, blended. Absolute: the behaviour's own similarity, discounted without
    concrete content. Relative: the sentence's concreteness, shared among the depth kinds
    by how close each is (a softmax), so a word that moves every similarity up or down
    together (a synonym, a filler) changes little; it counts when the sentence is on the
    track's subject at all."""
    ordered = sorted(kinds)
    logits = np.array([sims.get(k, 0.0) for k in ordered]) / _KIND_TEMPERATURE
    shares = np.exp(logits - logits.max())
    shares /= shares.sum()
    discount = _DEPTH_FLOOR + (1 - _DEPTH_FLOOR) * concrete
    for name, share in zip(ordered, shares, strict=True):
        absolute = found.get(name, 0.0) * discount
        relative = concrete * on_topic * float(share)
        found[name] = (1 - _RELATIVE) * absolute + _RELATIVE * relative


# "Right." and "I see." are backchannels, not agreement; "Okay." / "Fine." go along.
_ACKNOWLEDGE = re.compile(r"^(?:okay|ok|alright|all right|fine|sure)[.!]?$")


def acknowledges(message: Perceived) -> bool:
    """The message opens with a bare "Okay." / "Alright." (fillers aside) and the rest has
    no "no" and no sign of leaving: after a proposal, going along with it, if not
    enthusiastically."""
    first = for_model(message.sentences[0]).strip(" ,") if message.sentences else ""
    rest = " ".join(_strip_fillers(s) for s in message.sentences)
    calm = max(message.strengths.get("disengages", 0.0), message.strengths.get("refuses", 0.0))
    return (
        _ACKNOWLEDGE.match(first) is not None
        and _NO.search(rest) is None
        and _LEAVING.search(rest) is None
        and calm < 0.25
    )


def _polarity(found: dict[str, float], sentence: str) -> None:
    """Correct the persona's reactions with yes/no/leaving cues (see ``_YES``)."""
    no, yes = _NO.search(sentence) is not None, _YES.search(sentence) is not None
    leaving, warm = _LEAVING.search(sentence) is not None, _WARM.search(sentence) is not None
    if leaving:
        found["disengages"] = max(found.get("disengages", 0.0), 0.9)
    elif not warm:
        found["disengages"] = 0.5 * found.get("disengages", 0.0)
    else:
        found["disengages"] = 0.0
        found["positive"] = max(found.get("positive", 0.0), 0.6)
    if no:
        found["refuses"] = max(found.get("refuses", 0.0), 0.8)
        found["accepts"] = 0.3 * found.get("accepts", 0.0)
    elif yes:
        found["accepts"] = max(found.get("accepts", 0.0), 0.8)
        found["refuses"] = 0.2 * found.get("refuses", 0.0)
    else:
        # Without a cue, the embeddings cannot tell yes from no: neither counts much.
        found["accepts"] = 0.4 * found.get("accepts", 0.0)
        found["refuses"] = 0.4 * found.get("refuses", 0.0)


def perceive(
    window: Sequence[TranscriptLine], embedder: Embedder, blueprint: Blueprint
) -> list[Perceived]:
    """Read every message of ``window`` (oldest first)."""
    out: list[Perceived] = []
    for index, line in enumerate(window):
        text = restore_questions(line.text)
        parts = sentences(text) or ([text.strip()] if text.strip() else [])
        vectors = embedder.embed_many([for_model(p) for p in parts])
        protos = blueprint.persona if line.role == "assistant" else blueprint.candidate
        strengths: dict[str, float] = {}
        specific = 0.0
        for sentence, v in zip(parts, vectors, strict=True):
            normal = _normalise(sentence)
            sims = protos.similarities(v)
            found = protos.strengths(
                v,
                len(_WORD.findall(_normalise(for_model(sentence)))),
                question_kind(sentence) is not None,
                sims,
            )
            if line.role == "user":
                # Specificity: concrete content (analysis.depth: named mechanisms, numbers,
                # reasons; graded, so a terse precise answer counts and a synonym moves it
                # little), weighed by how much the sentence is about the track's subject.
                concrete = concreteness(for_model(sentence))
                on_topic = _on_topic(sims, blueprint.substance) if concrete > 0 else 0.0
                specific += concrete * on_topic
                if protos.concrete_only:
                    _depth(found, sims, protos.concrete_only, concrete, on_topic)
            if line.role == "user" and _DISMISSAL.search(normal):
                found["dismiss"] = max(found.get("dismiss", 0.0), 0.8)
                found["empathy"] = 0.0
            if line.role == "user" and _YES_BUT.match(_strip_fillers(for_model(sentence))):
                # "Totally, but..." acknowledges in order to rebut.
                found["empathy"] = found["reflect"] = 0.0
                found["argue"] = max(found.get("argue", 0.0), 0.5)
            if line.role == "assistant":
                _polarity(found, _strip_fillers(sentence))
            for name, value in found.items():
                strengths[name] = max(strengths.get(name, 0.0), value)
        kinds = [k for k in (question_kind(s) for s in parts) if k is not None]
        if line.role == "user" and "tailored_value" in strengths:
            # Value is "tailored" only when it is about what the other side said.
            heard = [m.vectors for m in out if m.role == "assistant" and len(m.vectors)]
            relevance = (
                max(float(np.max(v @ vectors.T)) for v in heard) if heard and len(vectors) else 0.0
            )
            strengths["tailored_value"] *= min(1.0, max(0.0, (relevance - 0.15) / 0.3))
        out.append(
            Perceived(
                index=index,
                role=line.role,
                text=text,
                words=len(_WORD.findall(_normalise(text))),
                sentences=parts,
                vectors=vectors,
                strengths=strengths,
                questions=kinds if line.role == "user" else [],
                dated=DATE.search(_normalise(text)) is not None,
                specific=min(1.0, specific),
            )
        )
    return out
