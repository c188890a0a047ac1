"""Where the object lies, read off the hand's grasps (no object label): in the hand while held, where it was let go
after, where it will be picked up before; and the policy that learns it as a side task."""

from __future__ import annotations

import numpy as np
import pytest

import vjepa_ac.training.proposal as tp
from vjepa_ac.training.grasp_track import object_track


def _states(xyz: list[list[float]], closure: list[float]) -> np.ndarray:
    s = np.zeros((len(xyz), 7), np.float32)
    s[:, :3], s[:, 6] = xyz, closure
    return s


def test_the_object_is_where_it_will_be_picked_up_in_the_hand_while_held_and_where_it_was_let_go():
    xyz = [[0, 0, 0.3], [0.1, 0, 0.1], [0.2, 0, 0.02], [0.2, 0, 0.02], [0.3, 0.1, 0.2], [0.4, 0.2, 0.03], [0.4, 0.2, 0.03], [0, 0, 0.3]]
    closure = [0, 0, 0, 0.55, 0.56, 0.55, 0.1, 0]  # closes on the object at frame 3, lets go at frame 6
    pos, ok = object_track(_states(xyz, closure), (0.3, 0.7))
    assert ok.all()
    np.testing.assert_allclose(pos[:3], [[0.2, 0, 0.02]] * 3)  # before the grasp: where the hand will pick it up
    np.testing.assert_allclose(pos[3:6], np.array(xyz)[3:6])  # held: in the hand
    np.testing.assert_allclose(pos[6:], [[0.4, 0.2, 0.03]] * 2)  # let go: where the hand last held it


def test_a_hand_closed_empty_is_no_grasp_and_an_episode_without_a_grasp_carries_no_label():
    xyz = [[0, 0, 0.1]] * 4
    pos, ok = object_track(_states(xyz, [0, 0.9, 0.9, 0]), (0.3, 0.7))  # closed all the way: nothing in the hand
    assert not ok.any()
    with pytest.raises(ValueError, match="low < high"):
        object_track(_states(xyz, [0] * 4), (0.7, 0.3))


def test_the_policy_learns_where_the_object_lies_beside_its_actions(small_collection, features, tmp_path):
    base = dict(dataset=small_collection.out, features=features, batch_size=16, steps=4, warmup=1, val_every=2, val_batches=1,
                device="cpu", seed=1, arch=tp.ProposalArch(channels=4, hidden=32), object_weight=1.0)
    with pytest.raises(ValueError, match=r"hold=\(5.0, 6.0\)"):  # no closure in that range: nothing to learn from, said so
        tp.train_proposal(tp.ProposalTrainConfig(out=str(tmp_path / "none"), hold=[5.0, 6.0], **base))
    with pytest.raises(ValueError, match="sub-goal model has no object guess"):
        tp.train_proposal(tp.ProposalTrainConfig(out=str(tmp_path / "sub"), kind="subgoal", **base))
    path = tp.train_proposal(tp.ProposalTrainConfig(out=str(tmp_path / "p"), hold=[-10.0, 10.0], **base))
    header = (tmp_path / "p" / "log.csv").read_text().splitlines()
    cols = header[0].split(",")
    last = dict(zip(cols, header[-1].split(",")))
    assert float(last["val_object_m"]) >= 0 and float(last["val_mean_object_m"]) > 0
    from vjepa_ac.models.proposals import load_proposal

    policy = load_proposal(path, kind="policy")
    assert policy.cfg.object_guess
    import torch

    z = torch.randn(2, policy.cfg.tokens, policy.cfg.embed_dim)
    a, guess = policy.act_and_guess(z, torch.randn(2, 7), z)
    assert a.shape == (2, 1, 7) and guess.shape == (2, 6)
