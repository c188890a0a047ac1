"""The temporal-distance head: how many control steps lie between a frame and a goal frame, read off the frozen
encoder's tokens of both, learned from nothing but the order of frames in trajectory logs.

Any robot's log holds what trains it (frames, and which came after which): no state, no object label. It is trained on
pairs of frames of one episode, the goal `d` steps after the frame, over the whole range of separations
(`vjepa-ac train-distance`), and predicts a distribution over `d` in bins. What it learns is how far the goal is for
the behaviour in the logs: from "the open hand around the cube" to "the cube lifted in the closed hand" is a few steps
of play; from "the closed empty hand above the cube" it is many (open, come down, close, lift). Read off an imagined
outcome's tokens and the goal image's, it is a planning energy that carries the object and the gripper without any
label of either (TRM, arXiv 2605.22164; HILP and goal-conditioned values in the same family).

Both frames are read the way the goal head reads one (each token reduced to a few channels, keeping where it is),
and their per-token difference beside them, so the head can weigh where current and goal differ.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vjepa_ac.models.goal_head import ReaderConfig
from vjepa_ac.models.weights import load_model, read_folder, save_folder

# bin edges in control steps: bin k holds separations in [EDGES[k], EDGES[k+1]) (the last one is open)
EDGES = (0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 19, 24, 30, 38, 48, 60, 80)
STATISTICS = ("mean", "quantile")


@dataclass
class DistanceConfig(ReaderConfig):
    """Sizes of the head, its bins, and what it was calibrated to."""

    channels: int = 16
    edges: list[int] = field(default_factory=lambda: list(EDGES))
    # a goal counts as reached when the expected distance of the frame to it is below this many steps (calibrated on
    # held-out pairs of the logs by `vjepa-ac train-distance`: the separations of 0-1 steps mostly fall below it)
    reached: float = 2.0

    @property
    def bins(self) -> int:
        return len(self.edges)


class DistanceHead(nn.Module):
    """(frame tokens z [..., N, D], goal tokens g [..., N, D]) -> logits over distance bins [..., K].

    Tokens are layer-normed, as planning uses them; the goal's reduced tokens can be computed once (`goal_features`)
    and scored against many frames (`logits_to`)."""

    def __init__(self, cfg: DistanceConfig):
        super().__init__()
        self.cfg = cfg
        n = cfg.grid * cfg.grid
        self.reduce = nn.Linear(cfg.embed_dim, cfg.channels)
        self.mlp = nn.Sequential(nn.LayerNorm(3 * n * cfg.channels), nn.Linear(3 * n * cfg.channels, cfg.hidden), nn.GELU(),
                                 nn.Linear(cfg.hidden, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, cfg.bins))
        edges = torch.tensor(cfg.edges, dtype=torch.float32)
        upper = torch.cat([edges[1:], (2 * edges[-1] - edges[-2])[None]])  # the open last bin as one more of its width
        self.register_buffer("lower", edges, persistent=False)
        self.register_buffer("upper", upper, persistent=False)
        self.register_buffer("centres", (edges + upper - 1) / 2, persistent=False)  # bin [a, b) holds the steps a..b-1

    def goal_features(self, g: torch.Tensor) -> torch.Tensor:
        """Reduced goal tokens [..., N, C]."""
        return F.gelu(self.reduce(g))

    def logits_to(self, z: torch.Tensor, g_features: torch.Tensor) -> torch.Tensor:
        """Logits [..., K] of frames z [..., N, D] to a goal given by its reduced tokens [..., N, C] (broadcast)."""
        a = F.gelu(self.reduce(z))
        b = g_features.expand_as(a)
        return self.mlp(torch.cat([a, b, (a - b).abs()], -1).flatten(-2))

    def forward(self, z: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return self.logits_to(z, self.goal_features(g))

    def steps(self, logits: torch.Tensor, statistic: str = "mean", quantile: float = 0.25) -> torch.Tensor:
        """Distance in control steps [...] from logits [..., K]: the expected one, or a quantile of the predicted
        distribution (a low one reads "how soon the logs got there at best")."""
        p = logits.float().softmax(-1)
        if statistic == "mean":
            return (p * self.centres).sum(-1)
        if statistic == "quantile":
            cdf = p.cumsum(-1)
            k = (cdf < quantile).sum(-1, keepdim=True).clamp(max=p.shape[-1] - 1)  # the bin where the cdf reaches it
            pk = p.gather(-1, k)
            frac = ((quantile - (cdf.gather(-1, k) - pk)) / pk.clamp_min(1e-6)).clamp(0, 1)[..., 0]
            k = k[..., 0]
            return self.lower[k] + frac * (self.upper[k] - self.lower[k])
        raise ValueError(f"energy.distance_statistic must be one of {STATISTICS}, got {statistic!r}")


def bin_of(d: torch.Tensor, edges: list[int]) -> torch.Tensor:
    """The bin index [...] of separations d [...] (steps, >= 0)."""
    return (torch.bucketize(d.float(), torch.tensor(edges[1:], dtype=torch.float32, device=d.device), right=True)).long()


def save_distance(model: DistanceHead, path: str | Path, meta: dict | None = None, dtype: torch.dtype = torch.float32) -> Path:
    """`config.json` (sizes, bins, the calibrated threshold, the encoder's identity) + `model.safetensors`."""
    return save_folder(path, "distance", asdict(model.cfg), model.state_dict(), meta, dtype)


def load_distance(source: str | Path = "default", encoder=None) -> DistanceHead:
    """A temporal-distance head: a shipped default's ("default", "default-panda", "default-jaco") or a folder written by
    `vjepa-ac train-distance`. With `encoder` given, refuses a head trained on another encoder's tokens."""
    meta, state, path = read_folder(source, "distance", "distance", "train-distance", encoder)
    return load_model(DistanceHead(DistanceConfig(**meta["distance"])), state, path, meta)
