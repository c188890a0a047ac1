"""The agent closes the loop: energies as specified, the oracle reaches, the learned model plans within bounds,
sub-goals advance, and any env with `image` / `ee_state` observations and a goal image works."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from envs import make_panda
from vjepa_ac.planning.agent import Agent, AgentConfig
from vjepa_ac.models.encoder import FrozenEncoder, Preprocess
from vjepa_ac.planning.energy import EnergyConfig, frame_energy, latent_energy
from vjepa_ac.models.predictor import ACPredictor, PredictorConfig
from vjepa_ac.planning.world_model import LatentWorldModel
from vjepa_ac.planning.truth import OracleWorldModel


def tiny_world_model(energy: EnergyConfig | None = None) -> LatentWorldModel:
    from transformers import VJEPA2Config, VJEPA2Model

    torch.manual_seed(0)
    cfg = VJEPA2Config(hidden_size=32, num_attention_heads=2, num_hidden_layers=1, crop_size=32, patch_size=8,
                       tubelet_size=1, frames_per_clip=1, pred_hidden_size=16, pred_num_attention_heads=2, pred_num_hidden_layers=1)
    enc = FrozenEncoder(VJEPA2Model(cfg).eval(), Preprocess(crop_size=32))
    pred = ACPredictor(PredictorConfig(embed_dim=32, hidden=32, depth=1, heads=2, grid=4)).eval()
    return LatentWorldModel(enc, pred, energy)


def test_energy_is_the_mean_l1_of_the_last_step_or_of_every_step():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(5, 3, 4, 8, generator=g)  # [S, H, N, D]
    goal = torch.randn(4, 8, generator=g)
    e = latent_energy(z, goal, EnergyConfig())
    torch.testing.assert_close(e, (z[:, -1] - goal).abs().mean((1, 2)))
    e_all = latent_energy(z, goal, EnergyConfig(per_step=True))
    torch.testing.assert_close(e_all, (z - goal).abs().mean((2, 3)).mean(1))
    e2 = latent_energy(z, goal, EnergyConfig(metric="l2"))
    torch.testing.assert_close(e2, (z[:, -1] - goal).pow(2).mean((1, 2)).sqrt())
    assert frame_energy(goal, goal, EnergyConfig()) == 0.0
    with pytest.raises(ValueError, match="z_goal"):
        latent_energy(z, torch.zeros(5, 8), EnergyConfig())
    with pytest.raises(ValueError, match="metric"):
        latent_energy(z, goal, EnergyConfig(metric="cosine"))


def test_the_oracle_agent_reaches_every_goal():
    env = make_panda("reach", image_height=48, image_width=48)
    agent = Agent(OracleWorldModel(), env.action_space.low, env.action_space.high, AgentConfig(seed=0))
    for ep in range(4):
        obs, info = env.reset(seed=ep)
        agent.reset(info, env.max_episode_steps, ep)
        for _ in range(env.max_episode_steps):
            obs, _, _, _, info = env.step(agent.act(obs))
            if info["success"]:
                break
        assert info["success"], f"episode {ep}: the oracle stopped {info['distance']:.3f} m from the goal"
    env.close()


def test_the_learned_model_plans_actions_within_bounds_and_keeps_a_warm_start():
    env = make_panda("reach", image_height=48, image_width=48)
    obs, info = env.reset(seed=1)
    cfg = AgentConfig(horizon=2, seed=3)
    cfg.cem.samples, cfg.cem.iterations, cfg.cem.elites = 16, 2, 4
    agent = Agent(tiny_world_model(), env.action_space.low, env.action_space.high, cfg)
    agent.reset(info, 10, episode=0)
    a = agent.act(obs)
    assert a.shape == (7,) and env.action_space.contains(a)
    assert a[3] == 0 and a[4] == 0, "roll and pitch are not planned"
    rec = agent.records[-1]
    assert rec.plan.actions.shape == (2, len(cfg.plan_dims)) and len(rec.plan.iterations) == 2
    assert np.isfinite(rec.plan.cost) and rec.plan_ms > 0
    # the same seed and episode plan the same action
    again = Agent(tiny_world_model(), env.action_space.low, env.action_space.high, cfg)
    again.reset(info, 10, episode=0)
    np.testing.assert_array_equal(again.act(obs), a)
    env.close()


def test_a_robot_without_a_gripper_gets_no_open_or_close_command():
    """A binary gripper command (+1 or -1) exists only where the action's gripper bounds span zero: Push-T's disc pins
    that dim at zero, and a -1 there would be an action its logs never hold."""
    env = make_panda("reach", image_height=48, image_width=48)
    obs, info = env.reset(seed=1)
    cfg = AgentConfig(horizon=2, seed=3)
    cfg.cem.samples, cfg.cem.iterations, cfg.cem.elites = 16, 2, 4
    low, high = env.action_space.low.copy(), env.action_space.high.copy()
    low[2:], high[2:] = 0.0, 0.0  # a planar pusher: x and y only
    agent = Agent(tiny_world_model(), low, high, cfg)
    agent.reset(info, 10, episode=0)
    a = agent.act(obs)
    assert np.all(a[2:] == 0) and np.all(np.abs(a[:2]) <= high[:2])
    with_gripper = Agent(tiny_world_model(), env.action_space.low, env.action_space.high, cfg)
    with_gripper.reset(info, 10, episode=0)
    assert abs(with_gripper.act(obs)[6]) == 1.0
    env.close()


def test_pick_and_place_plans_through_its_subgoals_in_order():
    env = make_panda("pick_place", image_height=48, image_width=48)
    obs, info = env.reset(seed=0)
    agent = Agent(OracleWorldModel(), env.action_space.low, env.action_space.high,
                  AgentConfig(use_subgoals=True, subgoal_advance="clock", subgoal_steps=2))
    agent.reset(info, env.max_episode_steps)
    assert len(agent.goals) == 5  # around the cube, held, lifted, carried, placed
    for _ in range(11):
        obs, *_ = env.step(agent.act(obs))
    assert [r.goal_index for r in agent.records] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4]
    single = Agent(OracleWorldModel(), env.action_space.low, env.action_space.high, AgentConfig(use_subgoals=False))
    single.reset(info, env.max_episode_steps)
    assert len(single.goals) == 1
    env.close()


def test_act_before_reset_and_bad_plan_dims_are_refused():
    wm = OracleWorldModel()
    with pytest.raises(ValueError, match="plan_dims"):
        Agent(wm, -np.ones(7), np.ones(7), AgentConfig(plan_dims=[0, 7]))
    with pytest.raises(RuntimeError, match="reset"):
        Agent(wm, -np.ones(7), np.ones(7)).act({})


class DotEnv(gym.Env):
    """A user's own env: a dot on a canvas; the contract is only `image`, `ee_state` and reset info's `goal_image`."""

    def __init__(self):
        self.action_space = spaces.Box(-0.1, 0.1, (7,), dtype=np.float32)
        self.observation_space = spaces.Dict({"image": spaces.Box(0, 255, (40, 40, 3), np.uint8),
                                              "ee_state": spaces.Box(-np.inf, np.inf, (7,), np.float32)})

    def _draw(self, p):
        img = np.zeros((40, 40, 3), np.uint8)
        r, c = (np.clip(p[:2], 0, 0.99) * 40).astype(int)
        img[max(0, r - 3): r + 3, max(0, c - 3): c + 3] = 255
        return img

    def _obs(self):
        return {"image": self._draw(self.p), "ee_state": np.concatenate([self.p, np.zeros(4)]).astype(np.float32)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.p, self.goal = self.np_random.uniform(0.2, 0.8, 3), self.np_random.uniform(0.2, 0.8, 3)
        return self._obs(), {"goal_image": self._draw(self.goal)}

    def step(self, action):
        self.p = self.p + np.asarray(action)[:3]
        d = float(np.linalg.norm(self.p[:2] - self.goal[:2]))
        return self._obs(), -d, False, False, {"success": d < 0.05, "distance": d}


def test_a_users_own_env_works_with_the_agent_and_eval(tmp_path):
    from vjepa_ac.collect import EnvConfig
    from vjepa_ac.eval.evaluate import run_episode
    from vjepa_ac.eval.config import EvalConfig

    if "test/DotEnv-v0" not in gym.registry:
        gym.register("test/DotEnv-v0", entry_point=DotEnv, max_episode_steps=3)
    cfg = EvalConfig(env=EnvConfig(id="test/DotEnv-v0"), episodes=1, out=str(tmp_path), videos=1)
    cfg.agent.cem.samples, cfg.agent.cem.iterations, cfg.agent.cem.elites = 8, 1, 2
    env = gym.make("test/DotEnv-v0")
    agent = Agent(tiny_world_model(), env.action_space.low, env.action_space.high, cfg.agent)
    row, frames = run_episode(cfg, 0, env=env, agent=agent)
    assert row["steps"] == 3 and row["error"] is None and len(row["plan_ms"]) == 3
    assert len(frames) == 4 and frames[0].shape == (40, 80, 3), "video frames show the camera beside the goal"


def test_the_optional_end_effector_term_pulls_toward_the_goal_state():
    wm = tiny_world_model(EnergyConfig(state_weight=100.0))
    img = np.zeros((40, 40, 3), np.uint8)
    ctx = wm.observe({"image": img, "ee_state": np.zeros(7, np.float32)})
    goal = wm.goal(img, {"ee_state": np.array([0.1, 0, 0, 0, 0, 0, 0], np.float32)})
    toward, away = torch.zeros(1, 1, 7), torch.zeros(1, 1, 7)
    toward[..., 0], away[..., 0] = 0.05, -0.05
    costs = wm.cost(ctx, goal, torch.cat([toward, away]))
    assert costs[0] < costs[1]
    with pytest.raises(ValueError, match="goal_state"):
        wm.goal(img, None)


def test_the_gripper_follows_each_sub_goals_state_when_asked():
    """`gripper_from_goal`: open while the sub-goal shows an open hand, closed once it shows the cube held; the
    planner's candidates are imagined with that gripper command too."""
    wm = tiny_world_model()
    img = np.zeros((32, 32, 3), np.uint8)
    states = [{"ee_state": np.array([0.5, 0, 0.1, 0, 0, 0, c], np.float32)} for c in (0.0, 0.9, 0.9)]
    info = {"subgoal_images": [img] * 3, "subgoal_states": states}
    agent = Agent(wm, -np.ones(7), np.ones(7), AgentConfig(use_subgoals=True, gripper_from_goal="state", subgoal_advance="clock", subgoal_steps=2,
                                                           cem=AgentConfig().cem.__class__(samples=8, iterations=1, elites=2)))
    agent.reset(info, 6)
    obs = {"image": img, "ee_state": np.zeros(7, np.float32)}
    grip = [float(agent.act(obs)[-1]) for _ in range(6)]
    assert grip == [-1.0, -1.0, 1.0, 1.0, 1.0, 1.0]
    assert float(agent.full_actions(torch.zeros(5, 1, 5))[..., -1].min()) == 1.0
    with pytest.raises(ValueError, match="gripper_from_goal=state needs"):
        agent.reset({"goal_image": img}, 6)


