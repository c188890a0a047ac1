"""The shipped energies through `cost`, on real frames of the Panda scene: a candidate that moves the hand toward the
goal costs less than one that moves it away, for the readout read off imagined tokens, for the anchored readout
(the pose moved as the integrated state moves), and for the temporal distance; and the nothing-moves predictor,
with the same energy, cannot tell them apart by what it imagines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from envs import make_panda
from vjepa_ac.planning.energy import EnergyConfig
from vjepa_ac.planning.ladder import build_world_model
from vjepa_ac.planning.truth import OracleConfig


@pytest.fixture(scope="module")
def scene():
    """A reach scene in the shipped encoder's view: the current frame, and a goal image with the hand 10 cm along +x."""
    env = make_panda("reach", camera="wide+wrist")
    obs, _ = env.reset(seed=123)
    start = obs["ee_state"][:3].astype(float)
    goal_image = env.render_configuration(lambda e: e.set_arm(start + [0.10, 0.0, 0.0], np.zeros(3), closure=0.0))
    yield env, obs, goal_image
    env.close()


def _toward_and_away() -> torch.Tensor:
    a = torch.zeros(2, 1, 7)
    a[0, 0, 0], a[1, 0, 0] = 0.05, -0.05  # +x toward the goal, -x away
    a[..., 6] = -1.0  # open, as in the goal
    return a


@pytest.mark.parametrize("energy", [
    EnergyConfig(distance=None, anchor=True),  # the readout, its pose from the integrated state
    EnergyConfig(distance=None, anchor=False),  # the readout off the imagined tokens
    EnergyConfig(head=None),  # the temporal distance alone
    EnergyConfig(),  # the shipped default
], ids=["readout-anchored", "readout-imagined", "distance", "default"])
def test_the_shipped_energy_prefers_the_move_toward_the_goal(scene, energy):
    env, obs, goal_image = scene
    wm = build_world_model("default", "default", energy, OracleConfig(), "cpu", env=env)
    ctx, goal = wm.observe(obs), wm.goal(goal_image)
    toward, away = wm.cost(ctx, goal, _toward_and_away()).tolist()
    assert toward < away


def test_nothing_moves_imagines_no_difference_between_the_moves(scene):
    env, obs, goal_image = scene
    wm = build_world_model("nothing-moves", "default", EnergyConfig(), OracleConfig(), "cpu", env=env)
    ctx, goal = wm.observe(obs), wm.goal(goal_image)
    toward, away = wm.cost(ctx, goal, _toward_and_away()).tolist()
    assert toward == pytest.approx(away), "without the integrated state, nothing imagined separates the candidates"
