"""Reading LeRobot-layout trajectory logs (v3.0, and v2.1 which many public datasets still use) with pyarrow and PyAV."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vjepa_ac.data.video import decode_video

SUPPORTED_VERSIONS = ("v2.1", "v3.0")


@dataclass(frozen=True)
class EpisodeRef:
    """Where one episode lives: its data file and row range, and per camera its video file and start time."""

    index: int
    length: int
    tasks: tuple[str, ...]
    data_file: Path
    videos: dict  # camera key -> (video file, from_timestamp)


class TrajectoryLog:
    """An opened LeRobot-layout dataset folder: metadata, per-episode columns and decoded camera frames."""

    def __init__(self, root: Path):
        self.root = Path(root)
        info_path = self.root / "meta" / "info.json"
        if not info_path.exists():
            raise FileNotFoundError(f"{info_path} is missing: {self.root} is not a LeRobot-layout dataset")
        try:
            self.info = json.loads(info_path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{info_path} is not valid JSON: {e}") from e
        for key in ("codebase_version", "fps", "features", "data_path"):
            if key not in self.info:
                raise ValueError(f"{info_path} has no {key!r} field")
        self.version = self.info["codebase_version"]
        if self.version not in SUPPORTED_VERSIONS:
            raise ValueError(f"{info_path}: codebase_version {self.version!r} is not supported; supported: {list(SUPPORTED_VERSIONS)}")
        self.fps = float(self.info["fps"])
        self.features: dict = self.info["features"]
        self.camera_keys = [k for k, f in self.features.items() if f.get("dtype") == "video"]
        self.episodes: list[EpisodeRef] = self._episodes_v3() if self.version == "v3.0" else self._episodes_v21()
        self._table = lru_cache(maxsize=4)(self._read_table)

    # ----- episode index --------------------------------------------------------------------------------------------
    def _video_file(self, key: str, **fmt) -> Path:
        return self.root / self.info["video_path"].format(video_key=key, **fmt)

    def _episodes_v3(self) -> list[EpisodeRef]:
        files = sorted((self.root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
        if not files:
            raise FileNotFoundError(f"{self.root / 'meta' / 'episodes'} has no episode metadata files")
        refs = []
        for f in files:
            rows = pq.read_table(f).to_pylist()
            for r in rows:
                for col in ("episode_index", "length", "data/chunk_index", "data/file_index"):
                    if col not in r:
                        raise KeyError(f"{f}: episode metadata has no {col!r} column")
                videos = {}
                for k in self.camera_keys:
                    c, fi = r[f"videos/{k}/chunk_index"], r[f"videos/{k}/file_index"]
                    videos[k] = (self._video_file(k, chunk_index=c, file_index=fi), float(r[f"videos/{k}/from_timestamp"]))
                data = self.root / self.info["data_path"].format(chunk_index=r["data/chunk_index"], file_index=r["data/file_index"])
                refs.append(EpisodeRef(int(r["episode_index"]), int(r["length"]), tuple(r.get("tasks") or ()), data, videos))
        refs.sort(key=lambda e: e.index)
        return refs

    def _episodes_v21(self) -> list[EpisodeRef]:
        path = self.root / "meta" / "episodes.jsonl"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing (v2.1 datasets list their episodes there)")
        chunks = int(self.info.get("chunks_size", 1000))
        refs = []
        for n, line in enumerate(path.read_text().splitlines()):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                i, length = int(r["episode_index"]), int(r["length"])
            except (json.JSONDecodeError, KeyError) as e:
                raise ValueError(f"{path}:{n + 1}: not an episode record with episode_index and length ({e})") from e
            fmt = {"episode_chunk": i // chunks, "episode_index": i}
            videos = {k: (self._video_file(k, **fmt), 0.0) for k in self.camera_keys}
            refs.append(EpisodeRef(i, length, tuple(r.get("tasks") or ()), self.root / self.info["data_path"].format(**fmt), videos))
        refs.sort(key=lambda e: e.index)
        return refs

    # ----- reading --------------------------------------------------------------------------------------------------
    def _read_table(self, path: Path):
        if not path.exists():
            raise FileNotFoundError(f"data file {path} is missing")
        return pq.read_table(path)

    def columns(self, episode: int, keys: list[str]) -> dict[str, np.ndarray]:
        """Per-frame columns of one episode as arrays [T, ...], in frame order."""
        ref = self.episodes[episode]
        table = self._table(ref.data_file)
        for k in keys + ["episode_index", "frame_index"]:
            if k not in table.column_names:
                raise KeyError(f"{ref.data_file}: no column {k!r}; columns: {table.column_names}")
        ep_col = table.column("episode_index").to_numpy()
        rows = np.flatnonzero(ep_col == ref.index)
        if len(rows) != ref.length:
            raise ValueError(f"{ref.data_file}: episode {ref.index} has {len(rows)} rows, its metadata says {ref.length}")
        order = rows[np.argsort(table.column("frame_index").to_numpy()[rows], kind="stable")]
        out = {}
        for k in keys:
            arr = _to_numpy(table.column(k).take(order))
            if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
                bad = np.argwhere(~np.isfinite(arr))[0]
                raise ValueError(f"{ref.data_file}: column {k!r} of episode {ref.index} has NaN/inf at frame {bad[0]}")
            out[k] = arr
        return out

    def frames(self, episode: int, camera: str, start: int = 0, num: int | None = None) -> np.ndarray:
        """Decoded frames uint8 [T, H, W, 3] of one camera, frames start..start+num of the episode."""
        if camera not in self.camera_keys:
            raise KeyError(f"{self.root}/meta/info.json: no video feature {camera!r}; cameras: {self.camera_keys}")
        ref = self.episodes[episode]
        num = ref.length - start if num is None else num
        if start < 0 or start + num > ref.length:
            raise IndexError(f"frames {start}..{start + num} outside episode {ref.index} of length {ref.length}")
        path, t0 = ref.videos[camera]
        return decode_video(path, t0 + start / self.fps, num, fps=self.fps)

    def __len__(self) -> int:
        return len(self.episodes)


def _to_numpy(col: pa.ChunkedArray) -> np.ndarray:
    """A column as an array [T] or [T, D]: fixed-size lists (our writer) and plain lists (HF datasets) alike."""
    arr = col.combine_chunks()
    if pa.types.is_fixed_size_list(arr.type):
        return arr.flatten().to_numpy(zero_copy_only=False).reshape(len(arr), arr.type.list_size)
    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        return np.asarray(arr.to_pylist())
    return arr.to_numpy(zero_copy_only=False)


def open_log(root: str | Path) -> TrajectoryLog:
    """Open a LeRobot-layout dataset folder (v3.0 or v2.1)."""
    return TrajectoryLog(Path(root))
