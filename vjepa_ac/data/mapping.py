"""Which dataset columns are the camera, the end-effector state and the action, and how they are scaled."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from vjepa_ac.data.reader import TrajectoryLog


ACTION_FROM_STATE = ("pose_delta",)
GRIPPER_ACTIONS = ("delta", "next")


def euler_xyz_to_matrix(e: np.ndarray) -> np.ndarray:
    """Rotation matrices [..., 3, 3] of extrinsic x-y-z Euler angles [..., 3] (R = Rz Ry Rx; scipy's "xyz")."""
    a, b, c = e[..., 0], e[..., 1], e[..., 2]
    ca, sa, cb, sb, cc, sc = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(c), np.sin(c)
    return np.stack([
        np.stack([cc * cb, cc * sb * sa - sc * ca, cc * sb * ca + sc * sa], -1),
        np.stack([sc * cb, sc * sb * sa + cc * ca, sc * sb * ca - cc * sa], -1),
        np.stack([-sb, cb * sa, cb * ca], -1),
    ], -2)


def matrix_to_euler_xyz(m: np.ndarray) -> np.ndarray:
    """Extrinsic x-y-z Euler angles [..., 3] in (-pi, pi] of rotation matrices [..., 3, 3]."""
    b = -np.arcsin(np.clip(m[..., 2, 0], -1.0, 1.0))
    return np.stack([np.arctan2(m[..., 2, 1], m[..., 2, 2]), b, np.arctan2(m[..., 1, 0], m[..., 0, 0])], -1)


def pose_delta(state: np.ndarray, gripper: str = "delta") -> np.ndarray:
    """Actions [T, 7] from end-effector states [T, 7] (x, y, z, extrinsic x-y-z Euler angles, gripper), V-JEPA 2-AC's
    `poses_to_diffs`: action[t] takes state t to state t+1: the position difference, the Euler angles of the relative
    rotation R[t+1] R[t]^T (so a yaw from 3.1 to -3.1 rad is a turn of 0.08 rad, not of -6.2), and the gripper's
    difference ("delta", the official code) or its next value ("next"). The last step has no successor: zeros."""
    if gripper not in GRIPPER_ACTIONS:
        raise ValueError(f"gripper_action must be one of {GRIPPER_ACTIONS}, got {gripper!r}")
    s = np.asarray(state, np.float64)
    out = np.zeros_like(s)
    if len(s) > 1:
        r = euler_xyz_to_matrix(s[:, 3:6])  # [T, 3, 3]
        out[:-1, :3] = s[1:, :3] - s[:-1, :3]
        out[:-1, 3:6] = matrix_to_euler_xyz(r[1:] @ np.swapaxes(r[:-1], -1, -2))
        out[:-1, 6] = s[1:, 6] - s[:-1, 6] if gripper == "delta" else s[1:, 6]
    return out.astype(np.float32)


STATE_UPDATES = ("pose_delta", "additive", "learned")  # as vjepa_ac.models.predictor.STATE_UPDATES (this module stays torch-free)


@dataclass
class KeyMapping:
    """A dataset's keys mapped onto what the world model reads: camera frames, state [S] and action [A]."""

    camera: str = "observation.images.front"
    state: tuple[str, ...] = ("observation.state",)
    action: tuple[str, ...] = ("action",)
    state_dim: int = 7
    action_dim: int = 7
    state_indices: tuple[int, ...] | None = None
    action_indices: tuple[int, ...] | None = None
    state_scale: tuple[float, ...] | None = None
    state_offset: tuple[float, ...] | None = None
    action_scale: tuple[float, ...] | None = None
    action_offset: tuple[float, ...] | None = None
    fps: float | None = None  # read every ceil(dataset fps / fps)-th frame and row (V-JEPA 2-AC's rule); None: all
    action_from_state: str | None = None  # "pose_delta": actions from consecutive states (see `pose_delta`); the action keys are not read
    gripper_action: str = "delta"  # with action_from_state: the gripper's difference (the official code) or "next" value
    # What the goal-distance head (`vjepa-ac train-head`) learns to read off one frame, and each coordinate's weight in
    # its energy: columns concatenated, then picked (null: the state's columns and dims, weight 1 each).
    readout: tuple[str, ...] | None = None
    readout_indices: tuple[int, ...] | None = None
    readout_names: tuple[str, ...] | None = None
    readout_weights: tuple[float, ...] | None = None
    readout_pose: int = 0  # the first this-many readout coordinates are the state's first dims (the robot's pose)
    # How the state follows from an action, for the predictor's rollouts (PredictorConfig.state_update): "pose_delta"
    # (V-JEPA 2-AC's: pose plus delta, gripper closure from the command), "additive" (state + state_step * action: joint
    # positions and joint velocities, state_step = dt) or "learned" (a state head trained with the predictor).
    state_update: str = "pose_delta"
    state_step: float = 1.0

    def __post_init__(self):
        if self.action_from_state not in (None, *ACTION_FROM_STATE):
            raise ValueError(f"mapping action_from_state must be null or one of {ACTION_FROM_STATE}, got {self.action_from_state!r}")
        if self.state_update not in STATE_UPDATES:
            raise ValueError(f"mapping state_update must be one of {STATE_UPDATES}, got {self.state_update!r}")
        if self.state_update == "additive" and self.state_dim != self.action_dim:
            raise ValueError(f"mapping state_update=additive adds the action to the state: action_dim must equal state_dim, "
                             f"got action_dim={self.action_dim}, state_dim={self.state_dim}")
        if self.gripper_action not in GRIPPER_ACTIONS:
            raise ValueError(f"mapping gripper_action must be one of {GRIPPER_ACTIONS}, got {self.gripper_action!r}")
        if self.fps is not None and not self.fps > 0:
            raise ValueError(f"mapping fps must be > 0 (or null for every frame), got {self.fps!r}")
        k = len(self.readout_indices) if self.readout_indices is not None else None
        for name in ("readout_names", "readout_weights"):
            v = getattr(self, name)
            if v is not None and k is not None and len(v) != k:
                raise ValueError(f"mapping {name} has {len(v)} entries, readout_indices picks {k}")
        if self.readout_weights is not None and (min(self.readout_weights) < 0 or max(self.readout_weights) <= 0):
            raise ValueError(f"mapping readout_weights must be >= 0 with at least one > 0, got {list(self.readout_weights)}")
        if self.action_from_state and (self.state_dim, self.action_dim) != (7, 7):
            raise ValueError(f"action_from_state={self.action_from_state} needs 7-D states and actions (xyz, Euler xyz, gripper); "
                             f"got state_dim={self.state_dim}, action_dim={self.action_dim}")

    def step(self, log: TrajectoryLog) -> int:
        """Every how many recorded frames one is read."""
        return 1 if self.fps is None else max(1, math.ceil(log.fps / self.fps - 1e-9))

    def rows(self, log: TrajectoryLog, episode: int) -> np.ndarray:
        """The recorded frame indices [T'] of an episode that are read."""
        return np.arange(0, log.episodes[episode].length, self.step(log))

    def frames(self, log: TrajectoryLog, episode: int) -> np.ndarray:
        """The camera's frames uint8 [T', H, W, 3] at the mapped rate."""
        f = log.frames(episode, self.camera)
        return f[self.rows(log, episode)] if self.fps is not None else f

    def check(self, log: TrajectoryLog) -> None:
        """Fail early, naming the key, if the dataset lacks a mapped key or a width is off."""
        where = f"{log.root}/meta/info.json"
        if self.camera not in log.camera_keys:
            raise KeyError(f"{where}: mapped camera {self.camera!r} is not a video feature; cameras: {log.camera_keys}")
        for kind in ("state",) if self.action_from_state else ("state", "action"):
            width = 0
            for key in getattr(self, kind):
                if key not in log.features:
                    raise KeyError(f"{where}: mapped {kind} column {key!r} is not a feature; features: {sorted(log.features)}")
                width += int(np.prod(log.features[key]["shape"]))
            idx = getattr(self, f"{kind}_indices")
            width = len(idx) if idx is not None else width
            if width != getattr(self, f"{kind}_dim"):
                raise ValueError(f"{where}: {kind} columns {list(getattr(self, kind))} give width {width}, expected {kind}_dim={getattr(self, f'{kind}_dim')}")

    def _apply(self, kind: str, cols: dict[str, np.ndarray], where: str) -> np.ndarray:
        x = np.concatenate([cols[k].reshape(len(cols[k]), -1) for k in getattr(self, kind)], axis=1).astype(np.float32)
        idx = getattr(self, f"{kind}_indices")
        if idx is not None:
            x = x[:, list(idx)]
        if x.shape[1] != getattr(self, f"{kind}_dim"):
            raise ValueError(f"{where}: {kind} has width {x.shape[1]}, expected {getattr(self, f'{kind}_dim')}")
        scale, offset = getattr(self, f"{kind}_scale"), getattr(self, f"{kind}_offset")
        if scale is not None:
            x = x * np.asarray(scale, np.float32)
        if offset is not None:
            x = x + np.asarray(offset, np.float32)
        return x

    def read(self, log: TrajectoryLog, episode: int) -> tuple[np.ndarray, np.ndarray]:
        """State [T', S] and action [T', A] of one episode at the mapped rate, mapped and scaled (actions from states
        after the state's scale and offset, then the action's)."""
        keys = self.state if self.action_from_state else [*self.state, *self.action]
        cols = log.columns(episode, list(dict.fromkeys(keys)))
        if self.fps is not None:
            rows = self.rows(log, episode)
            cols = {k: v[rows] for k, v in cols.items()}
        where = str(log.episodes[episode].data_file)
        state = self._apply("state", cols, where)
        if not self.action_from_state:
            return state, self._apply("action", cols, where)
        action = pose_delta(state, self.gripper_action)
        if self.action_scale is not None:
            action = action * np.asarray(self.action_scale, np.float32)
        if self.action_offset is not None:
            action = action + np.asarray(self.action_offset, np.float32)
        return state, action


    def read_readout(self, log: TrajectoryLog, episode: int) -> np.ndarray:
        """What the goal-distance head reads off each frame, [T', K] at the mapped rate (the mapped state when the
        mapping names no `readout` columns)."""
        if self.readout is None:
            return self.read(log, episode)[0]
        cols = log.columns(episode, list(self.readout))
        if self.fps is not None:
            rows = self.rows(log, episode)
            cols = {k: v[rows] for k, v in cols.items()}
        x = np.concatenate([cols[k].reshape(len(cols[k]), -1) for k in self.readout], axis=1).astype(np.float32)
        if self.readout_indices is not None:
            if max(self.readout_indices) >= x.shape[1]:
                raise ValueError(f"{log.episodes[episode].data_file}: readout columns {list(self.readout)} give width "
                                 f"{x.shape[1]}, readout_indices asks for index {max(self.readout_indices)}")
            x = x[:, list(self.readout_indices)]
        return x

    def readout_spec(self, width: int) -> tuple[list[str], list[float]]:
        """Names and energy weights of the `width` readout coordinates."""
        names = list(self.readout_names) if self.readout_names else [f"r{i}" for i in range(width)]
        weights = list(self.readout_weights) if self.readout_weights else [1.0] * width
        if len(names) != width or len(weights) != width:
            raise ValueError(f"the readout has {width} coordinates but the mapping names {len(names)} and weighs {len(weights)}")
        return names, weights


def load_mapping(name_or_path: str) -> KeyMapping:
    """A mapping by name from the package's configs/data/, or from a YAML file."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        text = path.read_text()
    else:
        res = resources.files("vjepa_ac.configs") / "data" / f"{name_or_path}.yaml"
        if not res.is_file():
            raise FileNotFoundError(f"no key mapping {name_or_path!r}: not a YAML file, nor in vjepa_ac/configs/data/")
        text, path = res.read_text(), Path(str(res))
    raw = yaml.safe_load(text) or {}
    known = {f.name for f in fields(KeyMapping)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise KeyError(f"{path}: unknown mapping keys {unknown}; known: {sorted(known)}")
    raw = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    return KeyMapping(**raw)
