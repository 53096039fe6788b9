"""python -m companion bench load [--users 1,8,16,32] [--minutes 5] [--think-s 5] [--echo]

Serves the app (app.build_app, queued as app.main queues it) on 127.0.0.1 in this process and
drives simulated web users through gradio_client, each in its own session: sign in, then chat
turns, each followed by the memory panel and timeline (the page refreshes them after every turn),
each user pausing about --think-s seconds between turns (a person reads and types), until the time
is up. One row per user count, the same warm models throughout. Columns: turns per minute; first
piece (seconds from sending to the first streamed reply text) and whole reply (to the last piece)
at p50 and p95; errors; peak RSS of the server's process (the app and its models; the clients run
in a process of their own). The machine's load average is printed too, and a second table of the
server's own stage times (the `turn` log line of each turn): what of a slow first piece is the
model and what is queueing.
--echo swaps the language model for the echo generator: the app and the rest of the stack alone.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import resource
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field

MESSAGES = [
    "Hi! I had a long day at work.",
    "My sister Ana is visiting this weekend.",
    "I'm a bit nervous about my exam.",
    "I love hiking in the mountains.",
    "Honestly I feel kind of flat today.",
    "We got a new puppy!",
    "My boss criticised me in front of everyone.",
    "What do you remember about me?",
    "I couldn't sleep last night.",
    "The weather is lovely, I went for a walk.",
    "I'm worried about money this month.",
    "Thanks for listening.",
]
POLL_S = 0.02  # how often a client looks for new streamed output: the resolution of "first piece"


@dataclass
class UserStats:
    first: list[float] = field(default_factory=list)
    whole: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class TurnTimings(logging.Handler):
    """Collects the stage times that companion.core logs for every turn ("turn wait_s=... total_s=...")."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.rows: list[dict[str, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("turn "):
            self.rows.append({k: float(v) for k, _, v in (kv.partition("=") for kv in message[5:].split())})


def rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reply_text(outputs) -> str:
    """The assistant's text in a /chat output (the chatbot's last message), '' while it is the placeholder."""
    history = outputs[0] if outputs else None
    if not isinstance(history, list) or not history:
        return ""
    last = history[-1]
    content = last.get("content") if isinstance(last, dict) else None
    if isinstance(content, list):  # Gradio 6: a list of parts
        content = " ".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
    text = str(content or "").strip()
    return "" if text in ("", "…") else text


def one_turn(client, message: str, timeout_s: float) -> tuple[float, float]:
    """Send a message; return (first piece, whole reply) in seconds."""
    started = time.monotonic()
    job = client.submit(message, False, api_name="/chat")
    first = None
    while not job.done():
        if first is None and any(_reply_text(o) for o in job.outputs()[-2:]):
            first = time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            job.cancel()
            raise TimeoutError(f"no whole reply in {timeout_s:.0f} s")
        time.sleep(POLL_S)
    outputs = job.result(timeout=5)
    whole = time.monotonic() - started
    if "went wrong" in str(outputs[4] if len(outputs) > 4 else ""):
        raise RuntimeError(f"the page showed an error: {str(outputs[4])[:120]}")
    if not _reply_text(outputs):
        raise RuntimeError("the turn ended without a reply")
    return (whole if first is None else first), whole  # a reply in one piece: first piece = whole


def simulated_user(
    url: str, name: str, start_at: float, deadline: float, think_s: float, stats: UserStats, rng: random.Random
) -> None:
    from gradio_client import Client

    time.sleep(max(0.0, start_at - time.monotonic()))  # users arrive spread over one think time
    try:
        client = Client(url, verbose=False, download_files=False)
        client.predict(name, f"load passphrase {name}", api_name="/sign_in")
    except Exception as exc:  # the user could not even start: one error, and stop
        stats.errors.append(f"sign_in: {type(exc).__name__}: {exc}"[:200])
        return
    while time.monotonic() < deadline:
        try:
            first, whole = one_turn(client, rng.choice(MESSAGES), timeout_s=120)
            stats.first.append(first)
            stats.whole.append(whole)
            # the page refreshes the memory panel and the mood timeline after every turn (after_turn);
            # /memory runs the same handler
            client.predict(api_name="/memory")
        except Exception as exc:  # counted, reported, and the user carries on
            stats.errors.append(f"chat: {type(exc).__name__}: {exc}"[:200])
        time.sleep(rng.uniform(0.5, 1.5) * think_s)


def run_clients(url: str, users: int, minutes: float, think_s: float, seed: int) -> dict:
    """All simulated users of one row, as threads of this process; their timings and errors."""
    rng = random.Random(seed * 1000 + users)
    now = time.monotonic()
    deadline = now + minutes * 60
    stats = [UserStats() for _ in range(users)]
    threads = [
        threading.Thread(
            target=simulated_user,
            daemon=True,
            name=f"load-{users}-{i}",
            args=(
                url,
                f"load-{users}-{i}",
                now + rng.uniform(0, think_s),
                deadline,
                think_s,
                stats[i],
                random.Random(rng.random()),
            ),
        )
        for i in range(users)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()) + 180)  # bounded: a stuck turn is abandoned
    return {
        "elapsed": time.monotonic() - now,
        "first": [x for s in stats for x in s.first],
        "whole": [x for s in stats for x in s.whole],
        "errors": [e for s in stats for e in s.errors] + ["stuck"] * sum(t.is_alive() for t in threads),
    }


