"""What every trainer shares (`trainer.py`): a run resumed into a folder made with other settings is refused, naming
the field (`resume=force` continues it anyway, `resume=no` starts over); `val_fraction=0` holds nothing out; too few
or too short episodes are refused with a message."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

import vjepa_ac.training.pretrain as pt
import vjepa_ac.training.predictor as tr
import vjepa_ac.training.decoder as td
import vjepa_ac.training.head as th
import vjepa_ac.training.proposal as tp
import vjepa_ac.training.distance as tdist
from vjepa_ac.models.decoder import DecoderConfig
from vjepa_ac.models.predictor import PredictorConfig
from vjepa_ac.training.trainer import WindowSampler, first_difference, split_episodes

TINY_ENCODER = pt.EncoderArch(hidden_size=32, layers=1, heads=2, patch_size=16, crop_size=64, pred_hidden_size=16, pred_layers=1, pred_heads=2)


def trainers(data, features, out):
    """(run function, config) of each of the five trainers, 2 steps each."""
    common = dict(out=str(out), steps=2, warmup=1, checkpoint_every=1, val_every=1, device="cpu", batch_size=2)
    return {
        "pretrain": (pt.pretrain, pt.PretrainConfig(dataset=data, arch=TINY_ENCODER, frames=2, stride=1, **common)),
        "train": (tr.train, tr.TrainConfig(dataset=data, features=features, frames=3, predictor=PredictorConfig(hidden=16, depth=1, heads=2), **common)),
        "train-decoder": (td.train_decoder, td.DecoderTrainConfig(dataset=data, features=features, val_frames=4,
                                                                  decoder=DecoderConfig(channels=[16, 8, 8]), **common)),
        "train-head": (th.train_head, th.HeadTrainConfig(dataset=data, features=features, arch=th.HeadArch(channels=4, hidden=16), **common)),
        "train-proposal": (tp.train_proposal, tp.ProposalTrainConfig(dataset=data, features=features, kind="subgoal", val_batches=1,
                                                                     arch=tp.ProposalArch(channels=4, hidden=16), **common)),
        "train-distance": (tdist.train_distance, tdist.DistanceTrainConfig(dataset=data, features=features, val_pairs=16,
                                                                            arch=tdist.DistanceArch(channels=4, hidden=16), **common)),
    }


@pytest.mark.parametrize("name", ["pretrain", "train", "train-decoder", "train-head", "train-proposal", "train-distance"])
def test_a_resume_with_other_settings_is_refused_naming_the_field(small_collection, features, tmp_path, name):
    run, cfg = trainers(small_collection.out, features, tmp_path / name)[name]
    run(cfg)
    with pytest.raises(ValueError, match=rf"lr={cfg.lr} there, lr=0\.002 now.*resume=force"):
        run(replace(cfg, lr=2e-3, steps=3))
    run(replace(cfg, steps=3))  # the same settings, more steps: the run is extended
    run(replace(cfg, lr=2e-3, steps=4, resume="force"))  # continued with the new rate
    run(replace(cfg, lr=2e-3, resume="no"))  # started over
    with pytest.raises(ValueError, match="resume must be one of"):
        run(replace(cfg, resume="maybe"))


@pytest.mark.parametrize("name", ["train", "train-decoder", "train-head", "train-distance"])
def test_every_feature_trainer_learns_from_several_logs_each_holding_out_its_own_last_episodes(small_collection, features, tmp_path, name):
    import json

    run, cfg = trainers(small_collection.out, features, tmp_path / name)[name]
    path = run(replace(cfg, extra_datasets=[small_collection.out], extra_features=[features]))
    meta = json.loads((path / "config.json").read_text())
    assert meta["val_episodes"] == [2, 5], "3 episodes a log: each log's last is held out, the second's numbered after the first's"
    assert meta["extra_datasets"] == [small_collection.out] and meta["extra_features"] == [features]
    if name == "train":
        assert meta["train_episodes"] == [0, 1, 3, 4]
    with pytest.raises(ValueError, match="pair by position"):
        run(replace(cfg, out=str(tmp_path / "unpaired"), extra_datasets=[small_collection.out]))
    with pytest.raises(ValueError, match="train_episodes limits a single dataset"):
        run(replace(cfg, out=str(tmp_path / "limited"), extra_datasets=[small_collection.out], extra_features=[features], train_episodes=1))


def test_the_head_and_decoder_trained_on_fewer_episodes_score_only_the_held_out_ones(small_collection, features, tmp_path):
    _, cfg = trainers(small_collection.out, features, tmp_path / "head")["train-head"]
    heads = th.Readouts(replace(cfg, train_episodes=1), torch.device("cpu"))
    _, cfg = trainers(small_collection.out, features, tmp_path / "decoder")["train-decoder"]
    frames = td.Frames(replace(cfg, train_episodes=1))
    for data in (heads, frames):
        assert set(data.episode[data.train_idx].tolist()) == {0}
        assert set(data.episode[data.val_idx].tolist()) == {2}, "episode 1, left unused, is not scored as held out"


def test_a_run_made_before_extra_logs_existed_still_resumes(small_collection, features, tmp_path):
    import json

    run, cfg = trainers(small_collection.out, features, tmp_path / "old")["train-head"]
    run(cfg)
    settings = tmp_path / "old" / "train_head_config.json"
    old = {k: v for k, v in json.loads(settings.read_text()).items() if k not in ("extra_datasets", "extra_features")}
    settings.write_text(json.dumps(old))
    run(replace(cfg, steps=3))  # extended, not refused
    with pytest.raises(ValueError, match="extra_datasets"):
        run(replace(cfg, steps=4, extra_datasets=[small_collection.out], extra_features=[features]))


def test_a_predictor_encoding_on_the_fly_refuses_extra_logs():
    with pytest.raises(ValueError, match="extra_datasets and extra_features read feature caches"):
        tr.check_config(tr.TrainConfig(encoder="default", extra_datasets=["data/b"], extra_features=["features_b"]))


def test_val_fraction_zero_holds_nothing_out_and_one_episode_needs_it():
    assert split_episodes(5, 0.0, "d") == ([0, 1, 2, 3, 4], [])
    assert split_episodes(5, 0.2, "d") == ([0, 1, 2, 3], [4])
    assert split_episodes(2, 0.9, "d") == ([0], [1]), "at least one episode stays to train on"
    assert split_episodes(1, 0.0, "d") == ([0], [])
    with pytest.raises(ValueError, match="1 episode.*val_fraction=0"):
        split_episodes(1, 0.15, "data/one")


def test_train_episodes_trains_on_the_first_ones_and_holds_out_the_same():
    assert split_episodes(10, 0.2, "d", train_episodes=3) == ([0, 1, 2], [8, 9]), "a data-size curve keeps its held-out episodes"
    assert split_episodes(10, 0.2, "d", train_episodes=8) == split_episodes(10, 0.2, "d")
    with pytest.raises(ValueError, match="train_episodes=9: data/x has 8 episodes to train on"):
        split_episodes(10, 0.2, "data/x", train_episodes=9)
    with pytest.raises(ValueError, match="train_episodes=0"):
        split_episodes(10, 0.2, "d", train_episodes=0)


def test_a_predictor_trained_on_fewer_episodes_records_which(small_collection, features, tmp_path):
    import json

    run, cfg = trainers(small_collection.out, features, tmp_path / "few")["train"]
    run(replace(cfg, train_episodes=1))
    meta = json.loads((tmp_path / "few" / "predictor" / "config.json").read_text())
    assert meta["train_episodes"] == [0] and meta["val_episodes"] == [2]
    with pytest.raises(ValueError, match="train_episodes=3"):
        run(replace(cfg, out=str(tmp_path / "many"), train_episodes=3))


def test_episodes_shorter_than_the_window_are_refused_by_name():
    with pytest.raises(ValueError, match="data/x: episode 1 has 3 frames, fewer than a training window of 4"):
        WindowSampler([10, 3, 9], 4, "data/x")
    s = WindowSampler([5, 4], 4, "d")
    g = torch.Generator().manual_seed(0)
    draws = {s.draw([0, 1], g) for _ in range(200)}
    assert draws == {(0, 0), (0, 1), (1, 0)}, "every window fits inside its episode"


def test_the_first_difference_is_named_with_its_dotted_path():
    assert first_difference({"a": 1, "b": {"c": 2, "d": 3}}, {"a": 1, "b": {"c": 2, "d": 4}}) == "b.d"
    assert first_difference({"a": 1}, {"a": 1}) is None
    assert first_difference({"a": 1}, {"a": 1, "z": 0}) == "z"


@pytest.mark.parametrize("name", ["pretrain", "train", "train-decoder", "train-head", "train-proposal", "train-distance"])
def test_every_trainer_trains_without_holding_out_and_logs_no_validation(small_collection, features, tmp_path, name):
    import csv

    run, cfg = trainers(small_collection.out, features, tmp_path / name)[name]
    run(replace(cfg, val_fraction=0.0))
    rows = list(csv.DictReader(open(tmp_path / name / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2]
    val = [k for k in rows[0] if k.startswith("val_")]
    assert val and all(r[k] == "nan" for r in rows for k in val), "nothing held out, nothing validated"


@pytest.mark.parametrize("name", ["pretrain", "train", "train-decoder", "train-head", "train-proposal"])
def test_every_trainer_validates_on_the_episodes_it_holds_out(small_collection, features, tmp_path, name):
    import csv

    run, cfg = trainers(small_collection.out, features, tmp_path / name)[name]
    run(replace(cfg, val_fraction=0.34))  # one of the three episodes held out
    rows = list(csv.DictReader(open(tmp_path / name / "log.csv")))
    val = [k for k in rows[0] if k.startswith("val_")]
    assert val and all(float(rows[-1][k]) > 0 for k in val), f"{name} logged no validation: {rows[-1]}"
