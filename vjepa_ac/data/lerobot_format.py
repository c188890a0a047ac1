"""Writing trajectory logs in the LeRobotDataset v3.0 layout, crash-safe, one batch of episodes at a time.

Layout (as the `lerobot` package writes it):
    meta/info.json                                  codebase_version, fps, features, path templates, totals
    meta/tasks.parquet                              task text (index) -> task_index
    meta/stats.json                                 per-feature min/max/mean/std/count over the whole dataset
    meta/episodes/chunk-XXX/file-XXX.parquet        one row per episode: length, file indices, timestamps, stats
    data/chunk-XXX/file-XXX.parquet                 one row per frame, many episodes per file
    videos/<camera>/chunk-XXX/file-XXX.mp4          many episodes per file, back to back

Each `append` writes new data and video files first, then the episode-metadata file that references them (the
commit point: readers list episodes from meta/episodes), then tasks, stats and info.json, each file atomically. A
crash at any point leaves every earlier episode readable; files no metadata references yet are overwritten next time,
and a writer reopened after a crash rewrites info.json and stats.json from the episode metadata.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vjepa_ac.data.video import DEFAULT_CODEC, encode_video
from vjepa_ac.io import atomic_path, atomic_write, write_json

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
DEFAULT_FEATURES = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}


@dataclass
class Episode:
    """One recorded episode: per-frame columns [T, ...], camera frames uint8 [T, H, W, 3], its task text."""

    index: int
    task: str
    columns: dict[str, np.ndarray]
    videos: dict[str, np.ndarray]
    extra: dict = field(default_factory=dict)  # episode-level values kept in the episodes metadata (seed, success)

    @property
    def length(self) -> int:
        return len(next(iter(self.columns.values())))


def video_feature(height: int, width: int, fps: float, codec: str = DEFAULT_CODEC) -> dict:
    """The info.json entry of a camera stored as video."""
    return {
        "dtype": "video",
        "shape": [height, width, 3],
        "names": ["height", "width", "channels"],
        "info": {
            "video.height": height,
            "video.width": width,
            "video.codec": "av1" if "av1" in codec else codec.removeprefix("lib").replace("x264", "h264"),
            "video.pix_fmt": "yuv420p",
            "video.is_depth_map": False,
            "video.fps": fps,
            "video.channels": 3,
            "has_audio": False,
        },
    }


def _chunk_file(file_number: int) -> tuple[int, int]:
    return file_number // CHUNKS_SIZE, file_number % CHUNKS_SIZE


def _arrow_column(values: np.ndarray, feature: dict) -> pa.Array:
    if feature["dtype"] == "string":  # per-frame text (DROID's language_instruction)
        return pa.array([str(v) for v in np.asarray(values).reshape(-1)], type=pa.string())
    dtype = pa.from_numpy_dtype(np.dtype(feature["dtype"]))
    if list(feature["shape"]) == [1]:
        return pa.array(np.asarray(values).reshape(-1).astype(feature["dtype"]), type=dtype)
    flat = np.asarray(values, dtype=feature["dtype"]).reshape(len(values), -1)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1), type=dtype), flat.shape[1])


def _stats(x: np.ndarray) -> dict[str, np.ndarray]:
    """min/max/mean/std/count over the first axis, LeRobot's per-feature statistics."""
    x = x.astype(np.float64)
    return {"min": x.min(0), "max": x.max(0), "mean": x.mean(0), "std": x.std(0), "count": np.array([len(x)])}


