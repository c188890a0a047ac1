"""Scripted policies for the Jaco tasks: the expert (the env's own 7-D end-effector delta actions) and a play policy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OPEN = -1.0


def toward(ee: np.ndarray, pos: np.ndarray, max_pos: float, gripper: float, gain: float = 1.0) -> np.ndarray:
    """Action [7]: the tool centre point toward pos, bounded per step; the hand's orientation kept."""
    a = np.zeros(7, np.float32)
    a[:3] = np.clip(gain * (np.asarray(pos) - ee[:3]), -max_pos, max_pos)
    a[6] = gripper
    return a


class JacoReachExpert:
    """Straight to the target site with the hand open (reach_site)."""

    max_pos = 0.05

    def reset(self, obs: dict, info: dict, rng: np.random.Generator) -> None:
        self.goal = np.asarray(info["goal"]["position"])

    def act(self, obs: dict) -> np.ndarray:
        return toward(obs["ee_state"], self.goal, self.max_pos, OPEN)


@dataclass
class JacoPlayPolicy:
    """Task-agnostic play, as the Panda's: wander to random points of the reachable box with the hand opening and
    closing, turn the hand, and where the scene has a prop (lift_brick) grasp it with an imprecise aim, lift it to a
    random height and let it go; smooth noise on top. It never looks at the task's goal (logs stay task-agnostic)."""

    low: tuple = (-0.25, -0.25, 0.05)  # the box the task's own spawn areas lie in, a little larger (metres)
    high: tuple = (0.25, 0.25, 0.4)
    noise_std: float = 0.3
    noise_smoothing: float = 0.7
    max_pos: float = 0.05
    skill_probs: tuple = (("grasp", 0.45), ("wander", 0.4), ("rotate", 0.15))  # grasp only where there is a prop

    def reset(self, obs: dict, info: dict, rng: np.random.Generator) -> None:
        self.rng, self.noise = rng, np.zeros(3)
        self.has_prop = info.get("task") == "lift_brick"
        self.gripper = OPEN
        self._next(obs)

    def _next(self, obs: dict) -> None:
        names = [n for n, _ in self.skill_probs if n != "grasp" or self.has_prop]
        probs = np.array([p for n, p in self.skill_probs if n in names])
        self.skill, self.steps, r = str(self.rng.choice(names, p=probs / probs.sum())), 0, self.rng
        self.target = r.uniform(self.low, self.high)
        self.turn = 0.0
        if self.skill == "grasp":
            self.expert = JacoLiftExpert(lift_to=float(obs["privileged"]["object_pos"][2]) + r.uniform(0.05, 0.25))
            self.expert.reset(obs, {}, r)
            self.aim = np.concatenate([r.normal(0, 0.008, 2), [r.normal(0, 0.004)]])  # some grasps miss
        elif self.skill == "wander":
            self.gripper = float(r.choice([OPEN, 1.0], p=[0.6, 0.4]))
        else:
            self.target = obs["ee_state"][:3] + r.uniform(-0.05, 0.05, 3)
            self.turn = float(r.uniform(-1.2, 1.2))

    def _skill_action(self, obs: dict) -> np.ndarray | None:
        ee = obs["ee_state"]
        self.steps += 1
        if self.skill == "grasp":
            if self.steps > 40 or self.expert.phase == "lifted":
                self.gripper = OPEN  # let it go
                return None
            p = {**obs["privileged"], "object_pos": np.asarray(obs["privileged"]["object_pos"]) + self.aim}
            return self.expert.act({**obs, "privileged": p})
        if np.linalg.norm(ee[:3] - self.target) < 0.03 or self.steps > 20:
            return None
        a = toward(ee, self.target, self.max_pos, self.gripper, gain=0.8)
        if self.skill == "rotate":
            a[5] = np.clip(self.turn - ee[5], -0.25, 0.25)
        return a

    def act(self, obs: dict) -> np.ndarray:
        a = self._skill_action(obs)
        if a is None:
            self._next(obs)
            a = self._skill_action(obs)
            if a is None:
                a = toward(obs["ee_state"], obs["ee_state"][:3], self.max_pos, self.gripper)
        self.noise = self.noise_smoothing * self.noise + np.sqrt(1 - self.noise_smoothing**2) * self.rng.normal(0, self.noise_std, 3)
        scale = 0.1 if self.skill == "grasp" else 1.0  # a steadier hand near the brick, as a tele-operator's
        a[:3] = np.clip(a[:3] + scale * self.noise * self.max_pos, -self.max_pos, self.max_pos)
        return a


@dataclass
class JacoLiftExpert:
    """lift_brick: above the brick with the hand turned across it, down, close, lift straight up."""

    max_pos: float = 0.05
    lift_speed: float = 0.03  # metres per step while lifting (faster loses the brick)
    close_steps: int = 8
    lift_to: float = 0.45  # the pinch site's height to lift to (metres); at it the phase is "lifted"

    def reset(self, obs: dict, info: dict, rng: np.random.Generator) -> None:
        from envs.jaco_env import GRASP_DEPTH, GRASP_YAW_OFFSET

        self.depth, self.yaw_offset = GRASP_DEPTH, GRASP_YAW_OFFSET
        self.phase, self.closed, self.last_z = "above", 0, None

    def act(self, obs: dict) -> np.ndarray:
        ee, p = obs["ee_state"], obs["privileged"]
        brick, yaw = np.asarray(p["object_pos"]), float(np.asarray(p["object_yaw"]).reshape(-1)[0])
        turn = float(np.arctan2(np.sin(yaw + self.yaw_offset - ee[5]), np.cos(yaw + self.yaw_offset - ee[5])))
        turn = turn - np.pi if turn > np.pi / 2 else turn + np.pi if turn < -np.pi / 2 else turn
        grip, limit, target = OPEN, self.max_pos, ee[:3]
        if self.phase == "above":
            target = brick + [0.0, 0.0, 0.12]
            if np.linalg.norm(ee[:3] - target) < 0.015 and abs(turn) < 0.05:
                self.phase = "down"
        if self.phase == "down":
            target = brick + [0.0, 0.0, self.depth]
            stalled = self.last_z is not None and abs(self.last_z - ee[2]) < 0.002
            if np.linalg.norm(ee[:3] - target) < 0.01 or stalled:
                self.phase = "close"
            self.last_z = float(ee[2])
        if self.phase == "close":
            target, grip = ee[:3], 1.0
            self.closed += 1
            if self.closed >= self.close_steps:
                self.phase = "lift"
        if self.phase == "lift":
            target, grip, limit = np.array([ee[0], ee[1], self.lift_to]), 1.0, self.lift_speed
            if ee[2] > self.lift_to - 0.01:
                self.phase = "lifted"
        if self.phase == "lifted":
            target, grip = np.array([ee[0], ee[1], self.lift_to]), 1.0
        a = toward(ee, target, limit, grip)
        a[5] = np.clip(turn, -0.25, 0.25) if self.phase == "above" else 0.0
        return a

