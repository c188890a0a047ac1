"""Shared fixtures: small, fast envs and datasets."""

from __future__ import annotations

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
