"""Shared fixtures: small, fast envs and datasets."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

import envs  # noqa: F401  (registers the Panda ids, sets MUJOCO_GL before mujoco loads)


@pytest.fixture(scope="session")
def small_collection(tmp_path_factory):
    """A 3-episode play dataset at 64 px, 12 steps per episode, written by `collect`."""
    from vjepa_ac.collect import CollectConfig, EnvConfig, collect

    out = tmp_path_factory.mktemp("collect") / "play"
    cfg = CollectConfig(
        env=EnvConfig(image_height=64, image_width=64, max_episode_steps=12),
        episodes=3, seed=7, out=str(out), workers=1, episodes_per_file=2, progress=False,
    )
    collect(cfg)
    return cfg


@pytest.fixture(scope="session")
def features(small_collection, tmp_path_factory):
    """Features of `small_collection` from a tiny random encoder (32 wide, 4x4 patches), cached as float32."""
    import torch
    from transformers import VJEPA2Config, VJEPA2Model

    from vjepa_ac.models.encoder import FrozenEncoder, Preprocess
    from vjepa_ac.training.features import EncodeConfig, encode_dataset

    torch.manual_seed(0)
    cfg = VJEPA2Config(hidden_size=32, num_attention_heads=2, num_hidden_layers=1, crop_size=32, patch_size=8, tubelet_size=1)
    enc = FrozenEncoder(VJEPA2Model(cfg), Preprocess(crop_size=32, mode="resize"))
    return str(encode_dataset(EncodeConfig(dataset=small_collection.out, out=str(tmp_path_factory.mktemp("feat")), dtype="float32"), enc))


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now (for torchrun's rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_fast(cases: list) -> list:
    """Parametrised cases of a console-script test: the first in the fast tier, the rest (each a 4-5 s process start
    here) marked `slow`; all of them run in CI."""
    return [cases[0], *[pytest.param(*(c if isinstance(c, tuple) else (c,)), marks=pytest.mark.slow) for c in cases[1:]]]


def assert_resumes_exactly(monkeypatch, run, cfg_of, tmp_path, owner, name: str) -> Path:
    """Train `cfg_of(out)` whole; train it again into another folder, killed (KeyboardInterrupt) at the fifth call of
    `owner.name`, then resumed: the resumed weights equal the uninterrupted ones to the bit, and each step is logged
    once. Returns the resumed run's folder."""
    import torch
    from safetensors.torch import load_file

    whole = run(cfg_of(tmp_path / "whole"))
    real, calls = getattr(owner, name), {"n": 0}

    def crash_on_fifth(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(owner, name, crash_on_fifth)
    with pytest.raises(KeyboardInterrupt):
        run(cfg_of(tmp_path / "cut"))
    monkeypatch.setattr(owner, name, real)
    resumed = run(cfg_of(tmp_path / "cut"))
    a, b = load_file(str(whole / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=0, rtol=0)
    steps = [int(line.split(",")[0]) for line in (tmp_path / "cut" / "log.csv").read_text().splitlines()[1:]]
    assert steps == sorted(set(steps)) and steps[-1] == len(steps), "a resumed run logs each step once"
    return tmp_path / "cut"
