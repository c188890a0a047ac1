"""A stable-worldmodel world model (LeWM, PLDM, prejepa) trained by its own script, planned by its own solver (CEM,
their `scripts/plan/config/solver/cem.yaml`) and cost (GoalMSE) through its own `WorldModelPolicy`, in our
`vjepa_ac/OGBenchCube-v0` or `vjepa_ac/PushT-v0` under stable-worldmodel's protocol for it, on the same seeds as our
`vjepa-ac eval` rows.

Why our env and not their `World.evaluate`: the model is trained on our logs (128-px frames of our camera settings,
our 7-D action per block of 5 of the benchmark's steps), so it must see those frames and act through that action; our
envs implement their protocol field by field (docs/benchmarks.md), and success is the benchmark's own check. Episodes,
starts and goals are identical to our rows' at the same seeds (`seed + i`, as `vjepa-ac eval`).

Their protocol's planning: horizon 5 blocks, receding horizon 5 (two plans in the 50-OGBench-step budget), CEM 300
samples x 30 iterations, top 30, warm start from the plan's unexecuted tail, one context frame (cube and Push-T alike).

`--solver ours` swaps their CEMSolver for ours (planners/cem.py) at the same budget, the model and cost unchanged;
bench/swm_solver_on_ours.py does the converse (their CEMSolver on our world model).

Run in the environment that holds stable-worldmodel, its CUDA-built torch (on the CPU) and this package
(bench/swm_side_by_side.sh builds it).
Usage: python bench/swm_plan.py CHECKPOINT.pt DATASET.h5 --seed 42000 --episodes 50 --out results.json
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import stable_pretraining as spt  # noqa: E402
import stable_worldmodel as swm  # noqa: E402
import torch  # noqa: E402
from sklearn import preprocessing  # noqa: E402
from torchvision.transforms import v2 as transforms  # noqa: E402

from vjepa_ac.environment import EnvConfig, make_env  # noqa: E402


class _OneEnv:
    """What their WorldModelPolicy asks of an env: how many run at once and the action space, batched and single."""

    def __init__(self, action_space: gym.spaces.Box):
        self.num_envs = 1
        self.single_action_space = action_space
        self.action_space = gym.spaces.Box(np.repeat(action_space.low[None], 1, 0), np.repeat(action_space.high[None], 1, 0))


class OurCEM:
    """Our CEM (planners/cem.py, the agent's defaults but for the budget) behind their Solver protocol, to plan their
    world model with their cost: it samples inside the env's bounds (in their standardized action units), around the
    middle of the bounds or the warm start, with a floor on the std, and returns the best sequence it has seen (theirs:
    unbounded samples around the logs' mean action, the final elites' mean). Dims the env holds fixed stay fixed."""

    def __init__(self, cost, samples: int, iterations: int, elites: int, low: np.ndarray, high: np.ndarray, seed: int):
        from planners import CEMConfig

        self.cost = cost
        self.low, self.high = torch.as_tensor(low, dtype=torch.float32), torch.as_tensor(high, dtype=torch.float32)  # [A]
        self.free = self.high > self.low  # [A]: the dims searched
        self.cfg = CEMConfig(samples=samples, iterations=iterations, elites=elites, init_std=0.6, min_std=0.05)
        self.generator = torch.Generator().manual_seed(seed)

    def configure(self, *, action_space, n_envs: int, config) -> None:
        self._config, self._n_envs = config, n_envs
        self._action_dim = int(np.prod(action_space.shape[1:]))
        if config.action_block != 1 or self._action_dim != self.low.numel():
            raise ValueError(f"OurCEM plans one {self.low.numel()}-D action per step; got action_block={config.action_block}, "
                             f"actions of {self._action_dim} dims")

    @property
    def action_dim(self) -> int:
        return self._action_dim

    @property
    def n_envs(self) -> int:
        return self._n_envs

    @property
    def horizon(self) -> int:
        return self._config.horizon

    def __call__(self, *args, **kwargs) -> dict:
        return self.solve(*args, **kwargs)

    @torch.inference_mode()
    def solve(self, info_dict: dict, init_action: torch.Tensor | None = None) -> dict:
        from planners import cem

        s, h = self.cfg.samples, self.horizon
        infos = {k: (v.unsqueeze(1).expand(v.shape[0], s, *v.shape[1:]) if torch.is_tensor(v)
                     else np.repeat(v[:, None], s, axis=1) if isinstance(v, np.ndarray) else v) for k, v in info_dict.items()}
        fixed = torch.where(self.free, torch.zeros_like(self.low), self.low)  # [A]

        def cost_fn(planned: torch.Tensor) -> torch.Tensor:  # [S, H, P] -> [S]
            full = fixed.expand(s, h, -1).clone()
            full[..., self.free] = planned
            return self.cost.get_cost(infos, full[None])[0]

        init = None
        if init_action is not None and init_action.shape[1] > 0:  # their warm start: the last plan's unexecuted tail
            tail = init_action[0].to(torch.float32)
            init = torch.cat([tail, tail[-1:].expand(h - tail.shape[0], -1)])[:, self.free]
        result = cem(cost_fn, h, self.low[self.free], self.high[self.free], init=init, cfg=self.cfg, generator=self.generator)
        plan = fixed.expand(h, -1).clone()
        plan[:, self.free] = result.actions
        return {"actions": plan[None], "costs": [result.cost]}


def action_scaler(dataset: str) -> preprocessing.StandardScaler:
    """Their solvers' action units: a scaler fit on the training set's logged actions [N, A] (rows with NaN dropped),
    as their eval_wm.py does. `dataset`: an HDF5 path (a relative name would be read as a hub id)."""
    ds = swm.data.load_dataset(str(Path(dataset).resolve()), keys_to_cache=["action"])
    actions = ds.get_col_data("action")
    return preprocessing.StandardScaler().fit(actions[~np.isnan(actions).any(axis=1)])


def build_policy(checkpoint: str, dataset: str, img_size: int, args) -> swm.policy.WorldModelPolicy:
    model = swm.wm.utils.load_pretrained(checkpoint).eval()
    model.requires_grad_(False)
    scaler = action_scaler(dataset)
    img = transforms.Compose([transforms.ToImage(), transforms.ToDtype(torch.float32, scale=True),
                              transforms.Normalize(**spt.data.dataset_stats.ImageNet), transforms.Resize(size=img_size)])
    cost = swm.planning.ShootingCostEvaluator(model, swm.planning.GoalMSE())
    if args.solver == "ours":
        env_space = args.action_space  # the env's [A] bounds, standardized as the scaler standardizes the logs
        low = (env_space.low - scaler.mean_) / scaler.scale_
        high = (env_space.high - scaler.mean_) / scaler.scale_
        solver = OurCEM(cost, args.samples, args.iterations, args.topk, low, high, args.seed)
    else:
        solver = swm.planning.solver.CEMSolver(cost=cost, batch_size=1, num_samples=args.samples, var_scale=1.0,
                                               n_steps=args.iterations, topk=args.topk, device="cpu", seed=args.seed)
    config = swm.PlanConfig(horizon=args.horizon, receding_horizon=args.receding_horizon, action_block=1)
    return swm.policy.WorldModelPolicy(solver=solver, config=config, process={"action": scaler},
                                       transform={"pixels": img, "goal": img})


def run_episode(env, policy, seed: int) -> dict:
    obs, info = env.reset(seed=seed)
    goal = info["goal_image"]  # [H, W, 3] uint8
    last_action = np.zeros((1, 1, env.action_space.shape[0]), np.float32)
    plan_s, steps, success = [], 0, False
    flush = True
    while True:
        info_dict = {"pixels": obs["image"][None, None], "goal": goal[None, None], "action": last_action}
        if flush:
            info_dict["_needs_flush"] = np.array([True])
            flush = False
        t0 = time.perf_counter()
        action = policy.get_action(info_dict)[0]  # [A], in the env's units
        plan_s.append(time.perf_counter() - t0)
        obs, _, terminated, truncated, info = env.step(action)
        last_action = action[None, None].astype(np.float32)
        steps += 1
        success = bool(info["success"])
        if terminated or truncated:
            break
    plans = [t for t in plan_s if t > 1e-2]  # the steps that ran the solver; the others pop the plan's next action
    return {"seed": seed, "success": success, "steps": steps, "plans": len(plans), "step_ms": [1000 * t for t in plan_s]}


def _run_seeds(job) -> list[dict]:
    """One worker: its own env, model and solver, a share of the seeds."""
    args, seeds = job
    torch.set_num_threads(args.threads)
    env = make_env(EnvConfig(id=args.env_id, kwargs=json.loads(args.env_kwargs)))
    args.action_space = env.action_space
    policy = build_policy(args.checkpoint, args.dataset, args.img_size, args)
    policy.set_env(_OneEnv(env.action_space))
    rows = []
    for seed in seeds:
        rows.append(run_episode(env, policy, seed))
        print(f"seed {seed}: success={rows[-1]['success']}, {rows[-1]['plans']} plans, "
              f"{np.mean(rows[-1]['step_ms']):.0f} ms per step", flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", help="a .pt that their save_pretrained wrote, config.json beside it")
    p.add_argument("dataset", help="the HDF5 the model was trained on (bench/swm_export.py): the action scaler's data")
    p.add_argument("--seed", type=int, default=42000)
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--img-size", type=int, default=128)
    p.add_argument("--horizon", type=int, default=5)
    p.add_argument("--receding-horizon", type=int, default=5)
    p.add_argument("--samples", type=int, default=300)
    p.add_argument("--iterations", type=int, default=30)
    p.add_argument("--topk", type=int, default=30)
    p.add_argument("--solver", choices=("theirs", "ours"), default="theirs",
                   help="their CEMSolver, or our CEM (planners/cem.py) behind their Solver protocol, at the same budget")
    p.add_argument("--workers", type=int, default=2, help="processes, each with its own env, model and solver")
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    p.add_argument("--env-id", default="vjepa_ac/OGBenchCube-v0", help="the benchmark env: vjepa_ac/OGBenchCube-v0 or vjepa_ac/PushT-v0")
    p.add_argument("--env-kwargs", default="{}", help="JSON options of the env, e.g. a visual factor of variation")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    # their loaders read a relative name as one under STABLEWM_HOME (or a hub id): a file given here is a path
    args.checkpoint, args.dataset = (str(Path(f).resolve()) if Path(f).exists() else f for f in (args.checkpoint, args.dataset))
    seeds = [args.seed + i for i in range(args.episodes)]
    chunks = [seeds[w::args.workers] for w in range(args.workers)]
    with ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn")) as pool:
        rows = [r for part in pool.map(_run_seeds, [(args, c) for c in chunks]) for r in part]
    rows.sort(key=lambda r: r["seed"])
    summary = {"checkpoint": args.checkpoint, "seeds": [args.seed, args.seed + args.episodes - 1],
               "success": sum(r["success"] for r in rows) / len(rows),
               # time per env step = all solver time over all steps (it replans every 5th step, not every step)
               "ms_per_step": float(np.mean([t for r in rows for t in r["step_ms"]])),
               "ms_per_plan": float(np.mean([t for r in rows for t in r["step_ms"] if t > 10])),
               "solver": {k: getattr(args, k) for k in ("solver", "horizon", "receding_horizon", "samples", "iterations", "topk")},
               "env_id": args.env_id, "env_kwargs": json.loads(args.env_kwargs), "episodes": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "episodes"}))


if __name__ == "__main__":
    main()
