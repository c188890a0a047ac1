"""Is "closer in embedding" closer in space? The planning energy of real frames against the true distance to goal.

    python bench/energy_landscape.py [--scenes 6] [--poses 30] [--encoder default|DIR --predictor default|DIR]
                                     [--path-episodes 20] [--camera wide|workspace] [--skip-global]

1. Global: in each reach scene, the arm is posed at random points within 20 cm of the goal (`set_arm`), each view is
   encoded, and the Spearman correlation between its energy to the goal image and its true distance is printed, for
   the L1 and L2 energies, raw pixels, and 2x2-pooled patches.
2. Local: from each scene's start, the 27 one-step moves (dx, dy, dz in {-5, 0, 5} cm) are executed in the simulator;
   it prints whether the move with the lowest true-frame energy brings the hand closer, and how well the predictor's
   energies for the same moves track the true-frame ones.
3. Along the expert's path: for each task, the scripted expert's successful episodes (seeds 0..path-episodes-1), the
   L1 energy of every real frame to the goal image; it prints the mean energy at the start, at the end of each of
   the expert's phases and at the end, the share of steps on which the energy falls, and the largest rise (the
   highest the energy climbs above the lowest it has been so far on the path: a barrier a short-sighted planner
   stops at). With sub-goals (grasp, pick-and-place) the same for the energy to the sub-goal of each phase.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

from envs import make_panda
from envs.policies import expert_for
from vjepa_ac.models.encoder import load_encoder
from vjepa_ac.models.predictor import load_predictor
from vjepa_ac.planning.world_model import LatentWorldModel


PHASE_SUBGOAL = {  # the sub-goal (index into subgoal_images) a phase of the expert heads for
    "grasp": {"approach": 0, "descend": 0, "close": 1, "lift": 2, "done": 2},
    "pick_place": {"approach": 0, "descend": 0, "close": 1, "lift": 2, "carry": 3, "lower": 4, "release": 4, "retreat": 4},
}


def expert_phase(task: str, policy) -> str:
    """The scripted expert's current phase (reach and carry have one)."""
    if task == "grasp":
        return policy.seq.phase
    if task == "pick_place":
        return policy.seq.phase if policy.phase == "grasp" else policy.phase
    return "move"


def path_stats(e: list[float]) -> tuple[float, float]:
    """Share of steps on which the energy falls, and the largest rise above the lowest energy so far."""
    e = np.asarray(e)
    falls = float(np.mean(np.diff(e) < 0)) if len(e) > 1 else float("nan")
    return falls, float(np.max(e - np.minimum.accumulate(e)))


def expert_paths(wm: LatentWorldModel, episodes: int, camera: str | None) -> None:
    """Part 3: the energy of real frames along the scripted expert's successful paths, per task."""
    print(f"\nenergy (L1, real frames) along the scripted expert's path, seeds 0-{episodes - 1} per task:")
    for task in ("reach", "grasp", "reach_with_object", "pick_place"):
        env = make_panda(task, **({"camera": camera} if camera else {}))
        stats: dict[str, list] = {}  # protocol -> [(falls, rise)]
        at_end: dict[str, dict[str, list[float]]] = {}  # protocol -> phase -> energies at its last step
        ok = 0
        for seed in range(episodes):
            obs, info = env.reset(seed=seed)
            reset_info = info
            policy = expert_for(task)
            policy.reset(obs, info, np.random.default_rng(seed))
            frames, names = [obs["image"]], ["start"]
            for _ in range(env.max_episode_steps):
                obs, _, term, trunc, info = env.step(policy.act(obs))
                frames.append(obs["image"])
                names.append(expert_phase(task, policy))
                if info["success"] or term or trunc:
                    break
            if not info["success"]:
                continue
            ok += 1
            z = wm.embed(np.stack(frames))  # [T, N, D]
            protocols = {"goal image": [reset_info["goal_image"]] * len(frames)}
            if task in PHASE_SUBGOAL:
                sub = reset_info["subgoal_images"]
                first = PHASE_SUBGOAL[task][names[1]]
                protocols["sub-goals"] = [sub[PHASE_SUBGOAL[task].get(n, first)] for n in names]
            for proto, goal_imgs in protocols.items():
                g = wm.embed(np.stack(goal_imgs))  # [T, N, D]: each frame against the goal it heads for
                e = (z - g).abs().mean((1, 2)).tolist()
                # sub-goals: steps and rises are judged within each sub-goal's stretch (a switch of goal is a jump)
                idx = [PHASE_SUBGOAL[task].get(n, -1) for n in names] if proto == "sub-goals" else [0] * len(e)
                runs = [[x for x, k in zip(e, idx) if k == j] for j in dict.fromkeys(idx)]
                falls = np.mean([f for r in runs if len(r) > 1 for f in (np.diff(r) < 0)])
                stats.setdefault(proto, []).append((falls, max(path_stats(r)[1] for r in runs)))
                ends = at_end.setdefault(proto, {})
                for i, n in enumerate(names):
                    if i == len(names) - 1 or names[i + 1] != n:
                        ends.setdefault(n, []).append(e[i])
                ends.setdefault("end", []).append(e[-1])
        print(f"  {task} ({ok} successful expert episodes)")
        for proto, st in stats.items():
            falls, rises = np.array(st).T
            phases = "  ".join(f"{n} {np.mean(v):.3f}" for n, v in at_end[proto].items())
            print(f"    {proto:10s} {phases}")
            print(f"    {'':10s} falls on {100 * falls.mean():.0f} % of steps; largest rise above the lowest so far: "
                  f"mean {rises.mean():.3f}, max {rises.max():.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=6)
    ap.add_argument("--poses", type=int, default=30)
    ap.add_argument("--encoder", default="default")
    ap.add_argument("--predictor", default="default", help="trained on that encoder's features")
    ap.add_argument("--path-episodes", type=int, default=20, help="expert episodes per task for part 3 (0: skip it)")
    ap.add_argument("--camera", default=None, help="the env's camera framing the encoder was trained on (wide, workspace)")
    ap.add_argument("--skip-global", action="store_true", help="only part 3")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    wm = LatentWorldModel(load_encoder(args.encoder), load_predictor(args.predictor))
    if not args.skip_global:
        global_and_local(wm, args.scenes, args.poses, args.camera)
    if args.path_episodes:
        expert_paths(wm, args.path_episodes, args.camera)


def global_and_local(wm: LatentWorldModel, scenes: int, poses: int, camera: str | None) -> None:
    """Parts 1 and 2, on reach scenes."""
    env = make_panda("reach", **({"camera": camera} if camera else {}))
    rng = np.random.default_rng(0)
    glob: dict[str, list[float]] = {k: [] for k in ("l1", "l2", "pixels", "l1 pooled 2x2")}
    closer, track = 0, []
    for seed in range(scenes):
        obs, info = env.reset(seed=seed)
        goal_pos, goal_img = info["goal"]["position"], info["goal_image"]
        imgs, dist = [], []
        for _ in range(poses):
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
    print(f"{scenes} reach scenes x {poses} random arm poses within 20 cm of the goal")
    print("Spearman(energy of the real frame, true distance to goal):")
    for k, v in glob.items():
        print(f"  {k:14s} mean {np.mean(v):.3f}   per scene {np.round(v, 2).tolist()}")
    print(f"one-step moves: the lowest true-frame energy brings the hand closer in {closer}/{scenes} scenes")
    print(f"predictor energy vs true-frame energy over the 27 moves: correlation per scene {np.round(track, 2).tolist()}")


if __name__ == "__main__":
    main()
