"""The Kinova Jaco on DeepMind's own manipulation tasks (`dm_control.manipulation`), as a Gymnasium env with the
Panda's contract: a camera image and the end-effector state in, a 7-D end-effector delta (or the native 9-D joint
velocities) out, a goal image in reset's info.

The arena, props, initial-state distribution and reward are the task's own (built by `manipulation.load`); this
module only adds the observation contract, the end-effector controller (the same damped-least-squares IK as the
Panda's, on the Jaco's six arm joints and its pinch site), goal images, and `simulate` for the ladder's true-dynamics
rungs. Success is the task's reward reaching 1: for reach_site the hand's tool centre point within the target's 5 cm
radius (`dm_control.manipulation.reach`); for lift_brick the brick lifted to the task's height
(`dm_control.manipulation.lift`).
"""

from __future__ import annotations

from dataclasses import dataclass

import envs.rendering  # noqa: F401  (sets the GL backend before mujoco is imported)
import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.controller import DiffIK, IKConfig
from envs.geometry import euler_to_mat, mat_to_euler
from envs.rollouts import roll_out

JACO_TASKS = {"reach_site": "reach_site_features", "lift_brick": "lift_brick_features"}  # ours -> dm_control.manipulation's
STEPS = {"reach_site": 40, "lift_brick": 60}  # control steps per episode at 4 Hz
ARM_JOINTS = [f"jaco_arm/joint_{i}" for i in range(1, 7)]
FINGER_JOINTS = [f"jaco_arm/jaco_hand/finger_{i}" for i in range(1, 4)]
TCP_SITE = "jaco_arm/jaco_hand/pinchsite"
R_DOWN = np.diag([1.0, -1.0, -1.0])  # the pinch site's orientation with the hand pointing straight down, at yaw 0
FINGER_SPEED = 5.0  # rad/s, the finger actuators' bound: the gripper command in [-1, 1] scales it (+ closes)
# lift_brick: the pinch site 1 cm above the brick's base, the hand's yaw a quarter turn from the brick's (8 of 8 lifts
# at this setting on seeds 100-107, against 5 of 8 along the brick), the closure of a hand holding it, the lift
GRASP_DEPTH, GRASP_YAW_OFFSET, HELD_CLOSURE, LIFT_HEIGHT = 0.01, np.pi / 2, 0.45, 0.32


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
    # for recording play logs across scenes: each episode in one of these tasks' scenes, drawn from the reset seed
    # (the env's own task when empty)
    scenes: tuple = ()


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
        unknown = [t for t in self.cfg.scenes if t not in JACO_TASKS]
        if unknown:
            raise KeyError(f"scenes: unknown Jaco task {unknown[0]!r}; known: {sorted(JACO_TASKS)}")
        self._envs = {t: manipulation.load(JACO_TASKS[t], seed=0) for t in dict.fromkeys([task, *self.cfg.scenes])}
        self._env = self._envs[task]
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
                                       "object_yaw": spaces.Box(-big, big, (1,), np.float64),
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
        # held(): the prop's geoms, and which finger (phalanx or tip alike) each hand geom belongs to
        prop = getattr(self._env.task, "_prop", None)
        self._prop_geoms = set(p.bind(prop.mjcf_model.find_all("geom")).element_id) if prop is not None else set()
        names = [p.model.id2name(int(b), "body") or "" for b in p.model.geom_bodyid]
        self._finger_of_geom = {g: n.split("finger_")[-1][-1] for g, n in enumerate(names) if "finger" in n}

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
        """Tool centre point xyz, its orientation as Euler xyz relative to the hand pointing down (as the Panda's, so
        no angle wraps at +-pi near the working poses), the hand's closure in [0, 1]: [7]."""
        rpy = mat_to_euler(self.tcp_mat @ R_DOWN.T)
        return np.concatenate([self.tcp_pos, rpy, [self.gripper_closure()]]).astype(np.float32)

    def target_pos(self) -> np.ndarray:
        """The task's target: the target site (reach_site) or the prop (lift_brick)."""
        t = self._env.task
        if getattr(t, "_prop", None) is not None:
            return np.asarray(t._prop.get_pose(self.physics)[0], float).copy()
        return self.physics.bind(t._target).xpos.copy()

    def object_yaw(self) -> float:
        return self.prop_yaw() if getattr(self._env.task, "_prop", None) is not None else 0.0

    def prop_yaw(self) -> float:
        q = np.asarray(self._env.task._prop.get_pose(self.physics)[1], float)  # w, x, y, z
        return float(np.arctan2(2 * (q[0] * q[3] + q[1] * q[2]), 1 - 2 * (q[2] ** 2 + q[3] ** 2)))

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

    def grasp_mat(self) -> np.ndarray:
        """The hand's orientation for a grasp across the brick's short side: pointing down (as the task starts it), its
        yaw turned a quarter turn from the brick's, whichever of the two equivalent yaws is nearer the current one."""
        cur = mat_to_euler(self.tcp_mat)
        want = self.prop_yaw() + GRASP_YAW_OFFSET
        turn = float(np.arctan2(np.sin(want - cur[2]), np.cos(want - cur[2])))
        turn = turn - np.pi if turn > np.pi / 2 else turn + np.pi if turn < -np.pi / 2 else turn  # the hand's 180-degree symmetry
        return euler_to_mat(np.array([0.0, 0.0, turn])) @ self.tcp_mat

    def _set_fingers(self, closure: float) -> None:
        lo, hi = self._finger_range[:, 0], self._finger_range[:, 1]
        self.physics.data.qpos[self._finger_qadr] = lo + closure * (hi - lo)
        self.physics.forward()

    def _configurations(self) -> list:
        """The goal (last) and sub-goal configurations, each a function that poses the scene kinematically."""
        target = self.target_pos()
        if self.task.name == "reach_site":
            mat = self.tcp_mat
            return [lambda: self._pose_arm(target, mat)]
        mat = self.grasp_mat()
        grasp = target + [0.0, 0.0, GRASP_DEPTH]
        lifted = grasp + [0.0, 0.0, LIFT_HEIGHT]
        quat = np.asarray(self._env.task._prop.get_pose(self.physics)[1], float)

        def around():
            self._set_fingers(0.0)
            self._pose_arm(grasp, mat)

        def held():
            self._set_fingers(HELD_CLOSURE)
            self._pose_arm(grasp, mat)

        def up():
            self._set_fingers(HELD_CLOSURE)
            self._pose_arm(lifted, mat)
            self._env.task._prop.set_pose(self.physics, position=target + [0.0, 0.0, LIFT_HEIGHT], quaternion=quat)
            self.physics.forward()

        return [around, held, up]

    def _goals(self) -> tuple[list, list]:
        """Images and states ({"ee_state", "object_pos"}) of the sub-goals, the last one the goal: the hand at the target
        (reach_site); the open hand around the brick, closed on it, the brick lifted (lift_brick)."""
        images, states = [], []
        snap = self.snapshot()
        try:
            for configure in self._configurations():
                self.restore(snap)
                configure()
                states.append({"ee_state": self.ee_state(), "object_pos": self.target_pos()})
                images.append(self.render_image() if self.cfg.render_goal else None)
        finally:
            self.restore(snap)
        return images, states

    # ----- Gymnasium ---------------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if self.cfg.scenes:
            scene = self.cfg.scenes[int(self.np_random.integers(len(self.cfg.scenes)))]
            self._env, self.task = self._envs[scene], JacoTask(scene, STEPS[scene])
        if seed is not None:
            self._env.random_state.seed(seed)  # the task's own initialisers draw from it
        self._env.reset()
        self._build_handles()
        self.steps = 0
        images, states = self._goals()
        self.goal = {"position": states[-1]["object_pos"], "object_start": self.target_pos()}
        info = {"goal_image": images[-1], "goal_state": states[-1], "goal": {k: v.copy() for k, v in self.goal.items()},
                **self._task_info()}
        if len(images) > 1:
            info.update(subgoal_images=images, subgoal_states=states)
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
        [S, H, 3] (the target site, or the prop), "held" [S, H] (the prop in the hand), "diverged" [S], and with
        render "image" [S, H_img, W_img, 3]."""
        return roll_out(self, actions, render, lambda: (self.ee_state(), self.target_pos(), self.held()))

    def environment_state(self) -> np.ndarray:
        """The scene's state beside the robot's (for recorded logs): the target site's or the prop's position [3]."""
        return self.target_pos().astype(np.float32)

    def true_state(self) -> dict[str, np.ndarray]:
        return {"ee_state": self.ee_state(), "object_pos": self.target_pos()}

    def held(self) -> bool:
        """The prop touched by at least two of the hand's three fingers (no prop: False)."""
        if getattr(self._env.task, "_prop", None) is None:
            return False
        d = self.physics.data
        fingers = set()
        for c in d.contact[: d.ncon]:
            for a, b in ((c.geom1, c.geom2), (c.geom2, c.geom1)):
                if a in self._prop_geoms and b in self._finger_of_geom:
                    fingers.add(self._finger_of_geom[b])
        return len(fingers) >= 2

    def _task_info(self) -> dict:
        if self.task.name == "reach_site":
            d = float(np.linalg.norm(self.tcp_pos - self.target_pos()))
        else:  # the prop's distance to where the goal image shows it
            d = float(np.linalg.norm(self.target_pos() - self.goal.get("position", self.target_pos())))
        return {"success": self.task_reward() >= 1.0, "distance": d, "task": self.task.name}

    def _observation(self) -> dict:
        return {"image": self.render_image(), "ee_state": self.ee_state(),
                "privileged": {"tcp_pos": self.tcp_pos, "object_pos": self.target_pos(), "object_yaw": np.array([self.object_yaw()]),
                               "goal_pos": np.array(self.goal.get("position", self.target_pos()), float)}}

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs, self._env = {}, None
