"""Scores shared by the training and evaluation scripts."""

from __future__ import annotations


def balanced_accuracy(truth: list[bool], said: list[bool | None]) -> float:
    """Mean of sensitivity and specificity; 'cannot tell' (None) counts as wrong."""
    positives = [s is True for t, s in zip(truth, said, strict=True) if t]
    negatives = [s is False for t, s in zip(truth, said, strict=True) if not t]
    parts = [sum(p) / len(p) for p in (positives, negatives) if p]
    return sum(parts) / len(parts) if parts else float("nan")
