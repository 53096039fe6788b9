"""TextEmotionAnalyzer with the shipped MiniLM heads: contract, edge cases, clear-case direction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from companion import registry
from companion.types import EMOTIONS, EmotionEstimate
from pipelines.text import TextEmotionAnalyzer, _to_estimate, language_factor, normalise_text, softmax


@pytest.fixture(scope="module")
def analyzer():
    return TextEmotionAnalyzer()


def check_invariants(est: EmotionEstimate) -> None:
    assert est.modality == "text" and est.source.startswith("minilm-")
    assert tuple(est.probs) == EMOTIONS
    assert math.isclose(sum(est.probs.values()), 1.0, abs_tol=1e-6)
    assert all(0.0 <= p <= 1.0 for p in est.probs.values())
    assert -1.0 <= est.valence <= 1.0 and -1.0 <= est.arousal <= 1.0
    assert 0.0 <= est.confidence <= max(est.probs.values()) + 1e-9


# Valence direction on clear cases: emoji, negation, mixed feelings with a clear balance.
VALENCE_CASES = [
    ("I'm so happy today 😊", +1),
    ("😭😭😭", -1),
    ("I love this ❤️", +1),
    ("this is the worst day ever 😡", -1),
    ("great news :)", +1),
    ("I miss you :(", -1),
    ("I'm not happy at all", -1),
    ("I'm not sad anymore", +1),
    ("I don't feel lonely any more", +1),
    ("I'm no longer scared of it", +1),
    ("This isn't bad at all, actually I really like it", +1),
    ("I don't feel good, nothing is going right", -1),
    ("It was scary at first but I ended up loving every minute", +1),
    ("The food was nice but the whole trip was a miserable disaster", -1),
    ("I got the job!! I can't stop smiling", +1),
    ("My grandmother passed away last night", -1),
]


@pytest.mark.parametrize("text,sign", VALENCE_CASES)
def test_valence_direction_on_clear_cases(analyzer, text, sign):
    est = analyzer.analyze(text)
    check_invariants(est)
    assert est.valence * sign > 0, f"{text!r}: valence {est.valence:+.3f}, expected sign {sign:+d}"


def test_an_ended_feeling_is_not_read_as_the_feeling_unless_another_is_named(analyzer):
    over = analyzer.analyze("I stopped being so anxious")
    assert over.label != "fear" and over.details["ended_feelings"] == ["fear"]
    mixed = analyzer.analyze("I'm not sad anymore but I'm still furious at him")
    assert mixed.valence < 0  # the anger is still there: no flip


def test_negation_rule_is_narrow_and_pure():
    import numpy as np

    from pipelines import text_negation as tn

    assert tn.ended_feelings("I'm not happy at all") == (frozenset(), False)  # plain "not": left to the model
    assert tn.ended_feelings("not sad any more, just angry")[1] is True
    probs = np.array([0.05, 0.05, 0.8, 0.04, 0.03, 0.02, 0.01])
    new, valence = tn.apply(probs, -0.5, frozenset({"sadness"}))
    assert new[2] == 0 and abs(new.sum() - 1) < 1e-9 and valence == pytest.approx(0.37)
    assert probs[2] == 0.8  # input untouched


# Negation moves valence the right way even where the sign does not flip.
NEGATION_PAIRS = [
    ("I'm not sad anymore", "I'm sad", +1),
    ("I'm not angry anymore", "I'm angry", +1),
    ("This isn't bad", "This is bad", +1),
    ("I'm not happy at all", "I'm happy", -1),
    ("I don't love it", "I love it", -1),
]


@pytest.mark.parametrize("negated,plain,direction", NEGATION_PAIRS)
def test_negation_moves_valence_the_right_way(analyzer, negated, plain, direction):
    shift = analyzer.analyze(negated).valence - analyzer.analyze(plain).valence
    assert shift * direction > 0.05, f"{negated!r} vs {plain!r}: valence shift {shift:+.3f}"


LABEL_CASES = [
    ("Thank you so much, this made my day!", "joy"),
    ("I miss her so much, I cried all night", "sadness"),
    ("I am furious, how dare they treat us like this", "anger"),
    ("I'm really scared about the surgery tomorrow", "fear"),
    ("Wow, I did not expect that at all!", "surprise"),
    ("That is disgusting, gross", "disgust"),
    ("The bus leaves at 9 from the main station.", "neutral"),
]


@pytest.mark.parametrize("text,label", LABEL_CASES)
def test_label_on_clear_cases(analyzer, text, label):
    est = analyzer.analyze(text)
    assert est.label == label, f"{text!r}: {dict(est.probs)}"


def test_empty_and_whitespace_give_no_signal(analyzer):
    for text in ("", "   ", "\n\t ", "\u200b"):
        assert analyzer.analyze(text) is None
    out = analyzer.analyze_batch(["", "I love you", "  "])
    assert out[0] is None and out[2] is None and isinstance(out[1], EmotionEstimate)
    assert analyzer.analyze_batch([]) == []


@pytest.mark.parametrize("bad", [None, 42, 3.5, b"bytes", ["a list"], {"text": "hi"}])
def test_non_str_input_is_a_type_error(analyzer, bad):
    with pytest.raises(TypeError, match="str"):
        analyzer.analyze(bad)


def test_batch_type_errors(analyzer):
    with pytest.raises(TypeError, match="list of str"):
        analyzer.analyze_batch("one string")
    with pytest.raises(TypeError):
        analyzer.analyze_batch(["fine", None])


def test_batch_matches_single_calls(analyzer):
    texts = ["I am thrilled!", "", "This is awful and I hate it", "ok", "word " * 400]
    batch = analyzer.analyze_batch(texts)
    for text, est in zip(texts, batch):
        single = analyzer.analyze(text)
        if est is None:
            assert single is None
            continue
        assert np.allclose([est.probs[k] for k in EMOTIONS], [single.probs[k] for k in EMOTIONS], atol=1e-4)
        assert est.valence == pytest.approx(single.valence, abs=1e-4)


def test_packed_rows_read_each_window_as_if_alone(analyzer, monkeypatch):
    """A small call packs a message and its sentences into one row; the block mask and restarted
    positions must give what one window per row gives."""
    import pipelines.text as text_module

    texts = ["I lost my job today. I don't know what to do. My rent is due.", "Great news! We won."]
    packed = analyzer.analyze_batch(texts)
    monkeypatch.setattr(text_module, "PACK_TOKENS", 0)  # every window in a row of its own
    alone = analyzer.analyze_batch(texts)
    for a, b in zip(packed, alone):
        assert np.allclose([a.probs[k] for k in EMOTIONS], [b.probs[k] for k in EMOTIONS], atol=1e-5)
        assert (a.valence, a.arousal) == pytest.approx((b.valence, b.arousal), abs=1e-5)
        assert a.details["crisis"]["risk"] == pytest.approx(b.details["crisis"]["risk"], abs=1e-4)
        assert a.details["crisis"]["pieces"] == b.details["crisis"]["pieces"] > 1


def test_pack_fills_rows_up_to_the_limit():
    from pipelines.text import pack

    # longest first: 128 fills a row; 50, 40 and 30 share one (8 tokens left), so 20 opens a third
    assert pack([50, 30, 128, 40, 20], 128) == [[2], [0, 3, 1], [4]]
    assert pack([10, 10], 0) == [[0], [1]]  # limit 0: no packing


def test_long_text_is_read_in_capped_windows(analyzer):
    filler = "We walked to the shop and then we went back home. " * 300
    est = analyzer.analyze(filler + "I am absolutely heartbroken, I can't stop crying.")
    check_invariants(est)
    assert est.details["windows"] == 8 and est.details["windows_skipped"] > 0
    short = analyzer.analyze("I love you so much")
    repeated = analyzer.analyze("I love you so much. " * 200)  # many windows, one message
    assert repeated.label == short.label == "joy"


def test_non_english_text_gets_low_confidence(analyzer):
    english = analyzer.analyze("I am so happy with my family")
    for text in (
        "Je suis très content aujourd'hui avec ma famille",
        "Ich bin heute sehr traurig und müde",
        "Estoy muy feliz con mi familia",
        "我今天很开心",
        "Я очень рад тебя видеть",
        "今日はとても悲しいです",
    ):
        est = analyzer.analyze(text)
        check_invariants(est)
        assert est.confidence < 0.3 < english.confidence, (text, est.confidence)


def test_emoji_only_and_symbols_still_give_estimates(analyzer):
    for text in ("😂😂😂", "!!!", "12345", "⠀⣿⣿", "🇺🇸"):
        check_invariants(analyzer.analyze(text))


def test_registered_default_text_backend():
    assert registry.resolve("text", "minilm") is TextEmotionAnalyzer


# -- pure helpers ---------------------------------------------------------------------------


def test_normalise_text_writes_emoji_and_emoticons_as_words():
    assert normalise_text("so sad 😭") == "so sad loudly crying face"
    assert normalise_text("love it ❤️") == "love it red heart"
    assert normalise_text("nice :) but :( and :'(") == "nice smiling face but frowning face and crying face"
    assert normalise_text("👍🏽 ok") == "thumbs up sign ok"  # skin tone dropped
    assert normalise_text("😂" * 10).count("joy") == 3  # runs capped at three
    assert normalise_text("see http://x.org/a:b") == "see http://x.org/a:b"
    assert normalise_text("a\u200bb  c") == "ab c"


def test_language_factor():
    assert language_factor([["i"], ["am"], ["happy"]]) == 1.0
    assert language_factor([]) == 1.0  # emoji-only or digits
    assert language_factor([["je"], ["sui", "##s"], ["tres"], ["content"]]) < 0.6
    assert language_factor([["[UNK]"], ["天"], ["[UNK]"]]) == 0.0


def test_to_estimate_averages_windows_by_length_and_clips_affect():
    logits = np.array([[4.0, 0, 0, 0, 0, 0, 0], [0, 4.0, 0, 0, 0, 0, 0]])
    est = _to_estimate(
        logits,
        np.array([[2.0, 0.0], [-0.5, 0.2]]),
        np.array([30.0, 10.0]),
        temperature=2.0,
        language=0.5,
        source="minilm-goemotions-test",
    )
    expected = 0.75 * softmax(logits[0], 2.0) + 0.25 * softmax(logits[1], 2.0)
    assert np.allclose([est.probs[k] for k in EMOTIONS], expected)
    assert est.valence == pytest.approx(min(1.0, 0.75 * 2.0 - 0.25 * 0.5))
    assert est.confidence == pytest.approx(expected.max() * 0.5)
    assert est.details["windows"] == 2
