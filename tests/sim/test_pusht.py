"""Push-T under stable-worldmodel's protocol (`vjepa_ac/PushT-v0`): the start and goal come from a recorded episode of
the collection policy, success is stable-worldmodel's check (20 px over the disc's and the block's positions, 20
degrees on the block's angle) at any step of the 50-step budget, actions are their relative command, the visual factors
of variation change what the camera sees and nothing else. Needs the benchmark extra (pip install ".[bench]")."""

from __future__ import annotations

import importlib.util

import gymnasium as gym
import numpy as np
import pytest

import envs

HAVE_PUSHT = importlib.util.find_spec("gym_pusht") is not None
needs_pusht = pytest.mark.skipif(not HAVE_PUSHT, reason="gym-pusht is not installed: pip install '.[bench]'")
ID = "vjepa_ac/PushT-v0"
SMALL = {"image_height": 48, "image_width": 48}


def test_the_id_is_registered_exactly_where_gym_pusht_is_installed():
    assert (ID in envs.ENV_IDS) == HAVE_PUSHT and (ID in gym.registry) == HAVE_PUSHT


@pytest.fixture(scope="module")
def env():
    if not HAVE_PUSHT:
        pytest.skip("gym-pusht is not installed: pip install '.[bench]'")
    e = gym.make(ID, **SMALL)
    yield e
    e.close()


@needs_pusht
def test_success_is_stable_worldmodels_check():
    from envs.pusht_env import pusht_success

    goal = np.array([100.0, 100.0, 200.0, 200.0, 0.1])
    assert pusht_success(goal, goal + [19.9, 0, 0, 0, 0]) and not pusht_success(goal, goal + [20.1, 0, 0, 0, 0])
    assert not pusht_success(goal, goal + [0, 15, 0, 15, 0])  # one norm over the disc's and the block's positions
    assert pusht_success(goal, goal + [0, 0, 0, 0, np.deg2rad(19)]) and not pusht_success(goal, goal + [0, 0, 0, 0, np.deg2rad(21)])
    assert pusht_success(goal, goal + [0, 0, 0, 0, 2 * np.pi - np.deg2rad(19)])  # angles wrap around a turn


@needs_pusht
def test_the_recorded_actions_reach_the_goal_and_standing_still_does_not(env):
    """The goal is the state 25 Push-T steps after a uniformly drawn start of the recording; replaying the recording's
    own actions from the start reproduces it exactly, within the 50-step budget (ten steps of ours)."""
    from envs.policies import expert_for

    u = env.unwrapped
    starts, checked = [], 0
    for seed in range(8):
        obs, info = env.reset(seed=seed)
        starts.append(int(info["goal"]["start_step"]))
        assert len(info["goal"]["recorded_actions"]) == 5
        trivial = info["success"]  # the recording left the disc and the block where they were (the disc against a wall)
        expert = expert_for("push_t")
        expert.reset(obs, info, np.random.default_rng(0))
        for _ in range(5):
            obs, *_ = env.step(expert.act(obs))
        np.testing.assert_allclose(u.state()[:5], info["goal"]["state"], atol=1e-9)
        if trivial:
            continue
        obs, info = env.reset(seed=seed)
        steps, truncated = 0, False
        while not truncated:
            _, _, terminated, truncated, info = env.step(np.zeros(7, np.float32))
            steps += 1
            assert not terminated and not info["success"]
        assert steps == 10 and u._substeps == 50
        checked += 1
    assert all(0 <= s <= 200 - 25 and s % 5 == 0 for s in starts) and len(set(starts)) > 1 and checked >= 4


@needs_pusht
def test_every_frame_shows_the_state_it_belongs_to_the_first_one_too():
    """A state set from a snapshot (the start of every episode, every `simulate` candidate) is drawn where it is, not
    where the scene was built: the disc's blue pixels sit at its position in the first frame and after a restore."""
    e = gym.make(ID, image_height=128, image_width=128)
    u = e.unwrapped

    def disc_centre(image: np.ndarray) -> np.ndarray:
        blue = (image[..., 2] > 180) & (image[..., 0] < 120) & (image[..., 1] < 160)  # gym-pusht's RoyalBlue disc
        ys, xs = np.nonzero(blue)
        return np.array([xs.mean(), ys.mean()]) * 512 / 128

    for seed in (1, 2, 3):
        obs, _ = e.reset(seed=seed)
        x, y = u.state()[:2]
        if 20 < x < 490 and 20 < y < 490:  # the disc may stand beyond the walls, out of view
            np.testing.assert_allclose(disc_centre(obs["image"]), [x, y], atol=8)
        snap = u.snapshot()
        u._advance(np.array([0.1, 0.1, 0, 0, 0, 0, 0], np.float32))
        u.restore(snap)
        np.testing.assert_array_equal(u.render_image(), obs["image"])
    e.close()


