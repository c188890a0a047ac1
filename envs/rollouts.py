"""True rollouts of candidate action sequences, shared by every env of ours (`simulate`)."""

from __future__ import annotations

from typing import Callable

import numpy as np


def roll_out(env, actions: np.ndarray, render: bool, read: Callable[[], tuple[np.ndarray, np.ndarray, bool]]) -> dict[str, np.ndarray]:
    """Roll candidate action sequences [S, H, A] out from the env's current state with its true controller and physics,
    each from the same start, and put the simulation back exactly afterwards.

    env needs `snapshot()`, `restore(snap)`, `_advance(action) -> diverged` and `render_image()`; `read()` gives the
    end-effector state [7], the object's position [3] and whether it is held, after a step.
    Returns "ee_state" [S, H, 7], "object_pos" [S, H, 3], "held" [S, H], "diverged" [S] and, with render, "image"
    [S, H_img, W_img, 3] (the camera's view after each sequence's last step)."""
    actions = np.asarray(actions, dtype=np.float64)
    width = env.action_space.shape[0]
    if actions.ndim != 3 or actions.shape[-1] != width:
        raise ValueError(f"actions must be [S, H, {width}], got {actions.shape}")
    s, h = actions.shape[:2]
    snap = env.snapshot()
    out = {"ee_state": np.zeros((s, h, 7), np.float32), "object_pos": np.zeros((s, h, 3), np.float32),
           "held": np.zeros((s, h), bool), "diverged": np.zeros(s, bool)}
    images = []
    try:
        for i in range(s):
            env.restore(snap)
            for t in range(h):
                if env._advance(actions[i, t]):
                    out["diverged"][i] = True
                    break
                out["ee_state"][i, t], out["object_pos"][i, t], out["held"][i, t] = read()
            if render:
                images.append(env.render_image())
    finally:
        env.restore(snap)
    if render:
        out["image"] = np.stack(images)
    return out
