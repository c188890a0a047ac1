"""Write one of our LeRobot-layout logs as a stable-worldmodel HDF5 dataset, so its reference trainers (LeWM, PLDM,
DINO-WM's prejepa) learn from exactly the frames and actions our models learn from.

Their HDF5 layout (stable_worldmodel/data/formats/hdf5.py): one dataset per column, rows of all episodes end to end,
`ep_len` and `ep_offset` per episode, `ep_idx` and `step_idx` per row. Columns written here:
- pixels   uint8 [N, H, W, 3]  the chosen camera;
- action   float32 [N, A]      our action at that frame (one 5-OGBench-step block: their frameskip is already applied,
                               so train with `frameskip=1`);
- proprio  float32 [N, S]      observation.state (the robot's own state; what any log holds).
Simulator-only columns (observation.environment_state) are not exported: what plans is trained without them.

Run in an environment that has both h5py and this package (bench/swm_side_by_side.sh builds one).
Usage: python bench/swm_export.py LOG_DIR OUT.h5 [--camera observation.images.front] [--episodes N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from vjepa_ac.data.reader import open_log


def export(log_dir: Path, out: Path, camera: str | None = None, episodes: int | None = None) -> dict:
    log = open_log(log_dir)
    camera = camera or log.camera_keys[0]
    n_eps = len(log) if episodes is None else min(episodes, len(log))
    lengths = np.array([log.episodes[i].length for i in range(n_eps)], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    total = int(lengths.sum())
    h, w, _ = log.features[camera]["shape"]
    first = log.columns(0, ["action", "observation.state"])
    if out.exists():
        raise FileExistsError(f"{out} exists; remove it or choose another path (nothing was written)")
    tmp = out.with_suffix(".partial.h5")
    out.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(tmp, "w") as f:
        pix = f.create_dataset("pixels", (total, h, w, 3), dtype=np.uint8, chunks=(1, h, w, 3))
        act = f.create_dataset("action", (total, first["action"].shape[1]), dtype=np.float32)
        pro = f.create_dataset("proprio", (total, first["observation.state"].shape[1]), dtype=np.float32)
        ep_idx = np.repeat(np.arange(n_eps), lengths)
        step_idx = np.concatenate([np.arange(n) for n in lengths])
        for i in tqdm(range(n_eps), desc=f"export {log_dir.name}"):
            a, b = offsets[i], offsets[i] + lengths[i]
            cols = log.columns(i, ["action", "observation.state"])
            frames = log.frames(i, camera)  # [T, H, W, 3] uint8
            if len(frames) != lengths[i]:
                raise ValueError(f"{log_dir}: episode {i} has {len(frames)} frames of {camera!r}, its metadata says {lengths[i]}")
            pix[a:b] = frames
            act[a:b] = cols["action"]
            pro[a:b] = cols["observation.state"]
        f["ep_len"] = lengths
        f["ep_offset"] = offsets
        f["ep_idx"] = ep_idx
        f["step_idx"] = step_idx
    tmp.rename(out)
    return {"episodes": n_eps, "rows": total, "image": (h, w), "camera": camera}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("log_dir", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--camera", default=None)
    p.add_argument("--episodes", type=int, default=None)
    args = p.parse_args()
    print(export(args.log_dir, args.out, args.camera, args.episodes))


if __name__ == "__main__":
    main()
