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


def test_the_tokens_term_adds_to_the_heads_by_its_weight(scene):
    """`energy.token_weight` puts V-JEPA 2-AC's token distance beside the readout and the temporal distance: the energy
    of each imagined outcome rises by exactly that weight times its token L1 to the goal, for plans and observed frames."""
    from vjepa_ac.planning.energy import latent_energy

    env, obs, goal_image = scene
    plain = build_world_model("default", "default", EnergyConfig(), OracleConfig(), "cpu", env=env)
    mixed = build_world_model("default", "default", EnergyConfig(token_weight=40.0), OracleConfig(), "cpu", env=env)
    ctx, goal = plain.observe(obs), plain.goal(goal_image)
    actions = _toward_and_away()
    tokens = latent_energy(plain.imagine(ctx, actions), goal.z, EnergyConfig())  # [2]
    base, with_tokens = plain.cost(ctx, goal, actions), mixed.cost(mixed.observe(obs), mixed.goal(goal_image), actions)
    torch.testing.assert_close(with_tokens - base, 40.0 * tokens, rtol=1e-4, atol=1e-4)
    assert float(tokens.min()) > 0
    frame_tokens = float((ctx.z - goal.z).abs().mean())
    assert mixed.distance(mixed.observe(obs), mixed.goal(goal_image)) == pytest.approx(plain.distance(ctx, goal) + 40.0 * frame_tokens, rel=1e-4)
    from vjepa_ac.eval.protocol import energy_words

    assert energy_words(mixed)[0] == "temporal distance + readout + tokens (L1)"  # the results table names the term
    assert energy_words(plain)[0] == "temporal distance + readout"
    with pytest.raises(ValueError, match="token_weight"):
        EnergyConfig(token_weight=-1.0)


def test_pooled_tokens_keep_growing_with_an_objects_distance_where_the_fine_grid_saturates():
    """One object token on an 8 x 8 grid, its goal place in a corner: the plain token L1 is the same wherever the object
    is (a patch away or across the frame), the multi-scale one (`energy.token_pools`) grows with the distance."""
    from vjepa_ac.planning.energy import frame_energy

    def frame(row: int, col: int) -> torch.Tensor:
        z = torch.zeros(8, 8, 4)
        z[row, col, 0] = 1.0
        return z.reshape(64, 4)

    goal = frame(0, 0)
    plain, pooled = EnergyConfig(), EnergyConfig(token_pools=[1, 2, 4, 8])
    places = [(0, 1), (2, 2), (5, 6)]  # in the goal's 2 x 2 block, its 4 x 4 block, the far half of the frame
    fine = [frame_energy(frame(*p), goal, plain) for p in places]
    coarse = [frame_energy(frame(*p), goal, pooled) for p in places]
    assert fine == pytest.approx([fine[0]] * len(places))
    assert coarse[0] < coarse[1] < coarse[2]
    assert frame_energy(goal, goal, pooled) == 0.0
    with pytest.raises(ValueError, match="token_pools"):
        frame_energy(torch.zeros(60, 4), torch.zeros(60, 4), EnergyConfig(token_pools=[2]))
