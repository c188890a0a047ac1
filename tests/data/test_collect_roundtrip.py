"""What `collect` writes loads back exactly, in the LeRobot v3.0 layout, and survives being killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from vjepa_ac.collect import CAMERA_KEY, collect, make_env, record_episode
from vjepa_ac.data.reader import open_log


def test_dataset_loads_back_frame_exact(small_collection):
    cfg = small_collection
    log = open_log(cfg.out)
    assert [e.index for e in log.episodes] == [0, 1, 2]
    env = make_env(cfg.env)
    for i in range(3):
        truth = record_episode(env, cfg.policy, cfg.seed, i)  # the same seeded episode, run again
        cols = log.columns(i, ["observation.state", "action", "observation.environment_state", "next.success"])
        np.testing.assert_array_equal(cols["observation.state"], truth["state"])
        np.testing.assert_array_equal(cols["action"], truth["action"])
        np.testing.assert_array_equal(cols["observation.environment_state"], truth["env_state"])
        np.testing.assert_array_equal(cols["next.success"], truth["success"])
        frames = log.frames(i, CAMERA_KEY).astype(np.float64)
        assert frames.shape == truth["images"].shape
        err = np.abs(frames - truth["images"])
        psnr = 10 * np.log10(255.0**2 / np.mean(err**2))
        assert err.mean() < 4.0 and psnr > 30.0, (err.mean(), psnr)  # lossy AV1 at crf 20
    env.close()


def test_layout_is_lerobot_v3(small_collection):
    root = Path(small_collection.out)
    info = json.loads((root / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == 4.0
    assert info["total_episodes"] == 3 and info["total_frames"] == 36
    assert info["features"][CAMERA_KEY]["dtype"] == "video" and info["features"][CAMERA_KEY]["shape"] == [64, 64, 3]
    for k in ("observation.state", "action", "timestamp", "frame_index", "episode_index", "index", "task_index"):
        assert k in info["features"]
    tasks = pd.read_parquet(root / "meta/tasks.parquet")  # LeRobot looks tasks up by text: the index
    assert tasks.loc["Play with the cube and the cup.", "task_index"] == 0
    eps = pd.concat([pd.read_parquet(f) for f in sorted((root / "meta/episodes").glob("chunk-*/file-*.parquet"))])
    assert list(eps["episode_index"]) == [0, 1, 2] and list(eps["length"]) == [12, 12, 12]
    assert list(eps["data/file_index"]) == [0, 0, 1]  # episodes_per_file=2
    assert list(eps[f"videos/{CAMERA_KEY}/from_timestamp"]) == [0.0, 3.0, 0.0]
    data = pq.read_table(root / "data/chunk-000/file-000.parquet")
    assert data.num_rows == 24 and list(data.column("index").to_numpy()) == list(range(24))
    stats = json.loads((root / "meta/stats.json").read_text())
    assert stats["observation.state"]["count"] == [36] and len(stats["action"]["mean"]) == 7
    assert np.array(stats[CAMERA_KEY]["mean"]).shape == (3, 1, 1)
    assert (root / f"videos/{CAMERA_KEY}/chunk-000/file-001.mp4").exists()


def test_collect_refuses_to_mix_settings_in_one_dataset(small_collection):
    other = replace(small_collection, policy="expert")
    with pytest.raises(ValueError, match="other settings"):
        collect(other)


def test_rerunning_a_finished_collection_changes_nothing_and_a_larger_n_extends_it(small_collection, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(small_collection.out, root)
    cfg = replace(small_collection, out=str(root))
    before = (root / "data/chunk-000/file-000.parquet").read_bytes()
    collect(cfg)
    assert len(open_log(root)) == 3 and (root / "data/chunk-000/file-000.parquet").read_bytes() == before
    collect(replace(cfg, episodes=4))
    log = open_log(root)
    assert [e.index for e in log.episodes] == [0, 1, 2, 3]
    assert json.loads((root / "meta/info.json").read_text())["total_episodes"] == 4


SCRIPT = """
import sys
from vjepa_ac.collect import CollectConfig, EnvConfig, collect
collect(CollectConfig(env=EnvConfig(image_height=48, image_width=48, max_episode_steps=8), episodes=5, seed=3,
                      out=sys.argv[1], workers=1, episodes_per_file=2, progress=False))
"""


def _run(out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _table(root: Path, key: str) -> np.ndarray:
    log = open_log(root)
    return np.concatenate([log.columns(i, [key])[key] for i in range(len(log))])


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_files", [1, 3])
def test_a_killed_collection_resumes_with_no_lost_or_duplicated_episode(tmp_path, kill_after_files):
    reference = tmp_path / "reference"
    assert _run(reference).wait(timeout=300) == 0

    root = tmp_path / "killed"
    proc = _run(root)
    deadline = time.time() + 300
    while time.time() < deadline:  # wait until that many episodes are staged or committed, then SIGKILL
        n = len(list((root / ".staging").glob("*.npz"))) + len(list((root / "meta/episodes").glob("*/*.parquet"))) * 2
        if n >= kill_after_files or proc.poll() is not None:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the collection finished before it could be killed: the test would prove nothing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _run(root).wait(timeout=300) == 0

    log = open_log(root)
    assert [e.index for e in log.episodes] == [0, 1, 2, 3, 4]
    for key in ("observation.state", "action", "episode_index", "frame_index", "index"):
        np.testing.assert_array_equal(_table(root, key), _table(reference, key))
    ref_log = open_log(reference)
    for i in range(5):  # the same frames, up to the lossy codec (an episode out of place differs far more)
        a, b = log.frames(i, CAMERA_KEY).astype(np.float64), ref_log.frames(i, CAMERA_KEY).astype(np.float64)
        assert a.shape == b.shape and np.abs(a - b).mean() < 0.5, (i, np.abs(a - b).mean())
    assert not (root / ".staging").exists()


def test_collections_of_other_envs_in_one_process_each_record_their_own_env(tmp_path):
    """A worker keeps its env between episodes, never between collections of another env or size."""
    from vjepa_ac.collect import CollectConfig, EnvConfig, collect
    from vjepa_ac.data.reader import open_log

    for size, env_id in ((48, "vjepa_ac/PandaReach-v0"), (32, "vjepa_ac/PandaReach-v0"), (32, "vjepa_ac/JacoReachSite-v0")):
        out = tmp_path / f"{size}_{env_id.split('/')[1]}"
        log = open_log(collect(CollectConfig(env=EnvConfig(id=env_id, image_height=size, image_width=size, max_episode_steps=3),
                                             policy="play", episodes=1, out=str(out), workers=1, progress=False)))
        assert log.frames(0, log.camera_keys[0], 0, 3).shape == (3, size, size, 3)
        assert log.info["robot_type"] == ("jaco_sim" if "Jaco" in env_id else "panda_sim")