def test_the_gripper_follows_what_the_goal_head_reads_off_each_sub_goal_image():
    """`gripper_from_goal=image` (what "auto" means with a head): open where the head reads an open hand off the
    sub-goal image, closed where it reads a closed one; nothing privileged is read."""
    from vjepa_ac.planning.world_model import LatentGoal

    wm = tiny_world_model()

    class Head:  # reads (x, y, z, gripper): the gripper from a marker the test puts in each goal's tokens
        cfg = type("C", (), {"names": ["x", "y", "z", "gripper"]})()

        def __call__(self, z):
            return torch.stack([z[..., 0, 0] * 0, z[..., 0, 0] * 0, z[..., 0, 0] * 0, z[..., 0, 0]], -1)

    wm.energy.head = Head()
    closures = iter([0.0, 0.9, 0.9])

    def goal(image, state=None):
        z = torch.zeros(16, 32)
        z[0, 0] = next(closures)
        return LatentGoal(z, wm.head(z[None])[0])

    wm.goal = goal
    wm.energy.read = lambda z: None
    wm.energy.cfg.head_weight = 0.0  # the stub head only reads the goals' gripper; it scores nothing
    img = np.zeros((32, 32, 3), np.uint8)
    agent = Agent(wm, -np.ones(7), np.ones(7), AgentConfig(use_subgoals=True, gripper_from_goal="auto", subgoal_advance="clock", subgoal_steps=2,
                                                           cem=AgentConfig().cem.__class__(samples=8, iterations=1, elites=2)))
    assert agent.gripper_mode == "image"
    agent.reset({"subgoal_images": [img] * 3}, 6)  # no subgoal_states: nothing privileged
    obs = {"image": img, "ee_state": np.zeros(7, np.float32)}
    assert [float(agent.act(obs)[-1]) for _ in range(6)] == [-1.0, -1.0, 1.0, 1.0, 1.0, 1.0]
    wm_plain = tiny_world_model()  # no head: "auto" plans the gripper
    assert Agent(wm_plain, -np.ones(7), np.ones(7), AgentConfig(gripper_from_goal="auto")).gripper_mode is None
    assert Agent(wm_plain, -np.ones(7), np.ones(7), AgentConfig()).gripper_mode is None  # the default: planned
    with pytest.raises(ValueError, match="reads the goal's gripper through the readout head"):
        Agent(wm_plain, -np.ones(7), np.ones(7), AgentConfig(gripper_from_goal="image")).reset({"goal_image": img}, 4)


