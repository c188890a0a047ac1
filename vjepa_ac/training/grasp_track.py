"""Where the object lies, read off the robot's own log: the hand's position wherever it holds something.

A play log holds no object pose, but it says where the hand was each time it closed on something (the closure stays
between the open and the empty-closed value while an object is in the hand), and an object left alone stays where it
was put. So for every frame:
- while the hand holds something, the object is in the hand: the hand's position;
- otherwise, it lies where it was last let go (the hand's position in the last frame that held it), or, before any
  grasp, where it will next be picked up (the hand's position in the first frame that holds it).
Frames with neither (no grasp in the whole episode) carry no label. Only the robot's state is used; the guess is as
good as the grasps are (an object knocked over between grasps is mislabelled).
"""

from __future__ import annotations

import numpy as np


def object_track(state: np.ndarray, hold: tuple[float, float], gripper: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """(positions [T, 3], labelled [T]) from end-effector states [T, S] whose first three dims are the hand's position
    and whose `gripper` dim is its closure; `hold`: the closure range (low, high) of a hand holding an object."""
    lo, hi = hold
    if not lo < hi:
        raise ValueError(f"hold must be a (low, high) closure range with low < high, got {hold!r}")
    closure = state[:, gripper]
    holding = (closure > lo) & (closure < hi)  # [T]
    held = np.flatnonzero(holding)
    pos = np.zeros((len(state), 3), np.float32)
    ok = np.zeros(len(state), bool)
    if len(held) == 0:
        return pos, ok
    for t in range(len(state)):
        if holding[t]:
            src = t
        else:
            before = held[held < t]
            src = before[-1] if len(before) else held[held > t][0]
        pos[t] = state[src, :3]
        ok[t] = True
    return pos, ok
