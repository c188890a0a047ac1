"""The learned world model the agent plans with (a frozen encoder and an action-conditioned predictor), the protocol
every world model follows, and the "nothing moves" predictor that shows what a learned one contributes. The
simulator-truth rungs are in `truth.py`.

Every world model answers the same questions, so the agent and the planners never know which one they hold:
`observe(obs)` (the current situation), `goal(image, state)` (where to go), `cost(ctx, goal, actions[S, H, A]) -> [S]`,
`distance(ctx, goal)` (the current frame's energy) and `reached(ctx, goal)` (whether a sub-goal is reached).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from vjepa_ac.models.encoder import FrozenEncoder
from vjepa_ac.models.predictor import ACPredictor
from vjepa_ac.planning.energy import Energy, EnergyConfig, GoalCode


@runtime_checkable
class WorldModel(Protocol):
    """What the agent needs of a world model. `encoder` is None and `energy` None for the ones without tokens."""

    encoder: FrozenEncoder | None
    energy: Energy | None

    def observe(self, obs: dict): ...

    def goal(self, image: np.ndarray | None, state: dict | None = None): ...

    def goal_from_tokens(self, z: torch.Tensor): ...

    def cost(self, ctx, goal, actions: torch.Tensor) -> torch.Tensor: ...

    def distance(self, ctx, goal) -> float: ...

    def reached(self, ctx, goal) -> bool | None: ...


@dataclass
class LatentContext:
    z: torch.Tensor  # [N, D] layer-normed embedding of the current frame
    state: torch.Tensor  # [S_dim] end-effector state
    read: torch.Tensor | None = None  # [K] what the readout head reads off the frame, when planning with one

    @property
    def ee_state(self) -> torch.Tensor:
        """The robot's own state (every context has one)."""
        return self.state


@dataclass
class LatentGoal(GoalCode):
    state: torch.Tensor | None = None  # [S_dim] the goal's end-effector state, when known (energy.state_weight)


class NothingMoves(nn.Module):
    """A predictor that imagines nothing: every imagined frame is the current one, while the state is integrated
    along the actions by the wrapped predictor's own rule. Planning with it, beside the learned predictor and with
    the same energy, shows what the learned imagination contributes (`world_model=nothing-moves`)."""

    def __init__(self, predictor: ACPredictor):
        super().__init__()
        self.inner = predictor
        self.cfg = predictor.cfg

    def rollout(self, z0: torch.Tensor, s0: torch.Tensor, actions: torch.Tensor, use_cache: bool = True) -> torch.Tensor:
        """z0 [B, N, D] repeated over the H steps of actions [B, H, A] -> [B, H, N, D]."""
        return z0[:, None].expand(-1, actions.shape[1], -1, -1)

    def next_state(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.inner.next_state(state, action)


class LatentWorldModel:
    """Plans in the embedding space of a frozen V-JEPA encoder with an action-conditioned predictor."""

    def __init__(self, encoder: FrozenEncoder, predictor: ACPredictor | NothingMoves, energy: Energy | EnergyConfig | None = None,
                 device: str | torch.device = "cpu", bf16: bool = False, head=None, distance=None):
        """energy: an Energy, or an EnergyConfig with the `head` and `distance` modules it uses."""
        if (encoder.num_patches, encoder.dim) != (predictor.cfg.tokens, predictor.cfg.embed_dim):
            raise ValueError(f"encoder gives {encoder.num_patches} tokens of width {encoder.dim}, predictor expects "
                             f"{predictor.cfg.tokens} of width {predictor.cfg.embed_dim}")
        self.device = torch.device(device)
        self.encoder = encoder.to(self.device).eval()
        self.predictor = predictor.to(self.device).eval()
        if not isinstance(energy, Energy):
            energy = Energy(energy or EnergyConfig(), head, distance, self.device)
        self.energy = energy
        self.bf16 = bf16 and self.device.type == "cuda"  # bf16 matmuls are slow on CPUs without AMX/AVX-512

    @property
    def head(self):
        return self.energy.head

    def embed(self, images: np.ndarray) -> torch.Tensor:
        """Frames uint8 [B, H, W, 3] -> layer-normed embeddings [B, N, D]."""
        return self.encoder.embed_images(images)

    def observe(self, obs: dict) -> LatentContext:
        state = torch.as_tensor(np.asarray(obs["ee_state"], dtype=np.float32), device=self.device)
        z = self.embed(np.asarray(obs["image"])[None])[0]
        return LatentContext(z, state, self.energy.read(z))

    def goal(self, image: np.ndarray | None, state: dict | None = None) -> LatentGoal:
        """The goal embedding [N, D] of a goal image uint8 [H, W, 3], with its end-effector state if given."""
        if image is None:
            raise ValueError("the learned world model needs a goal image (reset info 'goal_image')")
        goal_state = None
        if self.energy.cfg.state_weight > 0:
            if state is None or "ee_state" not in state:
                raise ValueError("energy.state_weight > 0 needs the goal's end-effector state (reset info 'goal_state')")
            goal_state = torch.as_tensor(np.asarray(state["ee_state"], dtype=np.float32), device=self.device)
        return self.goal_from_tokens(self.embed(np.asarray(image)[None])[0], goal_state)

    def goal_from_tokens(self, z: torch.Tensor, state: torch.Tensor | None = None) -> LatentGoal:
        """A goal given by tokens [N, D] (a goal image's, or a proposed latent sub-goal)."""
        code = self.energy.goal(z)
        return LatentGoal(code.z, code.read, code.features, state)

    @torch.no_grad()
    def imagine(self, ctx: LatentContext, actions: torch.Tensor) -> torch.Tensor:
        """Predicted embeddings [S, H, N, D] of action sequences [S, H, A]."""
        s = actions.shape[0]
        z0 = ctx.z[None].expand(s, -1, -1)  # [S, N, D]
        s0 = ctx.state[None].expand(s, -1)  # [S, S_dim]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.bf16):
            z = self.predictor.rollout(z0, s0, actions.to(self.device))
        return z.float()

    def states(self, ctx: LatentContext, actions: torch.Tensor) -> torch.Tensor:
        """The predicted end-effector states [S, H, S_dim] after each action of actions [S, H, A] (as the rollout
        integrates them)."""
        s = ctx.state[None].expand(actions.shape[0], -1)  # [S, S_dim]
        out = []
        for h in range(actions.shape[1]):
            s = self.predictor.next_state(s, actions[:, h].to(s))
            out.append(s)
        return torch.stack(out, 1)

    def cost(self, ctx: LatentContext, goal: LatentGoal, actions: torch.Tensor) -> torch.Tensor:
        """Energy [S] of action sequences [S, H, A]: the energy of the imagined outcome, plus the optional
        end-effector term."""
        z = self.imagine(ctx, actions)  # [S, H, N, D]
        privileged = goal.state is not None and self.energy.cfg.state_weight > 0
        s = self.states(ctx, actions) if self.energy.needs_states or privileged else None  # [S, H, S_dim]
        e = self.energy.score(z, goal, (ctx.read, ctx.state), s)
        if privileged:
            e = e + self.energy.cfg.state_weight * (s[:, -1, :3] - goal.state[:3]).abs().sum(1)
        return e

    def distance(self, ctx: LatentContext, goal: LatentGoal) -> float:
        """Energy of the current frame itself against the goal."""
        return self.energy.frame(ctx.z, goal, ctx.read)

    def reached(self, ctx: LatentContext, goal: LatentGoal) -> bool | None:
        """Whether the current frame is at the goal, as the energy's distance head reads it (None without one)."""
        return self.energy.reached(ctx.z, goal)