def test_the_gripper_follows_the_proposal_policys_command_toward_the_goal_image():
    """`gripper_from_goal=policy`: at each step the gripper is the proposal policy's call for this frame and the final
    goal image (close where it closes), and the planner's candidates are imagined with it."""

    class StubPolicy(torch.nn.Module):  # closes once the end-effector is low, as a learned policy would near the cube
        def forward(self, z, state, goal):  # [B, N, D], [B, S], [B, N, D] -> [B, 1, 7]
            a = torch.zeros(z.shape[0], 1, 7)
            a[..., -1] = torch.where(state[:, 2:3] < 0.05, 1.0, -1.0)
            return a

    wm = tiny_world_model()
    img = np.zeros((32, 32, 3), np.uint8)
    cfg = AgentConfig(gripper_from_goal="policy", cem=AgentConfig().cem.__class__(samples=8, iterations=1, elites=2))
    agent = Agent(wm, -np.ones(7), np.ones(7), cfg, policy=StubPolicy())
    agent.reset({"goal_image": img}, 4)
    high, low = np.array([0.5, 0, 0.2, 0, 0, 0, 0], np.float32), np.array([0.5, 0, 0.02, 0, 0, 0, 0], np.float32)
    grip = [float(agent.act({"image": img, "ee_state": s})[-1]) for s in (high, high, low, low)]
    assert grip == [-1.0, -1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="agent.proposal"):
        Agent(wm, -np.ones(7), np.ones(7), AgentConfig(gripper_from_goal="policy"))


