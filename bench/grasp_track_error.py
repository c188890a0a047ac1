"""How far the label-free object track (`vjepa_ac/training/grasp_track.py`: where the hand held something) lies from
the object's true position, on a log that also records the simulator's object position (evaluation only).

    python bench/grasp_track_error.py --dataset data/ogb_cube --mapping ur5e_sim [--hold 0.3 0.7] [--episodes 200]

Printed: the share of frames with a guess, the median and 90th-percentile horizontal error of the guess, the share
within 4 cm (OGBench's success radius), and the same for guessing the object's mean position (the floor).
"""

from __future__ import annotations

import argparse

import numpy as np

from vjepa_ac.data.mapping import load_mapping
from vjepa_ac.data.reader import open_log
from vjepa_ac.training.grasp_track import object_track


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--mapping", required=True)
    ap.add_argument("--hold", type=float, nargs=2, default=(0.3, 0.7), help="the closure range of a hand holding something")
    ap.add_argument("--key", default="observation.environment_state", help="the column with the object's true x, y first")
    ap.add_argument("--episodes", type=int, default=200)
    args = ap.parse_args()
    log, mapping = open_log(args.dataset), load_mapping(args.mapping)
    if args.key not in log.features:
        raise SystemExit(f"{args.dataset} has no column {args.key!r} (the object's true position is needed to score the track)")
    guess, truth, labelled = [], [], 0
    n = min(args.episodes, len(log))
    for e in range(n):
        s, _ = mapping.read(log, e)
        pos, ok = object_track(s, tuple(args.hold))
        true = log.columns(e, [args.key])[args.key][:, :2]
        labelled += int(ok.sum())
        guess.append(pos[ok, :2])
        truth.append(true[ok])
    g, t = np.concatenate(guess), np.concatenate(truth)
    frames = sum(len(mapping.read(log, e)[0]) for e in range(n))
    err = np.linalg.norm(g - t, axis=1)
    floor = np.linalg.norm(t - t.mean(0), axis=1)
    print(f"{args.dataset}, {n} episodes: {labelled}/{frames} frames with a guess")
    print(f"  track:      median {np.median(err) * 100:.1f} cm, 90th percentile {np.percentile(err, 90) * 100:.1f} cm, within 4 cm {np.mean(err < 0.04):.1%}")
    print(f"  mean place: median {np.median(floor) * 100:.1f} cm, 90th percentile {np.percentile(floor, 90) * 100:.1f} cm, within 4 cm {np.mean(floor < 0.04):.1%}")


if __name__ == "__main__":
    main()
