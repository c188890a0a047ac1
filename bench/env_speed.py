"""Env steps per second, 128-px rendering included, for every registered Panda task (target: >= 15 steps/s).

    python bench/env_speed.py [--steps 200] [--size 128]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import envs

TARGET = 15.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--size", type=int, default=128)
    args = ap.parse_args()
    print(f"| env | steps/s (step + {args.size}-px render) | vs target {TARGET:g} | reset ms (goal image incl.) | physics ms | render ms | IK ms |")
    print("|---|---|---|---|---|---|---|")
    for env_id in envs.PANDA_ENV_IDS:
        env = gym.make(env_id, image_height=args.size, image_width=args.size)
        u = env.unwrapped
        rng = np.random.default_rng(0)
        env.reset(seed=0)
        t0 = time.perf_counter()
        n_resets = 5
        for s in range(n_resets):
            env.reset(seed=s)
        reset_ms = (time.perf_counter() - t0) / n_resets * 1e3
        t0 = time.perf_counter()
        done = 0
        while done < args.steps:
            _, _, term, trunc, _ = env.step(rng.uniform(-1, 1, 7).astype(np.float32) * u.action_space.high)
            done += 1
            if term or trunc:
                env.reset(seed=done)  # counted in the rate, as in a real rollout (and timed alone above)
        rate = args.steps / (time.perf_counter() - t0)
        # the parts of one step
        import mujoco

        t = time.perf_counter()
        for _ in range(20):
            mujoco.mj_step(u.model, u.data, nstep=u.n_substeps)
        phys = (time.perf_counter() - t) / 20 * 1e3
        t = time.perf_counter()
        for _ in range(20):
            u.render_image()
        rend = (time.perf_counter() - t) / 20 * 1e3
        t = time.perf_counter()
        for _ in range(20):
            u.ik.solve(u.data.qpos.copy(), u.tcp_pos + 0.02, u.tcp_mat)
        ik = (time.perf_counter() - t) / 20 * 1e3
        print(f"| {env_id} | {rate:.1f} | {rate / TARGET:.2f}x | {reset_ms:.0f} | {phys:.1f} | {rend:.1f} | {ik:.1f} |")
        env.close()


if __name__ == "__main__":
    main()
