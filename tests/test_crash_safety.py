"""Crash safety: a child process runs Companion turns (echo generator) and reports each turn id the
moment the store returns from saving it; the parent kills it with SIGKILL at random moments, 50
times. Afterwards every reported turn is in the database, whole, and PRAGMA integrity_check is ok.
It runs on SQLite and on PostgreSQL; there a killed child also held its user's advisory lock, and
the next child can only go on if the server released it when the connection died.

Children are forked from a multiprocessing forkserver that imported the companion once, so each
round costs milliseconds, not an interpreter start. (No pytest import here: the forkserver imports
this module.)
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing as mp
import os
import random
import signal
import time

import numpy as np

ROUNDS = 50
USERS = ("crash-a", "crash-b", "crash-c")


class HashEmbedder:
    """Deterministic unit vectors at the model's edge: the store, not the embedding, is under test."""

    def embed(self, texts):
        out = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(384).astype(np.float32)
            out.append(v / np.linalg.norm(v))
        return np.stack(out)


def run_turns(data_dir: str, url: str, out, round_no: int) -> None:
    """The child: endless turns; after each save, send "<turn id>\t<message>" down the pipe."""
    os.environ["COMPANION_CRISIS_CLASSIFIER"] = "off"  # patterns only: keeps the child light
    from companion.config import Settings
    from companion.core import Companion
    from companion.generation.echo import EchoGenerator

    bot = Companion(
        Settings(data_dir=data_dir, store_url=url, llm={"judge": "none"}),  # no model in the child: it stays light
        generator=EchoGenerator(),
        embedder=HashEmbedder(),
        analyzers={"text": None},
    )
    save = bot.store.save_exchange

    def save_and_report(user, **fields):
        turn_id = save(user, **fields)  # returns after the transaction committed
        if user != "crash-scratch":  # scratch turns are forgotten on purpose
            out.send_bytes(f"{turn_id}\t{fields['user_text']}".encode())  # one small write: whole or nothing
        return turn_id

    bot.store.save_exchange = save_and_report
    out.send_bytes(b"ready")
    for n in itertools.count():
        user = USERS[n % len(USERS)]
        bot.consent(user, store_mood=bool(n % 2))
        bot.respond(user, f"round {round_no} turn {n}: my sister is Ana and I like tea number {n}")
        if n % 4 == 0:
            bot.feedback(user, "joy")
        if n % 9 == 0:  # a forget (DELETE + VACUUM) can be killed too
            bot.respond("crash-scratch", f"scratch {round_no} {n}")
            bot.forget("crash-scratch")


def _take(conn, reported: dict[int, str]) -> None:
    try:
        while conn.poll(0):
            turn_id, text = conn.recv_bytes().decode().split("\t", 1)
            reported[int(turn_id)] = text
    except EOFError:
        pass


def test_sigkill_mid_turn_50_times_loses_no_saved_turn(tmp_path, store_url):
    from sqlalchemy import create_engine, text

    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["companion.core", "companion.generation.echo", "sqlalchemy", "numpy", "psycopg"])
    rng = random.Random(2024)
    reported: dict[int, str] = {}
    kills_with_saves = 0
    for round_no in range(ROUNDS):
        reader, writer = ctx.Pipe(duplex=False)
        child = ctx.Process(target=run_turns, args=(str(tmp_path), store_url, writer, round_no), daemon=True)
        child.start()
        writer.close()
        assert reader.poll(120) and reader.recv_bytes() == b"ready", "the child did not start"
        before = len(reported)
        # Let 0-3 turns finish (so the kill lands mid-conversation whatever the machine's speed),
        # then kill at a random moment of the next one.
        saves, give_up = rng.randint(0, 3), time.monotonic() + 120
        while len(reported) - before < saves and time.monotonic() < give_up:
            if reader.poll(0.01):
                _take(reader, reported)
        deadline = time.monotonic() + rng.uniform(0.0, 0.3)
        while time.monotonic() < deadline:
            if reader.poll(0.002):
                _take(reader, reported)
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
        _take(reader, reported)
        reader.close()
        assert child.exitcode == -signal.SIGKILL
        kills_with_saves += len(reported) > before

    engine = create_engine(store_url)  # a connection of its own, not the Store's
    with engine.connect() as conn:
        if store_url.startswith("sqlite"):
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        rows = dict(conn.execute(text("SELECT id, text FROM turns WHERE role = 'user'")).all())
        lost = {i: t for i, t in reported.items() if rows.get(i) != t}
        # a saved turn is whole: its reply is stored with it
        replies = conn.execute(text("SELECT COUNT(*) FROM turns WHERE role = 'assistant'")).scalar()
    engine.dispose()
    print(
        f"\ncrash test ({store_url.split(':')[0].split('+')[0]}): {ROUNDS} SIGKILLs, "
        f"{len(reported)} turns reported saved, "
        f"{len(lost)} lost, {kills_with_saves} rounds saved turns before the kill, integrity ok"
    )
    assert not lost, f"{len(lost)} reported turns missing, e.g. {list(lost.items())[:3]}"
    assert len(reported) >= ROUNDS and kills_with_saves >= ROUNDS // 2  # the kills landed mid-conversation
    assert replies == len(rows)
