"""The simulator-truth rungs of the ladder: world models that know the true state, to separate "the loop is right"
from "the model is good". `OracleWorldModel` (`oracle`) rolls a kinematic model of the true state; `SimWorldModel`
(`sim`, `sim+state`, `sim+image`, `sim+pixels`) rolls every candidate out in the simulator itself. They read what only
a simulator has (`obs['privileged']`, reset info's `goal_state`): they evaluate and bound, never plan on a real robot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vjepa_ac.models.encoder import FrozenEncoder
from vjepa_ac.planning.energy import Energy, EnergyConfig


# ----- the oracle ----------------------------------------------------------------------------------------------------
@dataclass
class OracleConfig:
    """A kinematic model of the simulator's true state, and the weights of the state-space energy."""

    workspace_low: tuple[float, float, float] = (0.22, -0.35, 0.005)
    workspace_high: tuple[float, float, float] = (0.75, 0.35, 0.45)
    grab_radius: float = 0.03  # the object is caught when the gripper closes within this distance of it
    hold_offset: float = 0.008  # the held object's centre sits this far below the tool centre point
    grasp_closure: float = 0.375  # closure at which the fingers touch the object
    gripper_speed: float = 0.6  # closure change per control step (a full stroke takes two)
    table_z: float = 0.025  # a released object falls back to this height
    rotation_weight: float = 0.2
    gripper_weight: float = 0.05
    object_weight: float = 1.0
    approach_weight: float = 1.0  # pull the gripper to the object while the object is away from its goal
    around_radius: float = 0.015  # the hand surrounds the object within this distance of where it holds it
    clearance: float = 0.05  # come down onto a loose object from above: within a cone this high ...
    clearance_slope: float = 2.0  # ... rising this many metres per metre of horizontal distance from it
    per_step: bool = False
    # the unshaped distance of `sim+state` (state_l1): weights of hand xyz, roll pitch yaw, closure, object xyz, held, pad
    state_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 0.2, 0.2, 0.2, 0.05, 1.0, 1.0, 1.0, 0.0, 0.0)


def state_vector(ee, obj, held=None, device: str | torch.device = "cpu") -> torch.Tensor:
    """The true state the oracles score, [..., 12]: tcp xyz, roll pitch yaw, closure, object xyz, held flag, pad.

    ee [..., 7], obj [..., 3] (numpy or torch); held [...] or None (then judged as the env's `cube_held` does).
    """
    ee = torch.as_tensor(np.asarray(ee, dtype=np.float32), device=device)
    obj = torch.as_tensor(np.asarray(obj, dtype=np.float32), device=device)
    if held is None:
        held = ((obj - ee[..., :3]).norm(dim=-1) < 0.035) & (ee[..., 6] > 0.2) & (ee[..., 6] < 0.92)
    held = torch.as_tensor(np.asarray(held), device=device).float()
    return torch.cat([ee, obj, held[..., None], torch.zeros_like(held)[..., None]], -1)


def state_energy(x: torch.Tensor, goal: torch.Tensor, c: OracleConfig) -> torch.Tensor:
    """True-state energy of states x [..., 12] against a goal state [12] -> [...].

    Object to its goal; hand to the goal pose once the object is there, before that to the object (to where it
    holds it), from above (outside a cone around a loose object), kept open until it surrounds it; around the object, and once the object is there, the
    gripper is drawn to the goal's closure (closed on a held cube, open after placing it).
    """
    d = (x - goal).abs()
    away = (d[..., 7:10].norm(dim=-1) > 0.02).float()
    grip_at = x[..., 7:10] + torch.tensor([0.0, 0.0, c.hold_offset], device=x.device)
    approach = (grip_at - x[..., 0:3]).abs().sum(-1) * away
    around = (grip_at - x[..., 0:3]).norm(dim=-1) < c.around_radius
    # before the hand surrounds the object: open, and the closing still to do counted (no step up on arrival)
    grip = torch.where((away > 0) & ~around, x[..., 6] + goal[..., 6], d[..., 6])
    # a hand beside a loose object stays above a cone around it (fingers landing on the object jam against it)
    horizontal = (grip_at - x[..., 0:3])[..., :2].norm(dim=-1)
    need = torch.clamp(c.clearance_slope * horizontal, max=c.clearance)
    low = torch.relu(need - (x[..., 2] - grip_at[..., 2])) * (1 - x[..., 10])
    # while the object is away the hand's target is the object, not the goal pose: both terms together would leave
    # the line from the object up to the goal flat (L1 distances along it sum to a constant)
    return (d[..., 0:3].sum(-1) * (1 - away) + c.rotation_weight * d[..., 3:6].sum(-1) + c.gripper_weight * grip
            + c.object_weight * d[..., 7:10].sum(-1) + c.approach_weight * (approach + low))


