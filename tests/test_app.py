"""Sign-in accounts, the page's views, and the app module's promises (no model at import)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from companion.accounts import SignInError, Throttle, session_valid, set_passphrase, sign_in
from companion.memory.facts import Fact
from companion.types import EmotionEstimate, MoodState
from webapp import views

PASS = "correct horse battery"


def test_first_sign_in_creates_the_account_with_a_hash_and_later_ones_verify(store):
    first = sign_in(store, "alice", PASS)
    assert first.created and first.user == "alice"
    stored = store.get_user_field("alice", "passphrase_hash")
    assert stored == first.token and PASS not in stored and stored.startswith("scrypt$")
    again = sign_in(store, " alice ", PASS)
    assert not again.created and again.token == stored
    with pytest.raises(SignInError, match="wrong passphrase"):
        sign_in(store, "alice", "correct horse battery!")
    assert sign_in(store, "Alice", "another passphrase").created  # names are case-sensitive


@pytest.mark.parametrize(
    "user,passphrase,message",
    [
        ("alice", "short", "at least 8 characters"),
        ("alice", "x" * 300, "longer than 256"),
        ("../etc", PASS, "invalid user id"),
        ("", PASS, "invalid user id"),
        (None, PASS, "must be a string"),
        ("bob", None, "at least 8 characters"),
    ],
)
def test_bad_sign_in_input_gets_a_clear_message(store, user, passphrase, message):
    with pytest.raises(SignInError, match=message):
        sign_in(store, user, passphrase)
    assert not store.user_exists("alice")


def test_repeated_wrong_passphrases_are_throttled(store):
    throttle = Throttle(attempts=3, window_s=60)
    sign_in(store, "alice", PASS, throttle)
    for _ in range(3):
        with pytest.raises(SignInError, match="wrong passphrase"):
            sign_in(store, "alice", "guess guess guess", throttle)
    with pytest.raises(SignInError, match="too many wrong passphrases"):
        sign_in(store, "alice", PASS, throttle)  # even the right one waits
    throttle.check("alice", now=time.time() + 61)  # the window passes


def test_memories_made_without_a_passphrase_cannot_be_claimed_from_the_web(store):
    store.ensure_user("carol")
    store.add_fact("carol", Fact("name", "", "Carol", "The user's name is Carol."))
    with pytest.raises(SignInError, match="set-passphrase carol"):
        sign_in(store, "carol", PASS)
    assert store.get_user_field("carol", "passphrase_hash") is None
    set_passphrase(store, "carol", PASS)
    assert not sign_in(store, "carol", PASS).created


def test_a_session_ends_when_its_account_is_forgotten_or_recreated(store):
    old = sign_in(store, "dana", PASS)
    assert session_valid(store, "dana", old.token)
    store.forget("dana")
    assert not session_valid(store, "dana", old.token)
    new = sign_in(store, "dana", "another passphrase")
    assert not session_valid(store, "dana", old.token) and session_valid(store, "dana", new.token)


def _mood(**kw) -> MoodState:
    base = dict(
        probs={"sadness": 0.7, "neutral": 0.3},
        valence=-0.5,
        arousal=-0.3,
        confidence=0.6,
        contributions={"text": 0.6, "face": 0.4},
    )
    return MoodState(**{**base, **kw})


def test_mood_panel_shows_label_numbers_a_bar_per_modality_and_incongruence():
    html = views.mood_panel(
        _mood(incongruent=True, disagreeing=("text", "face")), {"face": {"label": "joy", "confidence": 0.8}}
    )
    assert "Sadness" in html and "confidence 60%" in html and "valence -0.50" in html
    assert html.count('class="mod-row"') == 3 and 'style="width:60%"' in html and 'style="width:40%"' in html
    assert "joy 80%" in html and "Mixed signals" in html and "words and face" in html
    unknown = views.mood_panel(MoodState.unknown())
    assert "No mood yet" in unknown and "Mixed" not in unknown


def test_views_escape_what_users_typed():
    facts = [{"id": 1, "kind": "likes", "text": "<script>alert(1)</script>"}]
    assert "<script>" not in views.facts_list(facts) and "&lt;script&gt;" in views.facts_list(facts)
    assert "<b>" not in views.notice("<b>hi</b>")
    assert views.notice(None) == ""


def test_face_indicator_states():
    assert 'data-state="off"' in views.face_indicator("off")
    shown = views.face_indicator("estimate", {"label": "joy", "confidence": 0.72})
    assert 'data-state="estimate"' in shown and "joy" in shown and "72%" in shown


def test_timeline_rows_hold_session_and_past_series_in_time_order():
    now = time.time()
    past = [_mood(at=now - 86400 * d) for d in (3, 2, 1)]
    rows = views.timeline([(now - 10, 0.2, 0.1), (now, 0.3, 0.2)], past)
    assert rows["series"].value_counts().to_dict() == {
        "valence (past)": 3,
        "arousal (past)": 3,
        "valence (now)": 2,
        "arousal (now)": 2,
    }
    assert rows["time"].is_monotonic_increasing
    now_valence = rows[rows["series"] == "valence (now)"]["value"].tolist()
    assert now_valence == [0.2, 0.3]
    assert set(rows["series"]) <= set(views.TIMELINE_COLORS)
    assert views.timeline([], []).empty


def test_the_page_is_never_sent_an_empty_timeline():
    """Gradio's plot keeps the encoding of the first frame it gets: after an empty one it draws no dots."""
    from webapp.session import Session
    from webapp.talk import timeline

    class NoPast:
        def mood_history(self, user, since):
            return []

    session = Session()
    session.user = "ana"
    assert timeline(NoPast(), session) is None
    session.add_point(time.time(), 0.4, 0.1, force=True)
    assert len(timeline(NoPast(), session)) == 2


