"""DROID as LeRobot publishes it (lerobot/droid_1.0.1), in both layouts: the shipped `droid` mapping reads V-JEPA 2-AC's
state and actions at 4 fps, turns through +-pi without a jump, and the whole fine-tuning path runs on it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vjepa_ac.data.lerobot_format import DatasetWriter, Episode, video_feature
from vjepa_ac.data.mapping import KeyMapping, euler_xyz_to_matrix, load_mapping, matrix_to_euler_xyz, pose_delta
from vjepa_ac.data.reader import open_log
from vjepa_ac.data.video import encode_video

FPS = 15
H, W = 180, 320
CAMERAS = ["observation.images.exterior_1_left", "observation.images.exterior_2_left", "observation.images.wrist_left"]


def _vec(n: int, names=None) -> dict:
    return {"dtype": "float32", "shape": [n], "names": names}


def droid_features() -> dict:
    """The per-frame features of lerobot/droid_1.0.1 (names, dtypes and shapes as its port script declares them)."""
    xyzrpy = {"axes": ["x", "y", "z", "roll", "pitch", "yaw"]}
    joints = {"axes": [f"joint_{i}" for i in range(7)]}
    f = {k: {"dtype": "bool", "shape": [1], "names": None} for k in ("is_first", "is_last", "is_terminal", "is_episode_successful")}
    f.update({k: {"dtype": "string", "shape": [1], "names": None} for k in ("language_instruction", "language_instruction_2", "language_instruction_3")})
    f.update({
        "observation.state.gripper_position": _vec(1, {"axes": ["gripper"]}), "observation.state.cartesian_position": _vec(6, xyzrpy),
        "observation.state.joint_position": _vec(7, joints), "observation.state": _vec(8),
        "action.gripper_position": _vec(1), "action.gripper_velocity": _vec(1), "action.cartesian_position": _vec(6, xyzrpy),
        "action.cartesian_velocity": _vec(6, xyzrpy), "action.joint_position": _vec(7, joints), "action.joint_velocity": _vec(7, joints),
        "action.original": _vec(7), "action": _vec(8), "discount": _vec(1), "reward": _vec(1),
        **{f"camera_extrinsics.{c.split('.')[-1]}": _vec(6, xyzrpy) for c in CAMERAS},
    })
    return f


def droid_episode(i: int, n: int) -> tuple[dict, dict]:
    """Columns and frames of one episode: the hand turns in yaw through +-pi; frame t's brightness encodes t."""
    rng = np.random.default_rng(i)
    t = np.arange(n)
    cart = np.zeros((n, 6), np.float32)
    cart[:, :3] = 0.4 + 0.01 * t[:, None] * np.array([1.0, -0.5, 0.2])
    cart[:, 3], cart[:, 4] = np.pi - 0.02, 0.1  # roll near pi, pitch 0.1
    yaw = 3.0 + 0.02 * t
    cart[:, 5] = (yaw + np.pi) % (2 * np.pi) - np.pi  # wraps from +pi to -pi part-way
    grip = np.clip(0.05 * t, 0, 1).astype(np.float32)[:, None]
    joints = rng.normal(size=(n, 7)).astype(np.float32)
    cols = {k: np.zeros((n, 1), bool) for k in ("is_first", "is_last", "is_terminal")}
    cols["is_first"][0] = cols["is_last"][-1] = cols["is_terminal"][-1] = True
    cols["is_episode_successful"] = np.ones((n, 1), bool)
    for k in ("language_instruction", "language_instruction_2", "language_instruction_3"):
        cols[k] = np.array(["put the marker in the cup"] * n)
    cols.update({
        "observation.state.gripper_position": grip, "observation.state.cartesian_position": cart,
        "observation.state.joint_position": joints, "observation.state": np.concatenate([joints, grip], 1),
        "action.gripper_position": grip, "action.gripper_velocity": np.zeros((n, 1), np.float32), "action.cartesian_position": cart,
        "action.cartesian_velocity": np.zeros((n, 6), np.float32), "action.joint_position": joints,
        "action.joint_velocity": np.zeros((n, 7), np.float32), "action.original": np.zeros((n, 7), np.float32),
        "action": np.concatenate([joints, grip], 1), "discount": np.ones((n, 1), np.float32), "reward": np.zeros((n, 1), np.float32),
        **{f"camera_extrinsics.{c.split('.')[-1]}": np.zeros((n, 6), np.float32) for c in CAMERAS},
    })
    frames = np.zeros((n, H, W, 3), np.uint8)
    frames[:] = (4 * t % 250)[:, None, None, None].astype(np.uint8)
    videos = {c: frames if j == 0 else 255 - frames for j, c in enumerate(CAMERAS)}
    return cols, videos


