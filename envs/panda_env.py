"""The Panda tabletop as a Gymnasium env: 7-D end-effector delta actions, camera image and end-effector state."""

from __future__ import annotations

import colorsys
import copy
from dataclasses import dataclass, field, replace

import envs.rendering  # noqa: F401  (sets the GL backend before mujoco is imported)
import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from envs.controller import DiffIK, IKConfig
from envs.geometry import euler_to_mat, mat_to_euler, mat_to_quat, project_points, quat_to_mat, yaw_mat
from envs.rendering import CameraRenderer
from envs.rollouts import roll_out
from envs.scene import ARM_JOINTS, CUBE_HALF, FINGER_JOINTS, FINGER_OPEN, WRIST_VIEWS, SceneConfig, build_scene, camera_preset

# Gripper pointing straight down, fingers sliding along world y: the zero of the end-effector orientation.
# (This yaw keeps joint 7 mid-range at home; the one a quarter turn away puts it near its limit.)
R_DOWN = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
Q_HOME_SEED = np.array([0.0, -0.22, 0.0, -2.47, 0.0, 0.67, 0.0])


@dataclass
class PandaEnvConfig:
    """Control, observation and randomisation settings shared by every Panda task."""

    image_height: int = 128
    image_width: int = 128
    control_hz: float = 4.0
    max_delta_pos: float = 0.05  # metres per control step and axis
    max_delta_rot: float = 0.25  # radians per control step and axis
    home_pos: tuple[float, float, float] = (0.45, 0.0, 0.25)
    start_noise: tuple[float, float, float] = (0.06, 0.08, 0.05)  # uniform half-widths around home
    workspace_low: tuple[float, float, float] = (0.22, -0.35, 0.005)
    workspace_high: tuple[float, float, float] = (0.75, 0.35, 0.45)
    orientation_limit: tuple[float, float, float] = (0.6, 0.6, 1.6)  # |roll|, |pitch|, |yaw| of the target
    object_low: tuple[float, float] = (0.35, -0.2)
    object_high: tuple[float, float] = (0.6, 0.2)
    max_joint_speed: float = 50.0  # rad/s; above it (or a NaN) the simulation counts as diverged
    max_episode_steps: int | None = None  # None: the task's default
    render_goal: bool = True
    camera: str | None = None  # a named framing of envs.scene.CAMERAS ("wide", "workspace", "wide+wrist"); None: scene.camera as given
    scene: SceneConfig = field(default_factory=SceneConfig)
    ik: IKConfig = field(default_factory=IKConfig)


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    r, g, b = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.55, 0.95), rng.uniform(0.55, 0.95))
    return np.array([r, g, b, 1.0])


