"""The model-predictive agent: encode the frame, pick the goal to plan to, decide the gripper, plan with a sampling
planner, act, replan.

`Agent.act` is that loop in five lines; what decides each part is an object of its own:
- `GoalSchedule`: which (sub-)goal is planned to now: the env's sub-goal images in turn (moving on when the world model
  says the current one is reached, as its temporal-distance head was calibrated on play logs; or, as an option, on a
  clock), the final goal image alone, or latent sub-goals proposed on the way to it;
- `GripperRule`: planned with the other action dims (the default), or held as the goal image's readout, the goal's
  true state (privileged) or the proposal policy says.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from planners import CEMConfig, MPPIConfig, PlanResult, cem, mppi, shift_plan

PLANNERS = ("cem", "mppi", "policy")
GRIPPER_SOURCES = ("auto", "image", "state", "policy")
ADVANCES = ("reached", "clock")


@dataclass
class AgentConfig:
    """Planner and loop settings. Actions outside `plan_dims` are held at zero (by default roll and pitch: the gripper
    stays pointing down); the gripper (dim 6) is planned with the rest unless `gripper_from_goal` holds it."""

    planner: str = "cem"  # cem, mppi, or policy (act with the proposal policy's action, no search)
    horizon: int = 1
    cem: CEMConfig = field(default_factory=lambda: CEMConfig(samples=32, iterations=3, elites=6, init_std=0.6, min_std=0.05))
    mppi: MPPIConfig = field(default_factory=lambda: MPPIConfig(samples=32, iterations=3, elites=8, init_std=0.6, min_std=0.05))
    plan_dims: list[int] = field(default_factory=lambda: [0, 1, 2, 5, 6])
    warm_start: bool = True  # start each plan from the previous one shifted by a step
    # plan through reset info's `subgoal_images` / `subgoal_states` when present; false: to the final goal image alone
    # (V-JEPA 2-AC's protocol for reach and grasp)
    use_subgoals: bool = False
    # When to move on to the next sub-goal: "reached", when the world model says the current one is reached (its
    # temporal-distance head's threshold, calibrated on play logs) or its frame energy is below `subgoal_tolerance`;
    # "clock", every `subgoal_steps` steps (0: the episode's steps shared equally), or earlier on the tolerance.
    subgoal_advance: str = "reached"
    subgoal_steps: int = 0
    subgoal_tolerance: float = 0.0  # move on once the current frame's energy to the sub-goal is below this (0: off)
    # null: the gripper is planned with the other dims. Or held open or closed as each (sub-)goal shows it: "image", as
    # the readout head reads the goal image (it must read a coordinate named "gripper"); "state", as reset info's
    # `goal_state`/`subgoal_states` say (privileged: a diagnostic); "policy", as the proposal policy commands it from the
    # frame toward the final goal image, at every step; "auto": "image" when the world model plans with a head that
    # reads the gripper, else planned.
    gripper_from_goal: str | None = None
    gripper_threshold: float = 0.3  # a goal closure above this closes the hand (command +1), else it opens (-1)
    # a planned gripper is commanded fully open or fully closed, as its sampled value's sign says (play logs command
    # only those two; a half-closed hand is a state the world model has rarely seen)
    gripper_binary: bool = True
    # Proposals learned from play logs (`vjepa-ac train-proposal`): "default" (shipped with the default encoder) or a folder.
    proposal: str | None = None  # the policy: acts alone (planner=policy), seeds `cem.prior_share` of the samples, or the first mean
    proposal_init: bool = False  # the first iteration's mean is the proposal's sequence (instead of the shifted last plan)
    latent_subgoals: str | None = None  # the sub-goal model: with one goal image, plan to the sub-goals it proposes
    latent_every: int = 4  # control steps between two sub-goal proposals
    seed: int = 0

    def __post_init__(self):
        if self.planner not in PLANNERS:
            raise ValueError(f"agent.planner must be one of {PLANNERS}, got {self.planner!r}")
        if self.subgoal_advance not in ADVANCES:
            raise ValueError(f"agent.subgoal_advance must be one of {ADVANCES}, got {self.subgoal_advance!r}")
        gripper_source(self.gripper_from_goal)  # refuses an unknown value
        rules = {"horizon": self.horizon >= 1, "subgoal_steps": self.subgoal_steps >= 0, "latent_every": self.latent_every >= 1,
                 "subgoal_tolerance": self.subgoal_tolerance >= 0}
        bad = [k for k, ok in rules.items() if not ok]
        if bad:
            raise ValueError(f"out-of-range setting agent.{bad[0]}={getattr(self, bad[0])!r} (horizon, latent_every >= 1; "
                             "subgoal_steps, subgoal_tolerance >= 0)")


@dataclass
class StepRecord:
    """What the agent did at one control step, for results and visualisation."""

    action: np.ndarray  # [A] executed
    plan: PlanResult  # in the planned dims, [H, len(plan_dims)]
    plan_ms: float
    goal_index: int
    distance: float  # energy of the observed frame to the current goal
    context: object = None  # what the world model observed (its tokens `z`, where it has them)
    goal: object = None  # the goal planned to


def head_names(model) -> list[str]:
    """The coordinates a world model's readout head reads (none without a head)."""
    head = getattr(getattr(model, "energy", None), "head", None)
    return list(head.cfg.names) if head is not None else []


