"""The words a first-time user reads: what Ember is, what it infers, what it keeps."""

INTRO = """# Ember — an offline companion
Ember is an **AI companion, not a person**. It listens, notices how you seem to feel and answers
kindly. Everything runs on this computer: nothing you say, show or record leaves it."""

SIGNIN = """### Sign in
New here? Choose a name and a passphrase (8 characters or more) and press **Sign in**: that creates
your private space. Next time, use the same name and passphrase to find your memories again.
Nobody else who uses this app can read them."""

CONSENT = """### What Ember may read
All three start **off**. Switch on only what you are comfortable with; you can change your mind at any time.

- **Words** are always read: Ember guesses a feeling from what you type or say, to answer in a fitting way.
- **Raw audio and video are never kept.** Camera frames and recordings are analysed in memory and thrown
  away at once; only the result (an emotion label and two numbers) is used."""

CONSENT_FACE = (
    "Read my facial expression (camera)",
    "When on, Ember looks at camera frames to guess an "
    "emotion from your face (e.g. joy, sadness) several times a second. No picture is stored.",
)
CONSENT_VOICE = (
    "Read my tone of voice (microphone)",
    "When on, Ember estimates emotion from how you speak "
    "(pitch, loudness, pace). Your words are transcribed either way; the recording is deleted "
    "right after.",
)
CONSENT_STORE = (
    "Keep my mood history",
    "When on, the mood of each message (a label and two numbers) is saved "
    "so the timeline can show past days. When off, moods are used for this conversation only.",
)

CHAT_PLACEHOLDER = (
    "**Hi, I'm Ember.** Tell me how your day is going — type below, or record a voice "
    "message. The mood panel on the right shows what I pick up, and why."
)

FORGET = """**Delete everything Ember stored about you?** Your conversations, the facts it remembers, your
mood history, your settings and your passphrase are removed from this computer. This cannot be undone."""

CAMERA_HELP = (
    "Press the record button under the camera to start. If the camera does not start, allow "
    "camera access in your browser (the icon in the address bar)."
)

CSS = """
.notice { padding: 8px 12px; border-radius: 8px; margin: 4px 0; font-size: 0.95em; }
.notice-error { background: #fff1f0; border: 1px solid #f5a097; color: #8a1c12; }
.notice-info { background: #eef6ff; border: 1px solid #9cc3f0; color: #123f6e; }
.strategy-note { color: #777; font-size: 0.8em; margin: 0 4px; }
.strategy-name { font-style: italic; }
.mood-panel { border: 1px solid #e2e2e2; border-radius: 10px; padding: 10px 12px; }
.mood-head { display: flex; align-items: baseline; gap: 8px; font-size: 1.25em; }
.mood-label { font-weight: 600; }
.mood-conf { color: #666; font-size: 0.7em; margin-left: auto; }
.mood-sub { color: #555; font-size: 0.85em; margin: 2px 0 8px; }
.mod-row { display: grid; grid-template-columns: 52px 1fr 38px 120px; gap: 6px; align-items: center;
           font-size: 0.85em; margin: 3px 0; }
.bar { background: #eee; border-radius: 4px; height: 10px; overflow: hidden; display: block; }
.fill { background: #5a8dee; height: 100%; display: block; }
.mod-share { color: #666; text-align: right; }
.incongruent { margin-top: 8px; color: #8a5a00; background: #fff8e6; padding: 6px 8px; border-radius: 6px;
               font-size: 0.9em; }
.face-indicator { padding: 6px 10px; border-radius: 8px; background: #f6f6f6; font-size: 0.95em; }
.face-indicator[data-state="estimate"] { background: #eefaf0; }
.facts { padding-left: 1.2em; } .fact-kind { color: #888; font-size: 0.8em; margin-right: 4px; }
.facts-empty { color: #777; }
"""
