"""Clips for training: T frames at a stride from trajectory logs, with the mapped state and action at each frame."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from vjepa_ac.data.mapping import KeyMapping, pose_delta
from vjepa_ac.data.reader import TrajectoryLog


class ClipDataset(Dataset):
    """Every window of `frames` frames `stride` apart inside one episode, as tensors.

    Item: video uint8 [T, 3, H, W], state float [T, S], action float [T, A], episode (int), frame_index [T].
    Frames are counted at the mapping's rate (`mapping.fps`); frame_index holds the recorded indices.
    With `actions="recorded"` action[t] is the mapped action at frame t (right for stride 1). With
    `actions="state_delta"` action[t] takes state[t] to state[t+1] (`mapping.pose_delta`: V-JEPA 2-AC's convention,
    rotations as relative rotations, the gripper as `mapping.gripper_action`), right for any stride; the window then
    needs one frame more.
    """

    def __init__(self, log: TrajectoryLog, mapping: KeyMapping, frames: int = 4, stride: int = 1,
                 episodes: list[int] | None = None, actions: str = "recorded"):
        if actions not in ("recorded", "state_delta"):
            raise ValueError(f"actions must be 'recorded' or 'state_delta', got {actions!r}")
        if frames < 1 or stride < 1:
            raise ValueError(f"frames and stride must be >= 1, got frames={frames}, stride={stride}")
        mapping.check(log)
        self.log, self.mapping, self.frames, self.stride, self.actions = log, mapping, frames, stride, actions
        self.episodes = list(range(len(log))) if episodes is None else list(episodes)
        span = (frames - 1 + (actions == "state_delta")) * stride + 1
        self.index = [(e, s) for e in self.episodes for s in range(0, len(mapping.rows(log, e)) - span + 1)]
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.index)

    def _episode(self, e: int) -> tuple[np.ndarray, np.ndarray]:
        if e not in self._cache:
            self._cache[e] = self.mapping.read(self.log, e)
        return self._cache[e]

    def __getitem__(self, i: int) -> dict:
        e, start = self.index[i]
        state, action = self._episode(e)
        n = self.frames + (self.actions == "state_delta")
        idx = start + self.stride * np.arange(n)
        rec = self.mapping.rows(self.log, e)[idx]  # recorded frame indices
        video = self.log.frames(e, self.mapping.camera, int(rec[0]), int(rec[-1] - rec[0]) + 1)[rec - rec[0]]  # [n, H, W, 3]
        s = state[idx]
        if self.actions == "state_delta":
            a = pose_delta(s, self.mapping.gripper_action)[:-1]
            s, video, rec = s[:-1], video[:-1], rec[:-1]
        else:
            a = action[idx]
        return {
            "video": torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2),  # [T, 3, H, W]
            "state": torch.from_numpy(s),  # [T, S]
            "action": torch.from_numpy(np.ascontiguousarray(a)),  # [T, A]
            "episode": e,
            "frame_index": torch.from_numpy(rec),
        }
