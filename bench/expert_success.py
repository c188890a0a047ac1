"""Scripted-expert success rate per task over seeded episodes (target: >= 95 % of 100 per task).

    python bench/expert_success.py [--episodes 100] [--workers 2] [--tasks reach,grasp,...,reach_site,lift_brick,cube_single] [--seed 0]

Images are rendered at 32 px and goal images skipped: the experts read privileged state, so pixels do not change
their success, only the time the run takes.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

import numpy as np

TASKS = ["reach", "grasp", "reach_with_object", "pick_place", "reach_site", "lift_brick"]  # the Panda's, the Jaco's


def run(job: tuple[str, int]) -> tuple[str, int, bool, int, bool]:
    import envs
    from envs.policies import expert_for

    task, seed = job
    if task not in _ENVS:
        make = (envs.make_panda if task in envs.PANDA_ENV_IDS.values() else
                envs.make_ogbench if task in envs.OGBENCH_ENV_IDS.values() else envs.make_jaco)
        _ENVS[task] = make(task, image_height=32, image_width=32, render_goal=False)
    env = _ENVS[task]
    obs, info = env.reset(seed=seed)
    policy = expert_for(task)
    policy.reset(obs, info, np.random.default_rng(seed))
    diverged = False
    for step in range(1, env.max_episode_steps + 1):
        obs, _, term, trunc, info = env.step(policy.act(obs))
        diverged = diverged or info["diverged"]
        if info["success"] or term or trunc:
            break
    return task, seed, bool(info["success"]), step, diverged


_ENVS: dict = {}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return c - h, c + h


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--seed", type=int, default=0, help="first seed")
    args = ap.parse_args()
    tasks = args.tasks.split(",")
    jobs = [(t, s) for t in tasks for s in range(args.seed, args.seed + args.episodes)]
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(args.workers) as pool:
        results = pool.map(run, jobs, chunksize=10)
    wall = time.perf_counter() - t0
    print("| task | success | 95 % Wilson interval | mean steps (successes) | diverged | failed seeds |")
    print("|---|---|---|---|---|---|")
    for t in tasks:
        rs = [r for r in results if r[0] == t]
        k = sum(r[2] for r in rs)
        lo, hi = wilson(k, len(rs))
        steps = np.mean([r[3] for r in rs if r[2]]) if k else float("nan")
        fails = [r[1] for r in rs if not r[2]]
        print(f"| {t} | {k}/{len(rs)} ({100 * k / len(rs):.0f} %) | {100 * lo:.0f}-{100 * hi:.0f} % | {steps:.1f} | {sum(r[4] for r in rs)} | {fails[:10]} |")
    print(f"\n{len(jobs)} episodes in {wall:.0f} s with {args.workers} workers")


if __name__ == "__main__":
    main()