@needs_pusht
def test_an_action_is_stable_worldmodels_relative_command_held_over_the_block(env):
    """[dx, dy] in arena units (512 px = 1) is the relative target each of the block's five Push-T steps commands,
    clipped at their 100 px; the other five dims do nothing."""
    u = env.unwrapped
    env.reset(seed=1)
    snap = u.snapshot()
    ends = []
    for action in ([0.1, 0, 0, 0, 0, 0, 0], [0.1, 0, 0.5, 0.3, 0.3, 0.9, 1.0], [0.5, 0, 0, 0, 0, 0, 0], [100 / 512, 0, 0, 0, 0, 0, 0],
                   [0, 0, 0, 0, 0, 0, 0]):
        u.restore(snap)
        u._advance(np.array(action, np.float32))
        ends.append(u.ee_state().copy())
    still = ends[4]  # the disc's own momentum, unchanged by a command along the other axis
    np.testing.assert_array_equal(ends[0], ends[1])
    np.testing.assert_array_equal(ends[2], ends[3])
    assert 0.05 < ends[0][0] - still[0] < ends[2][0] - still[0]  # it moves the disc right, further with a larger command
    assert abs(ends[0][1] - still[1]) < 1e-6


@needs_pusht
def test_the_factors_of_variation_change_the_view_and_not_the_scene():
    base = gym.make(ID, **SMALL)
    obs0, info0 = base.reset(seed=9)
    for option in ({"block_color": (0.9, 0.2, 0.2)}, {"agent_color": (0.9, 0.6, 0.0)}, {"background_color": (0.3, 0.3, 0.3)},
                   {"goal_color": (0.6, 0.6, 0.9)}):
        shifted = gym.make(ID, **SMALL, **option)
        obs, info = shifted.reset(seed=9)
        np.testing.assert_array_equal(obs["ee_state"], obs0["ee_state"])
        np.testing.assert_array_equal(info["goal"]["state"], info0["goal"]["state"])
        changed = int((np.abs(obs["image"].astype(int) - obs0["image"]).max(-1) > 40).sum())  # pixels, of 48 x 48
        assert changed >= 4, f"{option}: only {changed} pixels changed"
        shifted.close()
    with pytest.raises(TypeError, match="unknown Push-T env option 'colour'"):
        gym.make(ID, colour=(1, 0, 0))
    base.close()


@needs_pusht
def test_randomized_looks_vary_per_seed_repeat_per_seed_leave_the_test_values_out_and_undo_themselves():
    import colorsys

    from envs.pusht_env import (HELD_OUT_AGENT_HUE, HELD_OUT_BLOCK_HUE, HELD_OUT_GOAL_HUE, MIN_BACKGROUND_SATURATION,
                                draw_look)

    plain = gym.make(ID, **SMALL)
    varied = gym.make(ID, **SMALL, randomize_look=True)
    looks = []
    for seed in range(8):
        obs0, info0 = plain.reset(seed=seed)
        obs, info = varied.reset(seed=seed)
        np.testing.assert_array_equal(obs["ee_state"], obs0["ee_state"])  # the same episode, another look
        np.testing.assert_array_equal(info["goal"]["state"], info0["goal"]["state"])
        looks.append(dict(varied.unwrapped.look))
        if looks[-1]:
            assert not np.array_equal(obs["image"], obs0["image"]) and not np.array_equal(info["goal_image"], info0["goal_image"])
        else:  # no factor drawn: gym-pusht's own look, whatever the last episode's was
            np.testing.assert_array_equal(obs["image"], obs0["image"])
    assert len({repr(sorted(x.items())) for x in looks}) >= 6
    varied.reset(seed=3)
    assert varied.unwrapped.look == looks[3]
    fixed = gym.make(ID, **SMALL, randomize_look=True, block_color=(0.9, 0.2, 0.2))  # a factor set explicitly wins
    for seed in range(3):
        fixed.reset(seed=seed)
        assert fixed.unwrapped.look["block_color"] == (0.9, 0.2, 0.2)

    def hue(rgb):
        return colorsys.rgb_to_hsv(*rgb)[0] * 360

    rng = np.random.default_rng(0)
    for _ in range(3000):
        d = draw_look(rng, p=1.0)
        assert not (hue(d["block_color"]) > 360 + HELD_OUT_BLOCK_HUE[0] or hue(d["block_color"]) < HELD_OUT_BLOCK_HUE[1])
        assert not HELD_OUT_AGENT_HUE[0] < hue(d["agent_color"]) < HELD_OUT_AGENT_HUE[1]
        assert not HELD_OUT_GOAL_HUE[0] < hue(d["goal_color"]) < HELD_OUT_GOAL_HUE[1]
        assert colorsys.rgb_to_hsv(*d["background_color"])[1] >= MIN_BACKGROUND_SATURATION - 1e-9
    assert draw_look(rng, p=0.0) == {}
    with pytest.raises(ValueError, match="look_share must lie in"):
        gym.make(ID, **SMALL, randomize_look=True, look_share=1.5)
    for e in (plain, varied, fixed):
        e.close()


