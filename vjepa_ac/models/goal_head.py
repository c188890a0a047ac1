"""The goal-distance head: a small network on frozen patch tokens that reads the scene's state off a frame (the hand's
pose and closure, the object's position: whatever the key mapping's `readout` names), so that the planning energy
measures progress in those coordinates instead of in raw token space.

The energy of an imagined outcome is the weighted mean absolute difference between what the head reads off its
predicted tokens and what it reads off the goal image's tokens: an image-goal energy (nothing but tokens at planning
time) that approximates the unshaped true-state distance, the ladder's ceiling. The head is trained on trajectory
logs (`vjepa-ac train-head`) with the logged state as labels, and is tied to the encoder whose tokens it reads.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from vjepa_ac.models.weights import load_state_checked
from vjepa_ac.io import atomic_path, write_json


@dataclass
class HeadConfig:
    """Sizes of the head and what its outputs mean."""

    embed_dim: int = 192  # encoder width D
    grid: int = 8  # patches per side: N = grid * grid
    channels: int = 32  # each token reduced to this many channels, keeping where it is
    hidden: int = 512
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
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    with atomic_path(path / "model.safetensors") as tmp:
        save_file({k: v.detach().to(dtype).contiguous().cpu() for k, v in model.state_dict().items()}, str(tmp))
    write_json(path / "config.json", {"head": asdict(model.cfg), **(meta or {})})
    return path


def load_head(source: str | Path = "default", encoder=None) -> GoalHead:
    """A goal head: a shipped default's ("default" or "default-panda": the Panda's; "default-jaco"; both on the default
    encoder's tokens) or a folder
    written by `vjepa-ac train-head`.

    With `encoder` given, refuses a head trained on another encoder's tokens (what it reads off them would be noise)."""
    from vjepa_ac.models.weights import is_default, weights_dir

    path = weights_dir(str(source), "head") if is_default(source) else Path(source)
    cfg_path = path / "config.json"
    if not cfg_path.exists():
        raise FileNotFoundError(f"{cfg_path} is missing: not a goal-head folder (train one with `vjepa-ac train-head`)")
    meta = json.loads(cfg_path.read_text())
    if "head" not in meta:
        raise ValueError(f"{cfg_path} has no 'head' entry: not a goal-head folder")
    if encoder is not None and meta.get("encoder") not in (None, encoder.identity()):
        raise ValueError(f"goal head {path} was trained on tokens of encoder {meta.get('encoder')}, not of "
                         f"{encoder.identity()} ({encoder.name}); train one for it with `vjepa-ac train-head`")
    model = GoalHead(HeadConfig(**meta["head"]))
    load_state_checked(model, load_file(str(path / "model.safetensors")), str(path / "model.safetensors"))
    model.meta = meta
    return model.eval().requires_grad_(False)
