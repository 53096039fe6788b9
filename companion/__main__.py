"""Command line: python -m companion chat | say | export | forget | eval AREA | bench AREA | fuzz"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

EVALS = ("text", "face", "voice", "fusion", "replies", "crisis")
BENCHES = ("text", "face", "voice", "load", "memory")


def _companion():
    from companion.core import Companion

    return Companion.from_settings()


def _mood_line(mood) -> str:
    if not mood.known:
        return "mood: unknown"
    note = " (words and face/voice disagree)" if mood.incongruent else ""
    return f"mood: {mood.label} {mood.confidence:.0%} valence {mood.valence:+.2f} arousal {mood.arousal:+.2f}{note}"


def cmd_say(args) -> int:
    bot = _companion()
    if args.json:
        reply = bot.respond(args.user, args.text)
        print(json.dumps(reply.to_dict(), indent=2, ensure_ascii=False))
    else:
        for piece in bot.stream(args.user, args.text):
            print(piece, end="", flush=True)
        print()
        print(_mood_line(bot.last_reply(args.user).mood), file=sys.stderr)
    return 0


def cmd_chat(args) -> int:
    from companion.errors import CompanionError

    bot = _companion()
    print(f"Chatting as {args.user}. Type /feel LABEL to tell me how you feel, /quit to leave.")
    while True:
        try:
            line = input("you> ")
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if line.strip() in ("/quit", "/exit"):
            return 0
        try:
            if line.startswith("/feel "):
                print(_mood_line(bot.feedback(args.user, line.split(maxsplit=1)[1].strip())))
                continue
            print("ember> ", end="", flush=True)
            for piece in bot.stream(args.user, line):
                print(piece, end="", flush=True)
            print(f"\n  [{_mood_line(bot.last_reply(args.user).mood)}]")
        except CompanionError as exc:
            print(f"\n  ! {exc}")


def cmd_export(args) -> int:
    print(json.dumps(_companion().export(args.user), indent=2, ensure_ascii=False, default=str))
    return 0


def cmd_forget(args) -> int:
    counts = _companion().forget(args.user)
    print(f"deleted for {args.user}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def _run_module(prefix: str, area: str, rest: list[str]) -> int:
    module = importlib.import_module(f"benchmarks.{prefix}_{area}")
    return int(module.main(rest) or 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m companion", description="Emotion-aware companion")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("chat", help="talk in the terminal (streamed replies, current mood)")
    p.add_argument("--user", required=True)
    p.set_defaults(func=cmd_chat)
    p = sub.add_parser("say", help="one turn")
    p.add_argument("--user", required=True)
    p.add_argument("--json", action="store_true", help="print the whole Reply as JSON")
    p.add_argument("text")
    p.set_defaults(func=cmd_say)
    for name, func in (("export", cmd_export), ("forget", cmd_forget)):
        p = sub.add_parser(name, help=f"{name} everything stored about a user")
        p.add_argument("--user", required=True)
        p.set_defaults(func=func)
    p = sub.add_parser("eval", help="accuracy tables: " + ", ".join(EVALS))
    p.add_argument("area", choices=EVALS)
    p = sub.add_parser("bench", help="speed tables: " + ", ".join(BENCHES))
    p.add_argument("area", choices=BENCHES)
    sub.add_parser("fuzz", help="fuzz analyzers and Companion inputs (>= 10,000 cases)")
    args, rest = parser.parse_known_args(argv)
    if args.command == "eval":
        return _run_module("eval", args.area, rest)
    if args.command == "bench":
        if args.area == "load":
            return int(importlib.import_module("benchmarks.load").main(rest) or 0)
        return _run_module("bench", args.area, rest)
    if args.command == "fuzz":
        return int(importlib.import_module("benchmarks.fuzz").main(rest) or 0)
    if rest:
        parser.error(f"unrecognised arguments: {' '.join(rest)}")
    from companion.errors import CompanionError

    try:
        return args.func(args)
    except CompanionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
