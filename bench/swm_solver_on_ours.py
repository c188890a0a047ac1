"""stable-worldmodel's solvers planning our world model: `vjepa-ac eval` exactly as it runs, with the agent's search
done by their `CEMSolver`, `ICEMSolver` or `MPPISolver` instead of our CEM (planners/cem.py), at the eval's budget
(`agent.cem.samples`, `iterations`, `elites`: their num_samples, n_steps, topk; their other settings at their defaults).

What changes is the solver alone: the encoder, predictor, energy, warm start and env are the eval's. Their CEM samples
unbounded Gaussians in standardized action units (each dim's mean and std over the training logs' actions, as their
`WorldModelPolicy` standardizes with a scaler fit on the logs), starts at the logs' mean action with unit variance,
keeps the first sample at the mean, refits the top-k's mean and std, and returns the final mean; here each candidate is
mapped back to the env's units and clipped to its bounds before our energy scores it. Ours samples inside the bounds
around the previous plan with a floor on the std and returns the best sequence it has seen.

Run in the environment that holds stable-worldmodel and this package (bench/swm_side_by_side.sh builds it). Episodes
are split over `--workers` processes, each a `vjepa-ac eval` of its share of the seeds (results under OUT/part_K).
Usage: python bench/swm_solver_on_ours.py DATASET.h5 [--solver cem|icem|mppi] --out runs/theirs_on_ours env=pusht seed=48000 episodes=50
  DATASET.h5: the training logs in their layout (bench/swm_export.py), whose actions standardize the search
  then `vjepa-ac eval` overrides (env, seed, episodes, agent.cem.samples/iterations/elites, agent.horizon, ...)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402


def _override(overrides: list[str], key: str, default: str) -> str:
    for o in overrides:
        if o.startswith(key + "="):
            return o.split("=", 1)[1]
    return default


SOLVERS = {"cem": "CEMSolver", "icem": "ICEMSolver", "mppi": "MPPISolver"}


def their_solver_on(name: str, action_mean: np.ndarray, action_std: np.ndarray):
    """A drop-in for planners.cem (same arguments, a PlanResult back) that searches with their solver `name`."""
    import gymnasium as gym
    import stable_worldmodel as swm
    import torch

    from planners import PlanResult

    def their_solver(cost_fn, horizon, action_low, action_high, init=None, cfg=None, generator=None, device="cpu", prior=None):
        lo = torch.as_tensor(action_low, dtype=torch.float32).reshape(-1)  # [P], the planned dims
        hi = torch.as_tensor(action_high, dtype=torch.float32).reshape(-1)
        if action_mean.shape != lo.shape:
            raise ValueError(f"the logs' actions standardize {action_mean.shape[0]} planned dims; the agent plans {lo.numel()}")
        mu, sd = torch.as_tensor(action_mean), torch.as_tensor(action_std)

        class Cost:  # their Costable: (info_dict, candidates [1, S, H, P] standardized) -> costs [1, S]
            def get_cost(self, info_dict, candidates):
                actions = torch.maximum(torch.minimum(candidates[0] * sd + mu, hi), lo)  # [S, H, P], env units
                return cost_fn(actions)[None]

        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        solver = getattr(swm.planning.solver, SOLVERS[name])(cost=Cost(), batch_size=1, num_samples=cfg.samples, var_scale=1.0,
                                                             n_steps=cfg.iterations, topk=cfg.elites, device="cpu", seed=seed)
        solver.configure(action_space=gym.spaces.Box(-np.inf, np.inf, (1, lo.numel()), np.float32), n_envs=1,
                         config=swm.PlanConfig(horizon=horizon, receding_horizon=horizon, action_block=1))
        start = None if init is None else ((init.to(torch.float32) - mu) / sd)[None]  # [1, H, P] standardized
        out = solver.solve({"n_envs": torch.zeros(1)}, init_action=start)
        plan = torch.maximum(torch.minimum(out["actions"][0] * sd + mu, hi), lo)  # [H, P]
        std = out["var"][0][0] * sd  # their "var" is the elites' std
        return PlanResult(plan, float(out["costs"][0]), std, [])

    return their_solver


def _part(job) -> str:
    """One worker: `vjepa-ac eval` of a share of the seeds, its agent searching with their solver."""
    name, overrides, out, mean, std = job
    import vjepa_ac.planning.agent as agent_module
    from vjepa_ac.cli import run_command

    agent_module.cem = their_solver_on(name, np.asarray(mean, np.float32), np.asarray(std, np.float32))
    sys.argv = ["vjepa-ac eval", *overrides, "workers=1", "threads=1", f"out={out}"]
    run_command("eval")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset", help="the training logs in their HDF5 layout: their solver's standardized action units")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--solver", choices=sorted(SOLVERS), default="cem", help="which of their solvers searches")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("overrides", nargs="*", help="vjepa-ac eval overrides")
    args = p.parse_intermixed_args()
    from swm_plan import action_scaler  # bench/, beside this script

    scaler = action_scaler(args.dataset)
    free = scaler.var_ > 0  # the dims the logs move are the dims the agent plans (the others are held constant)
    mean, std = scaler.mean_[free], scaler.scale_[free]
    print(f"standardizing the planned dims {np.flatnonzero(free).tolist()}: mean {mean.round(4).tolist()}, std {std.round(4).tolist()}")

    seed = int(_override(args.overrides, "seed", "0"))
    episodes = int(_override(args.overrides, "episodes", "20"))
    rest = [o for o in args.overrides if not o.startswith(("seed=", "episodes="))]
    shares = np.array_split(np.arange(episodes), args.workers)
    jobs = [(args.solver, [*rest, f"seed={seed + int(s[0])}", f"episodes={len(s)}"], str(args.out / f"part_{k}"), mean.tolist(), std.tolist())
            for k, s in enumerate(shares) if len(s)]
    with ProcessPoolExecutor(len(jobs), mp_context=mp.get_context("spawn")) as pool:
        parts = list(pool.map(_part, jobs))
    rows = [json.loads(f.read_text()) for part in parts for f in sorted((Path(part) / "episodes").glob("episode_*.json"))]
    ms = [t for r in rows for t in r["plan_ms"]]
    summary = {"seeds": [seed, seed + episodes - 1], "episodes": len(rows), "successes": int(sum(r["success"] for r in rows)),
               "ms_per_step_median": float(np.median(ms)), "solver": f"stable-worldmodel {SOLVERS[args.solver]}", "overrides": rest,
               "standardized_by": {"dataset": args.dataset, "mean": mean.tolist(), "std": std.tolist()}}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
