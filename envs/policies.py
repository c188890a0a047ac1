"""Scripted policies on privileged state: an expert per task, and a play policy that explores with purpose.

Every policy is `reset(obs, info, rng)` then `act(obs) -> action[7]`; all randomness comes from the rng given to reset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from envs.geometry import wrap_angle
from envs.scene import CUBE_HALF
from envs.tasks import GRASP_HEIGHT_OFFSET

MAX_POS = 0.05
MAX_ROT = 0.25
OPEN, CLOSE = -1.0, 1.0


def move_toward(ee_state: np.ndarray, pos: np.ndarray, yaw: float, gripper: float, gain: float = 1.0) -> np.ndarray:
    """Action [7] that moves the TCP toward a position and yaw (roll and pitch back to zero), bounded per step."""
    dpos = np.clip(gain * (np.asarray(pos) - ee_state[:3]), -MAX_POS, MAX_POS)
    drot = np.clip(wrap_angle(np.array([0.0, 0.0, yaw]) - ee_state[3:6]), -MAX_ROT, MAX_ROT)
    return np.concatenate([dpos, drot, [gripper]]).astype(np.float32)


def _fold_yaw(yaw: float, current: float) -> float:
    """The grasp yaw (cube yaw plus a multiple of a quarter turn) nearest the current gripper yaw."""
    k = np.round((current - yaw) / (np.pi / 2))
    return float(yaw + k * np.pi / 2)


def _object_yaw(quat: np.ndarray) -> float:
    w, x, y, z = quat
    yaw = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return float((yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4)


class GraspSequence:
    """Above the object, down, close, then up to a height: the shared core of the grasp experts."""

    def __init__(self, lift_to: float):
        self.lift_to = lift_to
        self.phase = "approach"
        self.closed_steps = 0

    def act(self, ee: np.ndarray, obj: np.ndarray, obj_yaw: float) -> np.ndarray | None:
        """Next action, or None once the object is lifted."""
        yaw = _fold_yaw(obj_yaw, float(ee[5]))
        grasp_z = obj[2] + GRASP_HEIGHT_OFFSET
        if self.phase == "approach":
            above = np.array([obj[0], obj[1], grasp_z + 0.08])
            if np.linalg.norm(ee[:2] - obj[:2]) < 0.012 and abs(wrap_angle(ee[5] - yaw)) < 0.08 and abs(ee[2] - above[2]) < 0.04:
                self.phase = "descend"
            else:
                return move_toward(ee, above, yaw, OPEN)
        if self.phase == "descend":
            target = np.array([obj[0], obj[1], grasp_z])
            if abs(ee[2] - grasp_z) < 0.008:
                self.phase = "close"
            else:
                return move_toward(ee, target, yaw, OPEN)
        if self.phase == "close":
            self.closed_steps += 1
            if self.closed_steps > 2:
                self.phase = "lift"
            return np.array([0, 0, 0, 0, 0, 0, CLOSE], dtype=np.float32)
        if ee[2] < self.lift_to - 0.01:
            return move_toward(ee, np.array([ee[0], ee[1], self.lift_to]), float(ee[5]), CLOSE)
        return None


@dataclass
class ReachExpert:
    """Straight to the goal with the gripper open."""

    def reset(self, obs: dict, info: dict, rng: np.random.Generator) -> None:
        self.goal = np.asarray(info["goal"]["position"])

    def act(self, obs: dict) -> np.ndarray:
        return move_toward(obs["ee_state"], self.goal, 0.0, OPEN)


@dataclass
class GraspExpert:
    """Above the cube, down, close, lift."""

    lift: float = 0.12

    def reset(self, obs: dict, info: dict, rng: np.random.Generator) -> None:
        self.seq = GraspSequence(lift_to=float(obs["privileged"]["object_pos"][2]) + GRASP_HEIGHT_OFFSET + self.lift)

    def act(self, obs: dict) -> np.ndarray:
        p = obs["privileged"]
        a = self.seq.act(obs["ee_state"], p["object_pos"], _object_yaw(p["object_quat"]))
        return a if a is not None else np.array([0, 0, 0, 0, 0, 0, CLOSE], dtype=np.float32)


@dataclass
class ReachWithObjectExpert:
    """Keep the gripper shut and carry the cube to the goal."""

    def reset(self, obs: dict, info: dict, rng: np.random.Generator) -> None:
        self.goal = np.asarray(info["goal"]["position"])

    def act(self, obs: dict) -> np.ndarray:
        ee = obs["ee_state"]
        offset = obs["privileged"]["object_pos"] - ee[:3]  # where the cube sits relative to the TCP
        return move_toward(ee, self.goal - offset, float(ee[5]), CLOSE)


@dataclass
class PickPlaceExpert:
    """Grasp and lift, carry above the target, lower, release, back off."""

    carry_height: float = 0.12

    def reset(self, obs: dict, info: dict, rng: np.random.Generator) -> None:
        self.target = np.asarray(info["goal"]["position"])
        self.seq = GraspSequence(lift_to=self.target[2] + GRASP_HEIGHT_OFFSET + self.carry_height)
        self.phase = "grasp"
        self.released = 0

    def act(self, obs: dict) -> np.ndarray:
        ee, p = obs["ee_state"], obs["privileged"]
        if self.phase == "grasp":
            a = self.seq.act(ee, p["object_pos"], _object_yaw(p["object_quat"]))
            if a is not None:
                return a
            self.phase = "carry"
        offset = p["object_pos"] - ee[:3]
        if self.phase == "carry":
            above = self.target + [0, 0, self.carry_height] - offset
            if np.linalg.norm(ee[:2] - above[:2]) < 0.01:
                self.phase = "lower"
            else:
                return move_toward(ee, above, float(ee[5]), CLOSE)
        if self.phase == "lower":
            place = self.target + [0, 0, 0.004] - offset
            if ee[2] - place[2] < 0.006:
                self.phase = "release"
            else:
                return move_toward(ee, place, float(ee[5]), CLOSE)
        if self.phase == "release":
            self.released += 1
            if self.released > 2:
                self.phase = "retreat"
            return np.array([0, 0, 0, 0, 0, 0, OPEN], dtype=np.float32)
        return move_toward(ee, np.array([ee[0], ee[1], self.target[2] + 0.15]), float(ee[5]), OPEN)


EXPERTS = {"reach": ReachExpert, "grasp": GraspExpert, "reach_with_object": ReachWithObjectExpert, "pick_place": PickPlaceExpert}


def expert_for(task_name: str):
    """A fresh scripted expert for a task (a Panda task's, a Jaco task's, OGBench's cube oracle, or Push-T's replay)."""
    from envs.jaco_policies import JacoLiftExpert, JacoReachExpert

    jaco = {"reach_site": JacoReachExpert, "lift_brick": JacoLiftExpert}
    if task_name in jaco:
        return jaco[task_name]()
    if task_name == "cube_single":
        from envs.ogbench_policies import OGBenchCubeExpert

        return OGBenchCubeExpert()
    if task_name == "push_t":
        from envs.pusht_policies import PushTExpert

        return PushTExpert()
    if task_name not in EXPERTS:
        raise KeyError(f"no scripted expert for task {task_name!r}; known: {sorted(EXPERTS)}")
    return EXPERTS[task_name]()


@dataclass
class PlayPolicy:
    """Tele-operation-like play: reach toward objects, close on them, lift, carry, release, wander; smooth noise on top.

    It never looks at the task's goal, so data it records is task-agnostic (zero-shot planning stays zero-shot).
    """

    noise_std: float = 0.3  # of the bound, per step, before smoothing
    noise_smoothing: float = 0.7  # AR(1) coefficient of the noise
    skill_probs: dict = field(default_factory=lambda: {"grasp": 0.45, "poke_cup": 0.15, "wander": 0.25, "rotate": 0.15})
    # share of grasps that end by lowering the cube onto the table, opening and backing off (the rest let go in the
    # air); 0 keeps the random stream of logs recorded before this option existed
    place_prob: float = 0.0
    max_skill_steps: int = 40

    def reset(self, obs: dict, info: dict, rng: np.random.Generator) -> None:
        self.rng = rng
        self.noise = np.zeros(7)
        self.gripper = OPEN
        self._next_skill(obs)

    def _next_skill(self, obs: dict) -> None:
        names = list(self.skill_probs)
        probs = np.array([self.skill_probs[n] for n in names], float)
        self.skill = str(self.rng.choice(names, p=probs / probs.sum()))
        self.skill_steps = 0
        r = self.rng
        if self.skill == "grasp":
            p = obs["privileged"]
            self.seq = GraspSequence(lift_to=float(p["object_pos"][2]) + r.uniform(0.06, 0.2))
            self.carry_to = r.uniform([0.35, -0.22, 0.06], [0.65, 0.22, 0.3])
            self.aim = r.normal(0, 0.006, 3)  # imprecise aim: some grasps miss, as in real play data
            self.place = self.place_prob > 0 and r.uniform() < self.place_prob
            self.released = 0
        elif self.skill == "poke_cup":
            cup = obs["privileged"]["cup_pos"]
            self.target = cup + [r.uniform(-0.06, 0.06), r.uniform(-0.06, 0.06), r.uniform(0.1, 0.2)]
        elif self.skill == "wander":
            self.target = r.uniform([0.3, -0.3, 0.03], [0.7, 0.3, 0.4])
            self.gripper = float(r.choice([OPEN, CLOSE], p=[0.7, 0.3]))
        else:
            self.target_yaw = r.uniform(-1.2, 1.2)
            self.target = obs["ee_state"][:3] + r.uniform(-0.05, 0.05, 3)

    def _skill_action(self, obs: dict) -> np.ndarray | None:
        ee, p = obs["ee_state"], obs["privileged"]
        self.skill_steps += 1
        if self.skill_steps > self.max_skill_steps:
            return None
        if self.skill == "grasp":
            if self.seq.phase != "done":
                a = self.seq.act(ee, p["object_pos"] + self.aim, _object_yaw(p["object_quat"]))
                if a is not None:
                    return a
                self.seq.phase = "done"
            if self.place and self.seq.phase == "done":
                return self._place(ee, p["object_pos"])
            if np.linalg.norm(ee[:3] - self.carry_to) > 0.03:
                return move_toward(ee, self.carry_to, float(ee[5]), CLOSE)
            self.gripper = OPEN
            return None  # release by opening on the next skill
        target_yaw = self.target_yaw if self.skill == "rotate" else float(ee[5])
        if np.linalg.norm(ee[:3] - self.target) < 0.02 and abs(wrap_angle(ee[5] - target_yaw)) < 0.05:
            return None
        gripper = OPEN if self.skill == "poke_cup" else self.gripper
        return move_toward(ee, self.target, target_yaw, gripper, gain=0.8)

    def _place(self, ee: np.ndarray, obj: np.ndarray) -> np.ndarray | None:
        """Carry above the spot, lower the cube onto the table, open, back off upward (a dropped cube ends the skill).
        `released` counts the stages: 0 carrying, 1 lowering, 2-4 opening, 5-9 backing off."""
        if self.released <= 1 and np.linalg.norm(obj - ee[:3]) > 0.05:
            return None
        if self.released == 0:
            above = np.array([*self.carry_to[:2], max(self.carry_to[2], 0.1)])
            if np.linalg.norm(ee[:2] - above[:2]) > 0.04:
                return move_toward(ee, above, float(ee[5]), CLOSE)
            self.released = 1
        if self.released == 1:
            down = np.array([*self.carry_to[:2], CUBE_HALF + GRASP_HEIGHT_OFFSET + 0.004])
            if ee[2] - down[2] > 0.01:
                return move_toward(ee, down, float(ee[5]), CLOSE)
            self.released = 2
        if self.released <= 4:  # open on the table
            self.released += 1
            self.gripper = OPEN
            return np.array([0, 0, 0, 0, 0, 0, OPEN], dtype=np.float32)
        if self.released < 10 and ee[2] < self.carry_to[2] - 0.02:  # back off upward, open
            self.released += 1
            return move_toward(ee, np.array([*ee[:2], max(self.carry_to[2], 0.12)]), float(ee[5]), OPEN)
        return None

    def act(self, obs: dict) -> np.ndarray:
        a = self._skill_action(obs)
        if a is None:
            self._next_skill(obs)
            a = self._skill_action(obs)
            if a is None:
                a = np.array([0, 0, 0, 0, 0, 0, self.gripper], dtype=np.float32)
        bound = np.array([MAX_POS] * 3 + [MAX_ROT] * 3 + [0.0])
        self.noise = self.noise_smoothing * self.noise + np.sqrt(1 - self.noise_smoothing**2) * self.rng.normal(0, self.noise_std, 7)
        out = a + self.noise * bound
        out[:6] = np.clip(out[:6], -bound[:6], bound[:6])
        return out.astype(np.float32)


def make_policy(name: str, task_name: str, **options):
    """A scripted policy by name: 'play' (its dataclass fields as `options`) or 'expert' (the task's own expert)."""
    if name == "play":
        from envs.jaco_env import JACO_TASKS
        from envs.jaco_policies import JacoPlayPolicy

        cls = JacoPlayPolicy if task_name in JACO_TASKS else PlayPolicy
        if task_name == "cube_single":
            from envs.ogbench_policies import OGBenchCubePlay as cls
        if task_name == "push_t":
            from envs.pusht_policies import PushTPlay as cls
        fields = set(cls.__dataclass_fields__)
        unknown = sorted(set(options) - fields)
        if unknown:
            raise TypeError(f"unknown option {unknown[0]!r} of the {cls.__name__} play policy; options: {sorted(fields)}")
        return cls(**options)
    if name == "expert":
        if options:
            raise TypeError(f"the expert policies take no options; got {sorted(options)}")
        return expert_for(task_name)
    raise KeyError(f"unknown policy {name!r}; known: ['expert', 'play']")
