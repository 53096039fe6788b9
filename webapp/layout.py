"""The page: components, and which handler each event runs.

Public API endpoints (gradio_client): sign_in, sign_out, chat, voice, set_consent, memory, edit_fact,
delete_fact, export, forget. Every one acts as the user signed in *in the caller's own session*
(gr.State lives on the server, keyed by that session), so a caller must sign in with the
passphrase first and can never name another user. UI-only events are private.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Any, Callable, Sequence

import gradio as gr

from webapp import clientside, texts, views
from webapp.account import Account
from webapp.session import Session
from webapp.talk import Talk

WEBCAM_EVERY_S = 0.15  # frames sent to Companion.observe: ~6.7 per second (>= 5 Hz)
MAX_UPLOAD = f"{clientside.MAX_UPLOAD_MB}mb"  # a larger file is refused by Gradio before it reaches us
PRIVATE = {"api_visibility": "private"}


def launch_options() -> dict[str, Any]:
    """Options for demo.launch(): theme and CSS (Gradio 6 takes them here), upload limit, no run history
    (it would keep messages and passphrases in the browser), footer with the API page only."""
    return {
        "theme": gr.themes.Soft(),
        "css": texts.CSS,
        "max_file_size": MAX_UPLOAD,
        "run_history": False,
        "footer_links": ["api"],
        "show_error": False,
        "js": clientside.MEDIA_ERRORS_JS,
    }


def queue_options(companion: Any) -> dict[str, Any]:
    """Options for demo.queue(): quick events (memory panel, consent, sign-in) run as many at once as
    replies do, so a reader refreshing their memory never waits behind other users' replies."""
    return {"default_concurrency_limit": max(2, companion.settings.llm.parallel)}


def _ordered(out: Any, names: Sequence[str]) -> tuple:
    if not isinstance(out, dict):
        return out
    values = tuple(out.get(name, gr.skip()) for name in names)
    return values[0] if len(values) == 1 else values  # Gradio takes a lone output's value as is


