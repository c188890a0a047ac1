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
    # The goal-distance head (`vjepa-ac train-head`): "auto" (the shipped head with the default encoder, none with any
    # other), "default", a head folder, or null for the token distance above. With a head the energy is the weighted
    # L1 between what it reads off the goal image and off the imagined outcome (hand pose and closure, object
    # position): still image-goal, from tokens.
    head: str | None = "auto"
    # With a head: read the outcome as the current frame's readout plus the predicted change, the robot's pose
    # coordinates changing as its predicted state does (the state the predictor integrates along the actions) and the
    # others as the head reads the imagined tokens. What the head gets wrong on both real frames alike cancels.
    # "state": the pose coordinates are the predicted state itself (for a head that reads the current frames less
    # well than the goal image); false: everything as the head reads the imagined tokens.
    anchor: bool | str = True


METRICS = ("l1", "l2")


def head_source(head: str | None, encoder: str, default: str = "default-panda") -> str | None:
    """The head an energy setting names for an encoder: "auto" is the head of the shipped default world model `default`
    (the Panda's, or another robot's) with the shipped encoder, else none."""
    if head == "auto":
        return default if encoder == "default" else None
    return head


def _distance(diff: torch.Tensor, metric: str) -> torch.Tensor:
    """Mean over the last two dims (tokens, channels) of diff [..., N, D]."""
    if metric == "l1":
        return diff.abs().mean((-2, -1))
    if metric == "l2":
        return diff.pow(2).mean((-2, -1)).sqrt()
    raise ValueError(f"energy.metric must be one of {METRICS}, got {metric!r}")


def latent_energy(z_pred: torch.Tensor, z_goal: torch.Tensor, cfg: EnergyConfig) -> torch.Tensor:
    """Energy [S] of predicted embeddings z_pred [S, H, N, D] against one goal embedding z_goal [N, D]."""
    if z_pred.ndim != 4 or z_goal.shape != z_pred.shape[2:]:
        raise ValueError(f"z_pred must be [S, H, N, D] and z_goal [N, D]; got {tuple(z_pred.shape)}, {tuple(z_goal.shape)}")
    scored = z_pred if cfg.per_step else z_pred[:, -1:]  # [S, H' , N, D]
    return _distance(scored - z_goal[None, None], cfg.metric).mean(1)


def frame_energy(z: torch.Tensor, z_goal: torch.Tensor, cfg: EnergyConfig) -> float:
    """Energy of one observed embedding z [N, D] against the goal z_goal [N, D] (no prediction involved)."""
    return float(_distance(z - z_goal, cfg.metric))


ANCHORS = (True, False, "state")


def anchor_mode(value) -> bool | str:
    """`energy.anchor` as one of ANCHORS (the strings true/false from a command line read as booleans)."""
    v = {"true": True, "false": False}.get(value.lower(), value) if isinstance(value, str) else value
    if v not in ANCHORS:
        raise ValueError(f"energy.anchor must be true, false or 'state', got {value!r}")
    return v


def anchored_readout(head, r_now: torch.Tensor, r_pred: torch.Tensor, s_now: torch.Tensor, s_pred: torch.Tensor,
                     mode: bool | str = True) -> torch.Tensor:
    """The outcome's readout [..., K]: the current one r_now [K] plus the predicted change, where the head's
    `pose_coords` leading coordinates change as the state does (s_pred [..., S] - s_now [S]) and the rest as the head
    reads the imagined tokens (r_pred [..., K] - r_now). With mode "state" the pose coordinates are s_pred itself."""
    p = head.cfg.pose_coords
    out = r_pred.clone()
    if p:
        out[..., :p] = s_pred[..., :p] if mode == "state" else r_now[:p] + (s_pred[..., :p] - s_now[:p])
    return out


@torch.no_grad()
def head_energy(head, z_pred: torch.Tensor, r_goal: torch.Tensor, anchor: tuple | None = None, mode: bool | str = True) -> torch.Tensor:
    """Energy [S] of imagined tokens z_pred [S, H', N, D] (the scored steps) to the goal's readout r_goal [K], averaged
    over the steps; with `anchor` = (r_now [K], s_now [S_dim], s_pred [S, H', S_dim]) the outcome is read as the
    current readout plus the predicted change (`anchored_readout`, in `mode`)."""
    r = head(z_pred)  # [S, H', K]
    if anchor is not None:
        r = anchored_readout(head, anchor[0], r, anchor[1], anchor[2], mode)
    return head.distance(r, r_goal).mean(1)
