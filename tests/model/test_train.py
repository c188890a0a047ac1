"""Predictor training: both losses fall, an interrupted run resumes to the same weights, DDP ranks stay in sync."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import vjepa_ac.training.predictor as tr
from conftest import assert_resumes_exactly, free_port
from vjepa_ac.models.predictor import PredictorConfig


def _cfg(small_collection, features, out, **kw) -> tr.TrainConfig:
    return tr.TrainConfig(dataset=small_collection.out, features=features, out=str(out), frames=4, auto_steps=2, batch_size=4,
                          steps=6, warmup=2, checkpoint_every=2, val_every=3, device="cpu", seed=1,
                          predictor=PredictorConfig(hidden=32, depth=2, heads=2), **kw)


def _weights(folder) -> dict:
    return load_file(str(Path(folder) / "model.safetensors"))


def test_training_resumes_to_exactly_the_uninterrupted_weights(small_collection, features, tmp_path, monkeypatch):
    assert_resumes_exactly(monkeypatch, tr.train, lambda out: _cfg(small_collection, features, out), tmp_path, tr.Episodes, "batch")


def test_both_losses_fall_and_the_checkpoint_loads(small_collection, features, tmp_path):
    out = tr.train(replace(_cfg(small_collection, features, tmp_path / "run"), steps=60, checkpoint_every=60, val_every=30, lr=2e-3))
    rows = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    first, last = rows[:5], rows[-5:]
    for key in ("teacher_forced", "rollout"):
        assert sum(float(r[key]) for r in last) < 0.8 * sum(float(r[key]) for r in first), key
    model = tr.load_predictor(out)
    assert model.cfg.embed_dim == 32 and model.cfg.grid == 4


def test_change_weight_charges_errors_on_the_tokens_that_move_and_not_on_still_ones():
    # z [B=1, T=2, N=4, D=3]: only token 2 changes between the frames
    z = torch.zeros(1, 2, 4, 3)
    z[0, 1, 2] = 1.0
    target = z[:, 1:]
    miss_still = target.clone()
    miss_still[0, 0, 0] += 0.5  # an error on a token that did not move
    miss_moved = target.clone()
    miss_moved[0, 0, 2] += 0.5  # the same error on the one that did
    for share in (0.0, 0.5, 1.0):
        w = tr.change_weights(z, share)
        plain = tr.token_l1(miss_still, target, None)
        if share == 0:
            assert w is None
            continue
        assert torch.allclose(w.mean(-1), torch.ones(1, 1))  # a frame's weights average 1: a uniform error costs the same
        assert torch.allclose(tr.token_l1(target + 0.1, target, w), tr.token_l1(target + 0.1, target, None))
        assert tr.token_l1(miss_moved, target, w) > plain > tr.token_l1(miss_still, target, w)
    assert tr.token_l1(miss_still, target, tr.change_weights(z, 1.0)) == 0  # share 1: still tokens cost nothing


def test_training_with_change_weight_logs_the_moving_tokens_beside_nothing_moves(small_collection, features, tmp_path):
    last = {}
    for share, err in ((0.0, 0.0), (0.5, 0.0), (0.5, 0.5)):
        out = tmp_path / f"run{share}_{err}"
        tr.train(replace(_cfg(small_collection, features, out), change_weight=share, error_weight=err, steps=20, checkpoint_every=20,
                         val_every=20))
        last[share, err] = [r for r in csv.DictReader(open(out / "log.csv")) if r["val_moved"] not in ("", "nan")][-1]
        saved = json.loads((out / "train_config.json").read_text())
        assert (saved["change_weight"], saved["error_weight"]) == (share, err)
    # the nothing-moves reference is the data's own: the same for every run, so runs compare on it
    assert len({r["val_moved_still"] for r in last.values()}) == 1 and float(last[0.0, 0.0]["val_moved_still"]) > 0
    assert len({r["val_moved"] for r in last.values()}) == 3  # each weighting changed what was learned


def test_fine_tuning_starts_from_a_checkpoint_and_can_freeze_layers(small_collection, features, tmp_path):
    base = tr.train(_cfg(small_collection, features, tmp_path / "base"))
    tuned = tr.train(replace(_cfg(small_collection, features, tmp_path / "tuned"), init=str(base), freeze_layers=1, lr=1e-3))
    a, b = _weights(base), _weights(tuned)
    assert torch.equal(a["predictor_blocks.0.attn.qkv.weight"], b["predictor_blocks.0.attn.qkv.weight"])
    assert not torch.equal(a["predictor_blocks.1.attn.qkv.weight"], b["predictor_blocks.1.attn.qkv.weight"])


DDP_SCRIPT = """
import sys, torch
import vjepa_ac.training.predictor as tr
from vjepa_ac.models.predictor import PredictorConfig

