"""Training commands for the heads shipped under pipelines/weights/: `python -m pipelines.training.<area>`."""