def write_droid(root: Path, layout: str, lengths: list[int]) -> None:
    """A small DROID-named dataset in LeRobot's v3.0 layout (our writer) or v2.1 (one parquet and mp4 per episode)."""
    feats = droid_features()
    if layout == "v3.0":
        w = DatasetWriter(root, FPS, {**feats, **{c: video_feature(H, W, FPS, "libx264") for c in CAMERAS}}, robot_type="Franka", codec="libx264")
        w.append([Episode(i, "put the marker in the cup", *droid_episode(i, n)) for i, n in enumerate(lengths)])
        return
    info = {"codebase_version": "v2.1", "robot_type": "Franka", "fps": FPS, "chunks_size": 1000, "total_episodes": len(lengths),
            "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
            "video_path": "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4",
            "features": {**feats, **{c: video_feature(H, W, FPS, "libx264") for c in CAMERAS}}}
    (root / "meta").mkdir(parents=True)
    (root / "meta/info.json").write_text(json.dumps(info))
    with open(root / "meta/episodes.jsonl", "w") as f:
        for i, n in enumerate(lengths):
            f.write(json.dumps({"episode_index": i, "tasks": ["put the marker in the cup"], "length": n}) + "\n")
            cols, videos = droid_episode(i, n)
            table = {k: (pa.array(v.reshape(n).tolist()) if v.dtype.kind in "bU" else pa.array(v.reshape(n, -1).tolist(), type=pa.list_(pa.float32())))
                     for k, v in cols.items()}
            table.update({"episode_index": np.full(n, i), "frame_index": np.arange(n), "timestamp": np.arange(n) / FPS,
                          "index": np.arange(n), "task_index": np.zeros(n, np.int64)})
            (root / "data/chunk-000").mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table(table), root / f"data/chunk-000/episode_{i:06d}.parquet")
            for c, frames in videos.items():
                vdir = root / "videos/chunk-000" / c
                vdir.mkdir(parents=True, exist_ok=True)
                encode_video(vdir / f"episode_{i:06d}.mp4", frames, FPS, codec="libx264")


@pytest.fixture(scope="module", params=["v2.1", "v3.0"])
def droid(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"droid_{request.param}")
    write_droid(root, request.param, [30, 45])
    return root, request.param


def test_the_droid_mapping_reads_v_jepa_2_ac_states_and_actions_at_4_fps(droid):
    root, layout = droid
    log = open_log(root)
    assert log.version == layout and log.fps == FPS
    m = load_mapping("droid")
    m.check(log)
    state, action = m.read(log, 1)
    rows = np.arange(0, 45, 4)  # ceil(15 / 4) = 4: V-JEPA 2-AC's subsampling
    cols = droid_episode(1, 45)[0]
    expect = np.concatenate([cols["observation.state.cartesian_position"], cols["observation.state.gripper_position"]], 1)[rows]
    np.testing.assert_allclose(state, expect, atol=1e-6)
    assert action.shape == (len(rows), 7) and not action[-1].any(), "the last state has no successor"
    np.testing.assert_allclose(action[:-1, :3], np.diff(expect[:, :3], axis=0), atol=1e-6)
    np.testing.assert_allclose(action[:-1, 5], 0.08, atol=1e-5), "yaw turns 0.08 rad a step, also across +-pi"
    np.testing.assert_allclose(action[:-1, 3:5], 0.0, atol=1e-5)
    np.testing.assert_allclose(action[:-1, 6], np.diff(expect[:, 6]), atol=1e-6)  # gripper delta, as the official code
    frames = m.frames(log, 1)
    assert frames.shape == (len(rows), H, W, 3)
    np.testing.assert_allclose(frames.mean((1, 2, 3)), 4 * rows % 250, atol=4)  # the same rows as the states
    wrist = KeyMapping(**{**m.__dict__, "camera": "observation.images.wrist_left"})
    np.testing.assert_allclose(wrist.frames(log, 1).mean((1, 2, 3)), 255 - 4 * rows % 250, atol=4)
    nxt = KeyMapping(**{**m.__dict__, "gripper_action": "next"})
    np.testing.assert_allclose(nxt.read(log, 1)[1][:-1, 6], expect[1:, 6], atol=1e-6)


def test_a_camera_droid_lacks_is_named_with_the_ones_it_has(droid):
    log = open_log(droid[0])
    m = KeyMapping(**{**load_mapping("droid").__dict__, "camera": "observation.images.exterior_3_left"})
    with pytest.raises(KeyError, match="exterior_3_left.*exterior_1_left"):
        m.check(log)


