"""python -m companion bench memory: memory search speed at 1k/10k/100k memories of one user, the
cost of adding a turn, database size, and recall on the long-conversation benchmark's test split.

  --tune              print the dev-split grid (k, threshold, keyword weight) instead of test recall
  --sizes 1000,10000  which store sizes to time
  --pg URL | auto     also time PostgreSQL (auto: a throwaway local server, as the tests start)
  --no-recall / --no-speed                          skip a part

Speed stores hold one user's memories with real sentences (ESConv seeker turns, for the keyword
side) and MiniLM vectors of a 2,000-sentence pool plus small noise (embedding 100k sentences
would take 15 minutes); a search is the whole Store.search call, index freshness check included.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import memory_data
from companion.config import Settings
from companion.memory import retrieval
from companion.memory.store import Store

KINDS = ("fact", "time", "multi")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


# -- recall --------------------------------------------------------------------------------------
def _embed_all(embedder, texts: list[str]) -> dict[str, np.ndarray]:
    unique = list(dict.fromkeys(texts))
    out = {}
    for start in range(0, len(unique), 64):
        batch = unique[start : start + 64]
        out.update(zip(batch, embedder.embed(batch)))
    return out


def recall_runs(split: str, embedder, configs: list[tuple[float, bool]], personas: int, turns: int, k_max: int = 10):
    """Per (keyword weight, link): for every question, its kind, its evidence turn ids, and the ranked
    (turn id, score) hits; plus the scores of hits for ordinary messages (what would clutter the prompt)."""
    convs = memory_data.build(split, personas=personas, turns_each=turns)
    texts = [t for c in convs for text, _ in c.turns for t in [text, *retrieval.split_sentences(text)]]
    texts += [q.text for c in convs for q in c.questions]
    vectors = _embed_all(embedder, texts)
    results = {c: [] for c in configs}
    noise = {c: [] for c in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for c in convs:
            store = Store(f"sqlite:///{Path(tmp) / (c.persona + '.db')}")
            store.ensure_user(c.persona, c.turns[0][1])
            turn_ids = []
            for text, at in c.turns:
                sentences = retrieval.split_sentences(text)
                memories = [(s, vectors[s]) for s in sentences] if len(sentences) > 1 else [(text, vectors[text])]
                turn_ids.append(
                    store.save_exchange(
                        c.persona,
                        user_text=text,
                        reply_text="I hear you.",
                        at=at,
                        mood=None,
                        meta={},
                        embedding=vectors[text],
                        memories=memories,
                    )
                )
            # ordinary messages from the same months: what would be shown for them is clutter
            ordinary = [text for text, _ in c.turns[-40:]]
            for cfg in configs:
                w, link = cfg
                for q in c.questions:
                    hits = store.recall(c.persona, vectors[q.text], k_max, text=q.text, keyword_weight=w, link=link)
                    results[cfg].append(
                        (q.kind, {turn_ids[i] for i in q.evidence}, [(h.turn_id, h.score) for h in hits])
                    )
                for text in ordinary[::4]:
                    hits = store.recall(
                        c.persona,
                        vectors[text],
                        k_max,
                        text=text,
                        keyword_weight=w,
                        link=link,
                        before_turn=turn_ids[-40],
                    )
                    noise[cfg].append([h.score for h in hits])
            store.close()
    return results, noise


def recall_at(runs, k: int, threshold: float) -> dict[str, float]:
    per: dict[str, list[bool]] = {kind: [] for kind in KINDS}
    for kind, evidence, hits in runs:
        shown = {turn for turn, score in hits[:k] if score >= threshold}
        per[kind].append(evidence <= shown)
    out = {kind: float(np.mean(v)) if v else float("nan") for kind, v in per.items()}
    out["all"] = float(np.mean([x for v in per.values() for x in v]))
    out["n"] = sum(len(v) for v in per.values())
    return out


def shown_per_message(noise, k: int, threshold: float) -> float:
    return float(np.mean([sum(1 for s in scores[:k] if s >= threshold) for scores in noise]))


def print_tune(embedder, args) -> None:
    configs = [(w, link) for w in (0.0, 0.1, 0.15, 0.2, 0.3) for link in (False, True)]
    runs, noise = recall_runs("dev", embedder, configs, args.personas, args.turns)
    print(
        f"\nDEV split ({args.personas} personas x {args.turns} turns): recall (all evidence shown) / "
        "memories shown for an ordinary message"
    )
    print(f"{'weight':>6} {'link':>5} {'thr':>5} {'k':>3} {'fact':>6} {'time':>6} {'multi':>6} {'all':>6} {'shown':>6}")
    for cfg in configs:
        for thr in (0.0, 0.25, 0.3, 0.35, 0.4, 0.45):
            for k in (3, 5, 8):
                r = recall_at(runs[cfg], k, thr)
                print(
                    f"{cfg[0]:6.2f} {cfg[1]!s:>5} {thr:5.2f} {k:3d} {r['fact']:6.1%} {r['time']:6.1%} "
                    f"{r['multi']:6.1%} {r['all']:6.1%} {shown_per_message(noise[cfg], k, thr):6.2f}"
                )


def print_recall(embedder, args, settings: Settings) -> None:
    k, thr = settings.retrieved_memories, settings.memory_min_score
    shipped = (retrieval.KEYWORD_WEIGHT, retrieval.LINK)
    configs = {shipped: "shipped", (retrieval.KEYWORD_WEIGHT, False): "hybrid, no link", (0.0, False): "embedding only"}
    runs, noise = recall_runs("test", embedder, list(configs), args.personas, args.turns)
    print(
        f"\nRecall on the TEST split ({args.personas} personas x {args.turns} turns; a question counts when all "
        f"its evidence turns are among the memories shown; threshold {thr}):"
    )
    print(f"{'scoring':<22} {'k':>3} {'fact':>6} {'time':>6} {'multi':>6} {'all':>6} {'n':>4} {'shown/msg':>9}")
    for cfg, name in configs.items():
        for kk in sorted({3, k, 8}):
            r = recall_at(runs[cfg], kk, thr)
            print(
                f"{name:<22} {kk:3d} {r['fact']:6.1%} {r['time']:6.1%} {r['multi']:6.1%} {r['all']:6.1%} "
                f"{r['n']:4d} {shown_per_message(noise[cfg], kk, thr):9.2f}"
            )


# -- speed ---------------------------------------------------------------------------------------
_POOLS: dict[int, tuple[list[str], np.ndarray]] = {}


def _pool(embedder, n: int = 2000) -> tuple[list[str], np.ndarray]:
    if id(embedder) not in _POOLS:  # embedding 2,000 sentences takes ~20 s: once per run
        _POOLS[id(embedder)] = _embed_pool(embedder, n)
    return _POOLS[id(embedder)]


def _embed_pool(embedder, n: int) -> tuple[list[str], np.ndarray]:
    sentences = []
    for session in memory_data._sessions("dev"):
        sentences.extend(session)
        if len(sentences) >= n:
            break
    sentences = sentences[:n]
    return sentences, np.asarray(embedder.embed(sentences), np.float32)


def _fill(store: Store, user: str, n: int, texts: list[str], vectors: np.ndarray, rng) -> None:
    from sqlalchemy import func, select

    from companion.memory import schema

    store.ensure_user(user, 1.0)
    with store.engine.begin() as conn:
        have = conn.execute(select(func.count()).where(schema.memories.c.user_id == user)).scalar()
        for start in range(have, n, 5000):
            rows = []
            for i in range(start, min(n, start + 5000)):
                j = rng.integers(len(texts))
                v = vectors[j] + rng.normal(0, 0.02, vectors.shape[1]).astype(np.float32)
                rows.append(
                    {
                        "user_id": user,
                        "turn_id": None,
                        "text": texts[j],
                        "at": 1.0 + i,
                        "embedding": (v / np.linalg.norm(v)).astype(np.float32).tobytes(),
                    }
                )
            conn.execute(schema.memories.insert(), rows)


def _db_bytes(store: Store, path: Path | None) -> float:
    if path is not None:
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(p.stat().st_size for p in path.parent.iterdir() if p.name.startswith(path.name))
    with store.engine.connect() as conn:
        return float(conn.exec_driver_sql("SELECT pg_total_relation_size('memories')").scalar())


def time_store(label: str, url: str, path: Path | None, sizes: list[int], embedder, queries: int, k: int) -> list[str]:
    texts, vectors = _pool(embedder)
    rng = np.random.default_rng(0)
    store, user, lines = Store(url), "bench-user", []
    store.forget(user)
    for n in sizes:
        _fill(store, user, n, texts, vectors, rng)
        store.index.drop()
        t0 = time.perf_counter()
        store.search(user, vectors[0], k, text=texts[0])
        cold = time.perf_counter() - t0
        times = []
        for _ in range(queries):
            j = int(rng.integers(len(texts)))
            t0 = time.perf_counter()
            store.search(user, vectors[j], k, text=texts[j])
            times.append(time.perf_counter() - t0)
        adds = []
        for i in range(20):  # a whole stored turn: 2 turn rows, 2 sentence memories (keyword index updated)
            t0 = time.perf_counter()
            store.save_exchange(
                user,
                user_text=f"{texts[i]} {texts[i + 1]}",
                reply_text="ok",
                at=2e9 + i,
                mood=None,
                meta={},
                memories=[(texts[i], vectors[i]), (texts[i + 1], vectors[i + 1])],
            )
            adds.append(time.perf_counter() - t0)
            store.search(user, vectors[i], k, text=texts[i])  # appends the 2 vectors (in the timed searches' cost)
        size = _db_bytes(store, path) / (n / 1000)
        lines.append(
            f"{label:<10} {n:>8,} {pct(times, 50) * 1e3:8.2f} {pct(times, 95) * 1e3:8.2f} {cold * 1e3:9.0f} "
            f"{pct(adds, 50) * 1e3:9.2f} {size / 2**20:9.2f}"
        )
        print(lines[-1], flush=True)
    store.forget(user)
    store.close()
    return lines


def turn_cost(embedder, memories: int = 1000, turns: int = 20) -> None:
    """A whole Companion turn (real text analyzer and embedder, echo generator: the language model
    is not counted) for a user with no memories and for one with `memories` of them."""
    from companion.core import Companion
    from companion.generation.echo import EchoGenerator

    texts, vectors = _pool(embedder)
    messages = texts[-turns - 1 :]
    with tempfile.TemporaryDirectory() as tmp:
        bot = Companion(
            Settings(data_dir=Path(tmp)),
            generator=EchoGenerator(reply="I hear you."),
            embedder=embedder,
            analyzers={"voice": None, "face": None},
        )
        _fill(bot.store, "loyal", memories, texts, vectors, np.random.default_rng(1))
        took: dict[str, list[float]] = {"fresh": [], "loyal": []}
        for user in ("fresh", "loyal"):
            bot.respond(user, messages[-1])  # first contact (disclosure, user row) and a warm index
        for message in messages[:turns]:
            for user in ("fresh", "loyal"):  # interleaved: both see the same machine load
                t0 = time.perf_counter()
                bot.respond(user, message)
                took[user].append(time.perf_counter() - t0)
        bot.close()
    fresh, loyal = pct(took["fresh"], 50), pct(took["loyal"], 50)
    print(
        f"\nA turn (echo generator, {turns} turns each, p50): no memories {fresh * 1e3:.1f} ms; "
        f"{memories:,} memories {loyal * 1e3:.1f} ms; ratio {loyal / fresh:.2f}x"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m companion bench memory")
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--pg", default=os.environ.get("COMPANION_BENCH_PG_URL"), help="PostgreSQL URL to time too")
    parser.add_argument("--personas", type=int, default=8)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--tune", action="store_true")
    parser.add_argument("--no-recall", action="store_true")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--no-turn", action="store_true")
    args = parser.parse_args(argv)
    from companion.components import Components

    settings = Settings()
    embedder = Components(settings).embedder()
    print(f"machine: {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f}")
    if args.tune:
        print_tune(embedder, args)
        return 0
    if not args.no_speed:
        sizes = [int(s) for s in args.sizes.split(",")]
        print(
            f"\nSearch (k={settings.retrieved_memories}, {args.queries} queries; p50/p95 ms), first search after "
            "start (cold load, ms), storing a turn with 2 memories (ms), DB MiB per 1k memories"
        )
        print(f"{'store':<10} {'memories':>8} {'p50':>8} {'p95':>8} {'cold':>9} {'add turn':>9} {'MiB/1k':>9}")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.db"
            time_store("sqlite", f"sqlite:///{path}", path, sizes, embedder, args.queries, settings.retrieved_memories)
        if args.pg == "auto":  # a throwaway local server on a unix socket (the tests' own helper)
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
            from pgserver import PgServer, _bindir

            if _bindir() is None:
                print("postgres   (skipped: no PostgreSQL server binaries)")
            else:
                server = PgServer(_bindir())
                server.start()
                try:
                    time_store(
                        "postgres",
                        server.create_database(),
                        None,
                        sizes,
                        embedder,
                        args.queries,
                        settings.retrieved_memories,
                    )
                finally:
                    server.stop()
        elif args.pg:
            time_store("postgres", args.pg, None, sizes, embedder, args.queries, settings.retrieved_memories)
        else:
            print("postgres   (skipped: pass --pg URL, or --pg auto for a throwaway local server)")
    if not args.no_turn:
        turn_cost(embedder)
    if not args.no_recall:
        print_recall(embedder, args, settings)
    return 0
