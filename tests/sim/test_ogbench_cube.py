"""OGBench's single cube under stable-worldmodel's protocol (`vjepa_ac/OGBenchCube-v0`): the start and goal come from
a recorded oracle episode, success is OGBench's own 4 cm check at any step of the 50-step budget, the visual factors
of variation change what the camera sees and nothing else. Needs the benchmark extra (pip install ".[bench]")."""

from __future__ import annotations

import importlib.util

import gymnasium as gym
import numpy as np
import pytest

import envs

HAVE_OGBENCH = importlib.util.find_spec("ogbench") is not None
needs_ogbench = pytest.mark.skipif(not HAVE_OGBENCH, reason="OGBench is not installed: pip install '.[bench]'")
ID = "vjepa_ac/OGBenchCube-v0"
SMALL = {"image_height": 48, "image_width": 48}


def test_the_id_is_registered_exactly_where_ogbench_is_installed():
    assert (ID in envs.ENV_IDS) == HAVE_OGBENCH and (ID in gym.registry) == HAVE_OGBENCH


@pytest.fixture(scope="module")
def env():
    if not HAVE_OGBENCH:
        pytest.skip("OGBench is not installed: pip install '.[bench]'")
    e = gym.make(ID, **SMALL)
    yield e
    e.close()


@needs_ogbench
def test_the_goal_cube_is_the_target_and_the_start_a_valid_row_of_the_recording(env):
    u = env.unwrapped
    starts = []
    for seed in range(6):
        obs, info = env.reset(seed=seed)
        starts.append(int(info["goal"]["start_step"]))
        np.testing.assert_allclose(info["goal_state"]["object_pos"], info["goal"]["position"])
        np.testing.assert_allclose(u.target_pos(), info["goal"]["position"])  # OGBench's check compares with the goal
        assert obs["image"].shape == (48, 48, 3) and not np.array_equal(obs["image"], info["goal_image"]) or info["success"]
    assert all(0 <= s < 200 - 25 for s in starts) and len(set(starts)) > 1


@needs_ogbench
def test_success_is_ogbenchs_four_centimetres_at_any_step_and_the_budget_is_fifty_steps(env):
    u = env.unwrapped
    env.reset(seed=4)
    zero = np.zeros(7, np.float32)
    for offset, want in ((0.039, True), (0.041, False)):
        env.reset(seed=4)
        u.data.mocap_pos[u._env._cube_target_mocap_ids[0]] = u.cube_pos() + [offset, 0.0, 0.0]
        u.goal["position"] = u.target_pos()
        assert u.success_now() == want
    env.reset(seed=4)
    u.data.mocap_pos[u._env._cube_target_mocap_ids[0]] = u.cube_pos() + [0.2, 0.0, 0.0]
    steps, truncated = 0, False
    while not truncated:
        _, _, terminated, truncated, info = env.step(zero)
        steps += 1
        assert not terminated and not info["success"]
    assert steps == 10 and u._substeps == 50  # ten blocks of five OGBench steps


@needs_ogbench
def test_a_cube_that_passes_the_goal_counts_even_if_it_leaves(env):
    """The protocol's `episode_successes |= terminateds`: success at any step of the budget latches."""
    u = env.unwrapped
    obs, info = env.reset(seed=4)
    u.data.mocap_pos[u._env._cube_target_mocap_ids[0]] = u.cube_pos()
    u.goal["position"] = u.target_pos()
    _, _, terminated, _, info = env.step(np.zeros(7, np.float32))
    assert info["success"] and terminated


