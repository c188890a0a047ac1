"""The temporal-distance head: learned from the order of frames alone, it reads far goals as far and near ones as
near, calibrates when a goal counts as reached, refuses another encoder's tokens, and scores plans."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vjepa_ac.models.distance import EDGES, DistanceConfig, DistanceHead, bin_of, load_distance, save_distance
from vjepa_ac.training.distance import DistanceArch, DistanceTrainConfig, draw_pairs, train_distance
from conftest import assert_resumes_exactly


def test_separations_fall_in_their_bins_and_the_statistics_read_steps():
    assert bin_of(torch.tensor([0, 1, 5, 7, 8, 79, 200]), list(EDGES)).tolist() == [0, 1, 5, 6, 7, 16, 17]
    head = DistanceHead(DistanceConfig())
    sure = torch.full((2, head.cfg.bins), -40.0)
    sure[0, 3], sure[1, 0] = 40.0, 40.0  # certain of 3 steps; certain of 0
    assert head.steps(sure).tolist() == pytest.approx([3.0, 0.0], abs=1e-4)
    spread = torch.zeros(1, head.cfg.bins)  # uniform: a low quantile reads nearer than the mean
    assert float(head.steps(spread, "quantile", 0.1)) < float(head.steps(spread, "mean"))
    with pytest.raises(ValueError, match="distance_statistic"):
        head.steps(sure, "median")


def test_pairs_stay_inside_their_episode_and_cover_short_and_long_separations():
    gen = torch.Generator().manual_seed(0)
    ep, t, d = draw_pairs([12, 80, 30], [0, 1, 2], 4000, gen, near_share=0.5, max_separation=None)
    lengths = np.array([12, 80, 30])[ep]
    assert (t >= 0).all() and (t + d < lengths).all()
    long = d[ep == 1]
    assert (long <= 2).mean() > 0.15 and (long >= 40).mean() > 0.1, "short separations (4 % of a uniform draw) well covered, long ones present"


def test_the_head_learns_that_later_frames_are_further(small_collection, features, tmp_path):
    out = train_distance(DistanceTrainConfig(dataset=small_collection.out, features=features, out=str(tmp_path / "d"), steps=300,
                                             batch_size=64, lr=2e-3, warmup=10, val_fraction=0.0, checkpoint_every=300, val_every=300,
                                             arch=DistanceArch(channels=4, hidden=64), device="cpu"))
    head = load_distance(out)
    from vjepa_ac.training.features import FeatureCache

    z = FeatureCache(features)[0]
    z = torch.nn.functional.layer_norm(z, (z.shape[-1],))
    with torch.no_grad():
        near = head.steps(head(z[:-1], z[1:]))  # one step apart
        far = head.steps(head(z[:2], z[-2:]))  # ten steps apart
        same = head.steps(head(z, z))
    assert float(far.mean()) > float(near.mean()) + 2 and float(same.mean()) < float(near.mean()) + 0.5


def test_it_calibrates_when_a_goal_is_reached_and_records_that_it_read_no_labels(small_collection, features, tmp_path):
    out = train_distance(DistanceTrainConfig(dataset=small_collection.out, features=features, out=str(tmp_path / "d"), steps=20,
                                             batch_size=32, warmup=2, val_fraction=0.34, val_pairs=64, checkpoint_every=20,
                                             val_every=20, arch=DistanceArch(channels=4, hidden=16), device="cpu"))
    meta = json.loads((out / "config.json").read_text())
    assert meta["labels"].startswith("none") and meta["distance"]["reached"] > 0 and meta["val_episodes"] == [2]
    assert 0 < meta["val_reached_hits"] <= 1 and "val_mae_steps" in meta


def test_a_distance_head_refuses_the_tokens_of_another_encoder(tmp_path):
    head = DistanceHead(DistanceConfig(embed_dim=32, grid=4, hidden=16))
    path = save_distance(head, tmp_path / "d", {"encoder": "someone-else"})

    class Enc:
        name = "mine"

        def identity(self):
            return "mine"

    with pytest.raises(ValueError, match="someone-else"):
        load_distance(path, Enc())
    with pytest.raises(FileNotFoundError, match="train-distance"):
        load_distance(tmp_path / "nothing")


def test_the_energy_scores_an_outcome_nearer_the_goal_lower():
    """With the distance head in the energy, an imagined outcome that looks like the goal costs less than one that
    looks like the start (a head that reads distance as the token gap, to keep the test about the plumbing)."""
    from vjepa_ac.planning.energy import Energy, EnergyConfig

    class GapHead(DistanceHead):
        def logits_to(self, z, g_features):
            gap = (z[..., 0, :1] - g_features[..., 0, :1]).abs()  # [..., 1]
            return -((torch.arange(self.cfg.bins, dtype=z.dtype) - 10 * gap) ** 2)

        def goal_features(self, g):
            return g

    energy = Energy(EnergyConfig(head=None), None, GapHead(DistanceConfig(embed_dim=8, grid=2)))
    goal = energy.goal(torch.zeros(4, 8))
    z_pred = torch.zeros(2, 1, 4, 8)
    z_pred[1, :, 0, 0] = 0.5  # the second candidate stays half a unit away
    e = energy.score(z_pred, goal)
    assert float(e[0]) < float(e[1])
    assert energy.reached(torch.zeros(4, 8), goal) and not energy.reached(z_pred[1, 0], goal)


def test_training_resumes_to_exactly_the_uninterrupted_weights(small_collection, features, tmp_path, monkeypatch):
    import vjepa_ac.training.distance as tdist

    def cfg_of(out):
        return DistanceTrainConfig(dataset=small_collection.out, features=features, out=str(out), steps=6, batch_size=16, warmup=2,
                                   checkpoint_every=2, val_every=3, val_pairs=16, seed=1, arch=DistanceArch(channels=4, hidden=16), device="cpu")

    assert_resumes_exactly(monkeypatch, train_distance, cfg_of, tmp_path, tdist, "draw_pairs")
