"""Accuracy and latency commands that print tables: `python -m companion eval|bench <area>`."""
