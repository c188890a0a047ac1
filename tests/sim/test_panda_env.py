"""The simulated Panda tasks behave as a user of a Gymnasium env expects."""

from __future__ import annotations

import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.policies import PlayPolicy, expert_for

SMALL = {"image_height": 48, "image_width": 48}


@pytest.mark.parametrize("env_id", sorted(envs.ENV_IDS))
def test_every_registered_env_passes_gymnasiums_checker(env_id):
    env = gym.make(env_id, **SMALL)
    check_env(env.unwrapped, skip_render_check=False)
    env.close()


@pytest.mark.parametrize("env_id", sorted(envs.ENV_IDS))
def test_reset_returns_observation_and_goal_image_of_the_configured_size(env_id):
    env = gym.make(env_id, **SMALL)
    obs, info = env.reset(seed=0)
    assert obs["image"].shape == (48, 48, 3) and obs["image"].dtype == np.uint8
    assert obs["ee_state"].shape == (7,)
    assert info["goal_image"].shape == (48, 48, 3)
    assert not np.array_equal(info["goal_image"], obs["image"]), "the goal image must show the goal, not the start"
    # a step of ours is 0.25 s everywhere but on Push-T, whose block of 5 of its 10 Hz steps is 0.5 s
    assert env.metadata["render_fps"] == (2.0 if env_id == "vjepa_ac/PushT-v0" else 4.0)
    env.close()


@pytest.mark.parametrize("env_id, n", [("vjepa_ac/PandaPickPlace-v0", 5), ("vjepa_ac/PandaGrasp-v0", 3)])
def test_grasping_tasks_offer_subgoals_ending_at_the_goal(env_id, n):
    env = gym.make(env_id, **SMALL)
    _, info = env.reset(seed=1)
    assert len(info["subgoal_images"]) == len(info["subgoal_states"]) == n
    np.testing.assert_array_equal(info["subgoal_images"][-1], info["goal_image"])
    around, held = info["subgoal_states"][:2]
    start = info["goal"]["object_start"]
    # the open hand around the cube, then the same hand closed on it; the cube still where it lies
    for st in (around, held):
        np.testing.assert_allclose(st["object_pos"], start, atol=1e-3)
        assert np.linalg.norm(st["ee_state"][:3] - start) < 0.015
    assert around["ee_state"][6] < 0.05 and 0.3 < held["ee_state"][6] < 0.45
    env.close()


def test_simulate_predicts_the_real_step_and_puts_the_state_back():
    env = gym.make("vjepa_ac/PandaGrasp-v0", **SMALL).unwrapped
    obs, _ = env.reset(seed=2)
    before = env.snapshot()
    rng = np.random.default_rng(0)
    actions = rng.uniform(env.action_space.low, env.action_space.high, (3, 2, 7)).astype(np.float32)
    out = env.simulate(actions, render=True)
    assert out["ee_state"].shape == (3, 2, 7) and out["object_pos"].shape == (3, 2, 3) and out["image"].shape == (3, 48, 48, 3)
    for a, b in zip(before, env.snapshot()):
        np.testing.assert_array_equal(a, b)
    assert env.steps == 0
    for t in range(2):  # the real steps land exactly where the simulated ones did
        obs, *_ = env.step(actions[1, t])
        np.testing.assert_array_equal(obs["ee_state"], out["ee_state"][1, t])
    np.testing.assert_array_equal(obs["image"], out["image"][1])
    with pytest.raises(ValueError, match=r"\[S, H, 7\]"):
        env.simulate(actions[0])
    env.close()


def test_camera_framings_are_named_and_the_workspace_one_shows_the_cube_larger():
    def cube_pixels(camera):
        env = gym.make("vjepa_ac/PandaGrasp-v0", image_height=128, image_width=128, camera=camera).unwrapped
        env.reset(seed=0)
        img = env.render_image()
        env.model.geom_rgba[env.cube_geom] = [0, 0, 0, 0]  # hide the cube: the pixels that change are the cube's
        changed = int((np.abs(img.astype(int) - env.render_image().astype(int)).sum(-1) > 30).sum())
        env.close()
        return changed

    wide, close = cube_pixels("wide"), cube_pixels("workspace")
    assert close > 1.5 * wide > 0, (wide, close)  # ~1.8x the pixels at 128 px
    with pytest.raises(ValueError, match="workspace"):
        gym.make("vjepa_ac/PandaReach-v0", camera="top")


