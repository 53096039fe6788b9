"""python -m companion bench load [--minutes 5] [--users 8] [--echo] [--think-s 1.0]

Serves the app (app.build_app) on 127.0.0.1 in this process and drives N simulated web users
through gradio_client, each in its own session: sign in, then chat turns (and now and then the
memory panel) with a pause between them, until the time is up. Prints errors, turn latency
(p50/p95/max, seconds from sending to the last streamed piece) and memory (peak RSS of this
process, which holds the server, the models and the clients).
--echo swaps the language model for the echo generator: the app and the rest of the stack alone.
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import socket
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field

MESSAGES = [
    "Hi! I had a long day at work.", "My sister Ana is visiting this weekend.", "I'm a bit nervous about my exam.",
    "I love hiking in the mountains.", "Honestly I feel kind of flat today.", "We got a new puppy!",
    "My boss criticised me in front of everyone.", "What do you remember about me?", "I couldn't sleep last night.",
    "The weather is lovely, I went for a walk.", "I'm worried about money this month.", "Thanks for listening.",
]


@dataclass
class UserStats:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    memory_calls: int = 0


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


def simulated_user(url: str, index: int, deadline: float, think_s: float, stats: UserStats, seed: int) -> None:
    from gradio_client import Client

    rng = random.Random(seed + index)
    try:
        client = Client(url, verbose=False, download_files=False)
        client.predict(f"load-user-{index}", f"load passphrase {index:04d}", api_name="/sign_in")
    except Exception as exc:  # the user could not even start: one error, and stop
        stats.errors.append(f"sign_in: {type(exc).__name__}: {exc}"[:200])
        return
    while time.monotonic() < deadline:
        message = rng.choice(MESSAGES)
        started = time.monotonic()
        try:
            job = client.submit(message, False, api_name="/chat")
            outputs = job.result(timeout=max(30.0, deadline - time.monotonic() + 60))
            if "went wrong" in str(outputs[4] if len(outputs) > 4 else ""):
                raise RuntimeError(f"the page showed an error: {str(outputs[4])[:120]}")
            stats.latencies.append(time.monotonic() - started)
            if rng.random() < 0.2:
                client.predict(api_name="/memory")
                stats.memory_calls += 1
        except Exception as exc:  # counted, reported, and the user carries on
            stats.errors.append(f"chat: {type(exc).__name__}: {exc}"[:200])
        time.sleep(rng.uniform(0.5, 1.5) * think_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m companion bench load", description=__doc__.split("\n\n")[1])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--think-s", type=float, default=1.0, help="mean pause between a user's turns")
    parser.add_argument("--echo", action="store_true", help="echo generator instead of the language model")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.users <= 0:
        parser.error("--minutes and --users must be positive")
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        os.environ.pop(var, None)  # 127.0.0.1 only; a proxy would only get in the way
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

    import app
    from companion import registry
    from companion.config import Settings
    from companion.core import Companion
    from webapp import warm

    with tempfile.TemporaryDirectory(prefix="companion-load-") as data_dir:
        os.environ.setdefault("GRADIO_TEMP_DIR", os.path.join(data_dir, "gradio"))
        components, missing = {"analyzers": {}}, []
        for modality in ("text", "face", "voice"):  # an analyzer whose model is missing is switched off, and said so
            try:
                components["analyzers"][modality] = registry.create(modality, getattr(Settings().analyzers, modality))
            except Exception as exc:
                components["analyzers"][modality] = None
                missing.append(f"{modality} analyzer off ({type(exc).__name__}: {str(exc)[:80]})")
        if args.echo:
            from companion.generation.echo import EchoGenerator
            components["generator"] = EchoGenerator()
        companion = Companion(Settings(data_dir=data_dir), **components)
        t0 = time.monotonic()
        warm(companion)
        warm_s = time.monotonic() - t0
        demo = app.build_app(companion)
        demo.queue(default_concurrency_limit=2)  # as app.main serves it
        port = free_port()
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                    **app.launch_options())
        url = f"http://127.0.0.1:{port}/"
        rss_start, peak = rss_mb(), [rss_mb()]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.5):
                peak[0] = max(peak[0], rss_mb())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        deadline = time.monotonic() + args.minutes * 60
        stats = [UserStats() for _ in range(args.users)]
        users = [threading.Thread(target=simulated_user, args=(url, i, deadline, args.think_s, stats[i], args.seed),
                                  daemon=True, name=f"load-user-{i}") for i in range(args.users)]
        started = time.monotonic()
        for thread in users:
            thread.start()
        for thread in users:
            thread.join(timeout=max(0.0, deadline - time.monotonic()) + 180)  # bounded: a stuck turn is abandoned
        elapsed = time.monotonic() - started
        stop.set()
        stuck = sum(t.is_alive() for t in users)
        demo.close()
        companion.close()

    latencies = [x for s in stats for x in s.latencies]
    errors = [e for s in stats for e in s.errors]
    llm = "echo generator" if args.echo else f"{Settings().llm.backend} (embedded model)"
    for line in missing:
        print(f"note: {line}")
    print(f"load: {args.users} simulated web users via gradio_client, {elapsed / 60:.1f} min on 127.0.0.1, "
          f"LLM {llm}, think time ~{args.think_s:.1f} s, models warmed in {warm_s:.1f} s\n")
    print("| users | turns | errors | turns/min | p50 s | p95 s | max s | RSS start MB | peak RSS MB |")
    print("|------:|------:|-------:|----------:|------:|------:|------:|-------------:|------------:|")
    print(f"| {args.users:>5} | {len(latencies):>5} | {len(errors) + stuck:>6} | {len(latencies) / (elapsed / 60):>9.1f} | "
          f"{percentile(latencies, 0.5):>5.2f} | {percentile(latencies, 0.95):>5.2f} | "
          f"{max(latencies, default=float('nan')):>5.2f} | {rss_start:>12.0f} | {peak[0]:>11.0f} |")
    if latencies:
        per_user = [len(s.latencies) for s in stats]
        print(f"\nturns per user: min {min(per_user)}, max {max(per_user)}; mean latency "
              f"{statistics.mean(latencies):.2f} s; memory panel calls {sum(s.memory_calls for s in stats)}")
    for err in errors[:5]:
        print(f"  error: {err}")
    if stuck:
        print(f"  {stuck} user(s) were still waiting for a turn when the run ended")
    return 1 if errors or stuck else 0


if __name__ == "__main__":
    raise SystemExit(main())