@dataclass
class OracleContext:
    state: torch.Tensor  # [12]: tcp xyz, roll pitch yaw, closure, object xyz, held flag, pad

    @property
    def ee_state(self) -> torch.Tensor:
        """The robot's own state [7] (hand pose and closure)."""
        return self.state[:7]


class OracleWorldModel:
    """Scores action sequences with the true simulator state instead of learned embeddings: an upper bound.

    It holds no tokens (`encoder` and `energy` are None).

    It separates "the loop is right" from "the model is good". It reads `obs['privileged']` (tcp and object position)
    and the goal's true state from reset info (`goal_state`), so it works with envs that provide both.
    """

    encoder = None
    energy = None

    def __init__(self, cfg: OracleConfig | None = None, device: str | torch.device = "cpu"):
        self.cfg = cfg or OracleConfig()
        self.device = torch.device(device)
        self.low = torch.tensor(self.cfg.workspace_low, device=self.device)
        self.high = torch.tensor(self.cfg.workspace_high, device=self.device)

    def _vector(self, ee: np.ndarray, obj: np.ndarray) -> torch.Tensor:
        return state_vector(ee, obj, device=self.device)

    def observe(self, obs: dict) -> OracleContext:
        if "privileged" not in obs:
            raise ValueError("the oracle world model needs the env's privileged observation ('privileged')")
        return OracleContext(self._vector(obs["ee_state"], obs["privileged"]["object_pos"]))

    def goal(self, image: np.ndarray | None, state: dict | None = None) -> torch.Tensor:
        if state is None:
            raise ValueError("the oracle world model needs the goal's true state (reset info 'goal_state')")
        return self._vector(state["ee_state"], state["object_pos"])

    def rollout(self, x0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """States [S, H, 12] after each action of actions [S, H, 7] from x0 [12]."""
        c = self.cfg
        x = x0[None].expand(actions.shape[0], -1).clone()  # [S, 12]
        out = []
        for h in range(actions.shape[1]):
            a = actions[:, h]
            tcp, obj, held = x[:, 0:3], x[:, 7:10], x[:, 10] > 0.5
            command = ((a[:, 6] + 1) / 2).clamp(0, 1)
            near = (obj - tcp).norm(dim=1) < c.grab_radius
            # the object follows only once the fingers were already shut on it when the step began
            caught = (held | (near & (x[:, 6] >= 0.8 * c.grasp_closure))) & (command > c.grasp_closure)
            closure = x[:, 6] + (command - x[:, 6]).clamp(-c.gripper_speed, c.gripper_speed)
            closure = torch.where(near & (closure > c.grasp_closure), torch.full_like(closure, c.grasp_closure), closure)
            new_tcp = torch.maximum(torch.minimum(tcp + a[:, :3], self.high), self.low)
            dropped = obj.clone()
            dropped[:, 2] = c.table_z
            new_obj = torch.where(caught[:, None], new_tcp - torch.tensor([0, 0, c.hold_offset], device=x.device),
                                  torch.where(held[:, None], dropped, obj))
            x = torch.cat([new_tcp, x[:, 3:6] + a[:, 3:6], closure[:, None], new_obj, caught.float()[:, None], x[:, 11:]], 1)
            out.append(x)
        return torch.stack(out, 1)

    def _energy(self, x: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        return state_energy(x, goal, self.cfg)

    def cost(self, ctx: OracleContext, goal: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        x = self.rollout(ctx.state, actions.to(self.device))  # [S, H, 12]
        e = self._energy(x, goal)  # [S, H]
        return e.mean(1) if self.cfg.per_step else e[:, -1]

    def distance(self, ctx: OracleContext, goal: torch.Tensor) -> float:
        return float(self._energy(ctx.state, goal))

    def goal_from_tokens(self, z: torch.Tensor):
        raise ValueError("the kinematic oracle plans to true states, not to tokens (latent sub-goals need a world model with tokens)")

    def reached(self, ctx: OracleContext, goal: torch.Tensor) -> bool | None:
        return None  # no calibrated threshold: `agent.subgoal_tolerance` (or the clock) moves it on


# ----- the simulator oracle ------------------------------------------------------------------------------------------
def state_l1(x: torch.Tensor, goal: torch.Tensor, weights=None) -> torch.Tensor:
    """Unshaped true-state distance of states x [..., 12] to a goal state [12] -> [...]: the weighted mean absolute
    difference of hand xyz (m), roll/pitch/yaw (0.2 per rad), closure (0.05) and object xyz (m) (`weights`, 12 of them:
    OracleConfig.state_weights by default). No approach term, no cone, no switch: what a perfect perception of the goal
    image would give an energy."""
    w = torch.tensor(OracleConfig.state_weights if weights is None else weights, device=x.device, dtype=x.dtype)
    if w.shape != (12,) or float(w.min()) < 0 or float(w.max()) <= 0:
        raise ValueError(f"oracle.state_weights must be 12 weights >= 0, one > 0; got {list(w.tolist())}")
    return ((x - goal).abs() * w).sum(-1) / float((w > 0).sum())


def pixel_l1(images: np.ndarray, goal_image: np.ndarray) -> torch.Tensor:
    """Mean absolute difference of frames uint8 [S, H, W, 3] to a goal frame [H, W, 3], in [0, 1] units -> [S]."""
    a = torch.from_numpy(np.ascontiguousarray(images)).float()
    g = torch.from_numpy(np.ascontiguousarray(goal_image)).float()
    return (a - g).abs().mean((1, 2, 3)) / 255.0


SIM_SCORES = ("shaped", "state", "image", "pixels")  # how SimWorldModel scores a true rollout's outcome (ladder.py)


@dataclass
class SimContext:
    state: torch.Tensor  # [12] the true state now (state_vector)
    z: torch.Tensor | None = None  # [N, D] the frame's embedding, when scored by embeddings
    image: np.ndarray | None = None  # [H, W, 3] the frame, when scored by pixels
    read: torch.Tensor | None = None  # [K] the goal head's readout of the frame
    ee_state: torch.Tensor | None = None  # [7] the end-effector state as observed


@dataclass
class SimGoal:
    state: torch.Tensor  # [12]
    z: torch.Tensor | None = None  # [N, D]
    image: np.ndarray | None = None  # [H, W, 3]
    read: torch.Tensor | None = None  # [K]
    features: torch.Tensor | None = None  # [N, C] the distance head's reduced goal tokens


class SimWorldModel:
    """`world_model=sim*` (ladder.py): every candidate is rolled out in the true simulator from its current state (same
    controller, same physics), and its outcome is scored by one of `SIM_SCORES`:

    - `shaped` (`sim`): the shaped true-state energy against the goal's true state: the upper bound of planner +
      action space;
    - `state` (`sim+state`): the unshaped true-state distance `state_l1`: what a perfect image energy could reach;
    - `image` (`sim+image`): each outcome rendered by the env's camera, encoded, and scored by the configured energy
      against the goal image's embedding: true dynamics, learned landscape;
    - `pixels` (`sim+pixels`): each outcome rendered and scored by the mean L1 of raw pixels to the goal image.

    It holds the env it plans in (any env with `simulate(actions[S, H, A], render) -> {"ee_state", "object_pos",
    "held", "diverged"[, "image"]}`, as the Panda envs have), and puts its state back after every call.
    """

    def __init__(self, env, cfg: OracleConfig | None = None, encoder: FrozenEncoder | None = None,
                 energy: Energy | EnergyConfig | None = None, device: str | torch.device = "cpu", score: str | None = None,
                 head=None, distance=None):
        if not hasattr(env, "simulate"):
            raise ValueError(f"world_model=sim needs an env with simulate(actions, render); {type(env).__name__} has none")
        score = score or ("image" if encoder is not None else "shaped")
        if score not in SIM_SCORES:
            raise ValueError(f"score must be one of {SIM_SCORES}, got {score!r}")
        if score == "image" and encoder is None:
            raise ValueError("a sim world model scored by embeddings (sim+image) needs an encoder")
        self.env, self.cfg, self.device, self.score = env, cfg or OracleConfig(), torch.device(device), score
        self.encoder = encoder.to(self.device).eval() if score == "image" else None
        if score == "image" and not isinstance(energy, Energy):
            energy = Energy(energy or EnergyConfig(), head, distance, self.device)
        self.energy = energy if score == "image" else None

    @property
    def head(self):
        return self.energy.head if self.energy is not None else None

    @property
    def renders(self) -> bool:
        return self.score in ("image", "pixels")

    def _embed(self, obs_or_image) -> torch.Tensor | None:
        return self.encoder.embed_images(np.asarray(obs_or_image)[None])[0] if self.score == "image" else None

    def observe(self, obs: dict) -> SimContext:
        if "privileged" not in obs:
            raise ValueError("the sim world model needs the env's privileged observation ('privileged')")
        state = state_vector(obs["ee_state"], obs["privileged"]["object_pos"], device=self.device)
        z = self._embed(obs["image"])
        ee = torch.as_tensor(np.asarray(obs["ee_state"], dtype=np.float32), device=self.device)
        read = self.energy.read(z) if z is not None else None
        return SimContext(state, z, np.asarray(obs["image"]) if self.score == "pixels" else None, read, ee)

    def goal(self, image: np.ndarray | None, state: dict | None = None) -> SimGoal:
        if state is None:
            raise ValueError("the sim world model needs the goal's true state (reset info 'goal_state')")
        if self.renders and image is None:
            raise ValueError(f"a sim world model scored by {self.score} needs a goal image (reset info 'goal_image')")
        true = state_vector(state["ee_state"], state["object_pos"], device=self.device)
        if self.score == "image":
            code = self.energy.goal(self._embed(image))
            return SimGoal(true, code.z, None, code.read, code.features)
        return SimGoal(true, None, np.asarray(image) if self.score == "pixels" else None)

    def goal_from_tokens(self, z: torch.Tensor) -> SimGoal:
        """A goal given by tokens [N, D] (a proposed latent sub-goal): scored by embeddings only (sim+image)."""
        if self.score != "image":
            raise ValueError(f"a goal given by tokens is scored by embeddings; this sim world model scores {self.score}")
        code = self.energy.goal(z)
        return SimGoal(torch.full((12,), float("nan"), device=self.device), code.z, None, code.read, code.features)

    def cost(self, ctx: SimContext, goal: SimGoal, actions: torch.Tensor) -> torch.Tensor:
        """Energy [S] of action sequences [S, H, A], rolled out in the simulator."""
        out = self.env.simulate(actions.detach().cpu().numpy(), render=self.renders)
        if self.score == "image":
            z = self.encoder.embed_images(out["image"])[:, None]  # [S, 1, N, D]: the view after the last action
            s_pred = torch.as_tensor(out["ee_state"][:, -1:], device=self.device)  # [S, 1, 7]: the true state after it
            e = self.energy.score(z, goal, (ctx.read, ctx.ee_state), s_pred)
        elif self.score == "pixels":
            e = pixel_l1(out["image"], goal.image).to(self.device)
        else:
            x = state_vector(out["ee_state"], out["object_pos"], out["held"], device=self.device)  # [S, H, 12]
            e = state_energy(x, goal.state, self.cfg) if self.score == "shaped" else state_l1(x, goal.state, self.cfg.state_weights)  # [S, H]
            e = e.mean(1) if self.cfg.per_step else e[:, -1]
        return torch.where(torch.as_tensor(out["diverged"], device=self.device), torch.full_like(e, float("inf")), e)

    def distance(self, ctx: SimContext, goal: SimGoal) -> float:
        if self.score == "image":
            return self.energy.frame(ctx.z, goal, ctx.read)
        if self.score == "pixels":
            return float(pixel_l1(ctx.image[None], goal.image)[0])
        if self.score == "state":
            return float(state_l1(ctx.state, goal.state, self.cfg.state_weights))
        return float(state_energy(ctx.state, goal.state, self.cfg))

    def reached(self, ctx: SimContext, goal: SimGoal) -> bool | None:
        """Whether the frame is at the goal, as the energy's distance head reads it (sim+image with one; else None)."""
        return self.energy.reached(ctx.z, goal) if self.score == "image" else None
