"""The planning energy: how far an imagined future is from the goal, in the encoder's embedding space."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class EnergyConfig:
    """Distance between predicted and goal embeddings (mean L1, as V-JEPA 2-AC), and which steps it scores."""

    metric: str = "l1"  # l1 (mean absolute difference) or l2 (root mean square difference)
    per_step: bool = False  # average over every step of the rollout instead of scoring the last one only
    state_weight: float = 0.0  # weight of |xyz_H - xyz_goal| (metres) when the goal state is known: not image-only


def _distance(diff: torch.Tensor, metric: str) -> torch.Tensor:
    """Mean over the last two dims (tokens, channels) of diff [..., N, D]."""
    if metric == "l1":
        return diff.abs().mean((-2, -1))
    if metric == "l2":
        return diff.pow(2).mean((-2, -1)).sqrt()
    raise ValueError(f"energy metric must be 'l1' or 'l2', got {metric!r}")


def latent_energy(z_pred: torch.Tensor, z_goal: torch.Tensor, cfg: EnergyConfig) -> torch.Tensor:
    """Energy [S] of predicted embeddings z_pred [S, H, N, D] against one goal embedding z_goal [N, D]."""
    if z_pred.ndim != 4 or z_goal.shape != z_pred.shape[2:]:
        raise ValueError(f"z_pred must be [S, H, N, D] and z_goal [N, D]; got {tuple(z_pred.shape)}, {tuple(z_goal.shape)}")
    scored = z_pred if cfg.per_step else z_pred[:, -1:]  # [S, H' , N, D]
    return _distance(scored - z_goal[None, None], cfg.metric).mean(1)


def frame_energy(z: torch.Tensor, z_goal: torch.Tensor, cfg: EnergyConfig) -> float:
    """Energy of one observed embedding z [N, D] against the goal z_goal [N, D] (no prediction involved)."""
    return float(_distance(z - z_goal, cfg.metric))
