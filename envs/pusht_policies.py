"""Policies for our Push-T env (envs/pusht_env.py): the collection policy (stable-worldmodel's `WeakPolicy`, random
moves kept near the block, at our block rate) and the expert (the recorded episode's own actions, replayed from the
start the protocol took: the goal is by construction where they lead)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.pusht_env import ARENA, play_action


@dataclass
class PushTPlay:
    """stable-worldmodel's Push-T collection policy: each step of ours one random relative move (at most 100 px per
    Push-T step in each axis) whose target stays within 100 px of the block. It never reads the task's goal."""

    def reset(self, obs: dict, info: dict, rng: np.random.Generator) -> None:
        self.rng = rng

    def act(self, obs: dict) -> np.ndarray:
        s = obs["privileged"]["state"]
        move = play_action(s[:2], s[2:4], self.rng) / ARENA
        return np.array([move[0], move[1], 0, 0, 0, 0, 0], np.float32)


class PushTExpert:
    """The protocol's oracle: the actions that recorded the goal, replayed from the episode's start (then standing
    still). The start is set exactly as the recording's, so the replay reaches the goal state."""

    def reset(self, obs: dict, info: dict, rng: np.random.Generator) -> None:
        self.actions, self.t = np.asarray(info["goal"]["recorded_actions"], np.float32), 0

    def act(self, obs: dict) -> np.ndarray:
        a = self.actions[self.t] if self.t < len(self.actions) else np.zeros(7, np.float32)
        self.t += 1
        return a.copy()
