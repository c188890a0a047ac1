"""A screen that predicts an energy's planning success in minutes, before a 30-minute table.

    python bench/energy_screen.py [--episodes 8] [--seed 7000] [--tasks grasp,pick_place] [--encoder default]
                                  [--predictor default] [--head default] [--alternatives 8] [--every 2] [--camera VIEW]

Along the scripted expert's successful grasps and pick-and-places (fresh seeds, `--seed` on), each energy is scored
against the sub-goal the expert is heading for (the env's sub-goal images and their true states), three ways:

- rho: the Spearman correlation between the energy of the real state and the true number of steps left until the
  expert finishes that sub-goal's stretch (per stretch of at least 3 steps, averaged; 1 is perfect);
- falls: the share of the expert's steps on which the energy falls (every step of the expert is progress);
- move rank: at every `--every`-th step, the expert's own next move against `--alternatives` random one-step moves
  (uniform on the planned dims x, y, z, yaw and gripper, as the random policy draws them): the share of the random
  moves that the energy scores worse than the expert's (coarse: the first iteration of a sampling planner);
- fine rank: at the same steps, `--alternatives` small perturbations of the expert's move (1 cm on x, y, z, 0.1 rad
  on yaw, the gripper command flipped one time in five): the Spearman correlation between the energy of each outcome
  and how far its true state ends from the expert's (hand position, cube position, 5 cm per unit of closure). This is
  the precision a planner needs near a sub-goal, where the last centimetres decide a grasp.

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
from vjepa_ac.planning.energy import head_energy  # noqa: E402
from vjepa_ac.planning.truth import pixel_l1, state_l1, state_vector  # noqa: E402


def energies_of(outcome: dict, goal: dict, models: dict, now: dict) -> dict[str, np.ndarray]:
    """Every energy [M] of M outcomes to one sub-goal, as the world models compute it (the head's anchored, as
    planning uses it by default: `vjepa_ac.planning.energy.head_energy`).

    outcome: "image" [M, H, W, 3], "ee_state" [M, 7], "object_pos" [M, 3], "z_pred" [M, N, D] (the predictor's
    imagination of the same moves; None along the path's first frame) and "s_pred" [M, 7] (the state it integrates);
    goal: "image", "state" [12], "z" [N, D]; now: the frame the moves start from, "z" [N, D] and "ee_state" [7]."""
    enc, head = models["encoder"], models.get("head")
    x = state_vector(outcome["ee_state"], outcome["object_pos"])
    z = enc.embed_images(outcome["image"])  # [M, N, D]
    out = {"sim+state": state_l1(x, goal["state"]).numpy(), "sim+pixels": pixel_l1(outcome["image"], goal["image"]).numpy(),
           "sim+image": (z - goal["z"]).abs().mean((1, 2)).numpy()}
    if head is not None:
        r_goal, r_now = head(goal["z"][None])[0], head(now["z"][None])[0]
        s_now = torch.as_tensor(now["ee_state"], dtype=torch.float32)
        s_true = torch.as_tensor(outcome["ee_state"], dtype=torch.float32)[:, None]
        out["sim+image/head"] = head_energy(head, z[:, None], r_goal, (r_now, s_now, s_true)).numpy()
    zp = outcome.get("z_pred")
    if zp is not None:
        out["default"] = (zp - goal["z"]).abs().mean((1, 2)).numpy()
        if head is not None:
            out["default/head"] = head_energy(head, zp[:, None], r_goal, (r_now, s_now, outcome["s_pred"][:, None])).numpy()
    return out


def imagine(models: dict, image: np.ndarray, ee_state: np.ndarray, actions: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The predictor's tokens [M, N, D] after each one-step action [M, 7] from one real frame, and the state [M, 7]
    it integrates."""
    z0 = models["encoder"].embed_images(image[None])  # [1, N, D]
    m = len(actions)
    s0 = torch.as_tensor(ee_state, dtype=torch.float32)[None].expand(m, -1)
    a = torch.as_tensor(actions, dtype=torch.float32)
    return models["predictor"].rollout(z0.expand(m, -1, -1), s0, a[:, None])[:, 0].float(), models["predictor"].next_state(s0, a)


def screen_task(task: str, models: dict, args) -> dict[str, dict[str, list]]:
    env = make_panda(task, camera=args.camera)
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
            if t % args.every == 0:  # the expert's move against random and against nearby ones, scored by every energy
                k_alt = args.alternatives
                alt = np.zeros((k_alt, 7), np.float32)
                alt[:, dims] = rng.uniform(low[dims], high[dims], (k_alt, len(dims)))
                near = np.repeat(action[None], k_alt, 0)
                near[:, :3] += rng.normal(0, 0.01, (k_alt, 3))
                near[:, 5] += rng.normal(0, 0.1, k_alt)
                near[:, 6] = np.where(rng.uniform(size=k_alt) < 0.2, -near[:, 6], near[:, 6])
                moves = np.clip(np.concatenate([action[None], alt, near]), low, high).astype(np.float32)  # [1 + 2K, 7]
                sim = u.simulate(moves[:, None], render=True)
                zp, sp = imagine(models, obs["image"], obs["ee_state"], moves)
                out = {"image": sim["image"], "ee_state": sim["ee_state"][:, -1], "object_pos": sim["object_pos"][:, -1],
                       "z_pred": zp, "s_pred": sp}
                now = {"z": models["encoder"].embed_images(obs["image"][None])[0], "ee_state": obs["ee_state"]}
                e = energies_of(out, goals[k], models, now)
                ok = ~sim["diverged"]
                ref = np.r_[out["ee_state"][0, :3], out["object_pos"][0], 0.05 * out["ee_state"][0, 6]]
                dev = np.abs(np.c_[out["ee_state"][:, :3], out["object_pos"], 0.05 * out["ee_state"][:, 6]] - ref).sum(1)
                fine = np.r_[0, np.arange(1 + k_alt, 1 + 2 * k_alt)]
                fine = fine[ok[fine]]
                ranks.append({n: (float(np.mean(v[1 : 1 + k_alt][ok[1 : 1 + k_alt]] > v[0])),
                                  float(spearmanr(v[fine], dev[fine])[0]) if np.ptp(dev[fine]) > 0 else float("nan"))
                              for n, v in e.items()})
            here = {"image": obs["image"][None], "ee_state": obs["ee_state"][None], "object_pos": obs["privileged"]["object_pos"][None],
                    "z_pred": None}
            start = {"z": models["encoder"].embed_images(obs["image"][None])[0], "ee_state": obs["ee_state"]}
            if prev is not None:  # the learned energies of this frame: imagined from the frame before, anchored there
                here["z_pred"], here["s_pred"] = imagine(models, prev[0], prev[1], prev[2][None])
                start = {"z": models["encoder"].embed_images(prev[0][None])[0], "ee_state": prev[1]}
            path.append((k, {n: float(v[0]) for n, v in energies_of(here, goals[k], models, start).items()}))
            prev = (obs["image"], obs["ee_state"], action)
            obs, _, term, trunc, info = env.step(action)
            if info["success"] or term or trunc:
                break
        if not info["success"]:
            continue
        done += 1
        names = [n for n in path[-1][1]]
        for n in names:
            r = res.setdefault(n, {"rho": [], "falls": [], "rank": [], "fine": []})
            r["rank"] += [x[n][0] for x in ranks if n in x]
            r["fine"] += [x[n][1] for x in ranks if n in x and np.isfinite(x[n][1])]
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
    ap.add_argument("--camera", default=None, help="the view the encoder was trained on (default: its own)")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    from vjepa_ac.models.encoder import load_encoder, trained_camera
    from vjepa_ac.models.goal_head import load_head
    from vjepa_ac.models.predictor import load_predictor

    args.camera = args.camera or trained_camera(args.encoder) or "wide"
    enc = load_encoder(args.encoder)
    models = {"encoder": enc, "predictor": load_predictor(args.predictor).eval()}
    if args.head != "none":
        models["head"] = load_head(args.head, enc)
    print(f"expert episodes from seed {args.seed} on, {args.episodes} successful per task; encoder {args.encoder}, predictor "
          f"{args.predictor}, head {args.head}, camera {args.camera}; {args.alternatives} random moves at every {args.every}. step\n")
    tasks = args.tasks.split(",")
    table = {t: screen_task(t, models, args) for t in tasks}
    print("| energy | " + " | ".join(f"{t}: rho | {t}: falls | {t}: move rank | {t}: fine rank" for t in tasks) + " |")
    print("|---|" + "---|---|---|---|" * len(tasks))
    for n in table[tasks[0]]:
        cells = []
        for t in tasks:
            r = table[t].get(n, {"rho": [], "falls": [], "rank": [], "fine": []})
            cells += [f"{np.mean(r['rho']):.2f}", f"{100 * np.mean(r['falls']):.0f} %", f"{100 * np.mean(r['rank']):.0f} %",
                      f"{np.mean(r['fine']):.2f}"]
        print(f"| {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
