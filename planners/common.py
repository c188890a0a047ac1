"""What planners return, and the warm start of model-predictive control."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

CostFn = Callable[[torch.Tensor], torch.Tensor]  # actions [S, H, A] -> cost [S]


@dataclass
class IterationRecord:
    """One planner iteration, for visualisation: the sampling distribution, the elites and every sample's cost."""

    mean: torch.Tensor  # [H, A] before the update
    std: torch.Tensor  # [H, A] before the update
    elites: torch.Tensor  # [K, H, A]
    elite_costs: torch.Tensor  # [K]
    costs: torch.Tensor  # [S]
    samples: torch.Tensor | None = None  # [S, H, A], kept only when asked for (it is large)


@dataclass
class PlanResult:
    """The plan [H, A], its cost, the final sampling std [H, A], and the record of every iteration."""

    actions: torch.Tensor
    cost: float
    std: torch.Tensor
    iterations: list[IterationRecord] = field(default_factory=list)


def check_sampling(cfg, name: str, extra: bool = True, extra_text: str = "") -> None:
    """Refuse sampling settings that cannot plan (a CEM's or an MPPI's), naming them and the values given."""
    if not (cfg.samples >= 1 and cfg.iterations >= 1 and 1 <= cfg.elites <= cfg.samples and cfg.init_std > 0
            and cfg.min_std >= 0 and 0 <= cfg.prior_share <= 1 and extra):
        raise ValueError(f"{name}: samples, iterations >= 1, 1 <= elites <= samples, init_std > 0, min_std >= 0, "
                         f"0 <= prior_share <= 1{extra_text}; got samples={cfg.samples}, iterations={cfg.iterations}, "
                         f"elites={cfg.elites}, init_std={cfg.init_std}, min_std={cfg.min_std}, prior_share={cfg.prior_share}")


def as_bounds(low, high, action_dim: int | None, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Action bounds as tensors [A] on the planner's device, checked."""
    lo = torch.as_tensor(low, device=device, dtype=dtype).reshape(-1)
    hi = torch.as_tensor(high, device=device, dtype=dtype).reshape(-1)
    if lo.shape != hi.shape or (action_dim is not None and lo.numel() != action_dim):
        raise ValueError(f"action bounds must both have shape [A]; got low {tuple(lo.shape)}, high {tuple(hi.shape)}")
    if not torch.all(hi > lo):
        raise ValueError(f"every action_high must exceed action_low; got low {lo.tolist()}, high {hi.tolist()}")
    return lo, hi


def check_costs(costs: torch.Tensor, samples: int) -> torch.Tensor:
    """Costs [S] as float, NaN/inf replaced by +inf so that such samples are never chosen."""
    if costs.shape != (samples,):
        raise ValueError(f"cost function must return shape [{samples}] for [{samples}, H, A] actions, got {tuple(costs.shape)}")
    costs = costs.float()
    return torch.where(torch.isfinite(costs), costs, torch.full_like(costs, float("inf")))


def shift_plan(plan: torch.Tensor, fill: torch.Tensor | None = None) -> torch.Tensor:
    """Warm start for the next control step: drop the executed first action, repeat the last (or `fill`)."""
    tail = plan[-1:] if fill is None else fill.reshape(1, -1).to(plan)
    return torch.cat([plan[1:], tail], dim=0)


def sample_and_refit(cost_fn: CostFn, horizon: int, action_low, action_high, init: torch.Tensor | None, cfg,
                     generator: torch.Generator | None, device, refit: Callable, noise_fn: Callable | None = None,
                     prior: torch.Tensor | None = None) -> PlanResult:
    """The loop CEM and MPPI share: sample around a mean [H, A] (the current mean itself is one sample, so the plan
    never gets worse), clamp to the bounds, score, keep the `cfg.elites` best, record the iteration, then
    `refit(mean, std, elites [K, H, A], elite_costs [K]) -> (mean, std)` (or None to keep them), with the std held
    above `cfg.min_std` of each dim's half range. `noise_fn(noise [S, H, A]) -> noise` shapes the standard noise.
    With a `prior` sequence [H, A] (a proposal's), `cfg.prior_share` of each iteration's samples are drawn around it
    instead of around the mean (TD-MPC2's policy prior), the prior itself among them.

    cfg needs samples, iterations, elites, init_std, min_std, keep_samples, prior_share."""
    if not 0 < cfg.elites <= cfg.samples:
        raise ValueError(f"elites must be in 1..samples ({cfg.samples}), got {cfg.elites}")
    lo, hi = as_bounds(action_low, action_high, None, device, torch.float32)
    half = (hi - lo) / 2  # [A]
    mean = ((lo + hi) / 2).expand(horizon, -1).clone() if init is None else init.to(device, torch.float32).clone()  # [H, A]
    if mean.shape != (horizon, lo.numel()):
        raise ValueError(f"init must have shape [{horizon}, {lo.numel()}], got {tuple(mean.shape)}")
    std = (cfg.init_std * half).expand(horizon, -1).clone()  # [H, A]
    min_std = cfg.min_std * half
    share = getattr(cfg, "prior_share", 0.0)
    if not 0 <= share <= 1:
        raise ValueError(f"prior_share must be in [0, 1], got {share}")
    n_prior = min(cfg.samples - 1, round(share * cfg.samples)) if prior is not None else 0
    if prior is not None:
        prior = prior.to(device, torch.float32)
        if prior.shape != mean.shape:
            raise ValueError(f"prior must have shape {tuple(mean.shape)}, got {tuple(prior.shape)}")
    best, best_cost = mean.clone(), float("inf")
    records = []
    for _ in range(cfg.iterations):
        noise = torch.randn((cfg.samples, *mean.shape), generator=generator, device=device)  # [S, H, A]
        if noise_fn is not None:
            noise = noise_fn(noise)
        samples = (mean + std * noise).clamp(lo, hi)
        samples[0] = mean.clamp(lo, hi)
        if n_prior:
            samples[1 : 1 + n_prior] = (prior + std * noise[1 : 1 + n_prior]).clamp(lo, hi)
            samples[1] = prior.clamp(lo, hi)
        costs = check_costs(cost_fn(samples), cfg.samples)  # [S]
        elite_costs, idx = torch.topk(costs, cfg.elites, largest=False)
        elites = samples[idx]  # [K, H, A]
        records.append(IterationRecord(mean.clone(), std.clone(), elites, elite_costs, costs, samples if cfg.keep_samples else None))
        if elite_costs[0] < best_cost:
            best, best_cost = elites[0].clone(), float(elite_costs[0])
        update = refit(mean, std, elites, elite_costs)
        if update is not None:
            mean, std = update
            std = torch.maximum(std, min_std)
    return PlanResult(best, best_cost, std, records)
