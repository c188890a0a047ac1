"""The cross-entropy method over action sequences (as V-JEPA 2-AC plans)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from planners.common import CostFn, IterationRecord, PlanResult, as_bounds, check_costs


@dataclass
class CEMConfig:
    """Samples per iteration, iterations, elites kept, momentum on mean and std, and the std's floor and start."""

    samples: int = 256
    iterations: int = 10
    elites: int = 32
    momentum_mean: float = 0.0  # weight of the old mean in the update (0: replace)
    momentum_std: float = 0.0
    init_std: float = 0.5  # as a fraction of each action dim's half range
    min_std: float = 0.02  # likewise
    keep_samples: bool = False  # store every sample in the iteration records


@torch.no_grad()
def cem(
    cost_fn: CostFn,
    horizon: int,
    action_low,
    action_high,
    init: torch.Tensor | None = None,
    cfg: CEMConfig | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> PlanResult:
    """Minimise cost_fn over action sequences [H, A] inside the bounds.

    Args:
        cost_fn: actions [S, H, A] -> costs [S] (lower is better; NaN/inf never win).
        horizon: H.
        action_low, action_high: bounds [A].
        init: starting mean [H, A] (a shifted previous plan), or None for the middle of the bounds.
        generator: the source of sampling noise (on `device`), for reproducible plans.
    Returns:
        PlanResult with the best sequence seen, its cost, and one IterationRecord per iteration.
    """
    cfg = cfg or CEMConfig()
    if not 0 < cfg.elites <= cfg.samples:
        raise ValueError(f"elites must be in 1..samples ({cfg.samples}), got {cfg.elites}")
    lo, hi = as_bounds(action_low, action_high, None, device, torch.float32)
    half = (hi - lo) / 2  # [A]
    mean = ((lo + hi) / 2).expand(horizon, -1).clone() if init is None else init.to(device, torch.float32).clone()  # [H, A]
    if mean.shape != (horizon, lo.numel()):
        raise ValueError(f"init must have shape [{horizon}, {lo.numel()}], got {tuple(mean.shape)}")
    std = (cfg.init_std * half).expand(horizon, -1).clone()  # [H, A]
    min_std = cfg.min_std * half
    best, best_cost = mean.clone(), float("inf")
    records = []
    for _ in range(cfg.iterations):
        noise = torch.randn((cfg.samples, *mean.shape), generator=generator, device=device)  # [S, H, A]
        samples = (mean + std * noise).clamp(lo, hi)
        samples[0] = mean.clamp(lo, hi)  # the current mean competes too, so the plan never gets worse
        costs = check_costs(cost_fn(samples), cfg.samples)  # [S]
        elite_costs, idx = torch.topk(costs, cfg.elites, largest=False)
        elites = samples[idx]  # [K, H, A]
        records.append(IterationRecord(mean.clone(), std.clone(), elites, elite_costs, costs, samples if cfg.keep_samples else None))
        if elite_costs[0] < best_cost:
            best, best_cost = elites[0].clone(), float(elite_costs[0])
        mean = cfg.momentum_mean * mean + (1 - cfg.momentum_mean) * elites.mean(0)
        std = cfg.momentum_std * std + (1 - cfg.momentum_std) * elites.std(0, unbiased=False)
        std = torch.maximum(std, min_std)
    return PlanResult(best, best_cost, std, records)
