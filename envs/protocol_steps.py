"""Stepping shared by the benchmark envs (OGBench's cube, Push-T) under stable-worldmodel's protocol: one step of ours
is a block of `cfg.action_block` benchmark steps, the episode ends after `cfg.eval_budget` of them, success latches at
any of them, and `simulate` rolls candidates out from the current state and puts it (and the latch) back."""

from __future__ import annotations

import numpy as np


class ProtocolSteps:
    """Mixin: needs `cfg` (action_block, eval_budget, terminate_at_goal), `_substeps`, `_latched`, `steps`,
    `_advance(action, budget)`, `_task_info()`, `_observation()` and `_read_outcome()`."""

    def step(self, action):
        action = np.asarray(action, dtype=np.float32)
        if action.shape != self.action_space.shape or not np.all(np.isfinite(action)):
            raise ValueError(f"action must be a finite array of shape {self.action_space.shape}, got {action.shape}")
        n = min(self.cfg.action_block, self.cfg.eval_budget - self._substeps)
        self._advance(action, n)
        self._substeps += n
        self.steps += 1
        info = {**self._task_info(), "diverged": False}
        truncated = self._substeps >= self.cfg.eval_budget
        terminated = bool(info["success"]) and self.cfg.terminate_at_goal
        return self._observation(), float(info["success"]), terminated, truncated, info

    def simulate(self, actions: np.ndarray, render: bool = False) -> dict[str, np.ndarray]:
        """Roll candidate action sequences [S, H, 7] out with the benchmark's controller and physics from the current
        state, and put it back exactly; as the other envs' `simulate`."""
        from envs.rollouts import roll_out

        latched = self._latched
        try:
            return roll_out(self, actions, render, self._read_outcome)
        finally:
            self._latched = latched
