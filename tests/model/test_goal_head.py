"""The goal-distance head: its energy is zero at the goal and lower wherever the readout is nearer the goal in every
coordinate; it learns to read the logged state off tokens, resumes exactly, refuses another encoder's tokens, and
the agent plans with it through the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

import vjepa_ac.training.head as th
from vjepa_ac.models.goal_head import GoalHead, HeadConfig, load_head, save_head
from conftest import assert_resumes_exactly

EXE = [sys.executable, "-m", "vjepa_ac.cli"]


def tiny_head(k: int = 3, d: int = 8, grid: int = 2) -> GoalHead:
    torch.manual_seed(0)
    cfg = HeadConfig(embed_dim=d, grid=grid, channels=4, hidden=16, names=[f"c{i}" for i in range(k)],
                     weights=[1.0, 0.5, 0.0][:k], mean=[0.0] * k, std=[1.0] * k)
    return GoalHead(cfg)


def test_the_energy_is_zero_at_the_goal_and_falls_as_every_coordinate_nears_it():
    head = tiny_head().requires_grad_(False)
    z_goal = torch.randn(4, 8)
    assert float(head.energy(z_goal[None], z_goal)[0]) == 0.0
    goal = torch.tensor([0.3, -0.2, 5.0])
    far, near = torch.tensor([0.0, 0.0, 0.0]), torch.tensor([0.2, -0.1, 0.0])
    assert float(head.distance(near, goal)) < float(head.distance(far, goal))
    # a coordinate of weight 0 does not count; the weights are those the mapping gives
    assert float(head.distance(goal + torch.tensor([0, 0, 9.0]), goal)) == 0.0
    assert float(head.distance(torch.tensor([0.4, -0.2, 5.0]), goal)) == pytest.approx(0.1 / 2)


def test_the_anchored_outcome_moves_the_pose_as_the_predicted_state_does():
    """energy.anchor: the outcome's pose is the current readout plus the predicted state change (a bias of the head
    on real frames cancels), or with "state" the predicted state itself; the other coordinates are read off the
    imagined tokens either way."""
    from vjepa_ac.planning.energy import anchor_mode, anchored_readout

    head = tiny_head()
    head.cfg.pose_coords = 2
    r_now, r_pred = torch.tensor([0.5, 0.5, 1.0]), torch.tensor([[9.0, 9.0, 2.0]])
    s_now, s_pred = torch.tensor([0.1, 0.2, 0.0]), torch.tensor([[0.3, 0.1, 0.0]])
    torch.testing.assert_close(anchored_readout(head, r_now, r_pred, s_now, s_pred), torch.tensor([[0.7, 0.4, 2.0]]))
    torch.testing.assert_close(anchored_readout(head, r_now, r_pred, s_now, s_pred, "state"), torch.tensor([[0.3, 0.1, 2.0]]))
    assert anchor_mode("state") == "state" and anchor_mode("false") is False and anchor_mode(True) is True
    with pytest.raises(ValueError, match="energy.anchor must be true, false or 'state', got 'pose'"):
        anchor_mode("pose")


def test_a_head_refuses_the_tokens_of_another_encoder(tmp_path):
    path = save_head(tiny_head(), tmp_path / "h", {"encoder": "aaaa"})

    class Enc:
        name = "other"

        def identity(self):
            return "bbbb"

    with pytest.raises(ValueError, match="encoder aaaa, not of bbbb"):
        load_head(path, encoder=Enc())
    assert load_head(path).cfg.names == ["c0", "c1", "c2"]
    with pytest.raises(FileNotFoundError, match="train-head"):
        load_head(tmp_path / "nothing")


def _cfg(small_collection, features, out, **kw) -> th.HeadTrainConfig:
    return th.HeadTrainConfig(dataset=small_collection.out, features=features, out=str(out), batch_size=16, steps=6, warmup=2,
                              checkpoint_every=2, val_every=3, device="cpu", seed=1, arch=th.HeadArch(channels=4, hidden=32), **kw)


def test_training_resumes_to_exactly_the_uninterrupted_weights(small_collection, features, tmp_path, monkeypatch):
    assert_resumes_exactly(monkeypatch, th.train_head, lambda out: _cfg(small_collection, features, out), tmp_path, th.F, "smooth_l1_loss")


def test_the_head_learns_to_read_the_logged_state_better_than_its_mean(small_collection, features, tmp_path):
    out = th.train_head(replace(_cfg(small_collection, features, tmp_path / "run"), steps=300, checkpoint_every=300,
                                val_fraction=0.0, lr=3e-3, val_every=300))
    head = load_head(out)
    meta = json.loads((out / "config.json").read_text())
    assert head.cfg.names[:3] == ["x", "y", "z"] and meta["encoder"] == json.loads(
        (__import__("pathlib").Path(features) / "meta.json").read_text())["identity"]
    data = th.Readouts(_cfg(small_collection, features, tmp_path / "x", val_fraction=0.0), torch.device("cpu"))
    with torch.no_grad():
        err = (head(data.z.float()) - data.y).abs().mean(0)
    spread = (data.y - data.y.mean(0)).abs().mean(0)
    assert (err[:3] < 0.5 * spread[:3]).all(), (err, spread)  # the hand's position, on the frames it saw


def test_training_on_imagined_tokens_logs_their_error_too(small_collection, features, tmp_path):
    import torch as _t
    from vjepa_ac.models.predictor import ACPredictor, PredictorConfig, save_predictor

    _t.manual_seed(0)
    d = json.loads((__import__("pathlib").Path(features) / "meta.json").read_text())
    pred = tmp_path / "pred"
    save_predictor(ACPredictor(PredictorConfig(embed_dim=d["dim"], grid=int(d["tokens"] ** 0.5), hidden=16, depth=1, heads=2)), pred)
    out = th.train_head(_cfg(small_collection, features, tmp_path / "im", predictor=str(pred), imagined_share=0.5))
    header = (tmp_path / "im" / "log.csv").read_text().splitlines()[0].split(",")
    assert "val_imagined_x" in header and json.loads((out / "config.json").read_text())["predictor"] == str(pred)


@pytest.mark.slow
def test_the_agent_plans_with_the_head_through_the_command_line(small_collection, tmp_path):
    """A head trained on the default encoder's tokens, then `eval energy.head=...` with the default world model."""
    r = subprocess.run([*EXE, "encode", f"dataset={small_collection.out}", "encoder=default", f"out={tmp_path / 'feat'}", "device=cpu"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    feat = next(p for p in (tmp_path / "feat").iterdir() if (p / "meta.json").exists())
    r = subprocess.run([*EXE, "train-head", f"dataset={small_collection.out}", f"features={feat}", f"out={tmp_path / 'head'}",
                        "steps=4", "batch_size=8", "val_every=2", "checkpoint_every=2", "device=cpu"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    out = tmp_path / "eval"
    r = subprocess.run([*EXE, "eval", "env=panda_grasp", "episodes=1", f"out={out}", f"energy.head={tmp_path / 'head' / 'head'}",
                        "workers=1", "videos=0", "env.max_episode_steps=2", "agent.cem.samples=8", "agent.cem.iterations=1", "agent.cem.elites=2"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((out / "results.json").read_text())
    assert s["config"]["energy"]["head"] == str(tmp_path / "head" / "head") and s["errors"] == 0 and s["steps"]["mean"] == 2


def test_the_learned_world_model_scores_candidates_by_the_head():
    """With a head (and no distance head), the learned model's cost is the head's energy of the imagined tokens times
    its weight (nothing else)."""
    from vjepa_ac.models.encoder import FrozenEncoder, Preprocess
    from vjepa_ac.planning.energy import EnergyConfig
    from vjepa_ac.models.predictor import ACPredictor, PredictorConfig
    from vjepa_ac.planning.world_model import LatentWorldModel
    from transformers import VJEPA2Config, VJEPA2Model

    torch.manual_seed(0)
    cfg = VJEPA2Config(hidden_size=32, num_attention_heads=2, num_hidden_layers=1, crop_size=32, patch_size=8, tubelet_size=1)
    enc = FrozenEncoder(VJEPA2Model(cfg).eval(), Preprocess(crop_size=32))
    pred = ACPredictor(PredictorConfig(embed_dim=32, hidden=32, depth=1, heads=2, grid=4)).eval()
    head = tiny_head(k=3, d=32, grid=4)
    wm = LatentWorldModel(enc, pred, EnergyConfig(head="given", distance=None, head_weight=3.0), head=head)
    img = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    ctx, goal = wm.observe({"image": img, "ee_state": np.zeros(7, np.float32)}), wm.goal(img[::-1].copy())
    actions = torch.randn(5, 2, 7) * 0.05
    with torch.no_grad():
        expected = 3.0 * head.energy(wm.imagine(ctx, actions)[:, -1], goal.z)
    torch.testing.assert_close(wm.cost(ctx, goal, actions), expected)
    assert wm.distance(ctx, goal) == pytest.approx(3.0 * float(head.energy(ctx.z[None], goal.z)[0]))
