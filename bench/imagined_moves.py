"""Does the predictor imagine the robot moving the way an action moves it? From seeded starts of an env, each of nine
actions (standing still, and the largest move along eight directions of the first two action dims) is imagined one
step ahead by the world model and truly simulated by the env; the world model's readout head reads the robot's
position (its first two coordinates) off the imagined tokens, and the table compares the imagined move with the true
one. The true outcome comes from the simulator (evaluation only).

    python bench/imagined_moves.py --env vjepa_ac/PushT-v0 [--world-model default] [--seed 1000] [--starts 20]

Printed per world model (the learned one and nothing-moves): the least-squares slope of the imagined move on the true
move (1: the imagination moves the robot as far as it goes; 0: not at all), their correlation, and the mean error of
the imagined position against the true one, beside the head's error on the real frame after the move (its floor).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from vjepa_ac.environment import EnvConfig, make_env


def actions_ring(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """[9, A]: zero, then the largest move along eight directions of dims 0 and 1 (the rest zero)."""
    out = np.zeros((9, low.size), np.float32)
    for k in range(8):
        a = 2 * np.pi * k / 8
        out[k + 1, 0] = np.cos(a) * (high[0] if np.cos(a) > 0 else -low[0])
        out[k + 1, 1] = np.sin(a) * (high[1] if np.sin(a) > 0 else -low[1])
    return out


def measure(env, model, seeds: list[int]) -> dict:
    u = env.unwrapped
    acts = actions_ring(env.action_space.low, env.action_space.high)
    imagined, true, floor = [], [], []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        ctx = model.observe(obs)
        z = model.imagine(ctx, torch.as_tensor(acts[:, None]))  # [9, 1, N, D]
        read = model.energy.head(z[:, 0])[:, :2].numpy()  # [9, 2] the imagined robot position
        sim = u.simulate(acts[:, None], render=True)
        pos = sim["ee_state"][:, 0, :2]  # [9, 2] the true one
        real = model.energy.head(model.embed(sim["image"]))[:, :2].numpy()  # the head on the true next frames
        start = ctx.read[:2].numpy()
        imagined.append(read - start)
        true.append(pos - obs["ee_state"][:2])
        floor.append(np.abs(real - pos).mean())
        imagined[-1] = np.concatenate([imagined[-1], np.abs(read - pos).mean(1, keepdims=True)], 1)
    imag = np.concatenate(imagined)  # [S * 9, 3]: dx, dy, error
    tru = np.concatenate(true)  # [S * 9, 2]
    d_i, d_t = imag[:, :2].ravel(), tru.ravel()
    return {"slope": float(d_i @ d_t / (d_t @ d_t)), "correlation": float(np.corrcoef(d_i, d_t)[0, 1]),
            "imagined_error": float(imag[:, 2].mean()), "real_frame_error": float(np.mean(floor)),
            "true_move_mean": float(np.linalg.norm(tru, axis=1).mean())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="vjepa_ac/PushT-v0")
    p.add_argument("--world-model", default="default")
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--starts", type=int, default=20)
    args = p.parse_args()
    from vjepa_ac.planning.energy import EnergyConfig
    from vjepa_ac.planning.ladder import build_world_model

    torch.set_num_threads(2)
    env = make_env(EnvConfig(id=args.env))
    seeds = [args.seed + i for i in range(args.starts)]
    rows = {}
    for name in (args.world_model, "nothing-moves"):
        model = build_world_model(name, "default", EnergyConfig(), None, "cpu", False, env)
        rows[name] = measure(env, model, seeds)
    print(f"{args.env}, seeds {seeds[0]}-{seeds[-1]}, one step ahead (positions in the env's units)")
    print("| world model | slope | correlation | imagined position error | head on the real frame | mean true move |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['slope']:.2f} | {r['correlation']:.2f} | {r['imagined_error']:.3f} | {r['real_frame_error']:.3f} | "
              f"{r['true_move_mean']:.3f} |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
