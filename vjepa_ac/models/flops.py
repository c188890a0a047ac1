"""Analytic floating-point operation counts of the predictor, for achieved-FLOP/s figures."""

from __future__ import annotations

from vjepa_ac.models.predictor import ACPredictor, PredictorConfig


def rollout_flops(cfg: PredictorConfig, horizon: int, cached: bool = True) -> float:
    """FLOPs (multiply and add counted apart) of one sample's rollout over `horizon` steps.

    Per step: new tokens L = 2 + N; each block's linear layers cost 2 * L * (4 + 2 * mlp_ratio) * h^2 and its
    attention 4 * L * context * h, where context is every token so far (cached) or, without the cache, the whole
    past recomputed at each step.
    """
    h, n = cfg.hidden, cfg.tokens
    per_step = ACPredictor.COND + n
    linear = 2 * (4 + 2 * cfg.mlp_ratio) * h * h
    total = 0.0
    for t in range(horizon):
        new = per_step if cached else per_step * (t + 1)
        ctx = per_step * (t + 1)
        total += cfg.depth * (new * linear + 4 * new * ctx * h)
        total += 2 * n * cfg.embed_dim * h * (1 if cached else t + 1) + 2 * n * h * cfg.embed_dim  # embed in, project out
    return total


def plan_flops(cfg: PredictorConfig, samples: int, iterations: int, horizon: int) -> float:
    """FLOPs of one planned action: every sample's rollout in every iteration."""
    return samples * iterations * rollout_flops(cfg, horizon)
