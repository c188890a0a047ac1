"""Encoder pretraining: the loss falls, an interrupted run resumes to the same weights, the export loads."""

from __future__ import annotations

import copy
import csv
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import vjepa_ac.training.pretrain as pt
from vjepa_ac.models.encoder import load_encoder

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
    # whole frames: random crops of 4 clips a step make 50 tiny steps too noisy to show the fall
    cfg = replace(_cfg(small_collection.out, tmp_path / "run"), steps=50, checkpoint_every=50, lr=2e-3, crop_scale=(1.0, 1.0))
    out = pt.pretrain(cfg)
    losses = [float(r["loss"]) for r in csv.DictReader(open(tmp_path / "run" / "log.csv"))]
    assert sum(losses[-5:]) / 5 < 0.9 * sum(losses[:5]) / 5, losses  # 50 tiny steps: a clear, not a large, fall
    enc = load_encoder(out)
    z = enc.encode(torch.zeros(1, 2, 3, 64, 64, dtype=torch.uint8))
    assert z.shape == (1, 2, 16, 32) and torch.isfinite(z).all()
    import json

    env = json.loads((Path(out) / "training.json").read_text())["env"]  # which env and camera the frames came from
    assert env["id"] == small_collection.env.id and env["image_height"] == 64


def test_masks_keep_context_in_every_frame_and_split_all_tokens():
    gen = torch.Generator().manual_seed(0)
    for spec in pt.vjepa2_masks():
        for _ in range(200):  # two 70 % blocks often cover an 8x8 grid whole: those draws are redrawn
            ctx, tgt = pt.multiblock_mask(8, 3, spec.blocks, spec.scale, gen)
            assert len(ctx) >= 3 * 4 and len(tgt) > 0
            assert torch.equal(torch.sort(torch.cat([ctx, tgt])).values, torch.arange(3 * 64))
            frames = [set((ctx[(ctx >= 64 * f) & (ctx < 64 * (f + 1))] - 64 * f).tolist()) for f in range(3)]
            assert frames[0] == frames[1] == frames[2]  # a block runs through the whole clip: no copying across time
    with pytest.raises(ValueError, match="fewer than"):
        pt.multiblock_mask(4, 1, 1, 0.5, gen, min_keep=16)  # every block hides at least one of the 16


def test_random_resized_crop_keeps_one_box_per_clip_and_whole_view_when_off():
    gen = torch.Generator().manual_seed(0)
    clip = torch.randint(0, 256, (1, 1, 3, 32, 32), dtype=torch.uint8).repeat(2, 3, 1, 1, 1)  # [2, 3, 3, 32, 32]
    out = pt.random_resized_crop(clip, 16, (0.3, 0.6), (0.75, 1.35), gen)
    assert out.shape == (2, 3, 3, 16, 16) and 0 <= out.min() and out.max() <= 1
    assert torch.equal(out[:, 0], out[:, 2]) and not torch.equal(out[0], out[1])  # same box over time, new per clip
    whole = pt.random_resized_crop(clip, 16, (1.0, 1.0), (1.0, 1.0), gen)
    ref = torch.nn.functional.interpolate(clip[0].float() / 255, size=(16, 16), mode="bilinear", antialias=True)
    torch.testing.assert_close(whole[0], ref)


def test_pretraining_can_start_from_an_exported_encoder(small_collection, tmp_path):
    first = pt.pretrain(_cfg(small_collection.out, tmp_path / "first"))
    model = pt.VJEPA2Model(TINY.config(2))
    target = copy.deepcopy(model.encoder)
    pt._init_from(model, target, str(first))
    exported = load_file(str(Path(first) / "model.safetensors"))
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, exported[k].float(), atol=0, rtol=0)
    for k, v in target.state_dict().items():
        torch.testing.assert_close(v, exported["encoder." + k].float(), atol=0, rtol=0)
    again = pt.pretrain(replace(_cfg(small_collection.out, tmp_path / "second"), init=str(first), steps=2))
    assert load_encoder(again).encode(torch.zeros(1, 2, 3, 64, 64, dtype=torch.uint8)).isfinite().all()
    with pytest.raises(FileNotFoundError, match="init="):
        pt.pretrain(replace(_cfg(small_collection.out, tmp_path / "third"), init=str(tmp_path / "nowhere")))
    with pytest.raises(ValueError, match="architecture"):
        pt.pretrain(replace(_cfg(small_collection.out, tmp_path / "fourth"), init=str(first), arch=replace(TINY, hidden_size=48)))
