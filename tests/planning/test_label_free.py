"""The shipped default plans on what a real robot gives it: a frame, its own state and goal images. Nothing
privileged (the simulator's object poses, a goal's true state) is read, and the headline is guarded on seeded
episodes."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401
from vjepa_ac import Agent, AgentConfig, EnergyConfig, build_world_model
from vjepa_ac.planning.truth import OracleConfig

PRIVILEGED_INFO = ("goal_state", "subgoal_states", "goal")


class RealRobotView(gym.Wrapper):
    """Only what a real robot's planner sees: the camera frame and the robot's own state; goal and sub-goal images."""

    def _strip(self, obs):
        return {"image": obs["image"], "ee_state": obs["ee_state"]}

    def reset(self, **kw):
        obs, info = self.env.reset(**kw)
        return self._strip(obs), {k: v for k, v in info.items() if k not in PRIVILEGED_INFO}

    def step(self, action):
        obs, r, term, trunc, info = self.env.step(action)
        return self._strip(obs), r, term, trunc, info


@pytest.mark.parametrize("subgoals", [False, True], ids=["one-goal", "subgoal-images"])
def test_the_default_agent_plans_without_anything_privileged(subgoals):
    env = RealRobotView(gym.make("vjepa_ac/PandaPickPlace-v0", camera="wide+wrist", max_episode_steps=3))
    model = build_world_model("default", "default", EnergyConfig(), OracleConfig(), "cpu", env=env)
    cfg = AgentConfig(use_subgoals=subgoals)
    cfg.cem.samples, cfg.cem.iterations, cfg.cem.elites = 8, 1, 2
    agent = Agent(model, env.action_space.low, env.action_space.high, cfg)
    obs, info = env.reset(seed=0)
    assert "privileged" not in obs and "goal_state" not in info and "subgoal_states" not in info
    agent.reset(info, 3)
    assert len(agent.goals) == (5 if subgoals else 1)
    for _ in range(3):
        action = agent.act(obs)
        assert np.all(action >= env.action_space.low) and np.all(action <= env.action_space.high)
        obs, *_ = env.step(action)
    assert agent.gripper_mode is None, "the gripper is planned"
    assert model.energy.head.meta["labels"] == [] and model.energy.distance.meta["labels"].startswith("none")


@pytest.mark.slow
@pytest.mark.parametrize("policy,task,k,n", [("planner", "vjepa_ac/PandaReach-v0", 3, 4),
                                             ("policy", "vjepa_ac/PandaGrasp-v0", 2, 4)],
                         ids=["default-reach", "default-policy-one-goal-grasp"])
def test_the_shipped_default_succeeds_in_enough_seeded_episodes(tmp_path, policy, task, k, n):
    """The shipped default reaches, and its goal-conditioned policy grasps from one goal image (V-JEPA 2-AC's
    protocol), in at least k of n episodes of the tuning seeds (10000 on; docs/results.md)."""
    from vjepa_ac import EnvConfig, EvalConfig
    from vjepa_ac.eval.evaluate import evaluate

    cfg = EvalConfig(env=EnvConfig(id=task), episodes=n, seed=10000, workers=2, videos=0, out=str(tmp_path / "e"), progress=False)
    if policy == "policy":
        cfg.planner, cfg.agent.proposal = "policy", "default"
    s = evaluate(cfg)
    assert s["errors"] == 0 and s["successes"] >= k, s
    named = {"planner": ("temporal distance + readout", "planned"), "policy": ("none (the policy acts alone)", "policy")}[policy]
    assert (s["protocol"]["energy"], s["protocol"]["gripper"]) == named and s["protocol"]["trained"] == "no labels", s["protocol"]