models = []
_init = tr.ACPredictor.__init__
def keep(self, *a, **k):  # remember each rank's model to report its weights afterwards
    _init(self, *a, **k)
    models.append(self)
tr.ACPredictor.__init__ = keep
cfg = tr.TrainConfig(dataset=sys.argv[1], features=sys.argv[2], out=sys.argv[3], frames=3, batch_size=2, steps=4, warmup=1,
                     checkpoint_every=2, val_every=4, device="cpu", predictor=PredictorConfig(hidden=32, depth=1, heads=2))
tr.train(cfg)
w = torch.cat([p.detach().flatten() for p in models[0].parameters()])
import os
from pathlib import Path
Path(sys.argv[3], f"digest_{os.environ['RANK']}.txt").write_text(f"{float(w.sum())} {float(w.abs().sum())}")  # one file per rank: printed lines interleave
"""


def test_two_ddp_processes_on_gloo_stay_in_sync(small_collection, features, tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}", str(script),
                        small_collection.out, features, str(tmp_path / "ddp")], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    digests = [(tmp_path / "ddp" / f"digest_{rank}.txt").read_text() for rank in (0, 1)]
    assert len(digests) == 2 and digests[0] == digests[1], digests
    assert (tmp_path / "ddp" / "predictor" / "model.safetensors").exists()


FSDP_SCRIPT = """
import sys
import vjepa_ac.training.predictor as tr
from vjepa_ac.models.predictor import PredictorConfig
cfg = tr.TrainConfig(dataset=sys.argv[1], features=sys.argv[2], out=sys.argv[3], frames=3, batch_size=2, steps=4, warmup=1,
                     checkpoint_every=2, val_every=2, device="cpu", fsdp=sys.argv[4] == "fsdp",
                     predictor=PredictorConfig(hidden=32, depth=2, heads=2))
tr.train(cfg)
"""


@pytest.mark.slow
def test_fsdp_on_two_gloo_processes_trains_the_same_weights_as_ddp(small_collection, features, tmp_path):
    script = tmp_path / "fsdp.py"
    script.write_text(FSDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for mode in ("ddp", "fsdp"):
        r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}", str(script),
                            small_collection.out, features, str(tmp_path / mode), mode], capture_output=True, text=True, timeout=300, env=env)
        assert r.returncode == 0, r.stderr[-3000:]
    a, b = _weights(tmp_path / "ddp" / "predictor"), _weights(tmp_path / "fsdp" / "predictor")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-4)
    ckpt = torch.load(tmp_path / "fsdp" / "checkpoint.pt", weights_only=True)
    assert int(ckpt["step"]) == 4 and not any(hasattr(v, "placements") for v in ckpt["model"].values()), "a plain, whole checkpoint"


def test_training_on_the_fly_equals_training_on_a_cache(small_collection, tmp_path):
    """`encoder=SOURCE` (no cache) draws the same batches and trains the same weights as `features=CACHE`."""
    from transformers import VJEPA2Config, VJEPA2Model

    from vjepa_ac.models.encoder import Preprocess, load_encoder, save_encoder
    from vjepa_ac.training.features import EncodeConfig, encode_dataset

    torch.manual_seed(3)
    save_encoder(VJEPA2Model(VJEPA2Config(hidden_size=32, num_attention_heads=2, num_hidden_layers=1, crop_size=32, patch_size=8,
                                          tubelet_size=1)), Preprocess(crop_size=32, mode="resize"), tmp_path / "enc")
    cache = encode_dataset(EncodeConfig(dataset=small_collection.out, out=str(tmp_path / "feat"), dtype="float32"), load_encoder(tmp_path / "enc"))
    cached = tr.train(_cfg(small_collection, str(cache), tmp_path / "cached"))
    fly = tr.train(replace(_cfg(small_collection, None, tmp_path / "fly"), encoder=str(tmp_path / "enc"), encode_batch=5))
    a, b = _weights(cached), _weights(fly)
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-4, rtol=1e-4)
    assert json.loads((fly / "config.json").read_text())["encoder"] == load_encoder(tmp_path / "enc").identity()
    log_a, log_b = ((tmp_path / d / "log.csv").read_text().splitlines() for d in ("cached", "fly"))
    assert [r.split(",")[5] for r in log_a[1:]] == [r.split(",")[5] for r in log_b[1:]], "the same validation windows"
    with pytest.raises(ValueError, match="exactly one of features"):
        tr.train(replace(_cfg(small_collection, str(cache), tmp_path / "both"), encoder=str(tmp_path / "enc")))
