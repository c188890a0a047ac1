"""The learned world model the agent plans with: a frozen encoder and an action-conditioned predictor (the
simulator-truth rungs are in `truth.py`).

Every world model answers the same three questions, so the agent and the planners never know which one they hold:
`observe(obs)` (the current situation), `goal(image, state)` (where to go), `cost(ctx, goal, actions[S, H, A]) -> [S]`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vjepa_ac.models.encoder import FrozenEncoder
from vjepa_ac.planning.energy import EnergyConfig, frame_energy, head_energy, latent_energy
from vjepa_ac.models.predictor import ACPredictor


@dataclass
class LatentContext:
    z: torch.Tensor  # [N, D] layer-normed embedding of the current frame
    state: torch.Tensor  # [S_dim] end-effector state
    read: torch.Tensor | None = None  # [K] what the goal-distance head reads off the frame, when planning with one


@dataclass
class LatentGoal:
    z: torch.Tensor  # [N, D] layer-normed embedding of the goal image
    state: torch.Tensor | None = None  # [S_dim] the goal's end-effector state, when known (energy.state_weight)
    read: torch.Tensor | None = None  # [K] what the goal-distance head reads off the goal image


class LatentWorldModel:
    """Plans in the embedding space of a frozen V-JEPA encoder with an action-conditioned predictor."""

    def __init__(self, encoder: FrozenEncoder, predictor: ACPredictor, energy: EnergyConfig | None = None,
                 device: str | torch.device = "cpu", bf16: bool = False, head=None):
        if (encoder.num_patches, encoder.dim) != (predictor.cfg.tokens, predictor.cfg.embed_dim):
            raise ValueError(f"encoder gives {encoder.num_patches} tokens of width {encoder.dim}, predictor expects "
                             f"{predictor.cfg.tokens} of width {predictor.cfg.embed_dim}")
        self.device = torch.device(device)
        self.encoder = encoder.to(self.device).eval()
        self.predictor = predictor.to(self.device).eval()
        self.energy = energy or EnergyConfig()
        self.head = head.to(self.device).eval() if head is not None else None
        self.bf16 = bf16 and self.device.type == "cuda"  # bf16 matmuls are slow on CPUs without AMX/AVX-512

    def embed(self, images: np.ndarray) -> torch.Tensor:
        """Frames uint8 [B, H, W, 3] -> layer-normed embeddings [B, N, D]."""
        return self.encoder.embed_images(images)

    def _read(self, z: torch.Tensor) -> torch.Tensor | None:
        return self.head(z[None])[0] if self.head is not None else None

    def observe(self, obs: dict) -> LatentContext:
        state = torch.as_tensor(np.asarray(obs["ee_state"], dtype=np.float32), device=self.device)
        z = self.embed(np.asarray(obs["image"])[None])[0]
        return LatentContext(z, state, self._read(z))

    def goal(self, image: np.ndarray | None, state: dict | None = None) -> LatentGoal:
        """The goal embedding [N, D] of a goal image uint8 [H, W, 3], with its end-effector state if given."""
        if image is None:
            raise ValueError("the learned world model needs a goal image (reset info 'goal_image')")
        goal_state = None
        if self.energy.state_weight > 0:
            if state is None or "ee_state" not in state:
                raise ValueError("energy.state_weight > 0 needs the goal's end-effector state (reset info 'goal_state')")
            goal_state = torch.as_tensor(np.asarray(state["ee_state"], dtype=np.float32), device=self.device)
        z = self.embed(np.asarray(image)[None])[0]
        return LatentGoal(z, goal_state, self._read(z))

    def goal_from_tokens(self, z: torch.Tensor) -> LatentGoal:
        """A goal given by tokens [N, D] (a proposed latent sub-goal) instead of an image."""
        return LatentGoal(z, None, self._read(z))

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
        """Energy [S] of action sequences [S, H, A]: the token distance or the goal head's, plus the optional
        end-effector term."""
        z = self.imagine(ctx, actions)  # [S, H, N, D]
        need_states = (self.head is not None and self.energy.anchor) or (goal.state is not None and self.energy.state_weight > 0)
        s = self.states(ctx, actions) if need_states else None  # [S, H, S_dim]
        if self.head is None:
            e = latent_energy(z, goal.z, self.energy)
        else:
            steps = slice(None) if self.energy.per_step else slice(-1, None)
            anchor = (ctx.read, ctx.state, s[:, steps]) if self.energy.anchor else None
            e = head_energy(self.head, z[:, steps], goal.read, anchor, self.energy.anchor)
        if goal.state is not None and self.energy.state_weight > 0:
            e = e + self.energy.state_weight * (s[:, -1, :3] - goal.state[:3]).abs().sum(1)
        return e

    def distance(self, ctx: LatentContext, goal: LatentGoal) -> float:
        """Energy of the current frame itself against the goal."""
        if self.head is not None:
            return float(self.head.distance(ctx.read, goal.read))
        return frame_energy(ctx.z, goal.z, self.energy)
