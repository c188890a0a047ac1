"""OGBench's own cube oracle (`CubeMarkovOracle`) driving our OGBench cube env one action block at a time: the expert
(toward the goal's cube position) and play (toward random targets, OGBench's data collection), both with the oracle's
own phases and gains."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.ogbench_env import new_oracle, oracle_action

GAIN_POS, GAIN_YAW = 5.0, 3.0  # the oracle's gains: its normalized action is gain x error, clipped to [-1, 1]
# a block's move is this many times the oracle's error: OGBench's controller tracks about half a block's command
BLOCK_GAIN = 1.8
ALOFT = 0.03  # a goal cube higher than this (resting: 0.02) is in the hand
TARGETS = ((0.3, -0.3), (0.55, 0.3))  # OGBench's target sampling bounds (x, y); cubes rest at z = 0.02


def block_action(oracle, obs: dict, target_pos, target_yaw: float) -> np.ndarray:
    """The oracle's action at the block's first step, as a block action of ours [7]: the error it steers by (its
    normalized action over its gain, times BLOCK_GAIN: at most 25 cm and 0.33 rad), its gripper command."""
    ee, p = obs["ee_state"], obs["privileged"]
    a = oracle_action(oracle, ee[:3], float(ee[5]), float(ee[6]), float(p["gripper_contact"][0]), p["object_pos"],
                      float(p["object_yaw"][0]), target_pos, target_yaw)
    move = np.clip(BLOCK_GAIN * a[:3] / GAIN_POS, -0.25, 0.25)
    return np.array([*move, 0.0, 0.0, a[3] / GAIN_YAW, a[4]], np.float32)


class OGBenchCubeExpert:
    """OGBench's Markov oracle placing the cube where the goal shows it (its gains and phases; the minimum-norm shaping
    off, as one step of ours is five of its)."""

    def reset(self, obs: dict, info: dict, rng: np.random.Generator) -> None:
        self.oracle = new_oracle(rng, min_norm=0.0)
        self.target, self.yaw = np.asarray(info["goal"]["position"], float), float(info["goal"].get("yaw", 0.0))

    def act(self, obs: dict) -> np.ndarray:
        a = block_action(self.oracle, obs, self.target, self.yaw)
        p = obs["privileged"]
        in_hand = p["gripper_contact"][0] > 0.5 and np.linalg.norm(p["object_pos"] - obs["ee_state"][:3]) <= 0.02
        if self.target[2] > ALOFT and in_hand:
            a[6] = 1.0  # the goal holds the cube up (25 steps into a carry): keep it in the hand where the oracle would let go
        return a


@dataclass
class OGBenchCubePlay:
    """OGBench's data collection at our block rate: the oracle carries the cube to a random target, then moves the arm
    to a random pose, then draws a new target; per-episode noise xi ~ U(0, noise) on its actions, as OGBench's data.
    It never reads the task's goal."""

    noise: float = 0.1

    def reset(self, obs: dict, info: dict, rng: np.random.Generator) -> None:
        self.rng = rng
        # OGBench's per-step noise N(0, xi [1, 1, 1, 3, 10]) in its normalized units, summed over a block's five steps
        # for the moves (sqrt 5 times one step's); the gripper's held command takes one step's
        xi = rng.uniform(0, self.noise)
        self.std = xi * np.array([0.05 * np.sqrt(5)] * 3 + [0, 0, 0.9 * np.sqrt(5), 10.0])
        self._new_target()

    def _new_target(self) -> None:
        self.oracle = new_oracle(self.rng, min_norm=0.0)
        self.target = np.array([*self.rng.uniform(*TARGETS), 0.02])
        self.yaw = float(self.rng.uniform(0, 2 * np.pi))

    def act(self, obs: dict) -> np.ndarray:
        a = block_action(self.oracle, obs, self.target, self.yaw)
        if self.oracle.done:
            self._new_target()
        a = a + self.rng.normal(0, 1, 7) * self.std
        return np.clip(a, [-0.25, -0.25, -0.25, 0, 0, -1.5, -1], [0.25, 0.25, 0.25, 0, 0, 1.5, 1]).astype(np.float32)
