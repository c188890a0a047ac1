"""The Kinova Jaco on DeepMind's own manipulation tasks (`dm_control.manipulation`), as a Gymnasium env with the
Panda's contract: a camera image and the end-effector state in, a 7-D end-effector delta (or the native 9-D joint
velocities) out, a goal image in reset's info.

The arena, props, initial-state distribution and reward are the task's own (built by `manipulation.load`); this
module only adds the observation contract, the end-effector controller (the same damped-least-squares IK as the
Panda's, on the Jaco's six arm joints and its pinch site), goal images, and `simulate` for the ladder's true-dynamics
rungs. Success is the task's reward reaching 1 (for reach_site: the hand's tool centre point within the target's
5 cm radius, `dm_control.manipulation.reach`).
"""

from __future__ import annotations

from dataclasses import dataclass

import envs.rendering  # noqa: F401  (sets the GL backend before mujoco is imported)
import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.controller import DiffIK, IKConfig
from envs.geometry import euler_to_mat, mat_to_euler

JACO_TASKS = {"reach_site": "reach_site_features"}  # our task name -> the dm_control.manipulation environment
STEPS = {"reach_site": 40}  # control steps per episode at 4 Hz
ARM_JOINTS = [f"jaco_arm/joint_{i}" for i in range(1, 7)]
FINGER_JOINTS = [f"jaco_arm/jaco_hand/finger_{i}" for i in range(1, 4)]
TCP_SITE = "jaco_arm/jaco_hand/pinchsite"
FINGER_SPEED = 5.0  # rad/s, the finger actuators' bound: the gripper command in [-1, 1] scales it (+ closes)


@dataclass(frozen=True)
class JacoTask:
    name: str
    max_episode_steps: int


@dataclass
class JacoEnvConfig:
    image_height: int = 128
    image_width: int = 128
    camera: str = "front_close"  # the task's own camera
    control_hz: float = 4.0
    max_delta_pos: float = 0.05  # metres per control step and axis
    max_delta_rot: float = 0.25  # radians per control step and axis
    joint_gain: float = 4.0  # joint velocity command per radian of error toward the IK solution (1/s)
    action_mode: str = "ee_delta"  # or "joint_velocity": the task's native 9-D action, held for one control step
    max_episode_steps: int | None = None  # None: the task's default
    render_goal: bool = True