def test_sub_goals_advance_when_the_world_model_says_the_current_one_is_reached_not_on_a_clock():
    """The default schedule moves on once `reached(ctx, goal)` says so (the distance head's calibrated threshold),
    however many steps that takes; the clock is an option."""
    wm = tiny_world_model()
    arrivals = {3, 5}  # the control steps at which the frame is at its current sub-goal
    step = {"n": 0}
    wm.reached = lambda ctx, goal: step["n"] in arrivals
    img = np.zeros((32, 32, 3), np.uint8)
    cem = AgentConfig().cem.__class__(samples=8, iterations=1, elites=2)
    agent = Agent(wm, -np.ones(7), np.ones(7), AgentConfig(cem=cem, use_subgoals=True))
    agent.reset({"subgoal_images": [img] * 3}, 60)
    obs = {"image": img, "ee_state": np.zeros(7, np.float32)}
    for n in range(8):
        step["n"] = n
        agent.act(obs)
    assert [r.goal_index for r in agent.records] == [0, 0, 0, 1, 1, 2, 2, 2]
    clock = Agent(wm, -np.ones(7), np.ones(7), AgentConfig(cem=cem, use_subgoals=True, subgoal_advance="clock", subgoal_steps=2))
    clock.reset({"subgoal_images": [img] * 3}, 60)
    for n in range(6):
        step["n"] = n
        clock.act(obs)
    assert [r.goal_index for r in clock.records] == [0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="subgoal_advance"):
        AgentConfig(subgoal_advance="sometimes")
