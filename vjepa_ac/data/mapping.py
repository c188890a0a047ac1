"""Which dataset columns are the camera, the end-effector state and the action, and how they are scaled."""

from __future__ import annotations

from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from vjepa_ac.data.reader import TrajectoryLog


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

    def check(self, log: TrajectoryLog) -> None:
        """Fail early, naming the key, if the dataset lacks a mapped key or a width is off."""
        where = f"{log.root}/meta/info.json"
        if self.camera not in log.camera_keys:
            raise KeyError(f"{where}: mapped camera {self.camera!r} is not a video feature; cameras: {log.camera_keys}")
        for kind in ("state", "action"):
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
        """State [T, S] and action [T, A] of one episode, mapped and scaled."""
        cols = log.columns(episode, list(dict.fromkeys([*self.state, *self.action])))
        where = str(log.episodes[episode].data_file)
        return self._apply("state", cols, where), self._apply("action", cols, where)


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