class JacoEnv(gym.Env):
    """One `dm_control.manipulation` task with the Jaco arm; see the module's docstring."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}
    robot_type = "jaco_sim"
    environment_state_names = ["target_x", "target_y", "target_z"]

    def __init__(self, task: str = "reach_site", render_mode: str | None = "rgb_array", **overrides):
        from dm_control import manipulation

        if task not in JACO_TASKS:
            raise KeyError(f"unknown Jaco task {task!r}; known: {sorted(JACO_TASKS)}")
        self.cfg = JacoEnvConfig()
        for k, v in overrides.items():
            if not hasattr(self.cfg, k):
                raise TypeError(f"unknown Jaco env option {k!r}; options: {sorted(self.cfg.__dataclass_fields__)}")
            setattr(self.cfg, k, v)
        if self.cfg.action_mode not in ("ee_delta", "joint_velocity"):
            raise ValueError(f"action_mode must be 'ee_delta' or 'joint_velocity', got {self.cfg.action_mode!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be 'rgb_array' or None, got {render_mode!r}")
        self.render_mode = render_mode
        self.task = JacoTask(task, STEPS[task])
        self.max_episode_steps = self.cfg.max_episode_steps or self.task.max_episode_steps
        self.metadata = {**self.metadata, "render_fps": self.cfg.control_hz}
        self._env = manipulation.load(JACO_TASKS[task], seed=0)
        self._env.reset()
        spec = self._env.action_spec()
        self._native_low, self._native_high = spec.minimum.astype(np.float64), spec.maximum.astype(np.float64)
        control_dt = self._env.task.control_timestep
        self._substeps = max(1, int(round(1.0 / self.cfg.control_hz / control_dt)))  # task steps per control step
        self._physics_steps = self._env.task.physics_steps_per_control_step
        if self.cfg.action_mode == "ee_delta":
            c = self.cfg
            high = np.array([c.max_delta_pos] * 3 + [c.max_delta_rot] * 3 + [1.0], np.float32)
            self.action_space = spaces.Box(-high, high, dtype=np.float32)
        else:
            self.action_space = spaces.Box(self._native_low.astype(np.float32), self._native_high.astype(np.float32), dtype=np.float32)
        h, w = self.cfg.image_height, self.cfg.image_width
        big = np.inf
        self.observation_space = spaces.Dict({
            "image": spaces.Box(0, 255, (h, w, 3), np.uint8),
            "ee_state": spaces.Box(-big, big, (7,), np.float32),
            # the task's prop or target (object_pos: what the ladder's true-state energies compare), the goal position
            "privileged": spaces.Dict({"tcp_pos": spaces.Box(-big, big, (3,), np.float64),
                                       "object_pos": spaces.Box(-big, big, (3,), np.float64),
                                       "goal_pos": spaces.Box(-big, big, (3,), np.float64)}),
        })
        self._build_handles()
        self.steps = 0
        self.goal: dict = {}

    # ----- the task's physics ------------------------------------------------------------------------------------
    @property
    def physics(self):
        return self._env.physics  # composer recompiles the model at each reset: always the current one

    def _build_handles(self) -> None:
        p = self.physics
        m = p.model.ptr
        self._ik = DiffIK(m, TCP_SITE, ARM_JOINTS, q_home=self._arm_q(), cfg=IKConfig(rotation_weight=0.3))
        self._arm_qadr = np.array([p.model.jnt_qposadr[p.model.name2id(j, "joint")] for j in ARM_JOINTS])
        self._finger_qadr = np.array([p.model.jnt_qposadr[p.model.name2id(j, "joint")] for j in FINGER_JOINTS])
        self._finger_range = np.array([p.model.jnt_range[p.model.name2id(j, "joint")] for j in FINGER_JOINTS])
        self._tcp = p.model.name2id(TCP_SITE, "site")

    def _arm_q(self) -> np.ndarray:
        p = self.physics
        return np.array([p.data.qpos[p.model.jnt_qposadr[p.model.name2id(j, "joint")]] for j in ARM_JOINTS])

    @property
    def tcp_pos(self) -> np.ndarray:
        return self.physics.data.site_xpos[self._tcp].copy()

    @property
    def tcp_mat(self) -> np.ndarray:
        return self.physics.data.site_xmat[self._tcp].reshape(3, 3).copy()

    def gripper_closure(self) -> float:
        q = self.physics.data.qpos[self._finger_qadr]
        lo, hi = self._finger_range[:, 0], self._finger_range[:, 1]
        return float(np.clip(np.mean((q - lo) / (hi - lo)), 0.0, 1.0))

    def ee_state(self) -> np.ndarray:
        """Tool centre point xyz, its orientation as Euler xyz, the hand's closure in [0, 1]: [7]."""
        return np.concatenate([self.tcp_pos, mat_to_euler(self.tcp_mat), [self.gripper_closure()]]).astype(np.float32)

    def target_pos(self) -> np.ndarray:
        return self.physics.bind(self._env.task._target).xpos.copy()

    def task_reward(self) -> float:
        return float(self._env.task.get_reward(self.physics))

    # ----- rendering and goals -----------------------------------------------------------------------------------
    def render_image(self) -> np.ndarray:
        return self.physics.render(self.cfg.image_height, self.cfg.image_width, camera_id=self.cfg.camera).copy()

    def render(self) -> np.ndarray | None:
        return self.render_image() if self.render_mode == "rgb_array" else None

    def snapshot(self) -> np.ndarray:
        return self.physics.get_state().copy()

    def restore(self, snap: np.ndarray) -> None:
        self.physics.set_state(snap)
        self.physics.forward()

    def _pose_arm(self, pos: np.ndarray, mat: np.ndarray) -> float:
        """Put the arm (kinematically) where the tool centre point is at pos with orientation mat; the residual error."""
        p = self.physics
        q, err = self._ik.solve(p.data.qpos.copy(), pos, mat, iterations=200)
        p.data.qpos[self._arm_qadr] = q
        p.data.qvel[:] = 0.0
        p.forward()
        return err

    def _goal(self) -> tuple[np.ndarray | None, dict]:
        """The goal image and the goal's end-effector state: the hand at the target, as it is oriented now."""
        snap = self.snapshot()
        try:
            self._pose_arm(self.target_pos(), self.tcp_mat)
            state = {"ee_state": self.ee_state(), "object_pos": self.target_pos()}
            image = self.render_image() if self.cfg.render_goal else None
        finally:
            self.restore(snap)
        return image, state

    # ----- Gymnasium ---------------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._env.random_state.seed(seed)  # the task's own initialisers draw from it
        self._env.reset()
        self._build_handles()
        self.steps = 0
        image, state = self._goal()
        self.goal = {"position": self.target_pos()}
        info = {"goal_image": image, "goal_state": state, "goal": dict(self.goal), **self._task_info()}
        return self._observation(), info

    def _native_action(self, action: np.ndarray, q_target: np.ndarray | None) -> np.ndarray:
        """The 9-D joint-velocity command toward q_target (arm) and the gripper command (fingers)."""
        if q_target is None:
            return np.clip(action, self._native_low, self._native_high)
        err = np.arctan2(np.sin(q_target - self._arm_q()), np.cos(q_target - self._arm_q()))
        arm = self.cfg.joint_gain * err
        fingers = np.full(3, FINGER_SPEED * float(np.clip(action[6], -1.0, 1.0)))
        return np.clip(np.concatenate([arm, fingers]), self._native_low, self._native_high)

    def _advance(self, action: np.ndarray) -> bool:
        """One control step of the true controller and physics; True if the simulation diverged."""
        import mujoco

        action = np.asarray(action, np.float64)
        q_target = None
        if self.cfg.action_mode == "ee_delta":
            pos = self.tcp_pos + np.clip(action[:3], -self.cfg.max_delta_pos, self.cfg.max_delta_pos)
            rot = euler_to_mat(np.clip(action[3:6], -self.cfg.max_delta_rot, self.cfg.max_delta_rot)) @ self.tcp_mat
            q_target, _ = self._ik.solve(self.physics.data.qpos.copy(), pos, rot)
        p = self.physics
        try:
            for _ in range(self._substeps):
                p.set_control(self._native_action(action, q_target))
                p.step(self._physics_steps)
        except mujoco.FatalError:
            return True
        return not np.all(np.isfinite(p.data.qpos))

    def step(self, action):
        action = np.asarray(action, dtype=np.float32)
        if action.shape != self.action_space.shape or not np.all(np.isfinite(action)):
            raise ValueError(f"action must be a finite array of shape {self.action_space.shape}, got {action.shape}")
        diverged = self._advance(action)
        self.steps += 1
        info = {**self._task_info(), "diverged": diverged}
        truncated = self.steps >= self.max_episode_steps
        return self._observation(), float(info["success"]), bool(diverged), truncated, info

    def simulate(self, actions: np.ndarray, render: bool = False) -> dict[str, np.ndarray]:
        """Roll candidate action sequences [S, H, A] out from the current state with the true controller and physics,
        each from the same start, and put the simulation back exactly. Returns "ee_state" [S, H, 7], "object_pos"
        [S, H, 3] (the target, which does not move), "held" [S, H] (False: no object), "diverged" [S], and with
        render "image" [S, H_img, W_img, 3]."""
        actions = np.asarray(actions, dtype=np.float64)
        if actions.ndim != 3 or actions.shape[-1] != self.action_space.shape[0]:
            raise ValueError(f"actions must be [S, H, {self.action_space.shape[0]}], got {actions.shape}")
        s, h = actions.shape[:2]
        snap = self.snapshot()
        out = {"ee_state": np.zeros((s, h, 7), np.float32), "object_pos": np.zeros((s, h, 3), np.float32),
               "held": np.zeros((s, h), bool), "diverged": np.zeros(s, bool)}
        images = []
        try:
            for i in range(s):
                self.restore(snap)
                for t in range(h):
                    if self._advance(actions[i, t]):
                        out["diverged"][i] = True
                        break
                    out["ee_state"][i, t], out["object_pos"][i, t] = self.ee_state(), self.target_pos()
                if render:
                    images.append(self.render_image())
        finally:
            self.restore(snap)
        if render:
            out["image"] = np.stack(images)
        return out

    def environment_state(self) -> np.ndarray:
        """The scene's state beside the robot's (for recorded logs): the target site's position [3]."""
        return self.target_pos().astype(np.float32)

    def true_state(self) -> dict[str, np.ndarray]:
        return {"ee_state": self.ee_state(), "object_pos": self.target_pos()}

    def _task_info(self) -> dict:
        d = float(np.linalg.norm(self.tcp_pos - self.target_pos()))
        return {"success": self.task_reward() >= 1.0, "distance": d, "task": self.task.name}

    def _observation(self) -> dict:
        return {"image": self.render_image(), "ee_state": self.ee_state(),
                "privileged": {"tcp_pos": self.tcp_pos, "object_pos": self.target_pos(), "goal_pos": self.target_pos()}}

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None
