"""One contract over every registered env (the Panda tasks and the Jaco on DeepMind's tasks), so that a new robot is
one registration away: spaces and dtypes, seeded determinism, goal images, the scripted expert, exact `simulate`."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs
from envs.policies import expert_for

SMALL = {"image_height": 48, "image_width": 48}
IDS = sorted(envs.ENV_IDS)


@pytest.fixture(scope="module", params=IDS)
def env(request):
    e = gym.make(request.param, **SMALL)
    yield e
    e.close()


def test_observations_and_goals_keep_the_contract(env):
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    assert obs["image"].dtype == np.uint8 and obs["ee_state"].dtype == np.float32 and obs["ee_state"].shape == (7,)
    assert info["goal_image"].shape == (48, 48, 3) and info["goal_image"].dtype == np.uint8
    assert info["goal_state"]["ee_state"].shape == (7,) and "position" in info["goal"]
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs) and isinstance(reward, float)
    assert {"success", "distance", "diverged", "task"} <= set(info) and info["task"] == envs.ENV_IDS[env.spec.id]


def test_a_seed_decides_the_episode(env):
    runs = []
    for seed in (11, 11, 12):
        obs, info = env.reset(seed=seed)
        runs.append((obs["ee_state"].copy(), obs["image"].copy(), info["goal_image"].copy()))
    for a, b in zip(runs[0], runs[1]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(runs[0][2], runs[2][2]), "another seed, another goal"


def test_the_scripted_expert_succeeds(env):
    u = env.unwrapped
    task = envs.ENV_IDS[env.spec.id]
    wins = 0
    for seed in range(3):
        obs, info = env.reset(seed=500 + seed)
        policy = expert_for(task)
        policy.reset(obs, info, np.random.default_rng(seed))
        for _ in range(u.max_episode_steps):
            obs, _, term, trunc, info = env.step(policy.act(obs))
            if info["success"] or term or trunc:
                break
        wins += bool(info["success"])
    assert wins == 3, f"{env.spec.id}: the expert succeeded {wins} of 3 times"


def test_simulate_predicts_the_real_step_and_puts_the_state_back(env):
    u = env.unwrapped
    obs, _ = env.reset(seed=7)
    rng = np.random.default_rng(0)
    actions = rng.uniform(env.action_space.low, env.action_space.high, (3, 2, env.action_space.shape[0])).astype(np.float32)
    before = obs["ee_state"].copy()
    out = u.simulate(actions, render=True)
    assert out["ee_state"].shape == (3, 2, 7) and out["image"].shape == (3, 48, 48, 3) and not out["diverged"].any()
    np.testing.assert_array_equal(u.ee_state(), before)
    obs, *_ = env.step(actions[1, 0])
    np.testing.assert_allclose(obs["ee_state"], out["ee_state"][1, 0], atol=1e-6)


def test_jaco_play_logs_record_in_the_lerobot_layout_and_read_back(tmp_path):
    from vjepa_ac.collect import CollectConfig, EnvConfig, collect
    from vjepa_ac.data.reader import open_log

    cfg = CollectConfig(env=EnvConfig(id="vjepa_ac/JacoReachSite-v0", image_height=48, image_width=48, max_episode_steps=5),
                        policy="play", episodes=2, seed=3, out=str(tmp_path / "jaco"), workers=1, progress=False)
    log = open_log(collect(cfg))
    assert len(log) == 2 and log.info["robot_type"] == "jaco_sim"
    assert log.features["observation.environment_state"]["shape"] == [3] and log.features["action"]["shape"] == [7]
    frames = log.frames(0, log.camera_keys[0], 0, 5)
    assert frames.shape == (5, 48, 48, 3) and frames.std() > 0


@pytest.mark.slow
def test_jaco_play_across_scenes_draws_each_episodes_scene_from_its_seed():
    """`scenes=`: play logs that cover every scene the robot will plan in, one scene per episode, the same for a seed."""
    import gymnasium as gym

    env = gym.make("vjepa_ac/JacoLiftBrick-v0", image_height=32, image_width=32, render_goal=False, scenes=("reach_site", "lift_brick"))
    drawn = {}
    for seed in range(8):
        obs, info = env.reset(seed=seed)
        drawn[seed] = info["task"]
        assert obs["image"].shape == (32, 32, 3) and env.unwrapped.environment_state().shape == (3,)
        env.step(np.zeros(7, np.float32))
    assert set(drawn.values()) == {"reach_site", "lift_brick"}
    assert all(env.reset(seed=seed)[1]["task"] == task for seed, task in drawn.items())
    env.close()
    with pytest.raises(KeyError, match="scenes: unknown Jaco task 'stack'"):
        gym.make("vjepa_ac/JacoLiftBrick-v0", scenes=("stack",))


@pytest.mark.slow
def test_jaco_play_grasps_and_lifts_the_brick_sometimes_without_reading_the_goal():
    """Play logs that a world model can learn lifting from: some episodes lift the brick, and the actions do not
    depend on the goal (the logs stay task-agnostic)."""
    import gymnasium as gym

    from envs.jaco_policies import JacoPlayPolicy

    env = gym.make("vjepa_ac/JacoLiftBrick-v0", image_height=32, image_width=32, render_goal=False)
    lifted = 0
    for seed in (2, 3):  # two play episodes (seeds 0-3 lift in 2 of 4; seed 3 at step 18)
        obs, info = env.reset(seed=seed)
        z0 = obs["privileged"]["object_pos"][2]
        policy, blind = JacoPlayPolicy(), JacoPlayPolicy()
        policy.reset(obs, info, np.random.default_rng(seed))
        blind.reset(obs, {"task": info["task"]}, np.random.default_rng(seed))
        top = z0
        for _ in range(60):
            a = policy.act(obs)
            np.testing.assert_array_equal(a, blind.act(obs))
            assert env.action_space.contains(a), a
            obs, *_ = env.step(a)
            top = max(top, obs["privileged"]["object_pos"][2])
        lifted += top > z0 + 0.05
    assert lifted >= 1, "no play episode lifted the brick 5 cm"


def test_the_jaco_plans_through_the_same_commands_with_true_dynamics(tmp_path):
    from vjepa_ac.collect import EnvConfig
    from vjepa_ac.eval.evaluate import evaluate
    from vjepa_ac.eval.config import EvalConfig

    cfg = EvalConfig(env=EnvConfig(id="vjepa_ac/JacoReachSite-v0", image_height=48, image_width=48, max_episode_steps=12),
                     world_model="sim", episodes=2, seed=20, workers=1, videos=0, out=str(tmp_path / "sim"), progress=False)
    s = evaluate(cfg)
    assert s["task"] == "reach_site" and s["errors"] == 0 and s["successes"] == 2
