"""python -m companion bench text: time to first reply piece, whole reply, peak RSS over N turns
through Companion with the embedded defaults (text analyzer, MiniLM memory, SmolLM2 via llama.cpp)."""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time

MESSAGES = [
    "Hi, my name is Sam and I love cooking.",
    "I had a rough day at work today.",
    "My boss yelled at me in front of everyone.",
    "I feel like nobody listens to me.",
    "But my sister Ana called and that cheered me up.",
    "We are going hiking on Saturday!",
    "I'm a bit nervous about my exam next week.",
    "What do you remember about me?",
    "I couldn't sleep last night.",
    "The weather is lovely today.",
    "I miss my grandmother.",
    "I got the job!!",
    "Honestly I'm just tired.",
    "Do you think I should call my friend?",
    "I burnt the dinner, ugh.",
    "My cat knocked over a plant.",
    "I'm proud of myself today.",
    "Everything feels a bit pointless lately.",
    "Thanks for listening.",
    "Good night!",
    "Tell me something kind.",
    "I'm worried about money.",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m companion bench text")
    parser.add_argument("--turns", type=int, default=22)
    args = parser.parse_args(argv)

    from companion.config import Settings
    from companion.core import Companion

    with tempfile.TemporaryDirectory() as data_dir:
        bot = Companion.from_settings(Settings(data_dir=data_dir))
        started = time.perf_counter()
        bot.respond("warmup", "Hello there.")  # loads every model once; not counted
        load_s = time.perf_counter() - started
        first, whole, tokens = [], [], []
        for i in range(args.turns):
            message = MESSAGES[i % len(MESSAGES)]
            t0 = time.perf_counter()
            t_first = None
            for _piece in bot.stream("bench", message):
                if t_first is None:
                    t_first = time.perf_counter() - t0
            whole.append(time.perf_counter() - t0)
            first.append(t_first or whole[-1])
            tokens.append(len(bot.last_reply("bench").text.split()))
            print(f"  turn {i + 1:2d}/{args.turns}: first {first[-1]:.2f}s whole {whole[-1]:.2f}s", flush=True)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        bot.close()
    print()
    print("| metric | p50 | p95 | goal |")
    print("|---|---|---|---|")
    print(f"| time to first reply piece (s) | {percentile(first, 0.5):.2f} | {percentile(first, 0.95):.2f} | ≤ 0.4 |")
    print(f"| whole reply (s) | {percentile(whole, 0.5):.2f} | {percentile(whole, 0.95):.2f} | ≤ 1.0 |")
    print(f"| reply length (words) | {statistics.median(tokens):.0f} | {percentile(tokens, 0.95):.0f} | ≤ 60 tokens |")
    print(f"| peak RSS (MB) | {rss_mb:.0f} | | ≤ 1536 |")
    print(f"| first-turn load (s) | {load_s:.1f} | | |")
    print(f"turns: {args.turns}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
