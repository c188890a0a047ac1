"""One evaluation episode: the policy built from the settings (the planning agent, random actions or the scripted
expert), run closed-loop in the env from a seeded reset, recorded as a result row (and video frames, a Rerun
recording when asked)."""

from __future__ import annotations

import math

import numpy as np

POLICIES = ("planner", "random", "expert")


class RandomPolicy:
    """Uniform random actions on the agent's planned dims (the rest zero): the floor of the table."""

    def __init__(self, low, high, dims: list[int]):
        self.low, self.high, self.dims = np.asarray(low, np.float32), np.asarray(high, np.float32), list(dims)

    def reset(self, obs, info, rng: np.random.Generator) -> None:
        self.rng = rng

    def act(self, obs) -> np.ndarray:
        a = np.zeros_like(self.low)
        a[self.dims] = self.rng.uniform(self.low[self.dims], self.high[self.dims])
        return a


def build_agent(cfg, env):
    """The planning agent of an EvalConfig, with its world model (ladder.py), acting in `env`."""
    from vjepa_ac.planning.agent import Agent
    from vjepa_ac.planning.ladder import build_world_model

    model = build_world_model(cfg.world_model, cfg.encoder, cfg.energy, cfg.oracle, cfg.device, cfg.bf16, env)
    policy = subgoal = None
    if cfg.agent.proposal or cfg.agent.latent_subgoals:
        from vjepa_ac.models.proposals import load_proposal
        from vjepa_ac.models.weights import robot_of

        encoder, robot = model.encoder, robot_of(env)
        if encoder is None:
            raise ValueError(f"agent.proposal and agent.latent_subgoals read tokens; world_model={cfg.world_model} has no encoder")
        policy = load_proposal(cfg.agent.proposal, encoder, "policy", robot) if cfg.agent.proposal else None
        subgoal = load_proposal(cfg.agent.latent_subgoals, encoder, "subgoal", robot) if cfg.agent.latent_subgoals else None
    return Agent(model, env.action_space.low, env.action_space.high, cfg.agent, cfg.device, policy, subgoal)


def task_name(env_id: str) -> str:
    """The task a result row names: the Panda task's name, or the env id of any other env."""
    import envs

    return envs.ENV_IDS.get(env_id, env_id)


def failed_row(cfg, index: int, error: str) -> dict:
    """The result row of an episode that could not finish."""
    return {"episode": index, "seed": cfg.seed + index, "task": task_name(cfg.env.id), "success": False, "ever_success": False,
            "steps": 0, "final_distance": None, "min_distance": None, "diverged": False, "plan_ms_median": None,
            "plan_ms": [], "nan_plans": 0, "error": error}


def _finite_or_none(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def run_episode(cfg, index: int, env, agent=None, on_step=None, decoder=None) -> tuple[dict, list[np.ndarray]]:
    """Run episode `index` of an EvalConfig in `env` (with `agent` for the planner policy); returns its result row and,
    if asked for, the video frames (camera | current goal). `decoder` draws imagined frames into a Rerun recording."""
    u = env.unwrapped
    max_steps = getattr(u, "max_episode_steps", None) or env.spec.max_episode_steps
    obs, info = env.reset(seed=cfg.seed + index)
    rng = np.random.default_rng([cfg.seed, index])
    if cfg.policy == "planner":
        agent.reset(info, max_steps, index)
        policy = agent
    elif cfg.policy == "random":
        policy = RandomPolicy(env.action_space.low, env.action_space.high, cfg.agent.plan_dims)
        policy.reset(obs, info, rng)
    else:
        from envs.policies import make_policy

        policy = make_policy("expert", u.task.name)
        policy.reset(obs, info, rng)
    goals = info.get("subgoal_images") if cfg.agent.use_subgoals and "subgoal_images" in info else [info.get("goal_image")]
    want_video = index < cfg.videos
    recorder = None
    if cfg.rerun and cfg.policy == "planner" and index < cfg.rerun_episodes:
        from vjepa_ac.viz import EpisodeRecorder

        recorder = EpisodeRecorder(cfg.rerun, f"episode_{index:04d}", decoder=decoder, latent=agent.latent)
    try:
        if recorder is not None:
            agent.keep_samples = True  # candidate paths are drawn from them
            recorder.start(obs, info)
        frames, distances, plan_ms = [], [], []
        success = ever = diverged = False
        lenient = None  # the task's criterion before 2026-12, where it has one (envs/tasks.py)
        steps = 0
        distance = float(info.get("distance", float("nan")))
        nan_plans = 0
        while True:
            action = policy.act(obs)
            if cfg.policy == "planner":
                rec = agent.records[-1]
                plan_ms.append(rec.plan_ms)
                nan_plans += int(not math.isfinite(rec.plan.cost))
            if want_video:
                g = goals[agent.records[-1].goal_index] if cfg.policy == "planner" else goals[-1]
                frames.append(np.concatenate([obs["image"], g if g is not None else np.zeros_like(obs["image"])], axis=1))
            prev_obs = obs
            obs, _, terminated, truncated, info = env.step(action)
            if recorder is not None:
                recorder.step(steps, prev_obs, agent, goals[agent.records[-1].goal_index], obs, info)
            steps += 1
            if on_step is not None:
                on_step(obs, info)
            diverged = diverged or bool(info.get("diverged", False))
            success = bool(info.get("success", False))
            ever = ever or success
            if "lenient_success" in info:
                lenient = bool(lenient) or bool(info["lenient_success"])
            if not diverged:
                distance = float(info.get("distance", float("nan")))
            distances.append(distance)
            if terminated or truncated or (success and cfg.stop_on_success) or steps >= (max_steps or 10**9):
                break
        if want_video:
            frames.append(np.concatenate([obs["image"], frames[-1][:, obs["image"].shape[1]:]], axis=1))
        if recorder is not None:
            recorder.end(steps, obs, agent)
            recorder.close()
    finally:
        if recorder is not None:
            agent.keep_samples = False
    row = {
        "episode": index,
        "seed": cfg.seed + index,
        "task": getattr(getattr(u, "task", None), "name", task_name(cfg.env.id)),
        "success": success,
        "ever_success": ever,
        "lenient_success": lenient,
        "steps": steps,
        "final_distance": _finite_or_none(distance),
        "min_distance": _finite_or_none(min((d for d in distances if math.isfinite(d)), default=float("nan"))),
        "diverged": diverged,
        "plan_ms_median": float(np.median(plan_ms)) if plan_ms else None,
        "plan_ms": [round(x, 2) for x in plan_ms],
        "nan_plans": nan_plans,
        "error": None,
    }
    return row, frames