def run_level(
    url: str, users: int, minutes: float, think_s: float, seed: int, peak: list[float], timings: TurnTimings
) -> dict:
    """One row. The clients run in a process of their own, as browsers would be elsewhere: in the
    server's process their polling would share its interpreter lock and count in its memory."""
    import multiprocessing

    peak[0] = rss_mb()
    logged = len(timings.rows)
    with multiprocessing.get_context("spawn").Pool(1) as pool:  # spawn: the server's threads stay behind
        got = pool.apply(run_clients, (url, users, minutes, think_s, seed))
    first, whole = got["first"], got["whole"]
    server = timings.rows[logged:]
    stages = ("wait_s", "sensed_s", "first_piece_s", "reply_s")
    return {
        "server": {
            k: (percentile([r[k] for r in server if k in r], 0.5), percentile([r[k] for r in server if k in r], 0.95))
            for k in stages
        },
        "users": users,
        "turns": len(whole),
        "per_min": len(whole) / (got["elapsed"] / 60),
        "errors": got["errors"],
        "first": (percentile(first, 0.5), percentile(first, 0.95)),
        "whole": (percentile(whole, 0.5), percentile(whole, 0.95)),
        "peak": peak[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m companion bench load", description=__doc__.split("\n\n")[1])
    parser.add_argument("--users", default="1,8,16,32", help="comma-separated user counts, one table row each")
    parser.add_argument("--minutes", type=float, default=5.0, help="per user count")
    parser.add_argument("--think-s", type=float, default=5.0, help="mean pause between a user's turns")
    parser.add_argument("--echo", action="store_true", help="echo generator instead of the language model")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    try:
        levels = [int(x) for x in str(args.users).split(",") if x.strip()]
    except ValueError:
        parser.error("--users takes whole numbers separated by commas, e.g. 1,8,16,32")
    if args.minutes <= 0 or not levels or min(levels) <= 0:
        parser.error("--minutes and every --users count must be positive")
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        os.environ.pop(var, None)  # 127.0.0.1 only; a proxy would only get in the way
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

    import app
    from companion import registry
    from companion.config import Settings
    from companion.core import Companion
    from webapp import queue_options, warm

    with tempfile.TemporaryDirectory(prefix="companion-load-") as data_dir:
        os.environ.setdefault("GRADIO_TEMP_DIR", os.path.join(data_dir, "gradio"))
        settings = Settings(data_dir=data_dir)
        components, missing = {"analyzers": {}}, []
        for modality in ("text", "face", "voice"):  # an analyzer whose model is missing is switched off, and said so
            try:
                components["analyzers"][modality] = registry.create(modality, getattr(settings.analyzers, modality))
            except Exception as exc:
                components["analyzers"][modality] = None
                missing.append(f"{modality} analyzer off ({type(exc).__name__}: {str(exc)[:80]})")
        if args.echo:
            from companion.generation.echo import EchoGenerator

            components["generator"] = EchoGenerator()
        companion = Companion(settings, **components)
        t0 = time.monotonic()
        warm(companion)
        warm_s = time.monotonic() - t0
        demo = app.build_app(companion)
        demo.queue(**queue_options(companion))  # as app.main serves it
        port = free_port()
        demo.launch(
            server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **app.launch_options()
        )
        peak, stop = [rss_mb()], threading.Event()
        timings = TurnTimings()
        turns_log = logging.getLogger("companion.turns")
        turns_log.addHandler(timings)
        turns_log.setLevel(logging.INFO)

        def sample() -> None:
            while not stop.wait(0.5):
                peak[0] = max(peak[0], rss_mb())

        threading.Thread(target=sample, daemon=True).start()
        load_before = os.getloadavg()
        rows = [
            run_level(f"http://127.0.0.1:{port}/", n, args.minutes, args.think_s, args.seed, peak, timings)
            for n in levels
        ]
        turns_log.removeHandler(timings)
        load_after = os.getloadavg()
        stop.set()
        demo.close()
        companion.close()

    llm = "echo generator" if args.echo else f"{settings.llm.backend} (embedded model)"
    for line in missing:
        print(f"note: {line}")
    print(
        f"load: simulated web users via gradio_client on 127.0.0.1, {args.minutes:g} min per row, think time "
        f"~{args.think_s:g} s, LLM {llm}, parallel {settings.llm.parallel}, {os.cpu_count()} CPUs, models warmed "
        f"in {warm_s:.1f} s; load average (1/5/15 min) before {'/'.join(f'{x:.2f}' for x in load_before)}, "
        f"after {'/'.join(f'{x:.2f}' for x in load_after)}\n"
    )
    print(
        "| users | turns | turns/min | first piece p50 s | first piece p95 s | whole reply p50 s | "
        "whole reply p95 s | errors | peak RSS MB |"
    )
    print(
        "|------:|------:|----------:|------------------:|------------------:|------------------:|"
        "------------------:|-------:|------------:|"
    )
    for r in rows:
        print(
            f"| {r['users']:>5} | {r['turns']:>5} | {r['per_min']:>9.1f} | {r['first'][0]:>17.2f} | "
            f"{r['first'][1]:>17.2f} | {r['whole'][0]:>17.2f} | {r['whole'][1]:>17.2f} | {len(r['errors']):>6} | "
            f"{r['peak']:>11.0f} |"
        )
    print(
        "\nThe server's own stage times, p50 / p95 s, from the call into Companion (Gradio's queue comes before it):\n"
        "| users | waiting for the user's previous turn | sensed | first piece | whole reply |\n"
        "|------:|------:|------:|------:|------:|"
    )
    for r in rows:
        cells = " | ".join(f"{p50:.2f} / {p95:.2f}" for p50, p95 in r["server"].values())
        print(f"| {r['users']:>5} | {cells} |")
    for r in rows:
        for err in r["errors"][:3]:
            print(f"  error ({r['users']} users): {err}")
    return 1 if any(r["errors"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
