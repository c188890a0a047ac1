"""Learning-rate schedule shared by encoder pretraining and predictor training."""

from __future__ import annotations

import math


def warmup_cosine(step: int, lr: float, min_lr: float, warmup: int, total: int) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay from `lr` to `min_lr` at step `total`."""
    if step < warmup:
        return lr * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * p))


SCHEDULES = ("cosine", "linear", "constant")


def learning_rate(schedule: str, step: int, lr: float, min_lr: float, warmup: int, total: int) -> float:
    """Linear warm-up, then `cosine` or `linear` decay to `min_lr` at `total`, or `constant` at `lr` (short fine-tunes
    of a pretrained model often keep the rate flat after warm-up)."""
    if schedule == "cosine":
        return warmup_cosine(step, lr, min_lr, warmup, total)
    if step < warmup:
        return lr * (step + 1) / warmup
    if schedule == "constant":
        return lr
    if schedule == "linear":
        return lr + (min_lr - lr) * min(1.0, (step - warmup) / max(1, total - warmup))
    raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