def adapt(fn: Callable, names: Sequence[str]) -> Callable:
    """A handler returning {name: value} -> one returning a tuple in `names` order (missing: unchanged)."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def stream(*args):
            for out in fn(*args):
                yield _ordered(out, names)

        return stream

    @functools.wraps(fn)
    def call(*args):
        return _ordered(fn(*args), names)

    return call


def build(companion: Any) -> gr.Blocks:
    talk, account = Talk(companion), Account(companion)
    ui: dict[str, Any] = {}
    with gr.Blocks(title="Ember — offline companion", delete_cache=(900, 3600)) as demo:
        ui["session"] = gr.State(Session())
        gr.Markdown(texts.INTRO)
        with gr.Column(visible=True, elem_id="signin-box") as ui["signin_box"]:
            gr.Markdown(texts.SIGNIN)
            with gr.Row():
                ui["user"] = gr.Textbox(
                    label="Your name", max_length=64, elem_id="signin-user", placeholder="e.g. alex"
                )
                ui["passphrase"] = gr.Textbox(
                    label="Passphrase (8+ characters)", type="password", max_length=256, elem_id="signin-pass"
                )
            ui["signin_btn"] = gr.Button("Sign in", variant="primary", elem_id="signin-btn")
            ui["signin_msg"] = gr.HTML(elem_id="signin-msg")
        with gr.Column(visible=False, elem_id="main-box") as ui["main_box"]:
            with gr.Row(equal_height=True):
                ui["whoami"] = gr.Markdown(elem_id="whoami")
                ui["signout_btn"] = gr.Button("Sign out", size="sm", scale=0, elem_id="signout-btn")
            with gr.Row():
                with gr.Column(scale=3):
                    _chat_column(ui)
                with gr.Column(scale=2):
                    with gr.Tabs(selected="mood-tab") as ui["tabs"]:
                        with gr.Tab("Mood", id="mood-tab"):
                            _mood_tab(ui)
                        with gr.Tab("Privacy", id="privacy-tab", elem_id="privacy-tab"):
                            _privacy_tab(ui)
                        with gr.Tab("Memory", id="memory-tab", elem_id="memory-tab"):
                            _memory_tab(ui)
        account.export_dir = Path(ui["export_file"].GRADIO_CACHE) / "companion-exports"
        _wire(ui, talk, account, turns_at_once=companion.settings.llm.parallel)
    return demo


def _chat_column(ui: dict[str, Any]) -> None:
    ui["chatbot"] = gr.Chatbot(
        label="Ember",
        height=430,
        elem_id="chat",
        placeholder=texts.CHAT_PLACEHOLDER,
        feedback_options=None,
        buttons=["copy"],
        group_consecutive_messages=False,
    )
    ui["strategy"] = gr.HTML(elem_id="strategy")
    ui["notice"] = gr.HTML(elem_id="notice")
    with gr.Row():
        ui["msg"] = gr.Textbox(
            show_label=False,
            placeholder="Tell Ember how you are…",
            scale=5,
            lines=1,
            max_lines=6,
            elem_id="msg",
            submit_btn=False,
        )
        ui["send"] = gr.Button("Send", variant="primary", scale=1, min_width=80, elem_id="send-btn")
        ui["stop"] = gr.Button("Stop", scale=0, min_width=60, elem_id="stop-btn")
    gr.HTML(clientside.MIC_ERROR_HTML, elem_id="mic-error-box")
    with gr.Row():
        ui["mic"] = gr.Audio(
            sources=["microphone", "upload"],
            type="filepath",
            label="Voice message",
            elem_id="mic",
            editable=False,
            scale=3,
        )
        with gr.Column(scale=1, min_width=140):
            ui["speak"] = gr.Checkbox(label="Speak replies aloud", value=False, elem_id="speak")
            ui["spoken"] = gr.Audio(
                label="Ember's voice", type="numpy", autoplay=True, interactive=False, elem_id="spoken", buttons=[]
            )


def _mood_tab(ui: dict[str, Any]) -> None:
    ui["mood"] = gr.HTML(views.mood_panel(None), elem_id="mood")
    ui["face"] = gr.HTML(views.face_indicator("off"), elem_id="face")
    ui["cam"] = gr.Image(
        sources=["webcam"],
        streaming=True,
        type="numpy",
        label="Camera (analysed live, never stored)",
        elem_id="cam",
        height=240,
        webcam_options=gr.WebcamOptions(mirror=True, constraints={"video": {"width": 640, "height": 480}}),
    )
    gr.HTML(clientside.CAM_ERROR_HTML, elem_id="cam-error-box")
    gr.Markdown(texts.CAMERA_HELP, elem_classes=["camera-help"])
    ui["plot"] = gr.ScatterPlot(  # drawn by the browser; a dot per reading (one alone still shows)
        None,  # not an empty frame: Gradio 6.31 keeps the first value's encoding and then draws no dots
        x="time",
        y="value",
        color="series",
        color_map=views.TIMELINE_COLORS,
        y_lim=[-1.05, 1.05],
        title="Mood over time (this session and the last 14 days)",
        x_title="",
        y_title="−1 … +1",
        caption="Valence (unpleasant … pleasant) and arousal (calm … excited) of each reading, from −1 to +1.",
        label="Mood timeline",
        show_label=False,
        elem_id="timeline",
        height=260,
    )


def _privacy_tab(ui: dict[str, Any]) -> None:
    gr.Markdown(texts.CONSENT)
    ui["consent_face"] = gr.Checkbox(label=texts.CONSENT_FACE[0], info=texts.CONSENT_FACE[1], elem_id="consent-face")
    ui["consent_voice"] = gr.Checkbox(
        label=texts.CONSENT_VOICE[0], info=texts.CONSENT_VOICE[1], elem_id="consent-voice"
    )
    ui["consent_store"] = gr.Checkbox(
        label=texts.CONSENT_STORE[0], info=texts.CONSENT_STORE[1], elem_id="consent-store"
    )
    ui["consent_msg"] = gr.HTML(elem_id="consent-msg")


def _memory_tab(ui: dict[str, Any]) -> None:
    gr.Markdown("### What Ember remembers about you")
    ui["facts"] = gr.HTML(elem_id="facts")
    ui["refresh_btn"] = gr.Button("Refresh", size="sm", elem_id="refresh-btn")
    ui["fact_pick"] = gr.Dropdown(label="Choose an item to edit or delete", choices=[], elem_id="fact-pick")
    ui["fact_text"] = gr.Textbox(label="Edit the chosen item", max_length=200, elem_id="fact-text")
    with gr.Row():
        ui["save_btn"] = gr.Button("Save change", size="sm", elem_id="save-fact-btn")
        ui["delete_btn"] = gr.Button("Delete item", size="sm", elem_id="delete-fact-btn")
    ui["memory_msg"] = gr.HTML(elem_id="memory-msg")
    gr.Markdown("### Your data")
    with gr.Row():
        ui["export_btn"] = gr.Button("Export as JSON", size="sm", elem_id="export-btn")
        ui["forget_btn"] = gr.Button("Forget me…", size="sm", variant="stop", elem_id="forget-btn")
    ui["export_file"] = gr.File(label="Your data", visible=False, interactive=False, elem_id="export-file")
    with gr.Column(visible=False, elem_id="confirm-box") as ui["confirm_box"]:
        gr.Markdown(texts.FORGET)
        with gr.Row():
            ui["confirm_btn"] = gr.Button("Yes, delete everything", variant="stop", elem_id="confirm-forget-btn")
            ui["cancel_btn"] = gr.Button("Cancel", elem_id="cancel-forget-btn")


def _wire(ui: dict[str, Any], talk: Talk, account: Account, *, turns_at_once: int = 1) -> None:
    def on(trigger, fn, inputs: Sequence[str], outputs: Sequence[str], **kw):
        return trigger(adapt(fn, outputs), inputs=[ui[n] for n in inputs], outputs=[ui[n] for n in outputs], **kw)

    signin_out = [
        "session",
        "signin_box",
        "main_box",
        "signin_msg",
        "passphrase",
        "whoami",
        "tabs",
        "consent_face",
        "consent_voice",
        "consent_store",
        "chatbot",
        "strategy",
        "mood",
        "face",
        "facts",
        "fact_pick",
        "fact_text",
        "plot",
        "notice",
    ]
    on(ui["signin_btn"].click, account.sign_in, ["user", "passphrase", "session"], signin_out, api_name="sign_in")
    on(ui["passphrase"].submit, account.sign_in, ["user", "passphrase", "session"], signin_out, **PRIVATE)
    signout = ["session", "signin_box", "main_box", "signin_msg", "chatbot", "whoami", "export_file", "confirm_box"]
    on(ui["signout_btn"].click, account.sign_out, ["session"], signout, api_name="sign_out")

    turn_out = ["chatbot", "msg", "strategy", "mood", "notice", "spoken"]
    after = ["facts", "fact_pick", "fact_text", "plot"]
    # Replies of different users run at once, as many as the model has slots (Settings.llm.parallel);
    # more wait in Gradio's queue. Companion serialises one user's own turns.
    reply = {"concurrency_id": "reply", "concurrency_limit": turns_at_once, "show_progress": "minimal"}
    chat_click = on(ui["send"].click, talk.chat, ["msg", "session", "speak"], turn_out, api_name="chat", **reply)
    chat_submit = on(ui["msg"].submit, talk.chat, ["msg", "session", "speak"], turn_out, **PRIVATE, **reply)
    voice_kw = {**reply, "show_progress": "full"}
    voice_rec = on(
        ui["mic"].stop_recording,
        talk.voice,
        ["mic", "session", "speak"],
        [*turn_out, "mic"],
        api_name="voice",
        **voice_kw,
    )
    voice_up = on(ui["mic"].upload, talk.voice, ["mic", "session", "speak"], [*turn_out, "mic"], **PRIVATE, **voice_kw)
    for event in (chat_click, chat_submit, voice_rec, voice_up):
        event.then(
            adapt(account.memory, after),
            inputs=[ui["session"]],
            outputs=[ui[n] for n in after],
            show_progress="hidden",
            api_name="after_turn",
            **PRIVATE,
        )
    ui["chatbot"].clear(talk.clear, inputs=[ui["session"]], outputs=[ui["strategy"]], **PRIVATE)
    ui["stop"].click(None, cancels=[chat_click, chat_submit, voice_rec, voice_up], **PRIVATE)

    ui["cam"].stream(
        talk.observe,
        inputs=[ui["cam"], ui["session"]],
        outputs=[ui["face"], ui["mood"], ui["plot"]],
        stream_every=WEBCAM_EVERY_S,
        concurrency_limit=None,
        show_progress="hidden",
        **PRIVATE,
    )

    consent_in = ["consent_face", "consent_voice", "consent_store", "session"]
    for i, box in enumerate(("consent_face", "consent_voice", "consent_store")):
        extra = {"api_name": "set_consent"} if i == 0 else PRIVATE
        on(ui[box].input, account.set_consent, consent_in, ["consent_msg", "face"], show_progress="hidden", **extra)

    memory_out = ["facts", "fact_pick", "fact_text", "plot", "memory_msg"]
    on(ui["refresh_btn"].click, account.memory, ["session"], memory_out, api_name="memory")
    on(ui["fact_pick"].input, account.pick_fact, ["fact_pick", "session"], ["fact_text"], **PRIVATE)
    on(ui["save_btn"].click, account.save_fact, ["fact_pick", "fact_text", "session"], memory_out, api_name="edit_fact")
    on(ui["delete_btn"].click, account.delete_fact, ["fact_pick", "session"], memory_out, api_name="delete_fact")
    on(ui["export_btn"].click, account.export, ["session"], ["export_file", "memory_msg"], api_name="export")
    on(ui["forget_btn"].click, account.ask_forget, [], ["confirm_box"], **PRIVATE)
    on(ui["cancel_btn"].click, account.cancel_forget, [], ["confirm_box", "memory_msg"], **PRIVATE)
    forget_out = [*signout, "facts", "fact_pick"]
    on(ui["confirm_btn"].click, account.forget, ["session"], forget_out, api_name="forget")