def test_wrist_framing_stacks_the_front_band_over_a_wrist_view_that_moves_with_the_hand():
    """`camera=wide+wrist`: a square frame whose top half is the front camera and bottom half the hand's camera, which
    rides on the hand: brought over the cube, the cube fills far more of the wrist half than from the start pose, and
    far more than of the front half."""
    env = gym.make("vjepa_ac/PandaGrasp-v0", image_height=128, image_width=128, camera="wide+wrist").unwrapped
    obs, _ = env.reset(seed=0)
    assert obs["image"].shape == (128, 128, 3)

    def cube_pixels(frame_of):
        img = frame_of()
        rgba = env.model.geom_rgba[env.cube_geom].copy()
        env.model.geom_rgba[env.cube_geom] = [0, 0, 0, 0]
        changed = np.abs(img.astype(int) - frame_of().astype(int)).sum(-1) > 30  # [H, W]
        env.model.geom_rgba[env.cube_geom] = rgba
        return int(changed[:64].sum()), int(changed[64:].sum())

    _, wrist_far = cube_pixels(env.render_image)
    above = env.cube_pos + [0, 0, 0.09]
    for _ in range(12):  # the hand over the cube, fingers open
        env.step(np.r_[np.clip((above - env.ee_state()[:3]) * 2, -0.05, 0.05), 0, 0, 0, -1].astype(np.float32))
    after = env.render_image()
    front, wrist = cube_pixels(env.render_image)
    assert wrist > 5 * max(front, 1) and wrist > 3 * wrist_far, (front, wrist, wrist_far)
    # the front half's projection still lands on the cube
    from vjepa_ac.models.decoder import locate_colour, object_colour

    uv = env.project(env.cube_pos[None])[0]
    assert 0 <= uv[1] < 64
    blob = locate_colour(after[None, :64], object_colour(after[:64], uv))[0]
    assert np.linalg.norm(blob - uv) < 4.0, (blob, uv)
    env.close()
    with pytest.raises(ValueError, match="even"):
        gym.make("vjepa_ac/PandaGrasp-v0", image_height=127, image_width=128, camera="wide+wrist")


def test_same_seed_same_episode_other_seed_other_episode():
    def run(seed):
        env = gym.make("vjepa_ac/PandaGrasp-v0", **SMALL)
        obs, info = env.reset(seed=seed)
        rng = np.random.default_rng(0)
        frames, states = [obs["image"]], [obs["ee_state"]]
        for _ in range(4):
            obs, *_ = env.step(rng.uniform(-1, 1, 7) * env.action_space.high)
            frames.append(obs["image"])
            states.append(obs["ee_state"])
        env.close()
        return np.stack(frames), np.stack(states), info["goal_image"]

    a, b, c = run(3), run(3), run(4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


def test_end_effector_follows_a_delta_action_within_bounds():
    env = gym.make("vjepa_ac/PandaReach-v0", **SMALL).unwrapped
    obs, _ = env.reset(seed=2)
    start = obs["ee_state"].copy()
    obs, *_ = env.step(np.array([0.04, 0, 0, 0, 0, 0, -1], dtype=np.float32))
    moved = obs["ee_state"][:3] - start[:3]
    assert 0.03 < moved[0] < 0.045, moved
    assert np.all(np.abs(moved[1:]) < 0.01), moved
    # an action far outside the bounds is clipped to them: at most max_delta_pos per axis
    before = obs["ee_state"].copy()
    obs, *_ = env.step(np.array([5, -5, 5, 0, 0, 0, -1], dtype=np.float32))
    assert np.all(np.abs(obs["ee_state"][:3] - before[:3]) <= env.cfg.max_delta_pos + 0.005)


def test_gripper_closes_and_opens_on_command():
    """Like the real Franka Hand (about 5 cm/s per finger), a full stroke takes two control steps at 4 Hz."""
    env = gym.make("vjepa_ac/PandaReach-v0", **SMALL)
    env.reset(seed=0)
    close, open_ = (np.array([0, 0, 0, 0, 0, 0, g], dtype=np.float32) for g in (1, -1))
    states = [env.step(a)[0]["ee_state"][6] for a in (close, close, open_, open_)]
    assert 0.3 < states[0] < states[1] and states[1] > 0.9, states
    assert states[1] > states[2] > states[3] and states[3] < 0.1, states


def test_malformed_actions_get_a_clear_error():
    env = gym.make("vjepa_ac/PandaReach-v0", **SMALL)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(6))
    with pytest.raises(ValueError, match="non-finite"):
        env.step(np.array([np.nan] * 7))


