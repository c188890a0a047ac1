"""Learning-rate schedule shared by encoder pretraining and predictor training."""

from __future__ import annotations

import math


def warmup_cosine(step: int, lr: float, min_lr: float, warmup: int, total: int) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay from `lr` to `min_lr` at step `total`."""
    if step < warmup:
        return lr * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * p))
