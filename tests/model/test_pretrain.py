"""Encoder pretraining: the loss falls, an interrupted run resumes to the same weights, the export loads."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import vjepa_ac.pretrain as pt
from vjepa_ac.encoder import load_encoder

TINY = pt.EncoderArch(hidden_size=32, layers=2, heads=2, patch_size=16, crop_size=64, pred_hidden_size=16, pred_layers=1, pred_heads=2)


def _cfg(data, out, **kw) -> pt.PretrainConfig:
    return pt.PretrainConfig(dataset=data, out=str(out), arch=TINY, frames=2, stride=2, batch_size=4, steps=6, warmup=2,
                             checkpoint_every=2, device="cpu", seed=3, **kw)


def test_pretraining_resumes_to_exactly_the_uninterrupted_weights(small_collection, tmp_path, monkeypatch):
    whole = pt.pretrain(_cfg(small_collection.out, tmp_path / "whole"))
    calls = {"n": 0}
    real = pt._sample_batch

    def crash_on_fifth(*a):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt  # killed between the checkpoints at steps 4 and 6
        return real(*a)

    monkeypatch.setattr(pt, "_sample_batch", crash_on_fifth)
    with pytest.raises(KeyboardInterrupt):
        pt.pretrain(_cfg(small_collection.out, tmp_path / "cut"))
    monkeypatch.setattr(pt, "_sample_batch", real)
    resumed = pt.pretrain(_cfg(small_collection.out, tmp_path / "cut"))
    a, b = load_file(str(Path(whole) / "model.safetensors")), load_file(str(Path(resumed) / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=0, rtol=0)
    rows = list(csv.DictReader(open(tmp_path / "cut" / "log.csv")))
    assert [int(r["step"]) for r in rows][-2:] == [5, 6]


def test_the_loss_falls_and_the_export_is_a_loadable_frozen_encoder(small_collection, tmp_path):
    out = pt.pretrain(replace(_cfg(small_collection.out, tmp_path / "run"), steps=50, checkpoint_every=50, lr=2e-3))
    losses = [float(r["loss"]) for r in csv.DictReader(open(tmp_path / "run" / "log.csv"))]
    assert sum(losses[-5:]) / 5 < 0.9 * sum(losses[:5]) / 5, losses  # 50 tiny steps: a clear, not a large, fall
    enc = load_encoder(out)
    z = enc.encode(torch.zeros(1, 2, 3, 64, 64, dtype=torch.uint8))
    assert z.shape == (1, 2, 16, 32) and torch.isfinite(z).all()
