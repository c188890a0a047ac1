"""The model-predictive agent: encode the frame and the goal, plan with a sampling planner, act, replan."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from planners import CEMConfig, MPPIConfig, PlanResult, cem, mppi, shift_plan


@dataclass
class AgentConfig:
    """Planner and loop settings. Actions outside `plan_dims` are held at zero (by default roll and pitch: the gripper stays pointing down)."""

    planner: str = "cem"  # cem, mppi, or policy (act with the proposal policy's action, no search)
    horizon: int = 1
    cem: CEMConfig = field(default_factory=lambda: CEMConfig(samples=32, iterations=3, elites=6, init_std=0.6, min_std=0.05))
    mppi: MPPIConfig = field(default_factory=lambda: MPPIConfig(samples=32, iterations=3, elites=8, init_std=0.6, min_std=0.05))
    plan_dims: list[int] = field(default_factory=lambda: [0, 1, 2, 5, 6])
    warm_start: bool = True  # start each plan from the previous one shifted by a step
    use_subgoals: bool = True  # plan through reset info's `subgoal_images` / `subgoal_states` when present
    subgoal_steps: int = 0  # steps per sub-goal (0: the episode's steps shared equally)
    subgoal_tolerance: float = 0.0  # move on early once the current frame's energy to the sub-goal is below this
    # Hold the gripper open or closed as each (sub-)goal shows it, instead of planning it (the official notebook's CEM
    # offers a fixed schedule, `close_gripper`): "image", as the goal-distance head reads the (sub-)goal image (image-
    # only: the head must read a coordinate named "gripper"); "state", as reset info's `goal_state`/`subgoal_states`
    # say (privileged: a diagnostic); "policy", as the proposal policy (agent.proposal) commands it from the frame toward
    # the final goal image, at every step; null to plan it with the other dims; "auto": "image" when the world model
    # plans with a head that reads the gripper, else null.
    gripper_from_goal: str | None = "auto"
    gripper_threshold: float = 0.3  # a goal closure above this closes the hand (command +1), else it opens (-1)
    # Proposals learned from play logs (`vjepa-ac train-proposal`): "default" (shipped with the default encoder) or a folder.
    proposal: str | None = None  # the policy: acts alone (planner=policy), seeds `cem.prior_share` of the samples, or the first mean
    proposal_init: bool = False  # the first iteration's mean is the proposal's sequence (instead of the shifted last plan)
    latent_subgoals: str | None = None  # the sub-goal model: with one goal image, plan to the sub-goals it proposes
    latent_every: int = 4  # control steps between two sub-goal proposals
    seed: int = 0


@dataclass
class StepRecord:
    """What the agent did at one control step, for results and visualisation."""

    action: np.ndarray  # [A] executed
    plan: PlanResult  # in the planned dims, [H, len(plan_dims)]
    plan_ms: float
    goal_index: int
    distance: float  # energy of the observed frame to the current goal


GRIPPER_SOURCES = ("auto", "image", "state", "policy")


def gripper_source(value, model=None) -> str | None:
    """`agent.gripper_from_goal` as None, "image" or "state" ("auto" resolved for `model`; true and false from older
    configs read as "state" and None)."""
    if value is None or value is False or str(value).lower() in ("false", "none", "null", ""):
        return None
    if value is True or str(value).lower() == "true":
        return "state"
    if value not in GRIPPER_SOURCES:
        raise ValueError(f"agent.gripper_from_goal must be one of {GRIPPER_SOURCES} or null, got {value!r}")
    if value == "auto":
        head = getattr(model, "head", None)
        return "image" if head is not None and "gripper" in head.cfg.names else None
    return value


class Agent:
    """`reset(info)` then `act(obs) -> action` each control step; works with any world model of `world_model.py`."""

    def __init__(self, model, action_low, action_high, cfg: AgentConfig | None = None, device: str | torch.device = "cpu",
                 policy=None, subgoal_model=None):
        """policy: a ProposalPolicy (proposals.py) for planner=policy, prior_share, proposal_init; subgoal_model: a
        SubgoalModel for latent sub-goals. Both read the world model's tokens (`ctx.z`, `goal.z`)."""
        self.model, self.cfg, self.device = model, cfg or AgentConfig(), torch.device(device)
        self.gripper_mode = gripper_source(self.cfg.gripper_from_goal, model)
        if self.cfg.planner not in ("cem", "mppi", "policy"):
            raise ValueError(f"agent.planner must be 'cem', 'mppi' or 'policy', got {self.cfg.planner!r}")
        share = self.planner_config().prior_share if self.cfg.planner != "policy" else 0.0
        if policy is None and (self.cfg.planner == "policy" or share > 0 or self.cfg.proposal_init):
            raise ValueError(f"agent.planner=policy, agent.{self.cfg.planner}.prior_share > 0 and agent.proposal_init need a "
                             "proposal policy (agent.proposal)")
        if self.gripper_mode == "policy" and policy is None:
            raise ValueError("agent.gripper_from_goal=policy takes the gripper from the proposal policy: set agent.proposal")
        if not 0 <= share <= 1 or self.cfg.latent_every < 1:
            raise ValueError(f"agent.{self.cfg.planner}.prior_share must be in [0, 1] and agent.latent_every >= 1; got {share}, "
                             f"{self.cfg.latent_every}")
        self.policy = policy.to(self.device) if policy is not None else None
        self.subgoal_model = subgoal_model.to(self.device) if subgoal_model is not None else None
        low = np.asarray(action_low, dtype=np.float32)
        high = np.asarray(action_high, dtype=np.float32)
        dims = list(self.cfg.plan_dims)
        if not dims or min(dims) < 0 or max(dims) >= low.size or len(set(dims)) != len(dims):
            raise ValueError(f"agent.plan_dims must be distinct indices into the {low.size}-D action, got {dims}")
        self.action_dim, self.dims = low.size, torch.tensor(dims, device=self.device)
        self.low, self.high = low[dims], high[dims]
        self.goals: list = []
        self.grippers: list[float] | None = None
        self.goal_index = 0
        self.records: list[StepRecord] = []

    def reset(self, info: dict, max_steps: int | None = None, episode: int = 0) -> None:
        """Embed the goal (or sub-goals) of a new episode once."""
        sub_images, sub_states = info.get("subgoal_images"), info.get("subgoal_states")
        if self.cfg.use_subgoals and (sub_images is not None or sub_states is not None):
            n = len(sub_images if sub_images is not None else sub_states)
            pairs = [(sub_images[i] if sub_images is not None else None, sub_states[i] if sub_states is not None else None) for i in range(n)]
        else:
            pairs = [(info.get("goal_image"), info.get("goal_state"))]
        self.goals = [self.model.goal(img, st) for img, st in pairs]
        self.final_goal = self.goals[-1]
        self.latent = self.subgoal_model is not None and len(self.goals) == 1  # one goal image: plan through proposed sub-goals
        self.grippers = None
        source = self.gripper_mode
        if source == "state":
            if any(st is None or "ee_state" not in st for _, st in pairs):
                raise ValueError("agent.gripper_from_goal=state needs the goal's end-effector state (reset info 'goal_state' / 'subgoal_states')")
            self.grippers = [1.0 if float(st["ee_state"][-1]) > self.cfg.gripper_threshold else -1.0 for _, st in pairs]
        elif source == "image":
            self.grippers = [self.gripper_of(g) for g in self.goals]
        elif source == "policy":
            self.grippers = [-1.0] * len(self.goals)  # set at each step from the policy's command toward the final goal
        self.goal_index, self.steps_on_goal, self.plan = 0, 0, None
        self.max_steps = max_steps
        self.records = []
        self.generator = torch.Generator(self.device).manual_seed(int(np.random.SeedSequence([self.cfg.seed, episode]).generate_state(1)[0]))

    def _steps_per_goal(self) -> int | None:
        if self.cfg.subgoal_steps > 0:
            return self.cfg.subgoal_steps
        return None if self.max_steps is None else max(1, self.max_steps // len(self.goals))

    def full_actions(self, planned: torch.Tensor) -> torch.Tensor:
        """Planned dims [..., P] -> env actions [..., A] (unplanned dims zero; the gripper held as the goal shows it
        with `gripper_from_goal`)."""
        full = planned.new_zeros(*planned.shape[:-1], self.action_dim)
        full[..., self.dims] = planned
        if self.grippers is not None:
            full[..., -1] = self.grippers[self.goal_index]
        return full

    def cost_fn(self, ctx, goal):
        """The planner's cost: planned dims [S, H, P] -> full actions [S, H, A] -> energy [S]."""
        def cost(planned: torch.Tensor) -> torch.Tensor:
            return self.model.cost(ctx, goal, self.full_actions(planned))
        return cost

    def act(self, obs: dict) -> np.ndarray:
        """The first action of a fresh plan from this observation."""
        if not self.goals:
            raise RuntimeError("call reset(info) with the episode's goal before act()")
        start = time.perf_counter()
        ctx = self.model.observe(obs)
        self.last_context = ctx
        distance = self.model.distance(ctx, self.goals[self.goal_index])
        per_goal = self._steps_per_goal()
        last = self.goal_index == len(self.goals) - 1
        if not last and ((per_goal is not None and self.steps_on_goal >= per_goal) or distance < self.cfg.subgoal_tolerance):
            self.goal_index, self.steps_on_goal, self.plan = self.goal_index + 1, 0, None
            distance = self.model.distance(ctx, self.goals[self.goal_index])
        if self.latent and (self.steps_on_goal % self.cfg.latent_every == 0 or self.goals[0] is self.final_goal):
            with torch.no_grad():  # a new latent sub-goal on the way to the goal image, from the frame now
                z_sub = self.subgoal_model(ctx.z[None], self.final_goal.z[None])[0]
            self.goals[0] = self.model.goal_from_tokens(z_sub)
            distance = self.model.distance(ctx, self.goals[0])
            if self.grippers is not None and self.gripper_mode == "image":
                self.grippers[0] = self.gripper_of(self.goals[0])
        goal = self.goals[self.goal_index]
        if self.gripper_mode == "policy":  # when to close: the goal-conditioned policy's call, from this frame and the goal image
            self.grippers[self.goal_index] = 1.0 if float(self.policy_gripper(ctx)) > 0 else -1.0
        h = self.cfg.horizon
        init = None
        if self.cfg.warm_start and self.plan is not None:
            init = shift_plan(self.plan)
        proposal = self.propose(ctx, goal) if self.policy is not None else None  # [H, P] in the planned dims
        if self.cfg.planner == "policy":
            result = self.act_on_proposal(ctx, goal, proposal)
        else:
            if proposal is not None and self.cfg.proposal_init:
                init = proposal
            plan_fn, pcfg = (cem, self.cfg.cem) if self.cfg.planner == "cem" else (mppi, self.cfg.mppi)
            result = plan_fn(self.cost_fn(ctx, goal), h, self.low, self.high, init=init, cfg=pcfg, generator=self.generator,
                             device=self.device, prior=proposal if pcfg.prior_share > 0 else None)
        self.plan = result.actions
        action = self.full_actions(result.actions[:1])[0].cpu().numpy().astype(np.float32)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        ms = (time.perf_counter() - start) * 1000
        self.records.append(StepRecord(action, result, ms, self.goal_index, distance))
        self.steps_on_goal += 1
        return action

    def gripper_of(self, goal) -> float:
        """+1 (close) or -1 (open): the gripper as the goal-distance head reads a (sub-)goal (`goal.read`)."""
        head = getattr(self.model, "head", None)
        if head is None or goal.read is None or "gripper" not in head.cfg.names:
            raise ValueError("agent.gripper_from_goal=image reads the goal's gripper through the goal-distance head: plan with a "
                             "head (energy.head) that reads a coordinate named 'gripper'")
        return 1.0 if float(goal.read[head.cfg.names.index("gripper")]) > self.cfg.gripper_threshold else -1.0

    def planner_config(self):
        return self.cfg.cem if self.cfg.planner == "cem" else self.cfg.mppi

    def propose(self, ctx, goal) -> torch.Tensor:
        """The proposal policy's sequence [H, P] for this frame and goal, in the planned dims and the agent's horizon
        (its last action repeated if it proposes fewer), within the bounds."""
        with torch.no_grad():
            state = getattr(ctx, "ee_state", None)
            state = ctx.state if state is None else state  # the end-effector state (a sim context's `state` is the 12-D true one)
            a = self.policy(ctx.z[None], state[None].to(ctx.z), goal.z[None])[0]  # [H', A]
        a = a[:, self.dims]
        if a.shape[0] < self.cfg.horizon:
            a = torch.cat([a, a[-1:].expand(self.cfg.horizon - a.shape[0], -1)])
        lo, hi = torch.as_tensor(self.low, device=a.device), torch.as_tensor(self.high, device=a.device)
        return torch.maximum(torch.minimum(a[: self.cfg.horizon], hi), lo)

    def policy_gripper(self, ctx) -> float:
        """The proposal policy's gripper command [-1, 1] for this frame toward the final goal image."""
        with torch.no_grad():
            state = getattr(ctx, "ee_state", None)
            state = ctx.state if state is None else state
            return float(self.policy(ctx.z[None], state[None].to(ctx.z), self.final_goal.z[None])[0, 0, -1])

    def act_on_proposal(self, ctx, goal, proposal: torch.Tensor) -> PlanResult:
        """planner=policy: the proposal itself, scored once by the world model (for the records)."""
        cost = float(self.model.cost(ctx, goal, self.full_actions(proposal[None]))[0])
        return PlanResult(proposal, cost, torch.zeros_like(proposal), [])