def test_a_diverging_simulation_ends_the_episode_with_a_flag_instead_of_crashing():
    env = gym.make("vjepa_ac/PandaReach-v0", **SMALL).unwrapped
    env.reset(seed=0)
    env.data.qvel[env.arm_dadr] = np.nan  # as if the solver blew up
    obs, reward, terminated, truncated, info = env.step(np.zeros(7, dtype=np.float32))
    assert terminated and info["diverged"] and not info["success"]
    assert obs["image"].shape == (48, 48, 3)


def test_unknown_env_option_names_the_option():
    with pytest.raises(TypeError, match="image_hieght"):
        gym.make("vjepa_ac/PandaReach-v0", image_hieght=64)


@pytest.mark.parametrize("task", sorted(envs.PANDA_ENV_IDS.values()))
def test_the_scripted_expert_solves_the_task(task):
    """10 seeded episodes per task here; bench/expert_success.py runs the 100-episode figure."""
    env = envs.make_panda(task, image_height=32, image_width=32, render_goal=False)
    wins = 0
    for seed in range(10):
        obs, info = env.reset(seed=seed)
        policy = expert_for(task)
        policy.reset(obs, info, np.random.default_rng(seed))
        for _ in range(env.max_episode_steps):
            obs, _, term, trunc, info = env.step(policy.act(obs))
            if info["success"] or term or trunc:
                break
        wins += info["success"]
    env.close()
    assert wins >= 9, f"{task}: expert succeeded in {wins}/10"


def test_play_policy_needs_no_goal_and_stays_in_bounds():
    env = envs.make_panda("reach", image_height=32, image_width=32, render_goal=False)
    obs, _ = env.reset(seed=0)
    policy = PlayPolicy()
    policy.reset(obs, {}, np.random.default_rng(0))
    for _ in range(30):
        a = policy.act(obs)
        assert env.action_space.contains(a), a
        obs, *_ = env.step(a)


def test_package_picks_egl_when_no_gl_backend_is_chosen():
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    out = subprocess.run([sys.executable, "-c", "import os, envs; print(os.environ['MUJOCO_GL'])"], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "egl"


def test_projected_cube_positions_land_on_the_cube_in_the_rendered_frame():
    """`PandaEnv.project` (used to score decoded pictures) agrees with the renderer: the blob of the cube's colour,
    read at the projected centre, lies within a few pixels of it, for both camera framings."""
    import numpy as np

    from envs import make_panda
    from vjepa_ac.models.decoder import locate_colour, object_colour

    for camera in ("wide", "workspace"):
        env = make_panda("grasp", camera=camera)
        errors = []
        for seed in range(8):
            env.reset(seed=seed)
            frame = env.render_image()
            uv = env.project(env.cube_pos[None])[0]
            blob = locate_colour(frame[None], object_colour(frame, uv))[0]
            errors.append(np.linalg.norm(blob - uv) if np.isfinite(blob).all() else np.inf)
        env.close()
        assert np.median(errors) < 4.0, (camera, errors)


def test_the_env_never_writes_its_options_into_the_callers_config():
    from envs.panda_env import PandaEnv, PandaEnvConfig
    from envs.tasks import Reach

    cfg = PandaEnvConfig()
    env = PandaEnv(Reach(), config=cfg, image_height=48, image_width=48, camera="workspace")
    assert (cfg.image_height, cfg.camera) == (128, None) and cfg.scene == PandaEnvConfig().scene
    assert env.cfg.image_height == 48
    env.close()


def test_an_object_region_too_small_for_cube_and_cup_fails_loudly():
    env = envs.make_panda("reach", image_height=48, image_width=48, object_low=(0.45, 0.0), object_high=(0.46, 0.01))
    with pytest.raises(ValueError, match="object_low.*too small"):
        env.reset(seed=0)
    env.close()


def test_a_bug_inside_the_physics_step_is_raised_not_reported_as_divergence(monkeypatch):
    import mujoco

    env = envs.make_panda("reach", image_height=48, image_width=48)
    env.reset(seed=0)

    def broken(*a, **kw):
        raise TypeError("a bug, not an instability")

    monkeypatch.setattr(mujoco, "mj_step", broken)
    with pytest.raises(TypeError, match="a bug"):
        env.step(np.zeros(7, np.float32))
    env.close()


def test_an_env_that_cannot_be_built_with_its_options_is_not_called_a_typo():
    from vjepa_ac.environment import EnvConfig
    from vjepa_ac.eval.config import EvalConfig, check_config

    cfg = EvalConfig(env=EnvConfig(id="vjepa_ac/PandaReach-v0", kwargs={"no_such_option": 1}), policy="random")
    with pytest.raises(ValueError, match="a known env.*could not be built with these options.*no_such_option"):
        check_config(cfg)