def test_pose_delta_takes_the_short_way_round_at_pi():
    s = np.zeros((3, 7), np.float64)
    s[:, 5] = [3.1, -3.1, -3.0]  # yaw through +pi
    a = pose_delta(s)
    np.testing.assert_allclose(a[:2, 5], [2 * np.pi - 6.2, 0.1], atol=1e-5)
    s = np.zeros((2, 7))
    s[:, 3] = [-3.1, 3.1]  # roll through -pi
    np.testing.assert_allclose(pose_delta(s)[0, 3], -(2 * np.pi - 6.2), atol=1e-5)
    rng = np.random.default_rng(0)
    e = rng.uniform(-np.pi, np.pi, (200, 3))
    e[:, 1] = rng.uniform(-1.5, 1.5, 200)  # away from gimbal lock
    np.testing.assert_allclose(matrix_to_euler_xyz(euler_xyz_to_matrix(e)), e, atol=1e-9)
    scipy_rotation = pytest.importorskip("scipy.spatial.transform").Rotation
    np.testing.assert_allclose(euler_xyz_to_matrix(e), scipy_rotation.from_euler("xyz", e).as_matrix(), atol=1e-12)


def test_bad_mapping_settings_are_refused_by_name():
    with pytest.raises(ValueError, match="action_from_state"):
        KeyMapping(action_from_state="velocity")
    with pytest.raises(ValueError, match="gripper_action"):
        KeyMapping(action_from_state="pose_delta", gripper_action="open")
    with pytest.raises(ValueError, match="fps"):
        KeyMapping(fps=0)


def test_fine_tuning_runs_on_droid(tmp_path, features):
    """Encode (non-square 180x320 frames, 4 fps) and train a predictor on the DROID-layout dataset."""
    import torch
    from transformers import VJEPA2Config, VJEPA2Model

    from vjepa_ac.models.encoder import FrozenEncoder, Preprocess
    from vjepa_ac.training.features import EncodeConfig, FeatureCache, encode_dataset
    from vjepa_ac.models.predictor import PredictorConfig, load_predictor
    from vjepa_ac.training.predictor import TrainConfig, train

    root = tmp_path / "droid"
    write_droid(root, "v3.0", [30, 45, 33])
    torch.manual_seed(0)
    enc = FrozenEncoder(VJEPA2Model(VJEPA2Config(hidden_size=32, num_attention_heads=2, num_hidden_layers=1, crop_size=32,
                                                 patch_size=8, tubelet_size=1)), Preprocess(crop_size=32, mode="resize"))
    cache = encode_dataset(EncodeConfig(dataset=str(root), mapping="droid", out=str(tmp_path / "feat"), dtype="float32"), enc)
    assert [len(FeatureCache(cache)[e]) for e in range(3)] == [8, 12, 9]  # 4 fps of 30, 45, 33 frames at 15 fps
    out = train(TrainConfig(dataset=str(root), mapping="droid", features=str(cache), out=str(tmp_path / "pred"), frames=3, batch_size=2,
                            steps=3, warmup=1, val_every=3, checkpoint_every=3, device="cpu", predictor=PredictorConfig(hidden=16, depth=1, heads=2)))
    assert load_predictor(out).cfg.action_dim == 7


def test_the_label_free_energy_trains_on_droid_which_has_no_object_labels(tmp_path):
    """The default energy's two heads train on a DROID-layout dataset, which has frames, the robot's state and actions
    and nothing of the scene (no `observation.environment_state`): the temporal-distance head from the order of frames,
    the readout head from the robot's own state; both record that they used no labels."""
    import torch
    from transformers import VJEPA2Config, VJEPA2Model

    from vjepa_ac.models.distance import load_distance
    from vjepa_ac.models.encoder import FrozenEncoder, Preprocess
    from vjepa_ac.models.goal_head import load_head
    from vjepa_ac.training.distance import DistanceArch, DistanceTrainConfig, train_distance
    from vjepa_ac.training.features import EncodeConfig, encode_dataset
    from vjepa_ac.training.head import HeadArch, HeadTrainConfig, train_head

    root = tmp_path / "droid"
    write_droid(root, "v3.0", [30, 45, 33])
    assert not any("environment_state" in k for k in open_log(root).features)
    torch.manual_seed(0)
    enc = FrozenEncoder(VJEPA2Model(VJEPA2Config(hidden_size=32, num_attention_heads=2, num_hidden_layers=1, crop_size=32,
                                                 patch_size=8, tubelet_size=1)), Preprocess(crop_size=32, mode="resize"))
    cache = str(encode_dataset(EncodeConfig(dataset=str(root), mapping="droid", out=str(tmp_path / "feat"), dtype="float32"), enc))
    common = dict(dataset=str(root), mapping="droid", features=cache, steps=4, warmup=1, batch_size=8, val_every=4,
                  checkpoint_every=4, device="cpu")
    distance = load_distance(train_distance(DistanceTrainConfig(out=str(tmp_path / "dist"), arch=DistanceArch(channels=4, hidden=16),
                                                                val_pairs=32, **common)), enc)
    head = load_head(train_head(HeadTrainConfig(out=str(tmp_path / "head"), arch=HeadArch(channels=4, hidden=16), **common)), enc)
    assert distance.meta["labels"].startswith("none") and distance.cfg.reached > 0
    assert head.meta["labels"] == [] and head.cfg.outputs == 7  # the DROID state: x, y, z, three angles, the gripper
