"""Reading LeRobot-layout logs: v2.1 and v3.0, key mappings, clips, and clear errors on bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vjepa_ac.collect import CAMERA_KEY
from vjepa_ac.data.clips import ClipDataset
from vjepa_ac.data.lerobot_format import DatasetWriter, Episode, video_feature
from vjepa_ac.data.mapping import KeyMapping, load_mapping
from vjepa_ac.data.reader import open_log
from vjepa_ac.data.video import encode_video


@pytest.fixture
def copy_of(small_collection, tmp_path):
    dst = tmp_path / "ds"
    shutil.copytree(small_collection.out, dst)
    return dst


def _edit_info(root: Path, **changes) -> None:
    p = root / "meta/info.json"
    info = json.loads(p.read_text())
    info.update(changes)
    p.write_text(json.dumps(info))


def test_missing_info_json_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"meta/info\.json"):
        open_log(tmp_path)


def test_unknown_codebase_version_is_named(copy_of):
    _edit_info(copy_of, codebase_version="v1.6")
    with pytest.raises(ValueError, match="v1.6"):
        open_log(copy_of)


def test_missing_column_names_file_and_column(copy_of):
    log = open_log(copy_of)
    with pytest.raises(KeyError, match=r"file-000\.parquet.*observation\.velocity"):
        log.columns(0, ["observation.velocity"])


def test_video_shorter_than_its_parquet_is_named(copy_of):
    video = copy_of / f"videos/{CAMERA_KEY}/chunk-000/file-001.mp4"
    encode_video(video, np.zeros((5, 64, 64, 3), np.uint8), 4.0)  # episode 2 has 12 rows
    log = open_log(copy_of)
    with pytest.raises(ValueError, match=r"file-001\.mp4.*5 frames.*expected 12"):
        log.frames(2, CAMERA_KEY)


def test_undecodable_video_is_named(copy_of):
    (copy_of / f"videos/{CAMERA_KEY}/chunk-000/file-000.mp4").write_bytes(b"not a video")
    with pytest.raises(ValueError, match=r"file-000\.mp4"):
        open_log(copy_of).frames(0, CAMERA_KEY)


def test_actions_of_the_wrong_width_are_named(copy_of):
    log = open_log(copy_of)
    with pytest.raises(ValueError, match="action.*width 7, expected action_dim=6"):
        KeyMapping(action_dim=6).check(log)
    with pytest.raises(KeyError, match="observation.joints"):
        KeyMapping(state=("observation.joints",)).check(log)


def test_nan_values_are_refused_with_file_and_frame(copy_of):
    path = copy_of / "data/chunk-000/file-000.parquet"
    t = pq.read_table(path)
    state = t.column("observation.state").combine_chunks().flatten().to_numpy().reshape(-1, 7).copy()
    state[3, 0] = np.nan
    col = pa.FixedSizeListArray.from_arrays(pa.array(state.reshape(-1)), 7)
    pq.write_table(t.set_column(t.column_names.index("observation.state"), "observation.state", col), path)
    with pytest.raises(ValueError, match=r"file-000\.parquet.*NaN/inf at frame 3"):
        open_log(copy_of).columns(0, ["observation.state"])


def test_unknown_mapping_keys_are_named(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("camera: a\nstate_dims: 7\n")
    with pytest.raises(KeyError, match="state_dims"):
        load_mapping(str(p))
    assert load_mapping("panda_sim").camera == CAMERA_KEY


def test_mapping_scales_and_selects_dims(small_collection):
    log = open_log(small_collection.out)
    m = KeyMapping(state_indices=(0, 1, 2), state_dim=3, state_scale=(100.0, 100.0, 100.0), action_offset=(1.0,) * 7)
    state, action = m.read(log, 0)
    raw = log.columns(0, ["observation.state", "action"])
    np.testing.assert_allclose(state, raw["observation.state"][:, :3] * 100, rtol=1e-6)
    np.testing.assert_allclose(action, raw["action"] + 1, rtol=1e-6)


def test_clips_are_windows_at_a_stride(small_collection):
    log = open_log(small_collection.out)
    ds = ClipDataset(log, load_mapping("panda_sim"), frames=4, stride=2)
    assert len(ds) == 3 * (12 - 7 + 1)  # a window spans 7 frames
    item = ds[6]
    assert item["video"].shape == (4, 3, 64, 64) and item["state"].shape == (4, 7) and item["action"].shape == (4, 7)
    assert list(np.diff(item["frame_index"].numpy())) == [2, 2, 2]
    whole = log.frames(item["episode"], CAMERA_KEY)
    np.testing.assert_array_equal(item["video"].permute(0, 2, 3, 1).numpy(), whole[item["frame_index"].numpy()])
    delta = ClipDataset(log, load_mapping("panda_sim"), frames=3, stride=2, actions="state_delta")[0]
    s_all = log.columns(0, ["observation.state"])["observation.state"]
    np.testing.assert_allclose(delta["action"][0, :3].numpy(), s_all[2, :3] - s_all[0, :3], rtol=1e-5)
    np.testing.assert_allclose(delta["action"][0, 3:6].numpy(), s_all[2, 3:6] - s_all[0, 3:6], atol=2e-3)  # small turns: ~the difference
    assert delta["action"][0, 6] == pytest.approx(s_all[2, 6] - s_all[0, 6], abs=1e-6)  # the official code's gripper delta


def _write_v21(root: Path, lengths: list[int]) -> list[np.ndarray]:
    """A v2.1 dataset as older LeRobot writes it: one parquet and one mp4 per episode, episodes.jsonl."""
    rng = np.random.default_rng(0)
    info = {
        "codebase_version": "v2.1", "fps": 10, "chunks_size": 1000, "total_episodes": len(lengths),
        "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
        "video_path": "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4",
        "features": {
            "observation.images.cam": video_feature(32, 32, 10, "libx264"),
            "observation.state": {"dtype": "float32", "shape": [7], "names": None},
            "action": {"dtype": "float32", "shape": [7], "names": None},
        },
    }
    (root / "meta").mkdir(parents=True)
    (root / "meta/info.json").write_text(json.dumps(info))
    states = []
    with open(root / "meta/episodes.jsonl", "w") as f:
        for i, n in enumerate(lengths):
            f.write(json.dumps({"episode_index": i, "tasks": ["t"], "length": n}) + "\n")
            s = rng.normal(size=(n, 7)).astype(np.float32)
            states.append(s)
            table = pa.table({  # HF datasets store vectors as variable-size lists
                "observation.state": pa.array(s.tolist(), type=pa.list_(pa.float32())),
                "action": pa.array((-s).tolist(), type=pa.list_(pa.float32())),
                "episode_index": np.full(n, i), "frame_index": np.arange(n), "timestamp": np.arange(n) / 10,
            })
            (root / "data/chunk-000").mkdir(parents=True, exist_ok=True)
            pq.write_table(table, root / f"data/chunk-000/episode_{i:06d}.parquet")
            vdir = root / "videos/chunk-000/observation.images.cam"
            vdir.mkdir(parents=True, exist_ok=True)
            encode_video(vdir / f"episode_{i:06d}.mp4", np.full((n, 32, 32, 3), 40 * i, np.uint8), 10, codec="libx264")
    return states


def test_reads_v21_datasets(tmp_path):
    states = _write_v21(tmp_path, [6, 9])
    log = open_log(tmp_path)
    assert log.version == "v2.1" and [e.length for e in log.episodes] == [6, 9]
    m = KeyMapping(camera="observation.images.cam")
    s, a = m.read(log, 1)
    np.testing.assert_array_equal(s, states[1])
    np.testing.assert_array_equal(a, -states[1])
    frames = log.frames(1, "observation.images.cam", start=2, num=4)
    assert frames.shape == (4, 32, 32, 3) and abs(float(frames.mean()) - 40) < 3


def test_writer_interrupted_before_info_json_recovers_on_reopen(tmp_path, monkeypatch):
    feats = {"cam": video_feature(16, 16, 4), "observation.state": {"dtype": "float32", "shape": [2], "names": None}}

    def ep(i, task):
        return Episode(i, task, {"observation.state": np.full((3, 2), i, np.float32)}, {"cam": np.zeros((3, 16, 16, 3), np.uint8)})

    w = DatasetWriter(tmp_path, 4, feats)
    w.append([ep(0, "a")])
    monkeypatch.setattr(DatasetWriter, "_write_info", lambda self: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        w.append([ep(1, "b")])
    assert json.loads((tmp_path / "meta/info.json").read_text())["total_episodes"] == 1  # untouched
    monkeypatch.undo()
    w2 = DatasetWriter(tmp_path, 4, feats)
    info = json.loads((tmp_path / "meta/info.json").read_text())
    assert w2.num_episodes == 2 and info["total_episodes"] == 2 and info["total_tasks"] == 2
    log = open_log(tmp_path)
    np.testing.assert_array_equal(log.columns(1, ["observation.state"])["observation.state"], np.full((3, 2), 1))


def test_writer_refuses_episodes_that_do_not_continue_the_dataset_or_have_ragged_columns(tmp_path):
    feats = {"observation.state": {"dtype": "float32", "shape": [2], "names": None}, "x": {"dtype": "float32", "shape": [1], "names": None}}
    w = DatasetWriter(tmp_path, 4, feats)
    good = {"observation.state": np.zeros((2, 2), np.float32), "x": np.zeros(2, np.float32)}
    with pytest.raises(ValueError, match=r"expected indices \[0\]"):
        w.append([Episode(1, "t", good, {})])
    with pytest.raises(ValueError, match="'x' has 3 rows, expected 2"):
        w.append([Episode(0, "t", {**good, "x": np.zeros(3, np.float32)}, {})])
    assert not (tmp_path / "meta/info.json").exists()  # nothing half-written
