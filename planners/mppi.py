"""Model-predictive path integral control over action sequences (as TD-MPC2 plans: elites, temperature weights)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from planners.common import CostFn, IterationRecord, PlanResult, as_bounds, check_costs


@dataclass
class MPPIConfig:
    """Samples, iterations, temperature of the exponential weights, sampling noise, smoothing of sampled sequences."""

    samples: int = 256
    iterations: int = 6
    elites: int = 64  # only the best `elites` samples are weighted
    temperature: float = 0.5  # in units of the elites' cost spread; lower is greedier
    init_std: float = 0.5  # as a fraction of each action dim's half range
    min_std: float = 0.02
    smoothing: float = 0.0  # AR(1) coefficient of the noise along the horizon (0: independent steps)
    keep_samples: bool = False


def _smooth(noise: torch.Tensor, beta: float) -> torch.Tensor:
    """Correlate noise [S, H, A] along H with an AR(1) filter that keeps unit variance."""
    if beta <= 0:
        return noise
    out = noise.clone()
    scale = (1 - beta**2) ** 0.5
    for h in range(1, noise.shape[1]):
        out[:, h] = beta * out[:, h - 1] + scale * noise[:, h]
    return out


@torch.no_grad()
def mppi(
    cost_fn: CostFn,
    horizon: int,
    action_low,
    action_high,
    init: torch.Tensor | None = None,
    cfg: MPPIConfig | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> PlanResult:
    """Minimise cost_fn over action sequences [H, A] inside the bounds with temperature-weighted updates.

    Args and returns as `planners.cem.cem`.
    """
    cfg = cfg or MPPIConfig()
    if not 0 < cfg.elites <= cfg.samples or cfg.temperature <= 0:
        raise ValueError(f"need 0 < elites <= samples and temperature > 0; got elites={cfg.elites}, temperature={cfg.temperature}")
    lo, hi = as_bounds(action_low, action_high, None, device, torch.float32)
    half = (hi - lo) / 2
    mean = ((lo + hi) / 2).expand(horizon, -1).clone() if init is None else init.to(device, torch.float32).clone()  # [H, A]
    if mean.shape != (horizon, lo.numel()):
        raise ValueError(f"init must have shape [{horizon}, {lo.numel()}], got {tuple(mean.shape)}")
    std = (cfg.init_std * half).expand(horizon, -1).clone()
    min_std = cfg.min_std * half
    best, best_cost = mean.clone(), float("inf")
    records = []
    for _ in range(cfg.iterations):
        noise = _smooth(torch.randn((cfg.samples, *mean.shape), generator=generator, device=device), cfg.smoothing)
        samples = (mean + std * noise).clamp(lo, hi)  # [S, H, A]
        samples[0] = mean.clamp(lo, hi)
        costs = check_costs(cost_fn(samples), cfg.samples)
        elite_costs, idx = torch.topk(costs, cfg.elites, largest=False)
        elites = samples[idx]  # [K, H, A]
        records.append(IterationRecord(mean.clone(), std.clone(), elites, elite_costs, costs, samples if cfg.keep_samples else None))
        if elite_costs[0] < best_cost:
            best, best_cost = elites[0].clone(), float(elite_costs[0])
        finite = torch.isfinite(elite_costs)
        if not finite.any():
            continue  # every sample failed: keep the distribution and sample again
        c = torch.where(finite, elite_costs, elite_costs[finite].max())
        spread = (c.max() - c.min()).clamp_min(1e-8)
        w = torch.softmax(-(c - c.min()) / (cfg.temperature * spread), dim=0)  # [K]
        mean = (w[:, None, None] * elites).sum(0)
        std = torch.sqrt((w[:, None, None] * (elites - mean) ** 2).sum(0)).clamp_min(0)
        std = torch.maximum(std, min_std)
    return PlanResult(best, best_cost, std, records)
