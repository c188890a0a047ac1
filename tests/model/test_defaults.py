"""The world model that ships inside the package loads offline and runs."""

from __future__ import annotations

import json

import numpy as np

import torch

from vjepa_ac.encoder import default_encoder_dir, load_encoder
from vjepa_ac import load_predictor


def test_default_encoder_loads_offline_and_encodes_a_camera_frame():
    enc = load_encoder("default")
    z = enc.encode(torch.randint(0, 256, (1, 2, 3, 128, 128), dtype=torch.uint8))
    assert z.shape == (1, 2, enc.num_patches, enc.dim) and torch.isfinite(z).all()
    assert not any(p.requires_grad for p in enc.parameters())
    recipe = json.loads((default_encoder_dir() / "training.json").read_text())
    arch = recipe["config"]["arch"]  # the recipe describes the weights that load
    assert (enc.dim, enc.num_patches) == (arch["hidden_size"], (arch["crop_size"] // arch["patch_size"]) ** 2)


def test_default_predictor_matches_the_default_encoder_and_rolls_out():
    enc, pred = load_encoder("default"), load_predictor("default")
    assert (pred.cfg.tokens, pred.cfg.embed_dim) == (enc.num_patches, enc.dim)
    z0 = enc.encode(torch.zeros(3, 1, 3, 128, 128, dtype=torch.uint8))[:, 0]
    out = pred.rollout(z0, torch.zeros(3, 7), torch.zeros(3, 2, 7))
    assert out.shape == (3, 2, enc.num_patches, enc.dim) and torch.isfinite(out).all()


def test_an_evaluation_renders_the_view_the_default_encoder_was_trained_on():
    """The default eval settings pass the view check (`check_view`) without any camera option: the env renders the
    encoder's own view."""
    from vjepa_ac.encoder import trained_camera
    from vjepa_ac.evaluate import EvalConfig, check_view, env_camera, fill_camera

    cfg = EvalConfig()
    fill_camera(cfg)
    assert trained_camera("default") == env_camera(cfg.env) == cfg.env.camera
    check_view(cfg)
    env = json.loads((default_encoder_dir() / "training.json").read_text())["env"]
    assert env["image_height"] == cfg.env.image_height


def test_the_default_decoder_reads_the_default_encoder_and_draws_its_frames():
    from vjepa_ac.decoder import load_decoder, psnr, to_float

    enc = load_encoder("default")
    dec = load_decoder("default", encoder=enc)  # refuses another encoder's decoder
    assert dec.meta["encoder"] == enc.identity() and dec.meta["val_psnr"] > 25  # its held-out fidelity, from training
    frame = np.zeros((1, 128, 128, 3), np.uint8)
    frame[:, 64:] = (120, 80, 50)  # a table-coloured lower half
    pic = dec.images(enc.embed_images(frame))
    assert pic.shape == (1, 128, 128, 3) and float(psnr(to_float(pic), to_float(frame))) > 12
