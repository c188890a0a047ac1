"""The cross-entropy method over action sequences (as V-JEPA 2-AC plans)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from planners.common import CostFn, PlanResult, check_sampling, sample_and_refit


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
    prior_share: float = 0.0  # with a prior sequence (a proposal's), this share of the samples is drawn around it
    keep_samples: bool = False  # store every sample in the iteration records

    def __post_init__(self):
        check_sampling(self, "cem")


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
    prior: torch.Tensor | None = None,
) -> PlanResult:
    """Minimise cost_fn over action sequences [H, A] inside the bounds.

    Args:
        cost_fn: actions [S, H, A] -> costs [S] (lower is better; NaN/inf never win).
        horizon: H.
        action_low, action_high: bounds [A].
        init: starting mean [H, A] (a shifted previous plan), or None for the middle of the bounds.
        generator: the source of sampling noise (on `device`), for reproducible plans.
        prior: a proposed sequence [H, A]: `cfg.prior_share` of the samples are drawn around it.
    Returns:
        PlanResult with the best sequence seen, its cost, and one IterationRecord per iteration.
    """
    cfg = cfg or CEMConfig()

    def refit(mean, std, elites, elite_costs):
        return (cfg.momentum_mean * mean + (1 - cfg.momentum_mean) * elites.mean(0),
                cfg.momentum_std * std + (1 - cfg.momentum_std) * elites.std(0, unbiased=False))

    return sample_and_refit(cost_fn, horizon, action_low, action_high, init, cfg, generator, device, refit, prior=prior)
