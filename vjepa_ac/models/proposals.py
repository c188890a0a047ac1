"""Proposals learned from play logs in the frozen encoder's token space, hindsight-relabelled: what to do next and
where to go next, given where we are and a goal image.

- `ProposalPolicy`: (current tokens, end-effector state, goal tokens) -> the next `horizon` actions. Used alone
  (`planner=policy`), as a prior for a share of the planner's samples (`agent.cem.prior_share`, TD-MPC2's way), or as the
  warm start of the planner's first iteration (`agent.proposal_init`).
- `SubgoalModel`: (current tokens, goal tokens) -> the tokens of the frame `ahead` steps further on the way to the
  goal (the goal itself when it is nearer). The agent plans to that latent sub-goal and proposes a new one every few
  steps (`agent.latent_subgoals`), so that one goal image is enough where hand-made sub-goal images were needed.

Both read tokens the way the goal-distance head does (each token reduced to a few channels, keeping where it is) and
are tied to the encoder whose tokens they read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vjepa_ac.models.weights import is_default, load_model, read_folder, save_folder

KINDS = ("policy", "subgoal")
PAIRS = ("both", "centered", "change")  # how the current and goal tokens are read (ProposalConfig.pair)


@dataclass
class ProposalConfig:
    """Sizes of a proposal model and what it proposes."""

    kind: str = "policy"  # policy (actions) or subgoal (tokens of a frame further on)
    embed_dim: int = 192
    grid: int = 8
    channels: int = 16  # each token reduced to this many channels
    hidden: int = 512
    dropout: float = 0.0  # training only: the share of the reduced tokens' features dropped before the trunk
    state_dim: int = 7
    action_dim: int = 7
    horizon: int = 1  # policy: actions proposed
    ahead: int = 4  # subgoal: how many steps further on the proposed frame lies
    action_scale: list[float] = field(default_factory=list)  # policy: actions are proposed in units of these [A]
    object_guess: bool = False  # policy: also guesses where the object lies now and in the goal (a training aid)
    # how the two frames' tokens are read: both as they are; both less their frame's mean token (a change of look
    # that shifts every token alike cancels); or only what changes from the current frame to the goal (the scene's
    # unchanged parts, and their look, cancel; where the hand is comes from the state)
    pair: str = "both"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"proposal kind must be one of {KINDS}, got {self.kind!r}")
        if self.pair not in PAIRS:
            raise ValueError(f"proposal pair must be one of {PAIRS}, got {self.pair!r}")

    @property
    def tokens(self) -> int:
        return self.grid * self.grid


class _PairNet(nn.Module):
    """Features of (current tokens [..., N, D], goal tokens [..., N, D], extra [..., E]) -> [..., hidden]."""

    def __init__(self, cfg: ProposalConfig, extra: int):
        super().__init__()
        self.cfg = cfg
        self.reduce = nn.Linear(cfg.embed_dim, cfg.channels)
        width = (1 if cfg.pair == "change" else 2) * cfg.tokens * cfg.channels + extra
        self.trunk = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, cfg.hidden), nn.GELU())

    def features(self, z: torch.Tensor, z_goal: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        if self.cfg.pair == "centered":
            frames = (z - z.mean(-2, keepdim=True), z_goal - z_goal.mean(-2, keepdim=True))
        elif self.cfg.pair == "change":
            frames = (z_goal - z,)
        else:
            frames = (z, z_goal)
        parts = [F.dropout(F.gelu(self.reduce(x)), self.cfg.dropout, self.training).flatten(-2) for x in frames]
        if extra is not None:
            parts.append(extra)
        return self.trunk(torch.cat(parts, -1))


class ProposalPolicy(_PairNet):
    """(z [B, N, D], state [B, S], z_goal [B, N, D]) -> actions [B, H, A], within +-action_scale."""

    def __init__(self, cfg: ProposalConfig):
        super().__init__(cfg, cfg.state_dim)
        if len(cfg.action_scale) != cfg.action_dim:
            raise ValueError(f"a proposal policy needs action_scale of {cfg.action_dim} entries, got {len(cfg.action_scale)}")
        self.out = nn.Linear(cfg.hidden, cfg.horizon * cfg.action_dim)
        self.guess = nn.Linear(cfg.hidden, 6) if cfg.object_guess else None
        self.register_buffer("scale", torch.tensor(cfg.action_scale, dtype=torch.float32), persistent=False)

    def forward(self, z: torch.Tensor, state: torch.Tensor, z_goal: torch.Tensor) -> torch.Tensor:
        return self.act_and_guess(z, state, z_goal)[0]

    def act_and_guess(self, z: torch.Tensor, state: torch.Tensor, z_goal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Actions [B, H, A] and, with `object_guess`, where the object lies now and in the goal [B, 6] (else None)."""
        h = self.features(z, z_goal, state)
        a = torch.tanh(self.out(h))
        a = a.reshape(*a.shape[:-1], self.cfg.horizon, self.cfg.action_dim) * self.scale
        return a, (self.guess(h) if self.guess is not None else None)


class SubgoalModel(_PairNet):
    """(z [B, N, D], z_goal [B, N, D]) -> the tokens [B, N, D] of a frame `ahead` steps further on: the current
    tokens plus a predicted change, layer-normed as the encoder's are."""

    def __init__(self, cfg: ProposalConfig):
        super().__init__(cfg, 0)
        self.out = nn.Linear(cfg.hidden, cfg.tokens * cfg.channels)
        self.expand = nn.Linear(cfg.channels, cfg.embed_dim)
        nn.init.zeros_(self.expand.weight)  # starts as "the current frame", as the residual predictor does
        nn.init.zeros_(self.expand.bias)

    def forward(self, z: torch.Tensor, z_goal: torch.Tensor) -> torch.Tensor:
        code = self.out(self.features(z, z_goal)).reshape(*z.shape[:-1], self.cfg.channels)  # [B, N, c]
        return F.layer_norm(z + self.expand(code), (z.shape[-1],))


def build(cfg: ProposalConfig) -> nn.Module:
    return ProposalPolicy(cfg) if cfg.kind == "policy" else SubgoalModel(cfg)


def save_proposal(model: nn.Module, path: str | Path, meta: dict | None = None, dtype: torch.dtype = torch.float32) -> Path:
    """`config.json` (sizes, kind, the encoder's identity) + `model.safetensors`."""
    return save_folder(path, "proposal", asdict(model.cfg), model.state_dict(), meta, dtype)


def load_proposal(source: str | Path, encoder=None, kind: str | None = None, robot: str | None = None) -> nn.Module:
    """A proposal model: "default" (the shipped one of `robot`'s default, else the Panda's; `kind` says which) or a
    `train-proposal` folder. With `encoder`, refuses one trained on another encoder's tokens; with `kind`, one of
    another kind."""
    if is_default(source) and kind is None:
        raise ValueError("load_proposal('default') needs kind='policy' or 'subgoal'")
    meta, state, path = read_folder(source, kind or "proposal", "proposal", "train-proposal", encoder, robot)
    cfg = ProposalConfig(**meta["proposal"])
    if kind is not None and cfg.kind != kind:
        raise ValueError(f"{path} holds a {cfg.kind} proposal model, not a {kind} one")
    return load_model(build(cfg), state, path, meta)
