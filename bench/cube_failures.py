"""Where a policy fails on OGBench's cube: an eval run's episodes split by how each one starts. The protocol's start
is a step of a recorded oracle episode, so the cube is either already where the goal shows it (solved at the start),
in the hand, or lying on the table (the policy must pick it up first). The start is read from the simulator by
resetting the env with each episode's seed (evaluation only; nothing here trains).

    python bench/cube_failures.py runs/RUN [runs/RUN2 ...]

Printed per run: successes over episodes in each group, and, for failed episodes that start on the table, how many
ended with the cube where it started (never picked up: final distance within 1 cm of the start's).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from vjepa_ac.environment import EnvConfig, make_env


def starts(seeds: list[int]) -> dict[int, tuple[float, bool]]:
    """seed -> (the cube's distance to its goal at the start [m], whether the hand holds it)."""
    env = make_env(EnvConfig(id="vjepa_ac/OGBenchCube-v0"))
    out = {}
    for s in seeds:
        obs, info = env.reset(seed=s)
        # in the hand: the closed fingers' pinch point within 3 cm of the cube (OGBench's contact flag is stale right
        # after a restored start)
        near = np.linalg.norm(env.unwrapped.cube_pos() - obs["ee_state"][:3]) < 0.03
        out[s] = (float(info["distance"]), bool(near and obs["ee_state"][6] > 0.3))
    env.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="eval output folders (each with episodes/*.json)")
    args = ap.parse_args()
    runs = {}
    for r in args.runs:
        files = sorted(Path(r).glob("episodes/*.json"))
        if not files:
            raise SystemExit(f"{r}: no episodes/*.json (an eval output folder of vjepa_ac/OGBenchCube-v0 was expected)")
        runs[r] = [json.loads(f.read_text()) for f in files]
    seeds = sorted({e["seed"] for eps in runs.values() for e in eps})
    start = starts(seeds)
    for r, eps in runs.items():
        groups = {"solved at the start": [0, 0], "cube in the hand": [0, 0], "cube on the table": [0, 0]}
        untouched = 0
        for e in eps:
            d0, held = start[e["seed"]]
            g = "solved at the start" if d0 < 0.04 else "cube in the hand" if held else "cube on the table"
            groups[g][0] += bool(e["success"])
            groups[g][1] += 1
            if g == "cube on the table" and not e["success"] and abs(e["final_distance"] - d0) < 0.01:
                untouched += 1
        total = sum(bool(e["success"]) for e in eps)
        parts = ", ".join(f"{k} {a}/{b}" for k, (a, b) in groups.items())
        print(f"{r}: {total}/{len(eps)}; {parts}; failed from the table with the cube never moved: {untouched}")


if __name__ == "__main__":
    main()
