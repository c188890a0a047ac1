"""The decoder probe: it learns to draw frames from embeddings, resumes like the other trainers, refuses another
encoder's embeddings, and its fidelity measures mean what they say."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import vjepa_ac.training.decoder as td
from vjepa_ac.models.decoder import (
    DecoderConfig, PatchDecoder, imagined_embeddings, load_decoder, locate_colour, object_colour, psnr, save_decoder, ssim,
)
from vjepa_ac.models.predictor import ACPredictor, PredictorConfig
from conftest import assert_resumes_exactly


def _cfg(small_collection, features, out, **kw) -> td.DecoderTrainConfig:
    return td.DecoderTrainConfig(dataset=small_collection.out, features=features, out=str(out), batch_size=4, steps=6, warmup=2,
                                 checkpoint_every=2, val_every=3, val_frames=8, device="cpu", seed=1,
                                 decoder=DecoderConfig(channels=[32, 16, 16]), **kw)


def test_the_decoder_draws_frames_of_the_right_size_from_any_scale_of_embedding():
    torch.manual_seed(0)
    dec = PatchDecoder(DecoderConfig(embed_dim=32, grid=4, image_size=64, channels=[32, 16, 16])).eval()
    z = torch.randn(3, 16, 32)
    with torch.no_grad():
        x = dec(z)
        assert x.shape == (3, 3, 64, 64) and 0 <= float(x.min()) and float(x.max()) <= 1
        torch.testing.assert_close(dec(5 * z + 2), x, atol=1e-4, rtol=0)  # layer-normed first: the predictor's space
    assert dec.images(z).dtype == np.uint8 and dec.images(z).shape == (3, 64, 64, 3)
    with pytest.raises(ValueError, match=r"\[B, 16, 32\]"):
        dec(torch.randn(1, 9, 32))
    with pytest.raises(ValueError, match="channels needs 3 entries"):
        DecoderConfig(embed_dim=32, grid=4, image_size=64, channels=[32, 16])
    with pytest.raises(ValueError, match="power of two"):
        DecoderConfig(grid=8, image_size=100)


def test_psnr_and_ssim_rank_images_by_likeness():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 3, 32, 32, generator=g)
    near = (a + 0.02 * torch.randn(a.shape, generator=g)).clamp(0, 1)
    far = (a + 0.2 * torch.randn(a.shape, generator=g)).clamp(0, 1)
    assert torch.allclose(ssim(a, a), torch.ones(2)) and float(psnr(a, a).min()) > 90
    assert (ssim(a, near) > ssim(a, far)).all() and (psnr(a, near) > psnr(a, far)).all()
    assert abs(float(psnr(a, torch.clamp(a + 0.1, max=1)).mean()) - 20) < 2  # ~0.1 error is ~20 dB


def test_training_resumes_to_exactly_the_uninterrupted_weights(small_collection, features, tmp_path, monkeypatch):
    assert_resumes_exactly(monkeypatch, td.train_decoder, lambda out: _cfg(small_collection, features, out), tmp_path, td.Frames, "batch")


def test_the_decoder_learns_to_draw_held_out_frames(small_collection, features, tmp_path):
    out = td.train_decoder(replace(_cfg(small_collection, features, tmp_path / "run"), steps=120, checkpoint_every=120, val_every=120,
                                   lr=3e-3, warmup=10))
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    first, last = (float(log[i].split(",")[2]) for i in (1, -1))
    assert last < 0.6 * first, f"training L1 fell from {first} to {last} only"
    dec = load_decoder(out)
    assert dec.meta["val_psnr"] > 15 and dec.meta["val_episodes"] == [2]
    untrained = td.validate(PatchDecoder(dec.cfg), td.Frames(_cfg(small_collection, features, tmp_path / "x")), torch.arange(24, 36), "cpu")
    assert dec.meta["val_psnr"] > untrained["val_psnr"] + 3


def test_a_decoder_refuses_another_encoders_embeddings(tmp_path):
    class Enc:
        name, identity = "other", staticmethod(lambda: "abc123")

    save_decoder(PatchDecoder(DecoderConfig(embed_dim=32, grid=4, image_size=64, channels=[32, 16, 16])), tmp_path / "d", {"encoder": "f00"})
    with pytest.raises(ValueError, match="encoder f00, not of abc123"):
        load_decoder(tmp_path / "d", encoder=Enc())
    assert load_decoder(tmp_path / "d").cfg.grid == 4
    with pytest.raises(FileNotFoundError, match="not a decoder folder"):
        load_decoder(tmp_path / "nothing")


def test_imagined_embeddings_are_open_loop_rollouts_from_k_steps_back():
    torch.manual_seed(0)
    pred = ACPredictor(PredictorConfig(embed_dim=16, hidden=16, depth=1, heads=2, grid=2)).eval()
    t_len = 7
    z, state, action = torch.randn(t_len, 4, 16), torch.randn(t_len, 7), 0.05 * torch.randn(t_len, 7)
    with torch.no_grad():
        out = imagined_embeddings(pred, z, state, action, ahead=3)
        for k in (1, 2, 3):
            assert torch.isnan(out[k][:k]).all() and torch.isfinite(out[k][k:]).all()
            t = 5
            ref = pred.rollout(z[t - k][None], state[t - k][None], action[t - k : t][None])[0, -1]
            torch.testing.assert_close(out[k][t], ref, atol=1e-5, rtol=1e-5)


def test_the_colour_locator_finds_a_blob_and_reports_none_when_absent():
    img = np.zeros((2, 32, 32, 3), np.uint8)
    img[0, 10:14, 20:24] = (30, 200, 60)
    colour = object_colour(img[0], np.array([21.5, 11.5]))
    np.testing.assert_allclose(colour, (30, 200, 60))
    uv = locate_colour(img, colour)
    np.testing.assert_allclose(uv[0], (21.5, 11.5))
    assert np.isnan(uv[1]).all()


@pytest.mark.slow
def test_train_decoder_runs_from_the_command_line(small_collection, features, tmp_path):
    out = tmp_path / "cli"
    r = subprocess.run([str(Path(sys.executable).with_name("vjepa-ac")), "train-decoder", f"dataset={small_collection.out}",
                        f"features={features}", f"out={out}", "steps=3", "batch_size=2", "val_every=3", "val_frames=4",
                        "decoder.channels=[16,16,16]", "device=cpu"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "decoder written to" in r.stdout and (out / "decoder" / "model.safetensors").exists()
    r = subprocess.run([str(Path(sys.executable).with_name("vjepa-ac")), "train-decoder", f"dataset={small_collection.out}",
                        f"features={features}", f"out={tmp_path / 'bad'}", "steps=0"], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "steps=0" in r.stderr and not (tmp_path / "bad" / "checkpoint.pt").exists()
