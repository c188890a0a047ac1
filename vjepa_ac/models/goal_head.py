"""The goal-distance head: a small network on frozen patch tokens that reads the scene's state off a frame (the hand's
pose and closure, the object's position: whatever the key mapping's `readout` names), so that the planning energy
measures progress in those coordinates instead of in raw token space.

The energy of an imagined outcome is the weighted mean absolute difference between what the head reads off its
predicted tokens and what it reads off the goal image's tokens: an image-goal energy (nothing but tokens at planning
time) that approximates the unshaped true-state distance, the ladder's ceiling. The head is trained on trajectory
logs (`vjepa-ac train-head`) with the logged state as labels, and is tied to the encoder whose tokens it reads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vjepa_ac.models.weights import load_model, read_folder, save_folder


@dataclass
class ReaderConfig:
    """The sizes of a small network that reads a frame's tokens: each token reduced to `channels`, keeping where it
    is, then `hidden`-wide layers (the readout head, the temporal-distance head)."""

    embed_dim: int = 192  # encoder width D
    grid: int = 8  # patches per side: N = grid * grid
    channels: int = 32
    hidden: int = 512


@dataclass
class HeadConfig(ReaderConfig):
    """Sizes of the head and what its outputs mean."""

    names: list[str] = field(default_factory=list)  # the readout coordinates, [K]
    weights: list[float] = field(default_factory=list)  # each coordinate's weight in the energy, [K]
    mean: list[float] = field(default_factory=list)  # the training labels' mean and spread: outputs are standardised
    std: list[float] = field(default_factory=list)
    pose_coords: int = 0  # the first this-many coordinates are the robot's pose as its state holds it (state dims 0..)

    @property
    def outputs(self) -> int:
        return len(self.names)


class GoalHead(nn.Module):
    """Tokens z [..., N, D] (layer-normed, as planning uses them) -> readout [..., K] in the labels' units."""

    def __init__(self, cfg: HeadConfig):
        super().__init__()
        if not (cfg.outputs and len(cfg.weights) == len(cfg.mean) == len(cfg.std) == cfg.outputs):
            raise ValueError(f"a goal head needs names, weights, mean and std of one length; got {len(cfg.names)}, "
                             f"{len(cfg.weights)}, {len(cfg.mean)}, {len(cfg.std)}")
        self.cfg = cfg
        n = cfg.grid * cfg.grid
        self.reduce = nn.Linear(cfg.embed_dim, cfg.channels)
        self.mlp = nn.Sequential(nn.LayerNorm(n * cfg.channels), nn.Linear(n * cfg.channels, cfg.hidden), nn.GELU(),
                                 nn.Linear(cfg.hidden, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, cfg.outputs))
        self.register_buffer("mean", torch.tensor(cfg.mean, dtype=torch.float32), persistent=False)
        self.register_buffer("std", torch.tensor(cfg.std, dtype=torch.float32), persistent=False)
        self.register_buffer("weights", torch.tensor(cfg.weights, dtype=torch.float32), persistent=False)

    def standardised(self, z: torch.Tensor) -> torch.Tensor:
        """The raw output [..., K] (labels minus their mean, over their spread), as trained."""
        return self.mlp(F.gelu(self.reduce(z)).flatten(-2))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.standardised(z) * self.std + self.mean

    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Weighted mean absolute difference of readouts a [..., K] and b [..., K] -> [...]."""
        return ((a - b).abs() * self.weights).sum(-1) / float((self.weights > 0).sum())

    def energy(self, z: torch.Tensor, z_goal: torch.Tensor) -> torch.Tensor:
        """Energy [...] of tokens z [..., N, D] to the goal's tokens z_goal [N, D]."""
        return self.distance(self(z), self(z_goal[None])[0])


def save_head(model: GoalHead, path: str | Path, meta: dict | None = None, dtype: torch.dtype = torch.float32) -> Path:
    """`config.json` (sizes, names, weights, label statistics, the encoder's identity) + `model.safetensors`."""
    return save_folder(path, "head", asdict(model.cfg), model.state_dict(), meta, dtype)


def load_head(source: str | Path = "default", encoder=None) -> GoalHead:
    """A goal head: a shipped default's ("default" or "default-panda": the Panda's; "default-jaco") or a folder written
    by `vjepa-ac train-head`. With `encoder` given, refuses a head trained on another encoder's tokens."""
    meta, state, path = read_folder(source, "head", "head", "train-head", encoder)
    return load_model(GoalHead(HeadConfig(**meta["head"])), state, path, meta)