def _image_stats(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Per-channel statistics [3, 1, 1] of frames in [0, 1] (a subsample of frames, as LeRobot does)."""
    idx = np.linspace(0, len(frames) - 1, min(len(frames), 16)).astype(int)
    px = frames[idx].reshape(-1, 3).astype(np.float64) / 255.0
    s = _stats(px)
    return {k: (v.reshape(3, 1, 1) if k != "count" else np.array([len(frames)])) for k, v in s.items()}


def aggregate_stats(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Combine per-episode statistics into dataset statistics (parallel mean and variance)."""
    counts = np.array([float(p["count"][0]) for p in parts])
    total = counts.sum()
    w = (counts / total).reshape(-1, *[1] * np.ndim(parts[0]["mean"]))
    means = np.stack([p["mean"] for p in parts])
    mean = (w * means).sum(0)
    var = (w * (np.stack([p["std"] for p in parts]) ** 2 + (means - mean) ** 2)).sum(0)
    return {
        "min": np.min(np.stack([p["min"] for p in parts]), 0),
        "max": np.max(np.stack([p["max"] for p in parts]), 0),
        "mean": mean,
        "std": np.sqrt(var),
        "count": np.array([int(total)]),
    }


class DatasetWriter:
    """Appends batches of episodes to a LeRobot v3.0 dataset folder, creating it on the first batch."""

    def __init__(self, root: Path, fps: float, features: dict, robot_type: str | None = None, codec: str = DEFAULT_CODEC):
        self.root = Path(root)
        self.fps = fps
        self.codec = codec
        self.features = {**features, **DEFAULT_FEATURES}
        self.video_keys = [k for k, f in self.features.items() if f["dtype"] == "video"]
        self.robot_type = robot_type
        info_path = self.root / "meta" / "info.json"
        if info_path.exists():
            info = json.loads(info_path.read_text())
            if info.get("codebase_version") != CODEBASE_VERSION:
                raise ValueError(f"{info_path}: codebase_version {info.get('codebase_version')!r}; can only append to {CODEBASE_VERSION}")
            mine = {k: {kk: vv for kk, vv in v.items() if kk != "info"} for k, v in self.features.items()}
            theirs = {k: {kk: vv for kk, vv in v.items() if kk != "info"} for k, v in info["features"].items()}
            if mine != theirs or float(info["fps"]) != float(fps):
                raise ValueError(f"{info_path}: features or fps differ from what this writer records; use another output folder")
        self.episodes = self._read_episode_rows()
        tasks_path = self.root / "meta" / "tasks.parquet"
        self.tasks: list[str] = []
        if tasks_path.exists():
            t = pq.read_table(tasks_path).to_pydict()
            order = np.argsort(t["task_index"])
            self.tasks = [t["task"][i] for i in order]
        on_disk = json.loads(info_path.read_text())["total_episodes"] if info_path.exists() else 0
        if self.episodes and on_disk != self.num_episodes:  # a crash after an episode file, before info.json
            for r in self.episodes:
                self.tasks.extend(t for t in r["tasks"] if t not in self.tasks)
            self._write_tasks()
            self._write_stats()
            self._write_info()

    @property
    def num_episodes(self) -> int:
        return len(self.episodes)

    def _read_episode_rows(self) -> list[dict]:
        rows: list[dict] = []
        for f in sorted((self.root / "meta" / "episodes").glob("chunk-*/file-*.parquet")):
            rows.extend(pq.read_table(f).to_pylist())
        rows.sort(key=lambda r: r["episode_index"])
        for i, r in enumerate(rows):
            if r["episode_index"] != i:
                raise ValueError(f"{self.root}/meta/episodes: episode indices are not 0..N-1 (found {r['episode_index']} at {i})")
        return rows

    def append(self, episodes: list[Episode]) -> None:
        """Write the episodes (indices must continue the dataset) as one new data file and one video file per camera."""
        if not episodes:
            return
        expected = list(range(self.num_episodes, self.num_episodes + len(episodes)))
        if [e.index for e in episodes] != expected:
            raise ValueError(f"episodes must continue the dataset: expected indices {expected}, got {[e.index for e in episodes]}")
        file_number = 0 if not self.episodes else max(_file_number(r) for r in self.episodes) + 1
        chunk, fidx = _chunk_file(file_number)
        first_frame = 0 if not self.episodes else self.episodes[-1]["dataset_to_index"]

        tasks = list(self.tasks)  # committed to self.tasks only once the batch is written
        for e in episodes:
            if e.task not in tasks:
                tasks.append(e.task)

        # 1. frames table
        cols: dict[str, list] = {k: [] for k in self.features if self.features[k]["dtype"] != "video"}
        rows_meta = []
        offset = first_frame
        video_from = 0.0
        for e in episodes:
            t = e.length
            for k in e.columns:
                if k not in self.features:
                    raise KeyError(f"episode {e.index}: column {k!r} is not a declared feature")
            missing = [k for k in cols if k not in DEFAULT_FEATURES and k not in e.columns]
            if missing:
                raise KeyError(f"episode {e.index}: missing columns {missing}")
            for k in cols:
                if k in e.columns:
                    v = np.asarray(e.columns[k])
                    if len(v) != t:
                        raise ValueError(f"episode {e.index}: column {k!r} has {len(v)} rows, expected {t}")
                    cols[k].append(v)
            cols["timestamp"].append(np.arange(t, dtype=np.float32) / np.float32(self.fps))
            cols["frame_index"].append(np.arange(t))
            cols["episode_index"].append(np.full(t, e.index))
            cols["index"].append(np.arange(offset, offset + t))
            cols["task_index"].append(np.full(t, tasks.index(e.task)))
            stats = {k: _stats(np.asarray(e.columns[k], dtype=np.float64).reshape(t, -1)) for k in e.columns
                     if self.features[k]["dtype"] != "string"}
            for k in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
                stats[k] = _stats(cols[k][-1].reshape(t, 1))
            row = {
                "episode_index": e.index,
                "tasks": [e.task],
                "length": t,
                "data/chunk_index": chunk,
                "data/file_index": fidx,
                "dataset_from_index": offset,
                "dataset_to_index": offset + t,
            }
            for vk in self.video_keys:
                frames = e.videos[vk]
                if len(frames) != t:
                    raise ValueError(f"episode {e.index}: camera {vk!r} has {len(frames)} frames, expected {t}")
                stats[vk] = _image_stats(frames)
                row[f"videos/{vk}/chunk_index"] = chunk
                row[f"videos/{vk}/file_index"] = fidx
                row[f"videos/{vk}/from_timestamp"] = video_from
                row[f"videos/{vk}/to_timestamp"] = video_from + t / self.fps
            video_from += t / self.fps
            row["meta/episodes/chunk_index"] = chunk
            row["meta/episodes/file_index"] = fidx
            for k, s in stats.items():
                for name, v in s.items():
                    row[f"stats/{k}/{name}"] = np.asarray(v).tolist()
            row.update({f"vjepa_ac/{k}": v for k, v in e.extra.items()})
            rows_meta.append(row)
            offset += t

        table = pa.table({k: _arrow_column(np.concatenate(v), self.features[k]) for k, v in cols.items()})
        atomic_write(self.root / DATA_PATH.format(chunk_index=chunk, file_index=fidx), lambda p: pq.write_table(table, p))

        # 2. videos, episodes back to back in one file per camera
        for vk in self.video_keys:
            frames = np.concatenate([e.videos[vk] for e in episodes])
            with atomic_path(self.root / VIDEO_PATH.format(video_key=vk, chunk_index=chunk, file_index=fidx)) as p:
                encode_video(p, frames, self.fps, codec=self.codec)

        # 3. episode metadata, tasks, statistics; 4. info.json last: it commits the batch
        meta = pa.Table.from_pylist(rows_meta)
        atomic_write(self.root / EPISODES_PATH.format(chunk_index=chunk, file_index=fidx), lambda p: pq.write_table(meta, p))
        self.episodes.extend(rows_meta)
        self.tasks = tasks
        self._write_tasks()
        self._write_stats()
        self._write_info()

    def _write_tasks(self) -> None:
        import pandas as pd  # LeRobot reads tasks.parquet with pandas and expects the task text as the index

        df = pd.DataFrame({"task_index": np.arange(len(self.tasks), dtype=np.int64)}, index=pd.Index(self.tasks, name="task"))
        atomic_write(self.root / "meta" / "tasks.parquet", lambda p: df.to_parquet(p))

    def _write_stats(self) -> None:
        out = {}
        keys = {k.split("/")[1] for k in self.episodes[0] if k.startswith("stats/")}
        for k in sorted(keys):
            parts = [{n: np.asarray(r[f"stats/{k}/{n}"]) for n in ("min", "max", "mean", "std", "count")} for r in self.episodes]
            out[k] = {n: v.tolist() for n, v in aggregate_stats(parts).items()}
        write_json(self.root / "meta" / "stats.json", out)

    def _write_info(self) -> None:
        n = self.num_episodes
        info = {
            "codebase_version": CODEBASE_VERSION,
            "robot_type": self.robot_type,
            "total_episodes": n,
            "total_frames": int(self.episodes[-1]["dataset_to_index"]) if n else 0,
            "total_tasks": len(self.tasks),
            "chunks_size": CHUNKS_SIZE,
            "data_files_size_in_mb": 100,
            "video_files_size_in_mb": 500,
            "fps": self.fps,
            "splits": {"train": f"0:{n}"},
            "data_path": DATA_PATH,
            "video_path": VIDEO_PATH if self.video_keys else None,
            "features": self.features,
        }
        write_json(self.root / "meta" / "info.json", info)


def _file_number(row: dict) -> int:
    return int(row["data/chunk_index"]) * CHUNKS_SIZE + int(row["data/file_index"])
