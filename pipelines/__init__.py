"""Signals -> EmotionEstimate, and the models behind them. Nothing heavy is imported here."""