def gripper_source(value, readout: list[str] | tuple = ()) -> str | None:
    """`agent.gripper_from_goal` as None (planned), "image", "state" or "policy" ("auto": "image" when the readout
    head reads the coordinates `readout`, one of them "gripper"; true and false from older configs read as "state" and
    None)."""
    if value is None or value is False or str(value).lower() in ("false", "none", "null", "", "planned"):
        return None
    if value is True or str(value).lower() == "true":
        return "state"
    if value not in GRIPPER_SOURCES:
        raise ValueError(f"agent.gripper_from_goal must be one of {GRIPPER_SOURCES} or null, got {value!r}")
    if value == "auto":
        return "image" if "gripper" in readout else None
    return value


class GoalSchedule:
    """Which goal the agent plans to: the env's sub-goals in turn, the final goal image alone, or latent sub-goals
    proposed from the current frame toward it."""

    def __init__(self, cfg: AgentConfig, model, subgoal_model=None):
        self.cfg, self.model, self.subgoal_model = cfg, model, subgoal_model

    def reset(self, info: dict, max_steps: int | None) -> list[tuple]:
        """Embed the episode's goals once; returns the (image, state) pair of each."""
        sub_images, sub_states = info.get("subgoal_images"), info.get("subgoal_states")
        if self.cfg.use_subgoals and (sub_images is not None or sub_states is not None):
            n = len(sub_images if sub_images is not None else sub_states)
            pairs = [(sub_images[i] if sub_images is not None else None, sub_states[i] if sub_states is not None else None) for i in range(n)]
        else:
            pairs = [(info.get("goal_image"), info.get("goal_state"))]
        self.goals = [self.model.goal(img, st) for img, st in pairs]
        self.final = self.goals[-1]
        self.latent = self.subgoal_model is not None and len(self.goals) == 1  # one goal image: plan through proposed sub-goals
        self.index, self.steps_on_goal, self.max_steps = 0, 0, max_steps
        return pairs

    @property
    def goal(self):
        return self.goals[self.index]

    def steps_per_goal(self) -> int | None:
        if self.cfg.subgoal_steps > 0:
            return self.cfg.subgoal_steps
        return None if self.max_steps is None else max(1, self.max_steps // len(self.goals))

    def done_with_goal(self, ctx) -> bool:
        """Whether to move on from the current sub-goal: the world model says it is reached (or its energy is below
        the tolerance), or the clock ran out."""
        if self.index == len(self.goals) - 1:
            return False
        if self.cfg.subgoal_tolerance > 0 and self.model.distance(ctx, self.goal) < self.cfg.subgoal_tolerance:
            return True
        if self.cfg.subgoal_advance == "clock":
            per_goal = self.steps_per_goal()
            return per_goal is not None and self.steps_on_goal >= per_goal
        return bool(self.model.reached(ctx, self.goal))

    def update(self, ctx) -> bool:
        """Move on (and propose a new latent sub-goal) as this frame says; returns whether the goal changed."""
        changed = False
        if self.done_with_goal(ctx):
            self.index, self.steps_on_goal, changed = self.index + 1, 0, True
        if self.latent and (self.steps_on_goal % self.cfg.latent_every == 0 or self.goals[0] is self.final):
            with torch.no_grad():  # a new latent sub-goal on the way to the goal image, from the frame now
                z_sub = self.subgoal_model(ctx.z[None], self.final.z[None])[0]
            self.goals[0], changed = self.model.goal_from_tokens(z_sub), True
        return changed


class GripperRule:
    """The gripper command of each step: None (planned with the other dims), or held open (-1) or closed (+1) as the
    current goal shows it (`image`, `state`) or as the proposal policy commands it (`policy`)."""

    def __init__(self, mode: str | None, threshold: float, model, policy_gripper=None):
        self.mode, self.threshold, self.model, self.policy_gripper = mode, threshold, model, policy_gripper
        if mode == "policy" and policy_gripper is None:
            raise ValueError("agent.gripper_from_goal=policy takes the gripper from the proposal policy: set agent.proposal")

    def reset(self, pairs: list[tuple], goals: list) -> None:
        """Check that the episode's goals say what the rule reads (their states, or their readouts) before it starts."""
        if self.mode == "state" and any(st is None or "ee_state" not in st for _, st in pairs):
            raise ValueError("agent.gripper_from_goal=state needs the goal's end-effector state (reset info 'goal_state' / 'subgoal_states')")
        self.closures = [float(st["ee_state"][-1]) for _, st in pairs] if self.mode == "state" else None
        if self.mode == "image":
            for g in goals:
                self.of_goal(g)

    def of_goal(self, goal) -> float:
        """+1 (close) or -1 (open): the gripper as the readout head reads a (sub-)goal image (`goal.read`)."""
        head = getattr(getattr(self.model, "energy", None), "head", None)
        if head is None or goal.read is None or "gripper" not in head.cfg.names:
            raise ValueError("agent.gripper_from_goal=image reads the goal's gripper through the readout head: plan with a "
                             "head (energy.head) that reads a coordinate named 'gripper'")
        return self._command(float(goal.read[head.cfg.names.index("gripper")]))

    def _command(self, closure: float) -> float:
        return 1.0 if closure > self.threshold else -1.0

    def command(self, ctx, schedule: GoalSchedule) -> float | None:
        if self.mode is None:
            return None
        if self.mode == "state":
            return self._command(self.closures[schedule.index])
        if self.mode == "image":
            return self.of_goal(schedule.goal)
        return 1.0 if float(self.policy_gripper(ctx)) > 0 else -1.0  # toward the final goal image, from this frame


class Agent:
    """`reset(info)` then `act(obs) -> action` each control step; works with any world model (`world_model.WorldModel`)."""

    def __init__(self, model, action_low, action_high, cfg: AgentConfig | None = None, device: str | torch.device = "cpu",
                 policy=None, subgoal_model=None):
        """policy: a ProposalPolicy (models/proposals.py) for planner=policy, prior_share, proposal_init; subgoal_model:
        a SubgoalModel for latent sub-goals. Both read the world model's tokens (`ctx.z`, `goal.z`)."""
        self.model, self.cfg, self.device = model, cfg or AgentConfig(), torch.device(device)
        share = self.planner_config().prior_share if self.cfg.planner != "policy" else 0.0
        if policy is None and (self.cfg.planner == "policy" or share > 0 or self.cfg.proposal_init):
            raise ValueError(f"agent.planner=policy, agent.{self.cfg.planner}.prior_share > 0 and agent.proposal_init need a "
                             "proposal policy (agent.proposal)")
        if not 0 <= share <= 1:
            raise ValueError(f"agent.{self.cfg.planner}.prior_share must be in [0, 1]; got {share}")
        self.policy = policy.to(self.device) if policy is not None else None
        subgoal_model = subgoal_model.to(self.device) if subgoal_model is not None else None
        low = np.asarray(action_low, dtype=np.float32)
        high = np.asarray(action_high, dtype=np.float32)
        dims = list(self.cfg.plan_dims)
        if not dims or min(dims) < 0 or max(dims) >= low.size or len(set(dims)) != len(dims):
            raise ValueError(f"agent.plan_dims must be distinct indices into the {low.size}-D action, got {dims}")
        # a dim whose bounds leave no room (Push-T's disc has no height, turn or gripper) is held there, not planned
        dims = [d for d in dims if high[d] > low[d]]
        if not dims:
            raise ValueError(f"agent.plan_dims {list(self.cfg.plan_dims)}: the env's bounds leave none of them room to move")
        self.action_dim, self.dims = low.size, torch.tensor(dims, device=self.device)
        # a gripper to open and close: its bounds span zero (a robot without one pins it at zero)
        self.has_gripper = bool(low[-1] < 0 < high[-1])
        self.low, self.high = low[dims], high[dims]
        self.schedule = GoalSchedule(self.cfg, model, subgoal_model)
        self.gripper_mode = gripper_source(self.cfg.gripper_from_goal, head_names(model))
        self.gripper = GripperRule(self.gripper_mode, self.cfg.gripper_threshold, model,
                                   self.policy_gripper if self.policy is not None else None)
        self.keep_samples = False  # keep every iteration's samples in the records (a recording draws them)
        self.records: list[StepRecord] = []
        self.command = None

    # the schedule's state, as older callers read it
    @property
    def goals(self) -> list:
        return self.schedule.goals

    @property
    def goal_index(self) -> int:
        return self.schedule.index

    @property
    def latent(self) -> bool:
        return self.schedule.latent

    def reset(self, info: dict, max_steps: int | None = None, episode: int = 0) -> None:
        """Embed the goal (or sub-goals) of a new episode once."""
        self.gripper.reset(self.schedule.reset(info, max_steps), self.schedule.goals)
        self.plan, self.command, self.records = None, None, []
        self.generator = torch.Generator(self.device).manual_seed(int(np.random.SeedSequence([self.cfg.seed, episode]).generate_state(1)[0]))

    def full_actions(self, planned: torch.Tensor, command: float | None = None) -> torch.Tensor:
        """Planned dims [..., P] -> env actions [..., A] (unplanned dims zero; the gripper as the rule holds it)."""
        full = planned.new_zeros(*planned.shape[:-1], self.action_dim)
        full[..., self.dims] = planned
        command = self.command if command is None else command
        if command is not None:
            full[..., -1] = command
        elif self.cfg.gripper_binary and self.has_gripper and self.action_dim - 1 in self.dims.tolist():
            full[..., -1] = torch.where(full[..., -1] > 0, 1.0, -1.0)
        return full

    def cost_fn(self, ctx, goal):
        """The planner's cost: planned dims [S, H, P] -> full actions [S, H, A] -> energy [S]."""
        def cost(planned: torch.Tensor) -> torch.Tensor:
            return self.model.cost(ctx, goal, self.full_actions(planned))
        return cost

    def act(self, obs: dict) -> np.ndarray:
        """The first action of a fresh plan from this observation."""
        if not getattr(self.schedule, "goals", None):
            raise RuntimeError("call reset(info) with the episode's goal before act()")
        start = time.perf_counter()
        ctx = self.model.observe(obs)
        if self.schedule.update(ctx):
            self.plan = None  # a new goal: no warm start from the plan to the old one
        goal = self.schedule.goal
        self.command = self.gripper.command(ctx, self.schedule)
        result = self.search(ctx, goal)
        self.plan = result.actions
        action = self.full_actions(result.actions[:1])[0].cpu().numpy().astype(np.float32)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        ms = (time.perf_counter() - start) * 1000
        self.records.append(StepRecord(action, result, ms, self.schedule.index, self.model.distance(ctx, goal), ctx, goal))
        self.schedule.steps_on_goal += 1
        return action

    @property
    def last_context(self):
        return self.records[-1].context if self.records else None

    def search(self, ctx, goal) -> PlanResult:
        """Sample and refine action sequences to the goal (or take the proposal policy's, with planner=policy)."""
        init = shift_plan(self.plan) if self.cfg.warm_start and self.plan is not None else None
        proposal = self.propose(ctx, goal) if self.policy is not None else None  # [H, P] in the planned dims
        if self.cfg.planner == "policy":
            return self.act_on_proposal(ctx, goal, proposal)
        if proposal is not None and self.cfg.proposal_init:
            init = proposal
        plan_fn = cem if self.cfg.planner == "cem" else mppi
        pcfg = self.planner_config()
        if self.keep_samples and not pcfg.keep_samples:
            pcfg = replace(pcfg, keep_samples=True)
        return plan_fn(self.cost_fn(ctx, goal), self.cfg.horizon, self.low, self.high, init=init, cfg=pcfg, generator=self.generator,
                       device=self.device, prior=proposal if pcfg.prior_share > 0 else None)

    def gripper_of(self, goal) -> float:
        """+1 (close) or -1 (open): the gripper as the readout head reads a (sub-)goal (`goal.read`)."""
        return self.gripper.of_goal(goal)

    def planner_config(self):
        return self.cfg.cem if self.cfg.planner == "cem" else self.cfg.mppi

    def propose(self, ctx, goal) -> torch.Tensor:
        """The proposal policy's sequence [H, P] for this frame and goal, in the planned dims and the agent's horizon
        (its last action repeated if it proposes fewer), within the bounds."""
        with torch.no_grad():
            a = self.policy(ctx.z[None], ctx.ee_state[None].to(ctx.z), goal.z[None])[0]  # [H', A]
        a = a[:, self.dims]
        if a.shape[0] < self.cfg.horizon:
            a = torch.cat([a, a[-1:].expand(self.cfg.horizon - a.shape[0], -1)])
        lo, hi = torch.as_tensor(self.low, device=a.device), torch.as_tensor(self.high, device=a.device)
        return torch.maximum(torch.minimum(a[: self.cfg.horizon], hi), lo)

    def policy_gripper(self, ctx) -> float:
        """The proposal policy's gripper command [-1, 1] for this frame toward the final goal image."""
        with torch.no_grad():
            return float(self.policy(ctx.z[None], ctx.ee_state[None].to(ctx.z), self.schedule.final.z[None])[0, 0, -1])

    def act_on_proposal(self, ctx, goal, proposal: torch.Tensor) -> PlanResult:
        """planner=policy: the proposal itself, scored once by the world model (for the records)."""
        cost = float(self.model.cost(ctx, goal, self.full_actions(proposal[None]))[0])
        return PlanResult(proposal, cost, torch.zeros_like(proposal), [])
