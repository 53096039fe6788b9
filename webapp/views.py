"""HTML fragments and the timeline's rows: pure functions of the data they show."""

from __future__ import annotations

from html import escape
from typing import Any, Iterable, Mapping, Sequence

from companion.types import MODALITIES, MoodState

EMOJI = {
    "neutral": "😐",
    "joy": "😊",
    "sadness": "😢",
    "anger": "😠",
    "fear": "😨",
    "surprise": "😮",
    "disgust": "🤢",
    "unknown": "❔",
}
MODALITY_NAMES = {"text": "Words", "voice": "Voice", "face": "Face"}


def notice(message: str | None, kind: str = "error") -> str:
    """A message in the page (kind: error | info), or nothing."""
    if not message:
        return ""
    return f'<div class="notice notice-{kind}" role="alert" data-kind="{kind}">{escape(message)}</div>'


def reading(estimate: Any) -> dict[str, Any]:
    """The part of an EmotionEstimate the panel shows, as plain data for the session."""
    return {
        "label": estimate.label,
        "confidence": float(estimate.confidence),
        "source": estimate.source,
        "at": float(estimate.at),
    }


def mood_panel(mood: MoodState | None, readings: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    readings = readings or {}
    if mood is None or not mood.known:
        head = (
            '<div class="mood-head"><span class="mood-emoji">❔</span><span class="mood-label">No mood yet'
            '</span></div><div class="mood-sub">Say something, or switch on the camera or microphone '
            'reading in <b>Privacy</b>.</div>'
        )
        label = "unknown"
    else:
        label = mood.label
        head = (
            f'<div class="mood-head"><span class="mood-emoji">{EMOJI.get(label, "")}</span>'
            f'<span class="mood-label">{escape(label.capitalize())}</span>'
            f'<span class="mood-conf">confidence {mood.confidence:.0%}</span></div>'
            f'<div class="mood-sub">valence {mood.valence:+.2f} (unpleasant … pleasant) · '
            f'arousal {mood.arousal:+.2f} (calm … excited)</div>'
        )
    contributions = dict(mood.contributions) if mood is not None and mood.known else {}
    rows = []
    for m in MODALITIES:
        share = contributions.get(m, 0.0)
        last = readings.get(m)
        read = (
            f'{EMOJI.get(last["label"], "")} {escape(last["label"])} {last["confidence"]:.0%}'
            if last and last.get("label")
            else "—"
        )
        rows.append(
            f'<div class="mod-row" data-modality="{m}"><span class="mod-name">{MODALITY_NAMES[m]}</span>'
            f'<span class="bar" title="share of the fused mood"><span class="fill" '
            f'style="width:{share * 100:.0f}%"></span></span><span class="mod-share">{share:.0%}</span>'
            f'<span class="mod-read">{read}</span></div>'
        )
    note = ""
    if mood is not None and mood.known and mood.incongruent:
        which = " and ".join(MODALITY_NAMES[m].lower() for m in mood.disagreeing) or "your signals"
        note = (
            f'<div class="incongruent">⚠️ Mixed signals: your {escape(which)} seem to say different things. '
            'Ember will ask rather than assume.</div>'
        )
    return (
        f'<div class="mood-panel" data-label="{escape(label)}">{head}<div class="mod-rows">{"".join(rows)}'
        f'</div>{note}</div>'
    )


def face_indicator(state: str, estimate: Mapping[str, Any] | None = None, detail: str = "") -> str:
    """state: off | idle | noface | estimate | unavailable | signed_out."""
    texts = {
        "off": "📷 Face reading is off. Switch it on in Privacy to let Ember read your expression.",
        "idle": "📷 Camera not started. Press the record button under the camera to start.",
        "noface": "📷 No face found in view. Face the camera in good light.",
        "unavailable": f"📷 Face reading is unavailable: {detail}",
        "signed_out": "📷 Sign in to use the camera.",
    }
    if state == "estimate" and estimate:
        text = (
            f'{EMOJI.get(estimate["label"], "")} Face: <b class="face-label">{escape(estimate["label"])}</b> '
            f'({estimate["confidence"]:.0%})'
        )
    else:
        text = escape(texts.get(state, state))
    return f'<div class="face-indicator" data-state="{state}">{text}</div>'


def strategy_note(strategy: Any) -> str:
    if strategy is None:
        return ""
    name = escape(str(strategy.name).replace("_", " "))
    reason = escape(strategy.reason or "")
    return (
        f'<div class="strategy-note" title="{reason}">Ember\'s approach: <span class="strategy-name">{name}'
        '</span></div>'
    )


def facts_list(facts: Sequence[Mapping[str, Any]]) -> str:
    if not facts:
        return '<div class="facts-empty">Ember remembers nothing about you yet.</div>'
    items = "".join(
        f'<li data-fact-id="{int(f["id"])}"><span class="fact-kind">{escape(f["kind"])}</span> {escape(f["text"])}</li>'
        for f in facts
    )
    return f'<ul class="facts">{items}</ul>'


def fact_choices(facts: Iterable[Mapping[str, Any]]) -> list[tuple[str, int]]:
    return [(f'#{int(f["id"])} {f["text"]}', int(f["id"])) for f in facts]


TIMELINE_COLORS = {
    "valence (now)": "#2b6cb0",
    "arousal (now)": "#dd6b20",
    "valence (past)": "#90b4dc",
    "arousal (past)": "#f0b07a",
}


def timeline(session_points: Sequence[tuple[float, float, float]], past: Sequence[MoodState]):
    """Valence and arousal over time, as the rows the browser draws (gr.ScatterPlot): one series each
    for this session and for stored past moods. Drawing in the browser keeps the server's CPU for replies:
    a matplotlib figure cost about 65 ms of it after every turn."""
    import pandas as pd

    rows = [(m.at, m.valence, "valence (past)") for m in past]
    rows += [(m.at, m.arousal, "arousal (past)") for m in past]
    rows += [(t, v, "valence (now)") for t, v, _ in session_points]
    rows += [(t, a, "arousal (now)") for t, _, a in session_points]
    rows.sort(key=lambda r: r[0])
    frame = pd.DataFrame(rows, columns=["time", "value", "series"])
    # UTC instants: the browser shows them in its own time zone. Explicit types, also when empty: the
    # browser draws a time axis only for datetime64 and a scale only for floats. (The series stay plain
    # objects: with pandas' "string" type Gradio 6.31's plot drew no dots.)
    frame["time"] = pd.to_datetime(frame["time"].astype("float64"), unit="s", utc=True)
    return frame.astype({"time": "datetime64[ms, UTC]", "value": "float64", "series": object})
