"""Policies for our Push-T env (envs/pusht_env.py): the collection policy (stable-worldmodel's `WeakPolicy`, random
moves kept near the block, at our block rate, optionally mixed with deliberate pushes through the block) and the expert
(the recorded episode's own actions, replayed from the start the protocol took: the goal is by construction where they
lead)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.pusht_env import ACTION_SCALE, ARENA, play_action

PUSH_REACH = 75.0  # px from the block's centre of gravity at which a push starts (the T reaches 30-90 px from it)
ORBIT = 120.0  # px: the circle round the block the disc follows to the far side of a push, clear of the T
DISC_GAIN = 0.5  # command per px of remaining distance: one step of ours (5 Push-T steps) moves the disc about twice its command


@dataclass
class PushTPlay:
    """stable-worldmodel's Push-T collection policy: each step of ours one random relative move (at most 100 px per
    Push-T step in each axis) whose target stays within 100 px of the block. It never reads the task's goal.

    `pushes` > 0 mixes in deliberate pushes, for logs in which the block moves more often (by 10 px or more in 44 %
    of the steps at 0.7, where the weak policy moves it in about a quarter): with that chance each segment goes (round
    the block if need be) to a point `PUSH_REACH` from its centre, on a random side facing the disc and at a random
    offset across it (so pushes both shift and turn the T), then pushes through it for 2-3 steps at a random speed;
    otherwise the segment is one step of the weak policy. The policy reads the simulator's state to aim, as the weak
    policy does; the logs hold what any log does (frames, the disc's state, actions)."""

    pushes: float = 0.0

    def __post_init__(self):
        if not 0.0 <= self.pushes <= 1.0:
            raise ValueError(f"pushes must lie in [0, 1], got {self.pushes}")

    def reset(self, obs: dict, info: dict, rng: np.random.Generator) -> None:
        self.rng, self.push = rng, None

    def act(self, obs: dict) -> np.ndarray:
        s = obs["privileged"]["state"]
        disc, block = np.asarray(s[:2], float), np.asarray(s[2:4], float)
        if self.push is None and self.pushes > 0 and self.rng.random() < self.pushes:
            self.push = self._new_push(disc, block)
        move = play_action(disc, block, self.rng) if self.push is None else self._push_move(disc, block)
        move = move / ARENA
        return np.array([move[0], move[1], 0, 0, 0, 0, 0], np.float32)

    def _new_push(self, disc: np.ndarray, block: np.ndarray) -> dict:
        """A push: its direction (unit; within 80 degrees of the disc-to-block line, so the way to its start is
        short), its offset across the block (px), its speed (px a Push-T step) and its steps."""
        rel = block - disc
        phi = np.arctan2(rel[1], rel[0]) + self.rng.uniform(-1.4, 1.4)
        return {"u": np.array([np.cos(phi), np.sin(phi)]), "offset": self.rng.uniform(-25, 25),
                "speed": self.rng.uniform(40, ACTION_SCALE), "steps": int(self.rng.integers(2, 4)), "approach": 4}

    def _push_move(self, disc: np.ndarray, block: np.ndarray) -> np.ndarray:
        """The next command (px) of the current push: round the block to its start, then through the block."""
        p = self.push
        u, side = p["u"], np.array([-p["u"][1], p["u"][0]])
        if p["approach"] > 0:
            start = block - PUSH_REACH * u + p["offset"] * side
            if np.linalg.norm(start - disc) > 25:
                p["approach"] -= 1
                rel = disc - block
                have, want = np.arctan2(rel[1], rel[0]), np.arctan2(-u[1], -u[0])
                turn = (want - have + np.pi) % (2 * np.pi) - np.pi
                if abs(turn) > 0.6 and np.linalg.norm(rel) < ORBIT + 20:  # the start is across the block: go round it
                    a = have + np.sign(turn) * min(abs(turn), 1.2)
                    start = block + ORBIT * np.array([np.cos(a), np.sin(a)])
                return np.clip(DISC_GAIN * (start - disc), -ACTION_SCALE, ACTION_SCALE)
            p["approach"] = 0
        p["steps"] -= 1
        if p["steps"] <= 0:
            self.push = None
        return np.clip(p["speed"] * u, -ACTION_SCALE, ACTION_SCALE)


class PushTExpert:
    """The protocol's oracle: the actions that recorded the goal, replayed from the episode's start (then standing
    still). The start is set exactly as the recording's, so the replay reaches the goal state."""

    def reset(self, obs: dict, info: dict, rng: np.random.Generator) -> None:
        self.actions, self.t = np.asarray(info["goal"]["recorded_actions"], np.float32), 0

    def act(self, obs: dict) -> np.ndarray:
        a = self.actions[self.t] if self.t < len(self.actions) else np.zeros(7, np.float32)
        self.t += 1
        return a.copy()
