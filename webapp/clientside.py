"""Browser-side code: a plain message in the page when the camera or microphone cannot start.

Gradio's webcam and microphone fail quietly when the browser refuses access, so the page wraps
navigator.mediaDevices.getUserMedia: on failure it writes a message into #cam-error or
#mic-error (placeholders below, never updated by the server), and clears it on success.
A file chosen for the voice message that is over the upload limit gets a message there too.
"""

MAX_UPLOAD_MB = 25  # Gradio refuses larger uploads (launch(max_file_size=...)); the page explains why

CAM_ERROR_HTML = '<div id="cam-error" class="notice notice-error" role="alert" hidden></div>'
MIC_ERROR_HTML = '<div id="mic-error" class="notice notice-error" role="alert" hidden></div>'

MEDIA_ERRORS_JS = r"""
() => {
  const MAX_BYTES = __MAX_BYTES__;
  const say = (id, text) => {
    const el = document.getElementById(id);
    if (!el) return;
    el.textContent = text || "";
    el.hidden = !text;
  };
  const explain = (what, err) => {
    const name = (err && err.name) || "Error";
    if (name === "NotAllowedError" || name === "SecurityError")
      return `The browser refused access to the ${what}. To use it, allow the ${what} for this page ` +
             `(the icon in the address bar) and press the button again. You can keep chatting by text.`;
    if (name === "NotFoundError" || name === "OverconstrainedError")
      return `No ${what} was found. Connect one and press the button again, or keep chatting by text.`;
    if (name === "NotReadableError")
      return `The ${what} is busy in another program. Close it there and press the button again.`;
    return `The ${what} could not start (${name}). You can keep chatting by text.`;
  };
  // A file over the upload limit: say so next to the microphone (Gradio's own note is a brief toast).
  document.addEventListener("change", (event) => {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || input.type !== "file" || !input.closest("#mic")) return;
    const file = input.files && input.files[0];
    if (file && file.size > MAX_BYTES) {
      const mb = (file.size / 1048576).toFixed(1), limit = (MAX_BYTES / 1048576).toFixed(0);
      say("mic-error", `"${file.name}" is ${mb} MB; files up to ${limit} MB are accepted. ` +
                       `Send a shorter recording (voice messages are up to a minute long).`);
    } else if (file) {
      say("mic-error", "");
    }
  }, true);
  const media = navigator.mediaDevices;
  if (!media || !media.getUserMedia) {
    const text = "This page cannot use a camera or microphone here: open it at http://127.0.0.1 or " +
                 "http://localhost (browsers allow them only on secure or local addresses).";
    setTimeout(() => { say("cam-error", text); say("mic-error", text); }, 500);
    return;
  }
  const original = media.getUserMedia.bind(media);
  media.getUserMedia = async (constraints) => {
    const id = constraints && constraints.video ? "cam-error" : "mic-error";
    const what = id === "cam-error" ? "camera" : "microphone";
    try {
      const stream = await original(constraints);
      say(id, "");
      return stream;
    } catch (err) {
      say(id, explain(what, err));
      throw err;
    }
  };
}
"""

MEDIA_ERRORS_JS = MEDIA_ERRORS_JS.replace("__MAX_BYTES__", str(MAX_UPLOAD_MB * 1024 * 1024))
