"""Does the predictor's imagination carry the object? Open-loop rollouts along held-out grasps and lifts, read by the
labelled head as a probe: how far the imagined hand and cube drift from where they truly went.

    python bench/imagination_probe.py --dataset DIR --features CACHE_DIR [--predictor default|DIR] [--probe labelled]
                                      [--horizon 8] [--episodes 60] [--mapping panda_sim_labelled]
    # Push-T: a probe trained with `vjepa-ac train-head mapping=pusht_sim_labelled`, positions in arena px
    python bench/imagination_probe.py --dataset data/pusht --features CACHE --predictor default-pusht --probe HEAD_DIR \
        --mapping pusht_sim_labelled --horizon 4 --episodes 150 --move 0.02 --unit px --robot disc --object block

From each window of a held-out episode in which the cube moves (its height changes by 3 cm or more over the horizon,
or it travels 3 cm: a grasp, a lift, a carry or a place), the predictor rolls out open loop from the true embedding
of the first frame along the logged actions, as planning does. The probe (the readout head trained with the cube's
logged position: simulator labels may evaluate, never train what plans) reads the hand's x, y, z and closure and the
cube's x, y, z off every imagined frame; the table gives the mean absolute error against the logged truth at each
step ahead, beside the same probe read off the real frames (its own error floor) and off "nothing moves" (the first
frame, for every step). A predictor whose imagination carries the object keeps the cube error near the real-frame
floor and well under nothing-moves.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
import torch.nn.functional as F

from vjepa_ac.data.mapping import load_mapping
from vjepa_ac.data.reader import open_log
from vjepa_ac.models.goal_head import load_head
from vjepa_ac.models.predictor import load_predictor
from vjepa_ac.models.weights import model_folder, part_source
from vjepa_ac.training.features import FeatureCache

# (the robot's or the object's, the readout coordinate) read where both the probe and the log's mapping have it
COORDS = (("robot", "x"), ("robot", "y"), ("robot", "z"), ("closure", "gripper"), ("object", "object_x"), ("object", "object_y"),
          ("object", "object_z"))
UNITS = {"cm": 100.0, "px": 512.0}  # per unit of the log's positions: metres (the arms) or Push-T's 512-px arena


def windows(truth: np.ndarray, horizon: int, names: list[str], move: float) -> list[int]:
    """First frames t of the windows [t, t + horizon] in which the object moves by `move` (the log's units) or more
    along one of its coordinates."""
    obj = truth[:, [names.index(n) for n in ("object_x", "object_y", "object_z") if n in names]]
    return [t for t in range(len(truth) - horizon) if np.abs(obj[t + 1 : t + 1 + horizon] - obj[t]).max() >= move]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--features", required=True)
    ap.add_argument("--predictor", default="default")
    ap.add_argument("--probe", default="labelled", help="a readout head trained with object labels (labelled: the shipped one)")
    ap.add_argument("--mapping", default="panda_sim_labelled", help="the mapping whose readout the probe reads (the truth)")
    ap.add_argument("--horizon", type=int, default=8)
    ap.add_argument("--episodes", type=int, default=60, help="the last this-many episodes (held out by every trainer)")
    ap.add_argument("--move", type=float, default=0.03, help="the object's least move in a window, in the log's units")
    ap.add_argument("--unit", choices=sorted(UNITS), default="cm", help="how positions print: cm (metres in the log) or px (Push-T)")
    ap.add_argument("--robot", default="hand", help="what the table calls the robot")
    ap.add_argument("--object", default="cube", help="what the table calls the object")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    predictor = load_predictor(args.predictor).eval()
    probe = load_head(part_source(args.probe, "head") if args.probe in ("labelled", "default") else args.probe)
    meta = json.loads((model_folder(args.predictor, "predictor") / "config.json").read_text()) if not str(args.predictor).endswith(".pt") else {}
    log, cache, mapping = open_log(args.dataset), FeatureCache(args.features), load_mapping(args.mapping)
    names = list(probe.cfg.names)
    truth_names = list(mapping.readout_names)
    episodes = list(range(len(log) - args.episodes, len(log)))
    seen = set(meta.get("train_episodes") or []) & set(episodes)
    if seen:
        print(f"warning: {len(seen)} of these episodes trained the predictor")
    H = args.horizon
    words = {"robot": args.robot, "object": args.object, "closure": "closure"}
    cols = {(words[who] + " " + v[-1] if who != "closure" else "closure"): (names.index(v), truth_names.index(v))
            for who, v in COORDS if v in names and v in truth_names}
    err = {w: np.zeros((H, len(cols))) for w in ("imagined", "real", "nothing moves")}
    n = 0
    for e in episodes:
        truth = mapping.read_readout(log, e)  # [T, K]
        starts = windows(truth, H, truth_names, args.move)
        if not starts:
            continue
        z = cache[e]
        z = F.layer_norm(z, (z.shape[-1],))  # [T, N, D]
        s, a = (torch.from_numpy(x) for x in load_mapping(args.mapping).read(log, e))
        idx = torch.tensor(starts)
        pred = predictor.rollout(z[idx], s[idx], torch.stack([a[t : t + H] for t in starts])).float()  # [B, H, N, D]
        real = torch.stack([z[t + 1 : t + 1 + H] for t in starts])  # [B, H, N, D]
        still = z[idx][:, None].expand(-1, H, -1, -1)
        target = np.stack([truth[t + 1 : t + 1 + H] for t in starts])  # [B, H, K']
        for w, zz in (("imagined", pred), ("real", real), ("nothing moves", still)):
            r = probe(zz).numpy()  # [B, H, K]
            for j, (pi, ti) in enumerate(cols.values()):
                err[w][:, j] += np.abs(r[..., pi] - target[..., ti]).sum(0)
        n += len(starts)
    if n == 0:
        raise SystemExit(f"no window of {H} steps in the last {args.episodes} episodes moves the object by {args.move}")
    print(f"{n} windows of {H} steps in which the {args.object} moves, from {len(episodes)} held-out episodes of {args.dataset}; "
          f"predictor {args.predictor}; probe {args.probe}\n")
    print("| steps ahead | read off | " + " | ".join(cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for h in sorted({0, 1, 3, H - 1} & set(range(H))):
        for w in ("real", "imagined", "nothing moves"):
            vals = err[w][h] / n
            cells = [f"{v * UNITS[args.unit]:.1f} {args.unit}" if k != "closure" else f"{v:.3f}" for k, v in zip(cols, vals)]
            print(f"| {h + 1} | {w} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
