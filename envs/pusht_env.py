"""Push-T (a disc pushing a T-shaped block on a table seen from above; `gym-pusht`, the LeRobot team's port of
Diffusion Policy's task), as a Gymnasium env with our contract, and with stable-worldmodel's evaluation protocol for it
built into `reset`.

The physics (pymunk: the block, the walls, the disc's PD controller at 10 Hz), the scene and its drawing are
gym-pusht's own (`gym_pusht.envs.pusht.PushTEnv`, imported only when the env is built: `pip install ".[bench]"`).
This module adds:

- **our contract**: an image (the scene from above) and the disc's state [7] in (x, y in arena units, 512 px = 1;
  the other five dims zero: no height, turn or gripper), a 7-D action out, a goal image in reset's info, `simulate`
  for the ladder's true-dynamics rungs;
- **stable-worldmodel's action** (`swm/PushT-v1`, `relative=True`): each Push-T step commands the disc's target at its
  position plus the action, at most 100 px a step (their `action_scale`) in each axis. One step of ours is
  `action_block` (5) Push-T steps with the same command, as the benchmark's planners act (`action_block: 5`): an
  action [dx, dy, 0, 0, 0, 0, 0] is that command in arena units (|dx|, |dy| <= 100/512); the other dims are ignored.
  The target is clipped to the window (0-512 px), the bounds of gym-pusht's own absolute action; stable-worldmodel
  leaves that clip commented out, and without it the collection policy walks the disc out of the camera's view (in 15
  of 50 of the protocol's goals, where no model that sees images can find it);
- **the benchmark's protocol** (stable-worldmodel, `scripts/plan/config/pusht.yaml`): each reset records an episode of
  the collection policy (`PushTPlay`, stable-worldmodel's `WeakPolicy`: random moves kept within 100 px of the block)
  from a random scene, starts at a uniformly drawn step of it and takes as goal the state `goal_offset_steps` (25)
  Push-T steps later. Success is stable-worldmodel's check (`eval_state`: the disc's and the block's positions within
  20 px together, the block's angle within 20 degrees), at any of the `eval_budget` (50) Push-T steps (the episode
  ends there). A seed decides the whole episode.

A state is set as stable-worldmodel sets it (`_set_state`: a fresh pymunk space with the bodies placed), and every
start, snapshot and restore goes through that one path, so `simulate` and the recorded episode replay exactly.

Visual factors of variation (as stable-worldmodel's `variation_space`): `block_color`, `agent_color`,
`background_color`, `goal_color` (RGB in [0, 1]), each fixed for every episode (robustness at evaluation).
`randomize_look=True` instead draws them anew at each reset (for logs with varied looks; `draw_look`), each with chance
`look_share`, from ranges that leave out bands around the values the robustness table tests, so those stay unseen in
training. A factor set explicitly wins over its draw; the draws come from a generator of their own, so a seed's
episode moves exactly as without them.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.colours import hsv
from envs.protocol_steps import ProtocolSteps

ARENA = 512.0  # Push-T's window, in its pixels; our state and actions are in arena units (512 px = 1)
ACTION_SCALE = 100.0  # stable-worldmodel's PushT: a relative action of 1 moves the disc's target by 100 px
SUCCESS_POS, SUCCESS_ANGLE = 20.0, np.pi / 9  # stable-worldmodel's `eval_state` thresholds (px, radians)
# The block's angle in the rungs' object pose (`cube_pos`): arena units per radian, so that the success check's 20
# degrees weigh what its 20 px do
ANGLE_UNIT = (SUCCESS_POS / ARENA) / SUCCESS_ANGLE
PLAY_BOX = 100.0  # WeakPolicy's `dist_constraint`: the target stays within this many px of the block


@dataclass
class PushTConfig:
    image_height: int = 128
    image_width: int = 128
    action_block: int = 5  # Push-T steps per step of ours
    goal_offset_steps: int = 25  # Push-T steps between the start and the goal of the recorded episode
    eval_budget: int = 50  # Push-T steps the planner has
    record_steps: int = 200  # length of the recorded episode the start is drawn from, in Push-T steps
    render_goal: bool = True
    terminate_at_goal: bool = True  # the benchmark's setting; recording play logs turns it off
    # visual factors of variation (None: gym-pusht's own look)
    block_color: tuple | None = None
    agent_color: tuple | None = None
    background_color: tuple | None = None
    goal_color: tuple | None = None
    randomize_look: bool = False  # draw the four factors at each reset (draw_look), for varied training logs
    look_share: float = 0.5  # with randomize_look: the chance that each factor is drawn (else gym-pusht's own)


LOOK_FACTORS = ("block_color", "agent_color", "background_color", "goal_color")
# The robustness table's test values (docs/benchmarks.md) and the bands around them that draw_look never draws.
HELD_OUT_BLOCK_HUE = (-30.0, 30.0)  # degrees of hue, the reds; the table tests a [0.9, 0.2, 0.2] block (hue 0)
HELD_OUT_AGENT_HUE = (20.0, 60.0)  # the oranges; the table tests a [0.9, 0.6, 0.0] disc (hue 40)
HELD_OUT_GOAL_HUE = (200.0, 280.0)  # the blues; the table tests a [0.6, 0.6, 0.9] target marker (hue 240)
MIN_BACKGROUND_SATURATION = 0.3  # no grey backgrounds; the table tests a plain [0.3, 0.3, 0.3]


def _hue_outside(rng: np.random.Generator, band: tuple[float, float]) -> float:
    """A hue (degrees, 0-360) drawn uniformly from the circle less the open band (which may wrap through 0)."""
    u = rng.uniform(band[1], band[0] + 360.0)
    return float(u % 360.0)


def draw_look(rng: np.random.Generator, p: float = 0.5) -> dict:
    """One episode's visual factors for varied training logs: each of the four drawn with probability p (else
    gym-pusht's own), any colour less the held-out bands above: the block and the disc of saturation 0.4-1 and value
    0.4-1, the target marker of saturation 0.2-1 and value 0.5-1, the background of saturation 0.3-1 and value 0.3-1.
    Returns the set factors."""
    look = {}
    if rng.random() < p:
        look["block_color"] = hsv(_hue_outside(rng, HELD_OUT_BLOCK_HUE), rng.uniform(0.4, 1.0), rng.uniform(0.4, 1.0))
    if rng.random() < p:
        look["agent_color"] = hsv(_hue_outside(rng, HELD_OUT_AGENT_HUE), rng.uniform(0.4, 1.0), rng.uniform(0.4, 1.0))
    if rng.random() < p:
        look["background_color"] = hsv(rng.uniform(0, 360), rng.uniform(MIN_BACKGROUND_SATURATION, 1.0), rng.uniform(0.3, 1.0))
    if rng.random() < p:
        look["goal_color"] = hsv(_hue_outside(rng, HELD_OUT_GOAL_HUE), rng.uniform(0.2, 1.0), rng.uniform(0.5, 1.0))
    return look


def pusht_success(goal: np.ndarray, state: np.ndarray) -> bool:
    """stable-worldmodel's Push-T check on states [agent x, agent y, block x, block y, block angle] in px and radians:
    the four positions within 20 px (one Euclidean norm over all four) and the angle within 20 degrees."""
    goal, state = np.asarray(goal, float), np.asarray(state, float)
    pos = np.linalg.norm(goal[:4] - state[:4])
    d = np.abs(goal[4] - state[4]) % (2 * np.pi)
    return bool(pos < SUCCESS_POS and min(d, 2 * np.pi - d) < SUCCESS_ANGLE)


def play_action(agent_xy: np.ndarray, block_xy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """stable-worldmodel's WeakPolicy for one command (px): a random relative move of at most 100 px per axis, its
    target kept within 100 px of the block."""
    target = np.clip(agent_xy + rng.uniform(-1, 1, 2) * ACTION_SCALE, block_xy - PLAY_BOX, block_xy + PLAY_BOX)
    return np.clip(target - agent_xy, -ACTION_SCALE, ACTION_SCALE)


class PushTEnv(ProtocolSteps, gym.Env):
    """Push-T under stable-worldmodel's protocol; see the module's docstring."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 2}
    robot_type = "pusht_sim"
    environment_state_names = ["block_x", "block_y", "block_angle"]
    action_names = ["dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper"]

    def __init__(self, task: str = "push_t", render_mode: str | None = "rgb_array", control_hz: float | None = None, **overrides):
        try:
            from gym_pusht.envs.pusht import PushTEnv as GymPushT
        except ImportError as e:
            raise ImportError("vjepa_ac/PushT-v0 needs gym-pusht: pip install '.[bench]'") from e
        self.cfg = PushTConfig()
        for k, v in overrides.items():
            if not hasattr(self.cfg, k):
                raise TypeError(f"unknown Push-T env option {k!r}; options: {sorted(self.cfg.__dataclass_fields__)}")
            setattr(self.cfg, k, v)
        c = self.cfg
        if c.action_block < 1 or c.goal_offset_steps < 1 or c.eval_budget < c.action_block:
            raise ValueError(f"action_block ({c.action_block}) and goal_offset_steps ({c.goal_offset_steps}) must be >= 1 and "
                             f"eval_budget ({c.eval_budget}) at least one block")
        if c.goal_offset_steps % c.action_block or c.record_steps < c.goal_offset_steps + c.action_block:
            raise ValueError(f"goal_offset_steps ({c.goal_offset_steps}) must be a whole number of action blocks "
                             f"({c.action_block}) and record_steps ({c.record_steps}) longer than it")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be 'rgb_array' or None, got {render_mode!r}")
        if not 0.0 <= c.look_share <= 1.0:
            raise ValueError(f"look_share must lie in [0, 1], got {c.look_share}")
        self.look = {k: getattr(c, k) for k in LOOK_FACTORS if getattr(c, k) is not None}  # this episode's factors
        # control_hz is what our configs pass every env of ours; here the rate is Push-T's 10 Hz over the block
        self.render_mode, self.task = render_mode, _Task(task, -(-c.eval_budget // c.action_block))
        self.max_episode_steps = self.task.max_episode_steps
        self.metadata = {**self.metadata, "render_fps": 10.0 / c.action_block}
        self._env = GymPushT(obs_type="state", observation_width=c.image_width, observation_height=c.image_height)
        self._env.reset(seed=0)
        self._quiet()
        r = ACTION_SCALE / ARENA
        self.action_space = spaces.Box(np.array([-r, -r, 0, 0, 0, 0, 0], np.float32), np.array([r, r, 0, 0, 0, 0, 0], np.float32))
        big = np.inf
        self.observation_space = spaces.Dict({
            "image": spaces.Box(0, 255, (c.image_height, c.image_width, 3), np.uint8),
            "ee_state": spaces.Box(-big, big, (7,), np.float32),
            "privileged": spaces.Dict({"state": spaces.Box(-big, big, (7,), np.float64),
                                       "object_pos": spaces.Box(-big, big, (3,), np.float64),
                                       "object_yaw": spaces.Box(-big, big, (1,), np.float64),
                                       "goal_state": spaces.Box(-big, big, (5,), np.float64)}),
        })
        self.steps, self._substeps, self.goal, self._latched, self._goal_state = 0, 0, {}, False, None

    # ----- Push-T's state ----------------------------------------------------------------------------------------
    def _quiet(self) -> None:
        """gym-pusht counts contacts with a bound method as pymunk's post-solve callback; a plain function keeps the
        space free of references to the env."""
        self._env.collision_handeler.post_solve = _no_count

    def state(self) -> np.ndarray:
        """stable-worldmodel's state: [agent x, agent y, block x, block y, block angle mod 2 pi, agent vx, agent vy] (px)."""
        a, b = self._env.agent, self._env.block
        return np.array([a.position.x, a.position.y, b.position.x, b.position.y, b.angle % (2 * np.pi),
                         a.velocity.x, a.velocity.y], np.float64)

    def ee_state(self) -> np.ndarray:
        """The disc's position in arena units, the rest zero: [7]."""
        a = self._env.agent.position
        return np.array([a.x / ARENA, a.y / ARENA, 0, 0, 0, 0, 0], np.float32)

    def cube_pos(self) -> np.ndarray:
        """The block's pose as the simulator rungs score it [3]: its position in arena units, and its angle (unwrapped,
        as the physics turns it) times ANGLE_UNIT, so that a distance weighs 20 degrees as the success check does 20 px."""
        b = self._env.block
        return np.array([b.position.x / ARENA, b.position.y / ARENA, b.angle * ANGLE_UNIT])

    def environment_state(self) -> np.ndarray:
        """The block's position (arena units) and angle [3] (for recorded logs' `observation.environment_state`: probes only)."""
        b = self._env.block
        return np.array([b.position.x / ARENA, b.position.y / ARENA, b.angle % (2 * np.pi)], np.float32)

    def true_state(self) -> dict[str, np.ndarray]:
        return {"ee_state": self.ee_state(), "object_pos": self.cube_pos()}

    def success_now(self) -> bool:
        return self._goal_state is not None and pusht_success(self._goal_state, self.state())

    def snapshot(self) -> tuple:
        """Everything the next steps depend on: both bodies' poses and velocities."""
        a, b = self._env.agent, self._env.block
        return (tuple(a.position), tuple(a.velocity), tuple(b.position), float(b.angle), tuple(b.velocity), float(b.angular_velocity))

    def restore(self, snap: tuple) -> None:
        """A fresh pymunk space with the bodies placed as in `snap` (stable-worldmodel's `_set_state`, velocities
        included): the same snapshot always gives the same future."""
        e = self._env
        e._setup()
        self._quiet()
        a_pos, a_vel, b_pos, b_angle, b_vel, b_angvel = snap
        e.agent.velocity, e.agent.position = a_vel, a_pos
        e.block.angle, e.block.position = b_angle, b_pos  # angle first: the block turns about its centre of gravity
        e.block.velocity, e.block.angular_velocity = b_vel, b_angvel
        for body in (e.agent, e.block):  # the shapes' world geometry follows (what a render and the next collision see)
            e.space.reindex_shapes_for_body(body)

    # ----- rendering ---------------------------------------------------------------------------------------------
    def render_image(self) -> np.ndarray:
        import pygame
        import pymunk.pygame_util
        from gym_pusht.envs.pymunk_override import DrawOptions

        look, e = self.look, self._env
        screen = pygame.Surface((int(ARENA), int(ARENA)))
        screen.fill(_rgb(look.get("background_color"), (255, 255, 255)))
        draw = DrawOptions(screen)
        goal_body = e.get_goal_pose_body(e.goal_pose)  # gym-pusht's fixed green T: part of the table's look
        for shape in e.block.shapes:
            pts = [pymunk.pygame_util.to_pygame(goal_body.local_to_world(v), draw.surface) for v in shape.get_vertices()]
            pygame.draw.polygon(screen, _rgb(look.get("goal_color"), tuple(pygame.Color("LightGreen"))[:3]), pts + [pts[0]])
        for shape in e.block.shapes:
            shape.color = pygame.Color(*_rgb(look.get("block_color"), tuple(pygame.Color("LightSlateGray"))[:3]))
        for shape in e.agent.shapes:
            shape.color = pygame.Color(*_rgb(look.get("agent_color"), tuple(pygame.Color("RoyalBlue"))[:3]))
        e.space.debug_draw(draw)
        return np.ascontiguousarray(e._get_img(screen, self.cfg.image_width, self.cfg.image_height))

    def render(self) -> np.ndarray | None:
        return self.render_image() if self.render_mode == "rgb_array" else None

    # ----- the protocol's episodes -------------------------------------------------------------------------------
    def _random_scene(self, rng: np.random.Generator) -> tuple:
        """gym-pusht's random start (disc in [50, 450]^2 px, block in [100, 400]^2, any angle), at rest."""
        a = rng.integers(50, 450, 2).astype(float)
        b = rng.integers(100, 400, 2).astype(float)
        return (tuple(a), (0.0, 0.0), tuple(b), float(rng.uniform(-np.pi, np.pi)), (0.0, 0.0), 0.0)

    def _record(self, rng: np.random.Generator, blocks: int) -> list[np.ndarray]:
        """`blocks` steps of ours of the collection policy from the current state; its actions [7] each."""
        actions = []
        for _ in range(blocks):
            a = self._env.agent.position
            move = play_action(np.array(a), np.array(self._env.block.position), rng) / ARENA
            act = np.array([move[0], move[1], 0, 0, 0, 0, 0], np.float32)
            self._advance(act)
            actions.append(act)
        return actions

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        c, rng = self.cfg, self.np_random
        fixed = {k: getattr(c, k) for k in LOOK_FACTORS if getattr(c, k) is not None}
        if c.randomize_look:  # the look's draws come from their own generator: the episode moves alike without them
            look_rng = np.random.default_rng([seed, 1] if seed is not None else int(rng.integers(2**31)))
            fixed = {**draw_look(look_rng, c.look_share), **fixed}
        self.look = fixed
        self.restore(self._random_scene(rng))
        blocks_total, offset = c.record_steps // c.action_block, c.goal_offset_steps // c.action_block
        start = int(rng.integers(0, blocks_total - offset + 1))  # a valid start row: the goal lies within the recording
        self._goal_state = None
        self._record(rng, start)
        begin = self.snapshot()
        self.restore(begin)  # the episode starts from this rebuilt state: the recording below is what a replay does
        recorded = self._record(rng, offset)
        goal = self.state()
        goal_ee, goal_block = self.ee_state(), self.cube_pos()
        goal_image = self.render_image() if c.render_goal else None
        self.restore(begin)
        self._goal_state = goal[:5]
        self.steps, self._substeps, self._latched = 0, 0, False
        self.goal = {"position": goal_block, "yaw": float(goal[4]), "state": goal[:5].copy(), "object_start": self.cube_pos(),
                     "start_step": start * c.action_block, "recorded_actions": np.stack(recorded)}
        info = {"goal_image": goal_image, "goal_state": {"ee_state": goal_ee, "object_pos": goal_block},
                "goal": {k: np.copy(v) for k, v in self.goal.items()}, **self._task_info()}
        return self._observation(), info

    # ----- stepping ----------------------------------------------------------------------------------------------
    def _advance(self, action: np.ndarray, budget: int | None = None) -> bool:
        """One block of Push-T steps (fewer if budget ends it), each commanding the disc's target at its position plus
        (dx, dy); success latched at any step. False: never diverges."""
        move = np.clip(np.asarray(action, float)[:2], -ACTION_SCALE / ARENA, ACTION_SCALE / ARENA) * ARENA
        e = self._env
        n_sub = int(1 / (e.dt * e.control_hz))  # gym-pusht's physics steps per Push-T step (10)
        for _ in range(self.cfg.action_block if budget is None else budget):
            target = np.clip(np.array(e.agent.position) + move, 0.0, ARENA)  # the window, as gym-pusht's action space
            for _ in range(n_sub):  # gym-pusht's PD control and physics step (its `step`, without its coverage reward)
                pos, vel = np.array(e.agent.position), np.array(e.agent.velocity)
                vel = vel + (e.k_p * (target - pos) - e.k_v * vel) * e.dt
                e.agent.velocity = (float(vel[0]), float(vel[1]))
                e.space.step(e.dt)
            self._latched |= self.success_now()
        return False

    def _read_outcome(self) -> tuple[np.ndarray, np.ndarray, bool]:
        return self.ee_state(), self.cube_pos(), False

    def _task_info(self) -> dict:
        s = self.state()
        d = float(np.linalg.norm(s[:4] - self._goal_state[:4]) / ARENA) if self._goal_state is not None else 0.0
        return {"success": bool(self._latched or self.success_now()), "distance": d, "task": self.task.name}

    def _observation(self) -> dict:
        s = self.state()
        goal = self._goal_state if self._goal_state is not None else s[:5]
        return {"image": self.render_image(), "ee_state": self.ee_state(),
                "privileged": {"state": s, "object_pos": self.cube_pos(), "object_yaw": np.array([s[4]]),
                               "goal_state": np.array(goal, float)}}

    def close(self) -> None:
        if getattr(self, "_env", None) is not None:
            self._env.close()
            self._env = None


@dataclass(frozen=True)
class _Task:
    name: str
    max_episode_steps: int


def _no_count(arbiter, space, data) -> None:
    return None


def _rgb(color, default: tuple) -> tuple:
    return default if color is None else tuple(int(round(255 * float(np.clip(v, 0, 1)))) for v in color)
