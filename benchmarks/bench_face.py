"""Milliseconds per 640x480 webcam frame (Haar detection + expression CNN), one thread.

    python -m companion bench face [--frames 200] [--models ensemble,fernet,mini_xception]
    python -m benchmarks.bench_face

Frames are 640x480 scenes built from scikit-image's bundled astronaut photo (her head at a few
sizes and places, as a webcam would see a person), so the command needs no camera and no download.
Prints wall-clock p50/p95 and frames/s, plus process CPU time per frame: on a shared machine
the CPU time is the steadier estimate of what one free core would do.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def webcam_frames(n: int = 8, seed: int = 0) -> list[np.ndarray]:
    import cv2
    from skimage import data as photos

    rng = np.random.default_rng(seed)
    head = photos.astronaut()[0:300, 90:390]  # her head and shoulders; the face is ~100 px
    frames = []
    for _i in range(n):
        frame = np.full((480, 640, 3), rng.integers(60, 200), np.uint8)
        size = int(rng.integers(200, 420))
        h = cv2.resize(head, (size, size), interpolation=cv2.INTER_AREA)[:480, :640]
        y, x = int(rng.integers(0, 480 - min(size, 480) + 1)), int(rng.integers(0, 640 - size + 1))
        frame[y : y + h.shape[0], x : x + h.shape[1]] = h
        frame = np.clip(frame.astype(np.int16) + rng.integers(-6, 7, frame.shape), 0, 255).astype(np.uint8)
        frames.append(frame)
    return frames


def timed(fn, items, repeats: int) -> tuple[np.ndarray, np.ndarray, list]:
    wall, cpu, results = [], [], []
    for _ in range(3):
        fn(items[0])  # warm-up: first calls allocate
    for i in range(repeats):
        item = items[i % len(items)]
        t0, c0 = time.perf_counter(), time.process_time()
        results.append(fn(item))
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return np.array(wall) * 1000, np.array(cpu) * 1000, results


def row(name: str, wall: np.ndarray, cpu: np.ndarray, found: str = "") -> str:
    p50, p95 = np.percentile(wall, 50), np.percentile(wall, 95)
    return (
        f"{name:34s} {p50:7.2f} {p95:7.2f} {1000 / p50:8.1f} {np.percentile(cpu, 50):8.2f} "
        f"{1000 / np.percentile(cpu, 50):8.1f}  {found}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m companion bench face", description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=200, help="timed frames per row")
    parser.add_argument("--models", default="ensemble,fernet,mini_xception")
    args = parser.parse_args(argv)
    import cv2
    import torch

    from pipelines.face import FaceEmotionAnalyzer

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    frames = webcam_frames()
    print(
        f"640x480 frames, 1 thread (torch + OpenCV), {args.frames} frames a row; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n"
    )
    print(f"{'what':34s} {'p50 ms':>7s} {'p95 ms':>7s} {'frames/s':>8s} {'cpu ms':>8s} {'cpu f/s':>8s}")
    print("-" * 84)
    base = None
    for name in args.models.split(","):
        for flip in (True, False):
            analyzer = FaceEmotionAnalyzer(model=name, flip=flip, threads=1)
            torch.set_num_threads(1)
            if base is None:
                base = analyzer
                wall, cpu, boxes = timed(analyzer.detector.detect, frames, args.frames)
                found = f"faces found in {sum(bool(b) for b in boxes)}/{len(boxes)}"
                print(row("detection only (Haar)", wall, cpu, found))
                crop = [analyzer._prepare(frames[0], True)[0]]
            wall, cpu, _ = timed(analyzer._infer, [crop], args.frames)
            print(row(f"expression only: {name}{' +flip' if flip else ''}", wall, cpu))
            wall, cpu, est = timed(analyzer.analyze, frames, args.frames)
            labels = [e.label for e in est if e is not None]
            print(
                row(f"frame: {name}{' +flip' if flip else ''}", wall, cpu, f"joy in {labels.count('joy')}/{len(est)}")
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
