"""Train FerNet (pipelines.face_models) on FER2013 train; score it on the public test split.

    python -m pipelines.training.face                    # the shipped fernet.pt (80 epochs; GPU when there is one)
    python -m pipelines.training.face --seed 1 --name fernet_seed1   # second member of the "ensemble" model
    python -m pipelines.training.face --device cpu       # CPU: stops within --minutes (default 55)
    python -m pipelines.training.face --limit 2000 --epochs 1 --out /tmp/face   # smoke test

The learning-rate schedule (one-cycle: warm-up then cosine) follows whichever runs out first,
the epochs or the time budget, so a slow or busy CPU still ends with a fully annealed model
inside the budget (on a slow machine the result then depends on speed; the seed fixes the rest).
Writes <name>.pt (default fernet.pt) and <name>.json (settings, history, public-test scores of every
model whose weights are in --out) to --out (default pipelines/weights/face/, README.md there).
Never run at import or at run time: the analyzer only reads the weights.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "datasets"
DEFAULT_OUT = REPO / "pipelines" / "weights" / "face"


def load_split(data: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    path = Path(data) / "fer2013" / f"fer2013_{split}.npz"
    if not path.exists():
        raise SystemExit(f"{path} not found: pass --data DIR (the folder holding fer2013/)")
    blob = np.load(path)
    return blob["images"], blob["labels"].astype(np.int64)


def augment(x, gen):
    """Batched on-device augmentation of (N, 1, 48, 48) in [-1, 1]: mirror, small rotation/zoom/shift
    (border pixels repeated, so no black corners), brightness/contrast jitter."""
    import torch
    from torch.nn import functional as F

    n, dev = x.shape[0], x.device
    u = lambda lo, hi: torch.rand(n, device=dev, generator=gen) * (hi - lo) + lo  # noqa: E731 - a one-line helper reads better inline
    flip = torch.rand(n, device=dev, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    angle, scale = u(-15, 15) * math.pi / 180, u(0.9, 1.1)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, u(-0.12, 0.12)], 1), torch.stack([sin, cos, u(-0.12, 0.12)], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    x = x * u(0.75, 1.25)[:, None, None, None] + u(-0.2, 0.2)[:, None, None, None]
    return x.clamp(-1.0, 1.0)


def one_cycle(progress: float, peak: float, warmup: float = 0.15) -> float:
    if progress < warmup:
        return peak * (0.1 + 0.9 * progress / warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup))))


def train(args) -> dict:
    import torch
    from torch.nn import functional as F
    from tqdm import tqdm

    from pipelines.face_models import FerNet, save_fernet

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    if args.amp is None:
        args.amp = device.type == "cuda"
    images, labels = load_split(args.data, "train")
    if args.limit:
        keep = np.random.default_rng(args.seed).permutation(len(images))[: args.limit]
        images, labels = images[keep], labels[keep]
    x_all = torch.from_numpy(FerNet.preprocess(images))[:, None].to(device)
    y_all = torch.from_numpy(labels).to(device)
    model = FerNet(widths=tuple(args.widths)).to(device)
    params_decay = [p for p in model.parameters() if p.ndim > 1]
    params_other = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD(
        [{"params": params_decay, "weight_decay": args.weight_decay}, {"params": params_other, "weight_decay": 0.0}],
        lr=args.lr,
        momentum=0.9,
        nesterov=True,
    )
    gen = torch.Generator(device=device).manual_seed(args.seed)
    steps_per_epoch = math.ceil(len(x_all) / args.batch)
    total_steps, budget = steps_per_epoch * args.epochs, args.minutes * 60.0
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    start, step, epoch, progress = time.time(), 0, 0, 0.0
    history = []
    bar = tqdm(
        total=1000,
        desc="fernet",
        unit="‰",
        mininterval=1 if sys.stderr.isatty() else 20,
        bar_format="{l_bar}{bar}| {n_fmt}/1000 [{elapsed}<{remaining}] {postfix}",
    )
    while progress < 1.0:
        model.train()
        order = torch.randperm(len(x_all), device=device, generator=gen)
        # running sums stay on the device: reading them every step would stall a GPU
        seen, correct, loss_sum = 0, torch.zeros((), device=device), torch.zeros((), device=device)
        for i in range(steps_per_epoch):
            idx = order[i * args.batch : (i + 1) * args.batch]
            if len(idx) < 2:
                continue
            progress = max(step / total_steps, (time.time() - start) / budget)
            if progress >= 1.0:
                break
            for group in opt.param_groups:
                group["lr"] = one_cycle(progress, args.lr)
            xb, yb = augment(x_all[idx], gen), y_all[idx]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp):
                logits = model(xb).float()
            loss = F.cross_entropy(logits, yb, label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            seen += len(idx)
            correct += (logits.detach().argmax(1) == yb).sum()
            loss_sum += loss.detach() * len(idx)
            if step % 20 == 0:
                bar.n = int(1000 * progress)
                bar.set_postfix(
                    epoch=epoch + 1,
                    loss=f"{float(loss_sum) / seen:.3f}",
                    acc=f"{float(correct) / seen:.3f}",
                    lr=f"{opt.param_groups[0]['lr']:.4f}",
                    refresh=False,
                )
                bar.update(0)
        epoch += 1
        if seen:
            history.append(
                {
                    "epoch": epoch,
                    "train_loss": round(float(loss_sum) / seen, 4),
                    "train_acc": round(float(correct) / seen, 4),
                    "minutes": round((time.time() - start) / 60, 2),
                }
            )
            bar.write(
                f"epoch {epoch}: loss {history[-1]['train_loss']:.3f} train acc "
                f"{history[-1]['train_acc']:.3f} ({history[-1]['minutes']:.1f} min)"
            )
        if step >= total_steps:
            break
    bar.n = 1000
    bar.close()
    minutes = (time.time() - start) / 60
    model = model.cpu().eval()
    meta = {
        "epochs": round(step / steps_per_epoch, 2),
        "steps": step,
        "minutes": round(minutes, 1),
        "device": _device_name(device),
        "seed": args.seed,
        "batch": args.batch,
        "lr": args.lr,
        "widths": list(args.widths),
        "amp": args.amp,
        "train_images": int(len(x_all)),
        "history": history,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    save_fernet(model, args.out / f"{args.name}.pt", meta)
    return meta


def _device_name(device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def evaluate(out: Path, data: Path) -> dict:
    """Public-test scores of every model in pipelines.face.MODELS whose weights are in `out`."""
    from pipelines.training.face_metrics import score_models

    images, labels = load_split(data, "publictest")
    return score_models(images, labels, weights_dir=out)


def parse(argv: list[str] | None):
    p = argparse.ArgumentParser(prog="python -m pipelines.training.face", description=__doc__.split("\n")[0])
    p.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="folder holding fer2013/ (default ../shared/datasets)"
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--device", default="auto", help="auto (cuda when there is one, else cpu), cpu or cuda")
    # COMPANION_TORCH_THREADS (README, "Settings") only gives this command-line option its default:
    # the trainer reads no other setting from the environment.
    p.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("COMPANION_TORCH_THREADS", "2")),
        help="torch threads on cpu (default COMPANION_TORCH_THREADS, else 2)",
    )
    p.add_argument("--epochs", type=int, default=80, help="upper bound; the time budget may stop earlier")
    p.add_argument("--minutes", type=float, default=55.0, help="time budget for the training loop")
    p.add_argument("--widths", type=lambda s: [int(v) for v in s.split(",")], default=[24, 48, 96, 192])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--name", default="fernet", help="weights file name; the shipped ensemble adds `--seed 1 --name fernet_seed1`"
    )
    p.add_argument(
        "--amp",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bfloat16 autocast (default: on for cuda, off for cpu)",
    )
    p.add_argument("--limit", type=int, default=0, help="train on a random subset of this size (smoke tests)")
    p.add_argument("--no-eval", action="store_true", help="skip the public-test scoring at the end")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    meta = train(args)
    if not args.no_eval:
        scores = evaluate(args.out, args.data)
        meta["publictest"] = {name: {k: v for k, v in sc.items() if k != "confusion"} for name, sc in scores.items()}
        for name, s in scores.items():
            print(f"{name:28s} accuracy {s['accuracy']:.4f}  macro recall {s['macro_recall']:.4f}")
    (args.out / f"{args.name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {args.out / (args.name + '.pt')} ({meta['minutes']} min on {meta['device']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
