"""A screen that predicts an energy's planning success in minutes, before a 30-minute table.

    python bench/energy_screen.py [--episodes 8] [--seed 7000] [--tasks grasp,pick_place] [--encoder default]
                                  [--predictor default] [--head default] [--alternatives 8] [--every 2] [--camera wide]

Along the scripted expert's successful grasps and pick-and-places (fresh seeds, `--seed` on), each energy is scored
against the sub-goal the expert is heading for (the env's sub-goal images and their true states), three ways:

- rho: the Spearman correlation between the energy of the real state and the true number of steps left until the
  expert finishes that sub-goal's stretch (per stretch of at least 3 steps, averaged; 1 is perfect);
- falls: the share of the expert's steps on which the energy falls (every step of the expert is progress);
- move rank: at every `--every`-th step, the expert's own next move against `--alternatives` random one-step moves
  (uniform on the planned dims x, y, z, yaw and gripper, as the random policy draws them): the share of the random
  moves that the energy scores worse than the expert's. This is the comparison a sampling planner makes.

Energies (rungs of the ladder): `sim+state` the unshaped true-state distance (the ceiling), `sim+pixels` the raw-pixel
L1 (the floor), `sim+image` the encoder's token L1, `sim+image/head` the goal-distance head on real tokens; and the
learned model's versions of the last two, on the predictor's imagined tokens of each move (`default`,
`default/head`: the energy a learned-model plan sees). True-dynamics energies score the rendered outcome of each move
(`PandaEnv.simulate`), learned ones the predictor's imagination from the real frame before it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).parent))
from energy_landscape import PHASE_SUBGOAL, expert_phase  # noqa: E402

from envs import make_panda  # noqa: E402
from envs.policies import expert_for  # noqa: E402
from vjepa_ac.world_model import pixel_l1, state_l1, state_vector  # noqa: E402


def energies_of(outcome: dict, goal: dict, models: dict) -> dict[str, np.ndarray]:
    """Every energy [M] of M outcomes to one sub-goal.

    outcome: "image" [M, H, W, 3], "ee_state" [M, 7], "object_pos" [M, 3], and "z_pred" [M, N, D] (the predictor's
    imagination of the same moves; None along the path's first frame); goal: "image", "state" [12], "z" [N, D]."""
    enc, head = models["encoder"], models.get("head")
    x = state_vector(outcome["ee_state"], outcome["object_pos"])
    z = enc.embed_images(outcome["image"])  # [M, N, D]
    out = {"sim+state": state_l1(x, goal["state"]).numpy(), "sim+pixels": pixel_l1(outcome["image"], goal["image"]).numpy(),
           "sim+image": (z - goal["z"]).abs().mean((1, 2)).numpy()}
    if head is not None:
        out["sim+image/head"] = head.energy(z, goal["z"]).numpy()
    zp = outcome.get("z_pred")
    if zp is not None:
        out["default"] = (zp - goal["z"]).abs().mean((1, 2)).numpy()
        if head is not None:
            out["default/head"] = head.energy(zp, goal["z"]).numpy()
    return out


def imagine(models: dict, image: np.ndarray, ee_state: np.ndarray, actions: np.ndarray) -> torch.Tensor:
    """The predictor's tokens [M, N, D] after each one-step action [M, 7] from one real frame."""
    z0 = models["encoder"].embed_images(image[None])  # [1, N, D]
    m = len(actions)
    s0 = torch.as_tensor(ee_state, dtype=torch.float32)[None].expand(m, -1)
    return models["predictor"].rollout(z0.expand(m, -1, -1), s0, torch.as_tensor(actions, dtype=torch.float32)[:, None])[:, 0].float()


def screen_task(task: str, models: dict, args) -> dict[str, dict[str, list]]:
    env = make_panda(task, **({"camera": args.camera} if args.camera else {}))
    u = env.unwrapped
    rng = np.random.default_rng(args.seed)
    low, high = env.action_space.low, env.action_space.high
    dims = [0, 1, 2, 5, 6]
    res: dict[str, dict[str, list]] = {}
    done = 0
    for seed in range(args.seed, args.seed + 10 * args.episodes):
        if done == args.episodes:
            break
        obs, info = env.reset(seed=seed)
        goals = [{"image": im, "state": state_vector(st["ee_state"], st["object_pos"]),
                  "z": models["encoder"].embed_images(im[None])[0]} for im, st in zip(info["subgoal_images"], info["subgoal_states"])]
        policy = expert_for(task)
        policy.reset(obs, info, np.random.default_rng(seed))
        path: list[tuple[int, dict[str, float]]] = []  # (sub-goal, energies of the real state) per step
        ranks: list[dict[str, float]] = []
        prev = None
        for t in range(u.max_episode_steps):
            action = policy.act(obs)
            k = PHASE_SUBGOAL[task].get(expert_phase(task, policy), 0)
            if t % args.every == 0:  # the expert's move against random ones, each scored by every energy
                alt = np.zeros((args.alternatives, 7), np.float32)
                alt[:, dims] = rng.uniform(low[dims], high[dims], (args.alternatives, len(dims)))
                moves = np.concatenate([action[None], alt])  # [1 + K, 7]
                sim = u.simulate(moves[:, None], render=True)
                out = {"image": sim["image"], "ee_state": sim["ee_state"][:, -1], "object_pos": sim["object_pos"][:, -1],
                       "z_pred": imagine(models, obs["image"], obs["ee_state"], moves)}
                e = energies_of(out, goals[k], models)
                ranks.append({n: float(np.mean(v[1:][~sim["diverged"][1:]] > v[0])) for n, v in e.items()})
            here = {"image": obs["image"][None], "ee_state": obs["ee_state"][None], "object_pos": obs["privileged"]["object_pos"][None],
                    "z_pred": imagine(models, prev[0], prev[1], prev[2][None]) if prev is not None else None}
            path.append((k, {n: float(v[0]) for n, v in energies_of(here, goals[k], models).items()}))
            prev = (obs["image"], obs["ee_state"], action)
            obs, _, term, trunc, info = env.step(action)
            if info["success"] or term or trunc:
                break
        if not info["success"]:
            continue
        done += 1
        names = [n for n in path[-1][1]]
        for n in names:
            r = res.setdefault(n, {"rho": [], "falls": [], "rank": []})
            r["rank"] += [x[n] for x in ranks if n in x]
            for k in dict.fromkeys(j for j, _ in path):
                e = np.array([v[n] for j, v in path if j == k and n in v])
                if len(e) >= 3:
                    left = np.arange(len(e))[::-1]  # steps left in this stretch
                    r["rho"].append(float(spearmanr(e, left)[0]))
                if len(e) >= 2:
                    r["falls"] += (np.diff(e) < 0).tolist()
    env.close()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=8, help="successful expert episodes per task")
    ap.add_argument("--seed", type=int, default=7000)
    ap.add_argument("--tasks", default="grasp,pick_place")
    ap.add_argument("--encoder", default="default")
    ap.add_argument("--predictor", default="default")
    ap.add_argument("--head", default="default", help="goal-distance head folder, default, or none")
    ap.add_argument("--alternatives", type=int, default=8)
    ap.add_argument("--every", type=int, default=2)
    ap.add_argument("--camera", default=None)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    from vjepa_ac.encoder import load_encoder
    from vjepa_ac.goal_head import load_head
    from vjepa_ac.predictor import load_predictor

    enc = load_encoder(args.encoder)
    models = {"encoder": enc, "predictor": load_predictor(args.predictor).eval()}
    if args.head != "none":
        models["head"] = load_head(args.head, enc)
    print(f"expert episodes from seed {args.seed} on, {args.episodes} successful per task; encoder {args.encoder}, predictor "
          f"{args.predictor}, head {args.head}; {args.alternatives} random moves at every {args.every}. step\n")
    tasks = args.tasks.split(",")
    table = {t: screen_task(t, models, args) for t in tasks}
    print("| energy | " + " | ".join(f"{t}: rho | {t}: falls | {t}: move rank" for t in tasks) + " |")
    print("|---|" + "---|---|---|" * len(tasks))
    for n in table[tasks[0]]:
        cells = []
        for t in tasks:
            r = table[t].get(n, {"rho": [], "falls": [], "rank": []})
            cells += [f"{np.mean(r['rho']):.2f}", f"{100 * np.mean(r['falls']):.0f} %", f"{100 * np.mean(r['rank']):.0f} %"]
        print(f"| {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
