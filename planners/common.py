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
