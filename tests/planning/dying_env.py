"""An env whose process dies (as on a segfault or an OOM kill) when reset with seed 1; for tests/planning/test_eval.py."""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class DyingEnv(gym.Env):
    def __init__(self):
        self.action_space = spaces.Box(-0.05, 0.05, (7,), dtype=np.float32)
        self.observation_space = spaces.Dict({"image": spaces.Box(0, 255, (16, 16, 3), np.uint8),
                                              "ee_state": spaces.Box(-np.inf, np.inf, (7,), np.float32)})

    def _obs(self):
        return {"image": np.zeros((16, 16, 3), np.uint8), "ee_state": np.zeros(7, np.float32)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed == 1:
            os._exit(9)
        return self._obs(), {"goal_image": np.zeros((16, 16, 3), np.uint8)}

    def step(self, action):
        return self._obs(), 0.0, False, False, {"success": True, "distance": 0.0}


gym.register("DyingEnv-v0", entry_point=DyingEnv, max_episode_steps=2)