class PandaEnv(gym.Env):
    """A Franka Panda on a table with a cube and a cup; a task decides goals, success and episode length."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, task, config: PandaEnvConfig | None = None, render_mode: str | None = "rgb_array", **overrides):
        self.cfg = copy.deepcopy(config) if config is not None else PandaEnvConfig()  # never the caller's object
        for k, v in overrides.items():
            if not hasattr(self.cfg, k):
                raise TypeError(f"unknown Panda env option {k!r}; options: {sorted(self.cfg.__dataclass_fields__)}")
            setattr(self.cfg, k, v)
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be 'rgb_array' or None, got {render_mode!r}")
        self.render_mode = render_mode
        self.task = task
        self.metadata = {**self.metadata, "render_fps": self.cfg.control_hz}
        self.max_episode_steps = self.cfg.max_episode_steps or task.max_episode_steps

        if self.cfg.camera is not None:
            self.cfg.scene = replace(self.cfg.scene, camera=camera_preset(self.cfg.camera))
        self.wrist_view = self.cfg.camera in WRIST_VIEWS  # the frame's bottom half is the wrist camera's
        if self.wrist_view and self.cfg.image_height % 2:
            raise ValueError(f"camera={self.cfg.camera!r} stacks two views: image_height must be even, got {self.cfg.image_height}")
        self.model = build_scene(self.cfg.scene)
        self.data = mujoco.MjData(self.model)
        m = self.model
        jid = lambda n: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n)  # noqa: E731
        self.arm_qadr = np.array([m.jnt_qposadr[jid("panda/" + j)] for j in ARM_JOINTS])
        self.arm_dadr = np.array([m.jnt_dofadr[jid("panda/" + j)] for j in ARM_JOINTS])
        self.finger_qadr = np.array([m.jnt_qposadr[jid("panda/" + j)] for j in FINGER_JOINTS])
        self.cube_qadr = m.jnt_qposadr[jid("cube_joint")]
        self.cube_dadr = m.jnt_dofadr[jid("cube_joint")]
        self.cup_qadr = m.jnt_qposadr[jid("cup_joint")]
        self.cup_dadr = m.jnt_dofadr[jid("cup_joint")]
        self.tcp_id = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, "panda/tcp")
        self.cube_geom = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "cube_geom")
        self.cup_geoms = [i for i in range(m.ngeom) if (mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_GEOM, i) or "").startswith("cup_")]
        self.hand_geoms = {i for i in range(m.ngeom) if (mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, m.geom_bodyid[i]) or "").startswith("panda/")}
        self.arm_act = np.arange(7)
        self.finger_act = np.array([7, 8])
        self.n_substeps = max(1, int(round(1.0 / (self.cfg.control_hz * m.opt.timestep))))

        self.ik = DiffIK(m, "panda/tcp", ["panda/" + j for j in ARM_JOINTS], Q_HOME_SEED, self.cfg.ik)
        self.q_home = self._solve_home()
        self.ik.q_home = self.q_home
        self._renderer: CameraRenderer | None = None
        self._wrist_renderer: CameraRenderer | None = None

        h, w = self.cfg.image_height, self.cfg.image_width
        lim = np.array([self.cfg.max_delta_pos] * 3 + [self.cfg.max_delta_rot] * 3 + [1.0], dtype=np.float32)
        self.action_space = spaces.Box(-lim, lim, dtype=np.float32)
        big = np.inf
        self.observation_space = spaces.Dict(
            {
                "image": spaces.Box(0, 255, (h, w, 3), dtype=np.uint8),
                "ee_state": spaces.Box(-big, big, (7,), dtype=np.float32),
                "privileged": spaces.Dict(
                    {
                        "qpos": spaces.Box(-big, big, (m.nq,), dtype=np.float64),
                        "tcp_pos": spaces.Box(-big, big, (3,), dtype=np.float64),
                        "object_pos": spaces.Box(-big, big, (3,), dtype=np.float64),
                        "object_quat": spaces.Box(-big, big, (4,), dtype=np.float64),
                        "cup_pos": spaces.Box(-big, big, (3,), dtype=np.float64),
                        "goal_pos": spaces.Box(-big, big, (3,), dtype=np.float64),
                    }
                ),
            }
        )
        self.goal: dict = {}
        self.steps = 0
        self._last_obs = None

    # ----- state access -------------------------------------------------------------------------------------------
    @property
    def tcp_pos(self) -> np.ndarray:
        return self.data.site_xpos[self.tcp_id].copy()

    @property
    def tcp_mat(self) -> np.ndarray:
        return self.data.site_xmat[self.tcp_id].reshape(3, 3).copy()

    @property
    def cube_pos(self) -> np.ndarray:
        return self.data.qpos[self.cube_qadr : self.cube_qadr + 3].copy()

    @property
    def cube_quat(self) -> np.ndarray:
        return self.data.qpos[self.cube_qadr + 3 : self.cube_qadr + 7].copy()

    @property
    def cup_pos(self) -> np.ndarray:
        return self.data.qpos[self.cup_qadr : self.cup_qadr + 3].copy()

    @property
    def gripper_closure(self) -> float:
        """0 when fully open, 1 when fully closed."""
        return float(1.0 - self.data.qpos[self.finger_qadr].mean() / FINGER_OPEN)

    def ee_state(self) -> np.ndarray:
        """[x, y, z, roll, pitch, yaw, gripper]: metres, radians relative to gripper-down, closure in [0, 1]."""
        rpy = mat_to_euler(self.tcp_mat @ R_DOWN.T)
        return np.concatenate([self.tcp_pos, rpy, [self.gripper_closure]]).astype(np.float32)

    def cube_yaw(self) -> float:
        """Yaw of the cube about z, folded to [-pi/4, pi/4) (a cube looks the same every quarter turn)."""
        rpy = mat_to_euler(quat_to_mat(self.cube_quat))
        return float((rpy[2] + np.pi / 4) % (np.pi / 2) - np.pi / 4)

    def hand_touches_cube(self) -> bool:
        """Some part of the arm or hand is in contact with the cube."""
        d = self.data
        for i in range(d.ncon):
            g1, g2 = d.contact[i].geom1, d.contact[i].geom2
            if (g1 == self.cube_geom and g2 in self.hand_geoms) or (g2 == self.cube_geom and g1 in self.hand_geoms):
                return True
        return False

    def cube_held(self) -> bool:
        """The cube sits between the fingertips and the gripper is closed on it, not shut past it."""
        rel = self.cube_pos - self.tcp_pos
        return bool(np.linalg.norm(rel) < 0.035 and 0.2 < self.gripper_closure < 0.92)

    # ----- poses --------------------------------------------------------------------------------------------------
    def _solve_home(self) -> np.ndarray:
        qpos = self.data.qpos.copy()
        qpos[self.arm_qadr] = Q_HOME_SEED
        q, err = self.ik.solve(qpos, np.array(self.cfg.home_pos), R_DOWN, iterations=300)
        if err > 1e-3:
            raise RuntimeError(f"home pose {self.cfg.home_pos} is out of the Panda's reach (IK error {err:.3f} m)")
        return q

    def target_mat(self, rpy: np.ndarray) -> np.ndarray:
        """World rotation of the TCP for an end-effector orientation (roll, pitch, yaw relative to gripper-down)."""
        return euler_to_mat(rpy) @ R_DOWN

    def set_arm(self, pos: np.ndarray, rpy: np.ndarray | None = None, closure: float = 0.0) -> None:
        """Teleport the arm so the TCP is at a pose (orientation `rpy`, gripper-down when None), and hold it there
        (actuator targets set to match)."""
        rpy = np.zeros(3) if rpy is None else rpy
        qpos = self.data.qpos.copy()
        qpos[self.arm_qadr] = self.q_home
        q, err = self.ik.solve(qpos, np.asarray(pos, float), self.target_mat(rpy), iterations=300)
        if err > 5e-3:  # a second start from the current posture helps near the reach limit
            q, err = self.ik.solve(self.data.qpos.copy(), np.asarray(pos, float), self.target_mat(rpy), iterations=300)
        self.data.qpos[self.arm_qadr] = q
        self.data.qvel[self.arm_dadr] = 0.0
        self.data.qpos[self.finger_qadr] = FINGER_OPEN * (1.0 - closure)
        self.data.ctrl[self.arm_act] = q
        self.data.ctrl[self.finger_act] = FINGER_OPEN * (1.0 - closure)
        mujoco.mj_forward(self.model, self.data)

    def set_cube(self, pos: np.ndarray, yaw: float) -> None:
        """Place the cube at rest."""
        a = self.cube_qadr
        self.data.qpos[a : a + 3] = pos
        self.data.qpos[a + 3 : a + 7] = mat_to_quat(yaw_mat(yaw))
        self.data.qvel[self.cube_dadr : self.cube_dadr + 6] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def set_cup(self, pos: np.ndarray) -> None:
        """Place the cup at rest, upright."""
        a = self.cup_qadr
        self.data.qpos[a : a + 3] = pos
        self.data.qpos[a + 3 : a + 7] = [1, 0, 0, 0]
        self.data.qvel[self.cup_dadr : self.cup_dadr + 6] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def settle(self, n: int = 100) -> None:
        """Let contacts settle for n physics steps with the actuator targets held."""
        mujoco.mj_step(self.model, self.data, nstep=n)

    # ----- rendering ----------------------------------------------------------------------------------------------
    @property
    def front_height(self) -> int:
        """Rows of the frame the front camera fills: all of them, or the top half when a wrist view shares it."""
        return self.cfg.image_height // 2 if self.wrist_view else self.cfg.image_height

    def _camera(self) -> CameraRenderer:
        if self._renderer is None:
            sc, w = self.cfg.scene, self.cfg.image_width
            self._renderer = CameraRenderer(self.model, self.front_height, w, "front", sc.shadows, sc.reflections)
            if self.wrist_view:
                self._wrist_renderer = CameraRenderer(self.model, self.cfg.image_height - self.front_height, w, "panda/wrist", sc.shadows, sc.reflections)
        return self._renderer

    def render_image(self) -> np.ndarray:
        """The camera's current view, uint8 [H, W, 3]: the front camera's, over the wrist camera's in wrist framings."""
        front = self._camera().render(self.data)
        if not self.wrist_view:
            return front
        return np.concatenate([front, self._wrist_renderer.render(self.data)], axis=0)

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixel coordinates (u, v) [P, 2] of world points [P, 3] in the front camera's part of the frame."""
        cam = self.cfg.scene.camera
        return project_points(points, cam.eye, cam.target, cam.fovy, self.cfg.image_width, self.front_height)

    def render(self) -> np.ndarray | None:
        return self.render_image() if self.render_mode == "rgb_array" else None

    def snapshot(self) -> tuple[np.ndarray, ...]:
        """Everything needed to put the simulation back exactly as it is."""
        d = self.data
        return d.qpos.copy(), d.qvel.copy(), d.ctrl.copy(), d.act.copy(), d.qacc_warmstart.copy(), float(d.time)

    def restore(self, snap: tuple[np.ndarray, ...]) -> None:
        d = self.data
        d.qpos[:], d.qvel[:], d.ctrl[:], d.act[:], d.qacc_warmstart[:], d.time = snap
        mujoco.mj_forward(self.model, d)

    def render_configuration(self, configure) -> np.ndarray:
        """Render the view after `configure(env)` changes the scene, then put the simulation back as it was."""
        return self.inspect_configuration(configure)[0]

    def true_state(self) -> dict[str, np.ndarray]:
        """The simulator's state that goals are judged on: end-effector state and object position."""
        return {"ee_state": self.ee_state(), "object_pos": self.cube_pos.astype(np.float32)}

    def inspect_configuration(self, configure) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
        """View (if goals are rendered) and true state after `configure(env)`; the simulation is put back after."""
        snap = self.snapshot()
        configure(self)
        image = self.render_image() if self.cfg.render_goal else None
        state = self.true_state()
        self.restore(snap)
        return image, state

    # ----- Gymnasium API ------------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        rng = self.np_random
        mujoco.mj_resetData(self.model, self.data)
        self.steps = 0
        self.model.geom_rgba[self.cube_geom] = _random_colour(rng)
        cup_rgba = _random_colour(rng)
        for g in self.cup_geoms:
            self.model.geom_rgba[g] = cup_rgba
        lo, hi = np.array(self.cfg.object_low), np.array(self.cfg.object_high)
        cube_xy = rng.uniform(lo, hi)
        for _ in range(100):  # the cup stands clear of the cube
            cup_xy = rng.uniform(lo + [0.0, -0.05], hi + [0.05, 0.05])
            if np.linalg.norm(cup_xy - cube_xy) > 0.14:
                break
        else:
            raise ValueError(f"no cup position 14 cm clear of the cube in 100 draws: the object region object_low="
                             f"{self.cfg.object_low}, object_high={self.cfg.object_high} is too small for both")
        self.set_cube(np.array([*cube_xy, CUBE_HALF]), rng.uniform(-np.pi, np.pi))
        self.set_cup(np.array([*cup_xy, 0.0]))
        start = np.array(self.cfg.home_pos) + rng.uniform(-1, 1, 3) * np.array(self.cfg.start_noise)
        self.set_arm(start, np.array([0.0, 0.0, rng.uniform(-0.3, 0.3)]))
        self.goal = self.task.reset(self, rng)
        self.settle()
        self.data.time = 0.0
        info = {"task": self.task.name, "goal": {k: np.asarray(v).copy() for k, v in self.goal.items()}}
        image, info["goal_state"] = self.inspect_configuration(self.task.configure_goal)
        if image is not None:
            info["goal_image"] = image
        subgoals = getattr(self.task, "subgoal_configurations", None)
        if subgoals is not None:
            views = [self.inspect_configuration(c) for c in subgoals(self)]
            info["subgoal_states"] = [st for _, st in views]
            if self.cfg.render_goal:
                info["subgoal_images"] = [im for im, _ in views]
        obs = self._observation()
        info.update(self._task_info())
        return obs, info

    def step(self, action):
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (7,):
            raise ValueError(f"action must have shape (7,) [dx, dy, dz, droll, dpitch, dyaw, gripper], got {action.shape}")
        if not np.all(np.isfinite(action)):
            raise ValueError(f"action has non-finite values: {action}")
        diverged = self._advance(action)
        self.steps += 1
        if diverged:
            info = {"task": self.task.name, "success": False, "distance": float("nan"), "diverged": True}
            return self._last_obs, 0.0, True, False, info
        if hasattr(self.task, "track"):
            self.task.track(self)
        obs = self._observation()
        info = self._task_info()
        truncated = self.steps >= self.max_episode_steps
        return obs, -info["distance"], False, truncated, info

    def _advance(self, action: np.ndarray) -> bool:
        """One control step of the simulation: the controller turns the action into actuator targets, then physics
        runs for a control period. Returns whether the simulation diverged."""
        a = np.clip(action, self.action_space.low, self.action_space.high)
        state = self.ee_state()
        target_pos = np.clip(state[:3] + a[:3], self.cfg.workspace_low, self.cfg.workspace_high)
        rel = euler_to_mat(a[3:6]) @ euler_to_mat(state[3:6])
        rpy = np.clip(mat_to_euler(rel), -np.array(self.cfg.orientation_limit), self.cfg.orientation_limit)
        q, _ = self.ik.solve(self.data.qpos.copy(), target_pos, self.target_mat(rpy))
        self.data.ctrl[self.arm_act] = q
        self.data.ctrl[self.finger_act] = FINGER_OPEN * (1.0 - (a[6] + 1.0) / 2.0)
        # MuJoCo silently resets the state when it meets a NaN or a runaway acceleration; its warning counters tell.
        bad = [int(w) for w in (mujoco.mjtWarning.mjWARN_BADQPOS, mujoco.mjtWarning.mjWARN_BADQVEL, mujoco.mjtWarning.mjWARN_BADQACC)]
        warnings_before = [self.data.warning[w].number for w in bad]
        diverged = False
        try:
            mujoco.mj_step(self.model, self.data, nstep=self.n_substeps)
        except mujoco.FatalError:  # MuJoCo's own error on some instabilities; treat it like a NaN
            diverged = True
        diverged = diverged or [self.data.warning[w].number for w in bad] != warnings_before
        diverged = diverged or not (np.all(np.isfinite(self.data.qpos)) and np.all(np.isfinite(self.data.qvel)))
        return diverged or float(np.abs(self.data.qvel[self.arm_dadr]).max()) > self.cfg.max_joint_speed

    def simulate(self, actions: np.ndarray, render: bool = False) -> dict[str, np.ndarray]:
        """Roll candidate action sequences out from the current state with the true controller and physics, each
        from the same start; the simulation is put back exactly as it was afterwards.

        Args: actions [S, H, 7]; render: also return the camera's view after each sequence's last step.
        Returns: "ee_state" [S, H, 7], "object_pos" [S, H, 3], "held" [S, H] (cube_held), "diverged" [S] (bool),
        and with render, "image" [S, H_img, W_img, 3] uint8.
        """
        return roll_out(self, actions, render, lambda: (self.ee_state(), self.cube_pos, self.cube_held()))

    def close(self) -> None:
        for r in (self._renderer, self._wrist_renderer):
            if r is not None:
                r.close()
        self._renderer = self._wrist_renderer = None

    # ----- helpers ------------------------------------------------------------------------------------------------
    def _task_info(self) -> dict:
        success, distance = self.task.evaluate(self)
        info = {"task": self.task.name, "success": bool(success), "distance": float(distance), "diverged": False}
        if hasattr(self.task, "lenient_success"):
            info["lenient_success"] = bool(self.task.lenient_success(self))
        return info

    def _observation(self) -> dict:
        obs = {
            "image": self.render_image(),
            "ee_state": self.ee_state(),
            "privileged": {
                "qpos": self.data.qpos.copy(),
                "tcp_pos": self.tcp_pos,
                "object_pos": self.cube_pos,
                "object_quat": self.cube_quat,
                "cup_pos": self.cup_pos,
                "goal_pos": np.asarray(self.goal.get("position", np.zeros(3)), dtype=np.float64).copy(),
            },
        }
        self._last_obs = obs
        return obs