def test_reading_keeps_only_what_the_panel_shows():
    est = EmotionEstimate("face", {"joy": 1.0}, 0.8, 0.5, 0.9, "cnn")
    assert views.reading(est) == {"label": "joy", "confidence": 0.9, "source": "cnn", "at": est.at}


def test_importing_app_loads_no_model_and_opens_no_socket():
    code = (
        "import sys, socket\n"
        "opened = []\n"
        "real = socket.socket.connect\n"
        "socket.socket.connect = lambda self, *a: opened.append(a) or real(self, *a)\n"
        "import app\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'transformers', 'faster_whisper', 'xllamacpp', 'piper', 'cv2', 'pipelines')]\n"
        "assert not heavy, heavy\n"
        "assert not opened, opened\n"
        "assert callable(app.build_app) and callable(app.main)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_port_comes_from_the_environment(monkeypatch):
    import app

    monkeypatch.setenv("COMPANION_PORT", "7999")
    assert app.port_from_env() == 7999
    monkeypatch.delenv("COMPANION_PORT")
    assert app.port_from_env() == 7860
    monkeypatch.setenv("COMPANION_PORT", "seventy")
    with pytest.raises(SystemExit, match="COMPANION_PORT"):
        app.port_from_env()


def test_a_checked_sentence_is_drawn_once_not_word_by_word(tmp_path):
    """Every redraw re-sends the chat: the page gets the first word at once, then the sentence
    when it ends, not one redraw per word (that was most of Gradio's CPU per turn)."""
    from companion.config import Settings
    from companion.core import Companion
    from companion.generation.echo import EchoGenerator
    from tests.fakes import WordEmbedder
    from webapp.account import Account
    from webapp.session import Session
    from webapp.talk import Talk

    reply = "I hear you, and that sounds like a long and tiring day for you."
    bot = Companion(
        Settings(data_dir=tmp_path),
        generator=EchoGenerator(reply=reply),
        embedder=WordEmbedder(),
        analyzers={"text": None, "voice": None, "face": None},
    )
    account = bot.sign_in("ana", "correct horse battery", Account(bot).throttle)
    session = Session(user=account.user, token=account.token)
    shown = [out[0][-1]["content"] for out in Talk(bot).chat("Long day at work.", session, False)]
    assert shown[0] == "…" and shown[-1].startswith(
        reply
    )  # placeholder first, the whole reply last (and, on a first turn, the AI disclosure)
    assert shown[1].split() == reply.split()[:1]  # the first word is drawn as soon as it exists
    assert len(shown) <= 4 < len(reply.split())  # placeholder, first word, sentence end, final