@needs_ogbench
def test_the_factors_of_variation_change_the_view_and_not_the_scene():
    base = gym.make(ID, **SMALL)
    obs0, info0 = base.reset(seed=9)
    for option in ({"camera_yaw": 10.0}, {"light": 0.5}, {"cube_color": (0.1, 0.8, 0.1)}, {"floor_color": (0.6, 0.6, 0.6)}):
        shifted = gym.make(ID, **SMALL, **option)
        for _ in range(2):  # a second reset applies the factor from the model's own values, not on top of the first
            obs, info = shifted.reset(seed=9)
        np.testing.assert_array_equal(obs["ee_state"], obs0["ee_state"])
        np.testing.assert_array_equal(info["goal"]["position"], info0["goal"]["position"])
        changed = int((np.abs(obs["image"].astype(int) - obs0["image"]).max(-1) > 40).sum())  # pixels, of 48 x 48
        assert changed >= 6, f"{option}: only {changed} pixels changed"
        if "light" in option:
            assert obs["image"].mean() < obs0["image"].mean()
        shifted.close()
    with pytest.raises(TypeError, match="unknown OGBench cube env option 'colour'"):
        gym.make(ID, colour=(1, 0, 0))
    base.close()


@needs_ogbench
def test_randomized_looks_vary_per_seed_repeat_per_seed_leave_the_test_values_out_and_undo_themselves():
    from envs.ogbench_env import HELD_OUT_CUBE_HUE, HELD_OUT_LIGHT, HELD_OUT_YAW, MIN_FLOOR_SATURATION, draw_look

    plain = gym.make(ID, **SMALL)
    varied = gym.make(ID, **SMALL, randomize_look=True)
    looks = []
    for seed in range(6):
        obs0, info0 = plain.reset(seed=seed)
        obs, info = varied.reset(seed=seed)
        np.testing.assert_array_equal(obs["ee_state"], obs0["ee_state"])  # the same episode, another look
        np.testing.assert_array_equal(info["goal"]["position"], info0["goal"]["position"])
        looks.append(dict(varied.unwrapped.look))
        if not looks[-1]:  # no factor drawn: OGBench's own look, whatever the last episode's was
            np.testing.assert_array_equal(obs["image"], obs0["image"])
    assert len({repr(sorted(x.items())) for x in looks}) >= 5
    again, _ = varied.reset(seed=3)
    assert varied.unwrapped.look == looks[3]
    fixed = gym.make(ID, **SMALL, randomize_look=True, light=0.5)  # a factor set explicitly wins over its draw
    for seed in range(3):
        fixed.reset(seed=seed)
        assert fixed.unwrapped.look["light"] == 0.5
    import colorsys

    rng = np.random.default_rng(0)
    for _ in range(3000):
        d = draw_look(rng, p=1.0)
        assert not HELD_OUT_YAW[0] < d["camera_yaw"] < HELD_OUT_YAW[1] and -15 <= d["camera_yaw"] <= 15
        assert not HELD_OUT_LIGHT[0] < d["light"] < HELD_OUT_LIGHT[1]
        h, _, _ = colorsys.rgb_to_hsv(*d["cube_color"])
        assert not HELD_OUT_CUBE_HUE[0] < h * 360 < HELD_OUT_CUBE_HUE[1]
        assert colorsys.rgb_to_hsv(*d["floor_color"])[1] >= MIN_FLOOR_SATURATION - 1e-9
    with pytest.raises(ValueError, match="look_share must lie in"):
        gym.make(ID, **SMALL, randomize_look=True, look_share=1.5)
    for env in (plain, varied, fixed):
        env.close()


@needs_ogbench
def test_the_oracle_logs_record_in_the_lerobot_layout_with_the_ur5e_mapping(tmp_path):
    from vjepa_ac.collect import CollectConfig, EnvConfig, collect
    from vjepa_ac.data.mapping import load_mapping
    from vjepa_ac.data.reader import open_log

    env = EnvConfig(id=ID, image_height=48, image_width=48, max_episode_steps=6,
                    kwargs={"eval_budget": 200, "terminate_at_goal": False, "render_goal": False})
    log = open_log(collect(CollectConfig(env=env, policy="play", episodes=2, seed=3, out=str(tmp_path / "cube"), workers=1,
                                         progress=False)))
    assert len(log) == 2 and log.info["robot_type"] == "ur5e_sim"
    mapping = load_mapping("ur5e_sim")
    mapping.check(log)
    state, action = mapping.read(log, 0)
    assert state.shape == (6, 7) and action.shape == (6, 7) and np.all(np.abs(action[:, 3:5]) == 0)
