"""The simulator oracle (`world_model=sim`): candidates rolled out in the true simulator grasp and lift the cube; with
an encoder (`sim+image`) each candidate is scored by the embedding of its rendered outcome."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from envs import make_panda
from vjepa_ac.planning.agent import Agent, AgentConfig
from vjepa_ac.planning.energy import EnergyConfig, latent_energy
from vjepa_ac.planning.truth import OracleConfig, SimWorldModel, state_energy, state_vector

from test_agent import tiny_world_model  # same folder: pytest puts it on sys.path


def run(env, agent, seed: int) -> dict:
    obs, info = env.reset(seed=seed)
    agent.reset(info, env.max_episode_steps, seed)
    for _ in range(env.max_episode_steps):
        obs, _, _, _, info = env.step(agent.act(obs))
        if info["success"]:
            break
    return info


@pytest.mark.slow
def test_the_sim_oracle_grasps_and_lifts_the_cube_from_the_goal_image_protocol():
    env = make_panda("grasp", image_height=48, image_width=48)
    agent = Agent(SimWorldModel(env), env.action_space.low, env.action_space.high, AgentConfig(use_subgoals=False))
    info = run(env, agent, seed=11)
    assert info["success"], f"the cube ended {info['distance']:.3f} m from its lifted goal"
    assert env.cube_held()
    env.close()


def test_the_energy_has_no_flat_line_between_the_cube_and_its_lifted_goal():
    """Descending onto the cube must lower the energy, though it takes the hand away from the goal pose."""
    cube = np.array([0.5, 0.0, 0.025])
    goal = state_vector(np.array([0.5, 0, 0.158, 0, 0, 0, 0.375]), cube + [0, 0, 0.12])
    hand = lambda z: state_vector(np.array([0.5, 0, z, 0, 0, 0, 0.0]), cube)  # noqa: E731
    cfg = OracleConfig()
    e = [float(state_energy(hand(z), goal, cfg)) for z in (0.15, 0.10, 0.05, 0.033)]
    assert e == sorted(e, reverse=True) and e[0] - e[-1] > 0.1, e
    # around the cube, closing on it lowers the energy; away from it, an open hand is preferred
    closed = state_vector(np.array([0.5, 0, 0.033, 0, 0, 0, 0.375]), cube)
    assert float(state_energy(closed, goal, cfg)) < e[-1]
    high_closed = state_vector(np.array([0.5, 0, 0.15, 0, 0, 0, 0.375]), cube)
    assert float(state_energy(high_closed, goal, cfg)) > e[0]


def test_sim_plus_image_scores_each_candidates_rendered_view_and_leaves_the_env_as_it_was():
    env = make_panda("reach", image_height=48, image_width=48)
    obs, info = env.reset(seed=0)
    latent = tiny_world_model()
    wm = SimWorldModel(env, encoder=latent.encoder, energy=EnergyConfig())
    ctx, goal = wm.observe(obs), wm.goal(info["goal_image"], info["goal_state"])
    snap = env.snapshot()
    actions = torch.from_numpy(np.random.default_rng(0).uniform(env.action_space.low, env.action_space.high, (4, 2, 7)).astype(np.float32))
    e = wm.cost(ctx, goal, actions)
    for a, b in zip(snap, env.snapshot()):
        np.testing.assert_array_equal(a, b)
    views = env.simulate(actions.numpy(), render=True)["image"]  # [S, H, W, 3]
    expected = latent_energy(latent.embed(views)[:, None], latent.embed(info["goal_image"][None])[0], EnergyConfig())
    torch.testing.assert_close(e, expected)
    assert wm.distance(ctx, goal) == pytest.approx(float((latent.embed(obs["image"][None]) - goal.z).abs().mean()), rel=1e-5)
    with pytest.raises(ValueError, match="goal image"):
        wm.goal(None, info["goal_state"])
    env.close()


def test_sim_needs_an_env_that_can_simulate():
    with pytest.raises(ValueError, match="simulate"):
        SimWorldModel(object())


def test_the_unshaped_state_distance_is_zero_at_the_goal_and_lower_nearer_it_in_every_coordinate():
    from vjepa_ac.planning.truth import state_l1

    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        goal = torch.rand(12, generator=g)
        x = torch.rand(12, generator=g)
        nearer = goal + (x - goal) * torch.rand(12, generator=g) * 0.9  # every coordinate strictly closer (or equal)
        assert float(state_l1(goal, goal)) == 0.0
        assert float(state_l1(nearer, goal)) <= float(state_l1(x, goal))
    # the weights: metres for the hand and the cube, 0.2 per radian, 0.05 for closure; the held flag does not count
    base = torch.zeros(12)
    moved = base.clone()
    moved[0], moved[5], moved[6], moved[9], moved[10] = 0.01, 0.1, 1.0, 0.02, 1.0
    assert float(state_l1(moved, base)) == pytest.approx((0.01 + 0.2 * 0.1 + 0.05 * 1.0 + 0.02) / 10)


def test_raw_pixel_distance_is_zero_for_the_goal_frame_and_grows_with_the_difference():
    from vjepa_ac.planning.truth import pixel_l1

    goal = np.full((8, 8, 3), 100, np.uint8)
    frames = np.stack([goal, goal + 10, goal + 50])
    e = pixel_l1(frames, goal).tolist()
    assert e[0] == 0.0 and e[0] < e[1] < e[2] and e[2] == pytest.approx(50 / 255)


@pytest.mark.parametrize("score", ["state", "pixels"])
def test_the_new_rungs_score_true_rollouts_and_leave_the_env_as_it_was(score):
    from vjepa_ac.planning.truth import pixel_l1, state_l1

    env = make_panda("grasp", image_height=48, image_width=48)
    obs, info = env.reset(seed=3)
    wm = SimWorldModel(env, score=score)
    ctx, goal = wm.observe(obs), wm.goal(info["goal_image"], info["goal_state"])
    snap = env.snapshot()
    toward = info["goal_state"]["ee_state"][:3] - obs["ee_state"][:3]
    actions = torch.zeros(2, 1, 7)
    actions[0, 0, :3] = torch.as_tensor(np.clip(toward, -0.05, 0.05))  # toward the lifted goal's hand position
    actions[1, 0, :3] = -actions[0, 0, :3]  # away from it
    e = wm.cost(ctx, goal, actions)
    for a, b in zip(snap, env.snapshot()):
        np.testing.assert_array_equal(a, b)
    out = env.simulate(actions.numpy(), render=score == "pixels")
    if score == "state":
        expected = state_l1(state_vector(out["ee_state"], out["object_pos"], out["held"]), goal.state)[:, -1]
        assert e[0] < e[1], "moving the hand toward the goal's lowers the unshaped distance"
        assert wm.distance(ctx, goal) == pytest.approx(float(state_l1(ctx.state, goal.state)))
    else:
        expected = pixel_l1(out["image"], info["goal_image"])
    torch.testing.assert_close(e, expected)
    env.close()


def test_the_ladder_names_every_rung_and_learned_models():
    from vjepa_ac.planning.ladder import NAMES, rung

    assert {"sim", "sim+state", "sim+image", "sim+pixels", "oracle", "default"} <= set(NAMES)
    assert rung("sim+state").in_env and not rung("sim+state").encoder
    assert rung("sim+image").encoder and not rung("sim+image").imagines
    assert rung("runs/x/predictor").imagines and rung("default").score == "learned"
