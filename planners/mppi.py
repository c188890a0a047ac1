"""Model-predictive path integral control over action sequences (as TD-MPC2 plans: elites, temperature weights)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from planners.common import CostFn, PlanResult, check_sampling, sample_and_refit


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
    prior_share: float = 0.0  # with a prior sequence (a proposal's), this share of the samples is drawn around it
    keep_samples: bool = False

    def __post_init__(self):
        check_sampling(self, "mppi", self.temperature > 0, ", temperature > 0")


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
    prior: torch.Tensor | None = None,
) -> PlanResult:
    """Minimise cost_fn over action sequences [H, A] inside the bounds with temperature-weighted updates.

    Args and returns as `planners.cem.cem`.
    """
    cfg = cfg or MPPIConfig()
    if cfg.temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {cfg.temperature}")

    def refit(mean, std, elites, elite_costs):
        finite = torch.isfinite(elite_costs)
        if not finite.any():
            return None  # every sample failed: keep the distribution and sample again
        c = torch.where(finite, elite_costs, elite_costs[finite].max())
        spread = (c.max() - c.min()).clamp_min(1e-8)
        w = torch.softmax(-(c - c.min()) / (cfg.temperature * spread), dim=0)  # [K]
        new_mean = (w[:, None, None] * elites).sum(0)
        return new_mean, torch.sqrt((w[:, None, None] * (elites - new_mean) ** 2).sum(0))

    return sample_and_refit(cost_fn, horizon, action_low, action_high, init, cfg, generator, device, refit,
                            lambda noise: _smooth(noise, cfg.smoothing), prior=prior)