@needs_pusht
def test_play_logs_record_in_the_lerobot_layout_with_the_pusht_mapping(tmp_path):
    from vjepa_ac.collect import CollectConfig, EnvConfig, collect
    from vjepa_ac.data.mapping import load_mapping
    from vjepa_ac.data.reader import open_log

    env = EnvConfig(id=ID, image_height=48, image_width=48, max_episode_steps=6,
                    kwargs={"eval_budget": 200, "terminate_at_goal": False, "render_goal": False})
    log = open_log(collect(CollectConfig(env=env, policy="play", episodes=2, seed=3, out=str(tmp_path / "pusht"), workers=1,
                                         progress=False)))
    assert len(log) == 2 and log.info["robot_type"] == "pusht_sim"
    mapping = load_mapping("pusht_sim")
    mapping.check(log)
    state, action = mapping.read(log, 0)
    assert state.shape == (6, 7) and action.shape == (6, 7)
    assert np.all(state[:, 2:] == 0) and np.all(action[:, 2:] == 0) and np.abs(action[:, :2]).max() <= 100 / 512 + 1e-6
    assert np.abs(np.diff(state[:, :2], axis=0)).max() > 0.01  # the disc moves


@needs_pusht
def test_the_blocks_pose_for_the_simulator_rungs_weighs_its_angle_as_the_success_check_does(env):
    """`object_pos` (what `sim+state` scores) is the block's position and its angle in ANGLE_UNIT: turning the block by
    the check's 20 degrees moves it as far as shifting it by the check's 20 px, and nothing else moves."""
    from envs.pusht_env import ARENA, SUCCESS_ANGLE, SUCCESS_POS

    u = env.unwrapped
    env.reset(seed=3)
    a_pos, a_vel, (bx, by), angle, b_vel, b_angvel = u.snapshot()
    before = u.cube_pos().copy()
    u.restore((a_pos, a_vel, (bx, by), angle + SUCCESS_ANGLE, b_vel, b_angvel))
    turned = u.cube_pos().copy()
    u.restore((a_pos, a_vel, (bx + SUCCESS_POS, by), angle, b_vel, b_angvel))
    shifted = u.cube_pos().copy()
    np.testing.assert_allclose(turned[:2], before[:2], atol=1e-9)
    assert abs(turned[2] - before[2]) == pytest.approx(SUCCESS_POS / ARENA) == pytest.approx(abs(shifted[0] - before[0]))
    obs, _ = env.reset(seed=3)
    np.testing.assert_allclose(obs["privileged"]["object_pos"], before)


@needs_pusht
def test_deliberate_pushes_move_the_block_in_more_steps_and_leave_the_weak_policy_as_it_was(env):
    """`pushes` (PushTPlay's share of deliberate pushes through the block) gives logs in which the block moves in more
    steps and farther; at 0 the policy is stable-worldmodel's weak policy, draw for draw; outside [0, 1] it is refused."""
    from envs.pusht_env import play_action
    from envs.pusht_policies import PushTPlay

    def run(pushes: float, check_weak: bool = False) -> np.ndarray:
        moves = []
        for seed in range(9):
            obs, info = env.reset(seed=700 + seed)
            policy, twin = PushTPlay(pushes=pushes), np.random.default_rng(seed)
            policy.reset(obs, info, np.random.default_rng(seed))
            for _ in range(10):  # the protocol's episode: 50 Push-T steps
                s = obs["privileged"]["state"]
                a = policy.act(obs)
                if check_weak:
                    np.testing.assert_allclose(a[:2], play_action(s[:2], s[2:4], twin) / 512, rtol=1e-6, atol=1e-7)
                obs, *_ = env.step(a)
                moves.append(np.linalg.norm(obs["privileged"]["state"][2:4] - s[2:4]))
        return np.array(moves)

    weak, pushed = run(0.0, check_weak=True), run(1.0)
    assert (pushed > 10).mean() > (weak > 10).mean() + 0.08 and pushed.mean() > 1.3 * weak.mean()
    with pytest.raises(ValueError, match="pushes"):
        PushTPlay(pushes=1.5)
