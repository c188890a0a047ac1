"""OGBench's single-cube task (UR5e arm, Robotiq gripper; `ogbench.manipspace`), as a Gymnasium env with our contract,
and with stable-worldmodel's evaluation protocol for it built into `reset`.

The arm, cube, controller, physics and success check are OGBench's own (`ogbench.manipspace.envs.cube_env.CubeEnv`,
imported only when the env is built: `pip install ".[bench]"`). This module adds:

- **our contract**: an image (OGBench's `front_pixels` camera) and the hand's state [7] in, a 7-D end-effector action
  out, a goal image in reset's info, `simulate` for the ladder's true-dynamics rungs;
- **action blocks**: one step of ours is `action_block` (5) of OGBench's 20 Hz steps, as the benchmark's planners act
  (`action_block: 5`) and its models are trained (`frameskip: 5`). An action [dx, dy, dz, droll, dpitch, dyaw, grip]
  moves the pinch site by (dx, dy, dz) metres and turns it by dyaw over the block (split evenly over its steps; roll
  and pitch are ignored: OGBench's controller keeps the hand pointing down), and commands the gripper with grip in
  [-1, 1] (+1 closes) at every step of the block;
- **the benchmark's protocol** (stable-worldmodel, `scripts/plan/config/cube.yaml`): each reset records an episode of
  OGBench's Markov oracle with the benchmark's data-collection noise (`data_collection` mode: random arm, cube and
  target poses, a new target whenever the oracle is done), starts at a uniformly drawn step of it and takes as goal
  the frame `goal_offset_steps` (25) OGBench steps later, the cube's position then as the target. Success is OGBench's
  own check (the cube within 4 cm of the target), at any of the `eval_budget` (50) OGBench steps (the episode ends
  there: `terminate_at_goal`). A seed decides the whole episode.

Frames are rendered without shadows (a third of the time per frame); OGBench's other visuals are its own.

Visual factors of variation: `cube_color`, `floor_color` (RGB in [0, 1]; a plain floor instead of the checker),
`light` (a scale on every light's diffuse colour) and `camera_yaw` (degrees the camera turns about the table's
centre), each fixed for every episode (robustness at evaluation). `randomize_look=True` instead draws them anew at
each reset (for logs with varied visuals; `draw_look`), from ranges that leave out bands around the values the
robustness table tests, so those values stay unseen in training. A factor set explicitly wins over its draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import envs.rendering  # noqa: F401  (sets the GL backend before mujoco is imported)
import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.colours import hsv
from envs.protocol_steps import ProtocolSteps

OGB_STEPS = 200  # OGBench's episode length for cube-single (its registered TimeLimit), in its 20 Hz steps
OGB_RANGE = np.array([0.05, 0.05, 0.05, 0.3, 1.0])  # OGBench's per-step action range (metres, radians, gripper)
CAMERA = "front_pixels"  # OGBench's pixel observation camera


@dataclass
class OGBenchCubeConfig:
    image_height: int = 128
    image_width: int = 128
    action_block: int = 5  # OGBench steps per step of ours
    goal_offset_steps: int = 25  # OGBench steps between the start and the goal frame of the recorded episode
    eval_budget: int = 50  # OGBench steps the planner has
    oracle_noise: float = 0.1  # the recorded episodes' noise level (per episode xi ~ U(0, noise), as OGBench's data)
    render_goal: bool = True
    terminate_at_goal: bool = True  # the benchmark's setting; recording play logs turns it off
    shadows: bool = False  # off, as the Panda's renders: a third of the time per frame (59 vs 185 ms at 128 px here)
    # visual factors of variation (None: OGBench's own look)
    cube_color: tuple | None = None
    floor_color: tuple | None = None
    light: float | None = None
    camera_yaw: float | None = None
    randomize_look: bool = False  # draw the four factors at each reset (draw_look), for varied training logs
    look_share: float = 0.5  # with randomize_look: the chance that each factor is drawn (else OGBench's own)


# The robustness table's test values (docs/benchmarks.md) and the bands around them that draw_look never draws.
HELD_OUT_YAW = (6.0, 14.0)  # degrees; the table tests 10
HELD_OUT_LIGHT = (0.4, 0.6)  # the table tests 0.5
HELD_OUT_CUBE_HUE = (80.0, 160.0)  # degrees of hue, the greens; the table tests [0.1, 0.8, 0.1] (hue 120)
MIN_FLOOR_SATURATION = 0.3  # no grey floors; the table tests a plain [0.6, 0.6, 0.6]


def _outside(rng: np.random.Generator, low: float, high: float, band: tuple[float, float]) -> float:
    """A uniform draw from [low, high] without the open band (low < band[0] < band[1] < high)."""
    width = (band[0] - low) + (high - band[1])
    u = rng.uniform(0, width)
    return float(low + u if u < band[0] - low else band[1] + u - (band[0] - low))


def draw_look(rng: np.random.Generator, p: float = 0.5) -> dict:
    """One episode's visual factors for varied training logs: each of the four is drawn with probability p (else
    OGBench's own look) from ranges around stable-worldmodel's `variation_space` for this env (camera within 15°,
    light 0.3-1.3, any cube colour, any floor colour), less the held-out bands above. Returns the set factors."""
    look = {}
    if rng.random() < p:
        look["camera_yaw"] = _outside(rng, -15.0, 15.0, HELD_OUT_YAW)
    if rng.random() < p:
        look["light"] = _outside(rng, 0.3, 1.3, HELD_OUT_LIGHT)
    if rng.random() < p:
        look["cube_color"] = hsv(_outside(rng, 0.0, 360.0, HELD_OUT_CUBE_HUE), rng.uniform(0.5, 1.0), rng.uniform(0.5, 1.0))
    if rng.random() < p:
        look["floor_color"] = hsv(rng.uniform(0, 360), rng.uniform(MIN_FLOOR_SATURATION, 1.0), rng.uniform(0.2, 0.9))
    return look


def oracle_action(oracle, ee_pos, ee_yaw, closure, contact, cube_pos, cube_yaw, target_pos, target_yaw) -> np.ndarray:
    """OGBench's Markov oracle's normalized 5-D action for one state (its `select_action`, fed the info it reads)."""
    info = {"proprio/effector_pos": np.asarray(ee_pos, float), "proprio/effector_yaw": np.array([ee_yaw]),
            "proprio/gripper_opening": np.array([closure]), "proprio/gripper_contact": np.array([contact]),
            "privileged/target_block": 0, "privileged/block_0_pos": np.asarray(cube_pos, float),
            "privileged/block_0_yaw": np.array([cube_yaw]), "privileged/target_block_pos": np.asarray(target_pos, float),
            "privileged/target_block_yaw": np.array([target_yaw])}
    return np.asarray(oracle.select_action(None, info), float)


def new_oracle(rng: np.random.Generator, min_norm: float = 0.4):
    """OGBench's `CubeMarkovOracle` with its final arm pose drawn from rng (its own `reset` draws from numpy's global
    generator, which would make a seeded episode depend on whatever ran before)."""
    from ogbench.manipspace.oracles.markov.cube_markov import CubeMarkovOracle

    oracle = CubeMarkovOracle(env=None, min_norm=min_norm)
    oracle._done, oracle._step, oracle._max_step = False, 0, OGB_STEPS
    oracle._final_pos = rng.uniform([0.25, -0.35, 0.20], [0.6, 0.35, 0.35])  # OGBench's arm sampling bounds
    oracle._final_yaw = rng.uniform(-np.pi, np.pi)
    return oracle


class OGBenchCubeEnv(ProtocolSteps, gym.Env):
    """OGBench cube-single under stable-worldmodel's protocol; see the module's docstring."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}
    robot_type = "ur5e_sim"
    environment_state_names = ["cube_x", "cube_y", "cube_z"]

    def __init__(self, task: str = "cube_single", render_mode: str | None = "rgb_array", control_hz: float | None = None, **overrides):
        try:
            from ogbench.manipspace.envs.cube_env import CubeEnv
        except ImportError as e:
            raise ImportError("vjepa_ac/OGBenchCube-v0 needs OGBench: pip install '.[bench]'") from e
        self.cfg = OGBenchCubeConfig()
        for k, v in overrides.items():
            if not hasattr(self.cfg, k):
                raise TypeError(f"unknown OGBench cube env option {k!r}; options: {sorted(self.cfg.__dataclass_fields__)}")
            setattr(self.cfg, k, v)
        c = self.cfg
        if not 0 <= c.look_share <= 1:
            raise ValueError(f"look_share must lie in [0, 1], got {c.look_share}")
        if c.action_block < 1 or c.goal_offset_steps < 1 or c.eval_budget < c.action_block:
            raise ValueError(f"action_block ({c.action_block}) and goal_offset_steps ({c.goal_offset_steps}) must be >= 1 and "
                             f"eval_budget ({c.eval_budget}) at least one block")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be 'rgb_array' or None, got {render_mode!r}")
        # control_hz is what our configs pass every env of ours; here the rate is OGBench's 20 Hz over the block
        self.render_mode, self.task = render_mode, _Task(task, -(-c.eval_budget // c.action_block))
        self.max_episode_steps = self.task.max_episode_steps
        self.metadata = {**self.metadata, "render_fps": 20.0 / c.action_block}
        self._env = CubeEnv(env_type="single", ob_type="states", mode="data_collection", terminate_at_goal=False,
                            visualize_info=False, width=c.image_width, height=c.image_height)
        self._env.reset(seed=0)
        self._apply_variation()
        block = c.action_block * OGB_RANGE[:4]
        high = np.array([*block[:3], 0.0, 0.0, block[3], 1.0], np.float32)
        self.action_space = spaces.Box(-high, high, dtype=np.float32)
        big = np.inf
        self.observation_space = spaces.Dict({
            "image": spaces.Box(0, 255, (c.image_height, c.image_width, 3), np.uint8),
            "ee_state": spaces.Box(-big, big, (7,), np.float32),
            "privileged": spaces.Dict({"tcp_pos": spaces.Box(-big, big, (3,), np.float64),
                                       "object_pos": spaces.Box(-big, big, (3,), np.float64),
                                       "object_yaw": spaces.Box(-big, big, (1,), np.float64),
                                       "goal_pos": spaces.Box(-big, big, (3,), np.float64),
                                       "goal_yaw": spaces.Box(-big, big, (1,), np.float64),
                                       "gripper_contact": spaces.Box(0, 1, (1,), np.float64)}),
        })
        self.steps, self.goal, self._latched = 0, {}, False

    # ----- OGBench's state ---------------------------------------------------------------------------------------
    @property
    def model(self):
        return self._env._model

    @property
    def data(self):
        return self._env._data

    def _info(self) -> dict:
        return self._env.compute_ob_info()

    def ee_state(self, info: dict | None = None) -> np.ndarray:
        """Pinch site xyz, roll and pitch (0: OGBench's controller holds the hand pointing down), yaw, the gripper's
        closure in [0, 1] (OGBench's `gripper_opening`, which is 0 open and 1 closed): [7]. info: OGBench's
        `compute_ob_info()` of this state, when the caller has it."""
        i = self._info() if info is None else info
        return np.concatenate([i["proprio/effector_pos"], [0.0, 0.0], i["proprio/effector_yaw"],
                               i["proprio/gripper_opening"]]).astype(np.float32)

    def cube_pos(self) -> np.ndarray:
        return self.data.joint("object_joint_0").qpos[:3].copy()

    def target_pos(self) -> np.ndarray:
        return self.data.mocap_pos[self._env._cube_target_mocap_ids[0]].copy()

    def environment_state(self) -> np.ndarray:
        """The cube's position [3] (for recorded logs' `observation.environment_state`: probes only)."""
        return self.cube_pos().astype(np.float32)

    def true_state(self) -> dict[str, np.ndarray]:
        return {"ee_state": self.ee_state(), "object_pos": self.cube_pos()}

    def held(self, info: dict | None = None) -> bool:
        return bool((self._info() if info is None else info)["proprio/gripper_contact"][0] > 0.5)

    def success_now(self) -> bool:
        """OGBench's own check: the cube within 4 cm of the target (`CubeEnv._compute_successes`)."""
        return bool(all(self._env._compute_successes()))

    def snapshot(self) -> np.ndarray:
        import mujoco

        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        state = np.empty(mujoco.mj_stateSize(self.model, spec))
        mujoco.mj_getState(self.model, self.data, state, spec)
        return state

    def restore(self, snap: np.ndarray) -> None:
        import mujoco

        mujoco.mj_setState(self.model, self.data, snap, mujoco.mjtState.mjSTATE_INTEGRATION)
        mujoco.mj_forward(self.model, self.data)

    # ----- rendering and variations ------------------------------------------------------------------------------
    def render_image(self) -> np.ndarray:
        if self.cfg.shadows:
            return np.ascontiguousarray(self._env.render(camera=CAMERA))
        return np.ascontiguousarray(self._env.render(camera=CAMERA, scene_callback=_no_shadows))

    def render(self) -> np.ndarray | None:
        return self.render_image() if self.render_mode == "rgb_array" else None

    def _apply_variation(self, drawn: dict | None = None) -> None:
        """Set the visual factors on OGBench's model: the configured ones, else this episode's draws (`drawn`), else
        OGBench's own look (restored from the values the model was built with, so a reset undoes the last episode's)."""
        import mujoco

        c, m = self.cfg, self.model
        if getattr(self, "_look", None) is None or self._look["model"] is not m:
            floor = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "floor")
            mat = int(m.geom_matid[floor]) if floor >= 0 else -1
            self._look = {"model": m, "diffuse": m.light_diffuse.copy(), "cam_pos": m.cam_pos.copy(),
                          "cam_quat": m.cam_quat.copy(), "cube": self._env._cube_colors[0, :3].copy(), "floor": floor,
                          "mat": mat, "mat_rgba": m.mat_rgba[mat].copy() if mat >= 0 else None,
                          "mat_tex": m.mat_texid[mat].copy() if mat >= 0 else None,
                          "floor_rgba": m.geom_rgba[floor].copy() if floor >= 0 else None}
        base, drawn = self._look, drawn or {}
        value = {k: getattr(c, k) if getattr(c, k) is not None else drawn.get(k)
                 for k in ("cube_color", "floor_color", "light", "camera_yaw")}
        # the cube: initialize_episode paints it from _cube_colors at OGBench's reset; paint it now as well
        self._env._cube_colors[0, :3] = base["cube"] if value["cube_color"] is None else np.clip(value["cube_color"], 0, 1)
        for gid in self._env._cube_geom_ids_list[0]:
            m.geom_rgba[gid, :3] = self._env._cube_colors[0, :3]
        if value["floor_color"] is not None and base["floor"] < 0:
            raise KeyError("floor_color: OGBench's scene has no geom named 'floor'")
        if base["floor"] >= 0:
            floor, mat = base["floor"], base["mat"]
            m.geom_rgba[floor] = base["floor_rgba"]
            if mat >= 0:
                m.mat_rgba[mat], m.mat_texid[mat] = base["mat_rgba"], base["mat_tex"]
            if value["floor_color"] is not None:
                rgb = np.clip(value["floor_color"], 0, 1)
                if mat >= 0:
                    m.mat_rgba[mat, :3] = rgb
                    m.mat_texid[mat] = -1  # a plain colour instead of the checker texture
                m.geom_rgba[floor, :3] = rgb
        m.light_diffuse[:] = base["diffuse"] if value["light"] is None else np.clip(base["diffuse"] * value["light"], 0, 1)
        cam = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_CAMERA, CAMERA)
        m.cam_pos[cam], m.cam_quat[cam] = base["cam_pos"][cam], base["cam_quat"][cam]
        if value["camera_yaw"] is not None:
            a = np.deg2rad(value["camera_yaw"])
            rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
            centre = np.array([0.425, 0.0, 0.0])
            m.cam_pos[cam] = centre + rot @ (base["cam_pos"][cam] - centre)
            q = np.empty(4)
            mujoco.mju_mat2Quat(q, (rot @ _quat_mat(base["cam_quat"][cam])).ravel())
            m.cam_quat[cam] = q
        self.look = {k: v for k, v in value.items() if v is not None}  # the factors this episode shows

    # ----- the protocol's episodes -------------------------------------------------------------------------------
    def _record(self, rng: np.random.Generator, steps: int) -> None:
        """Run OGBench's noisy Markov oracle for `steps` of its steps from the current state, as its data collection
        does: a new random target whenever the oracle is done."""
        xi = rng.uniform(0, self.cfg.oracle_noise)
        noise_std = xi * np.array([1, 1, 1, 3, 10.0])
        oracle = new_oracle(rng)
        for _ in range(steps):
            i = self._info()
            a = oracle_action(oracle, i["proprio/effector_pos"], i["proprio/effector_yaw"][0], i["proprio/gripper_opening"][0],
                              i["proprio/gripper_contact"][0], i["privileged/block_0_pos"], i["privileged/block_0_yaw"][0],
                              i["privileged/target_block_pos"], i["privileged/target_block_yaw"][0])
            self._env.step(np.clip(a + rng.normal(0, noise_std), -1, 1))
            if oracle.done:
                self._env.set_new_target(return_info=False)
                oracle = new_oracle(rng)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        c, rng = self.cfg, self.np_random
        self._env.reset(seed=int(rng.integers(2**31)))
        # the look's draws come from their own generator, so a seed's episode moves alike with and without them
        drawn = None
        if c.randomize_look:
            drawn = draw_look(np.random.default_rng([seed, 1] if seed is not None else int(rng.integers(2**31))), c.look_share)
        self._apply_variation(drawn)
        start = int(rng.integers(0, OGB_STEPS - c.goal_offset_steps))  # a valid start row: the goal lies within the episode
        self._record(rng, start)
        begin = self.snapshot()
        self._record(rng, c.goal_offset_steps)
        goal_ee, goal_cube = self.ee_state(), self.cube_pos()
        goal_yaw = float(self._info()["privileged/block_0_yaw"][0])
        goal_image = self.render_image() if c.render_goal else None
        self.restore(begin)
        self.data.mocap_pos[self._env._cube_target_mocap_ids[0]] = goal_cube  # OGBench's check then compares with the goal
        self.data.mocap_quat[self._env._cube_target_mocap_ids[0]] = self.data.joint("object_joint_0").qpos[3:]
        self._env._success = False
        self.steps, self._substeps, self._latched = 0, 0, False
        self.goal = {"position": goal_cube, "yaw": goal_yaw, "object_start": self.cube_pos(), "start_step": start}
        info = {"goal_image": goal_image, "goal_state": {"ee_state": goal_ee, "object_pos": goal_cube},
                "goal": {k: np.copy(v) for k, v in self.goal.items()}, **self._task_info()}
        return self._observation(), info

    # ----- stepping ----------------------------------------------------------------------------------------------
    def _substep_actions(self, action: np.ndarray) -> np.ndarray:
        """Our block action [7] -> OGBench's normalized per-step action [5], the same at each step of the block."""
        a = np.asarray(action, float)
        per_step = np.array([a[0], a[1], a[2], a[5]]) / self.cfg.action_block
        return np.clip(np.concatenate([per_step / OGB_RANGE[:4], [a[6]]]), -1.0, 1.0)

    def _advance(self, action: np.ndarray, budget: int | None = None) -> bool:
        """One block of OGBench steps (fewer if budget ends it); success latched at any step. False: never diverges."""
        a5 = self._substep_actions(action)
        for _ in range(self.cfg.action_block if budget is None else budget):
            self._env.step(a5)
            self._latched |= self.success_now()
        return False

    def _read_outcome(self) -> tuple[np.ndarray, np.ndarray, bool]:
        i = self._info()  # one read of OGBench's state per simulated step
        return self.ee_state(i), i["privileged/block_0_pos"].copy(), self.held(i)

    def _task_info(self) -> dict:
        d = float(np.linalg.norm(self.cube_pos() - self.goal.get("position", self.cube_pos())))
        return {"success": bool(self._latched or (self.goal and self.success_now())), "distance": d, "task": self.task.name}

    def _observation(self) -> dict:
        i = self._info()
        return {"image": self.render_image(), "ee_state": self.ee_state(i),
                "privileged": {"tcp_pos": i["proprio/effector_pos"].copy(), "object_pos": self.cube_pos(),
                               "object_yaw": i["privileged/block_0_yaw"].copy(),
                               "goal_pos": np.array(self.goal.get("position", self.cube_pos()), float),
                               "goal_yaw": np.array([self.goal.get("yaw", 0.0)], float),
                               "gripper_contact": i["proprio/gripper_contact"].astype(float).copy()}}

    def close(self) -> None:
        if getattr(self, "_env", None) is not None:
            self._env.close()
            self._env = None


@dataclass(frozen=True)
class _Task:
    name: str
    max_episode_steps: int


def _no_shadows(scene) -> None:
    import mujoco

    scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0


def _quat_mat(q: np.ndarray) -> np.ndarray:
    import mujoco

    mat = np.empty(9)
    mujoco.mju_quat2Mat(mat, np.asarray(q, float))
    return mat.reshape(3, 3)
