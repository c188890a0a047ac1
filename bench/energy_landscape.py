"""Is "closer in embedding" closer in space? The planning energy of real frames against the true distance to goal.

    python bench/energy_landscape.py [--scenes 6] [--poses 30] [--encoder default|DIR --predictor default|DIR]

1. Global: in each reach scene, the arm is posed at random points within 20 cm of the goal (`set_arm`), each view is
   encoded, and the Spearman correlation between its energy to the goal image and its true distance is printed, for
   the L1 and L2 energies, raw pixels, and 2x2-pooled patches.
2. Local: from each scene's start, the 27 one-step moves (dx, dy, dz in {-5, 0, 5} cm) are executed in the simulator;
   it prints whether the move with the lowest true-frame energy brings the hand closer, and how well the predictor's
   energies for the same moves track the true-frame ones.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

from envs import make_panda
from vjepa_ac.encoder import load_encoder
from vjepa_ac.train import load_predictor
from vjepa_ac.world_model import LatentWorldModel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=6)
    ap.add_argument("--poses", type=int, default=30)
    ap.add_argument("--encoder", default="default")
    ap.add_argument("--predictor", default="default", help="trained on that encoder's features")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    env = make_panda("reach")
    wm = LatentWorldModel(load_encoder(args.encoder), load_predictor(args.predictor))
    rng = np.random.default_rng(0)
    glob: dict[str, list[float]] = {k: [] for k in ("l1", "l2", "pixels", "l1 pooled 2x2")}
    closer, track = 0, []
    for seed in range(args.scenes):
        obs, info = env.reset(seed=seed)
        goal_pos, goal_img = info["goal"]["position"], info["goal_image"]
        imgs, dist = [], []
        for _ in range(args.poses):
            p = goal_pos + rng.uniform(-0.2, 0.2, 3)
            p[2] = np.clip(p[2], 0.05, 0.4)
            imgs.append(env.render_configuration(lambda e: e.set_arm(p, np.zeros(3))))
            dist.append(float(np.linalg.norm(p - goal_pos)))
        z = wm.embed(np.stack(imgs))  # [P, N, D]
        g = wm.goal(goal_img).z  # [N, D]
        grid = wm.predictor.cfg.grid

        def pool(x):
            return F.avg_pool2d(x.reshape(-1, grid, grid, x.shape[-1]).permute(0, 3, 1, 2), 2).flatten(2)

        energies = {"l1": (z - g).abs().mean((1, 2)), "l2": (z - g).pow(2).mean((1, 2)),
                    "pixels": torch.from_numpy(np.abs(np.stack(imgs).astype(float) - goal_img.astype(float)).mean((1, 2, 3))),
                    "l1 pooled 2x2": (pool(z) - pool(g[None])).abs().mean((1, 2))}
        for k, e in energies.items():
            glob[k].append(float(spearmanr(e.numpy(), dist)[0]))
        # local: the 27 one-step moves, executed for real and imagined by the predictor
        moves = [np.array([dx, dy, dz, 0, 0, 0, -1], np.float32) for dx, dy, dz in itertools.product([-0.05, 0, 0.05], repeat=3)]
        ctx, snap, goal = wm.observe(obs), env.snapshot(), wm.goal(goal_img)
        true_e, d_after = [], []
        for a in moves:
            o, _, _, _, inf = env.step(a)
            env.restore(snap)
            env.steps = 0
            true_e.append(wm.distance(wm.observe(o), goal))
            d_after.append(inf["distance"])
        pred_e = wm.cost(ctx, goal, torch.from_numpy(np.stack(moves))[:, None]).numpy()
        closer += int(d_after[int(np.argmin(true_e))] < info["distance"])
        track.append(float(np.corrcoef(pred_e, true_e)[0, 1]))
    print(f"{args.scenes} reach scenes x {args.poses} random arm poses within 20 cm of the goal")
    print("Spearman(energy of the real frame, true distance to goal):")
    for k, v in glob.items():
        print(f"  {k:14s} mean {np.mean(v):.3f}   per scene {np.round(v, 2).tolist()}")
    print(f"one-step moves: the lowest true-frame energy brings the hand closer in {closer}/{args.scenes} scenes")
    print(f"predictor energy vs true-frame energy over the 27 moves: correlation per scene {np.round(track, 2).tolist()}")


if __name__ == "__main__":
    main()
