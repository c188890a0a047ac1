"""Play-data collection speed: episodes and frames per second of `collect` (128 px, AV1), by number of workers.

    python bench/collect_speed.py [--episodes 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from vjepa_ac.collect import CollectConfig, collect
from vjepa_ac.data.reader import open_log


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=8)
    ap.add_argument("--env", default="vjepa_ac/PandaReach-v0")
    args = ap.parse_args()
    print("| workers | episodes | frames | seconds | episodes/s | frames/s | speed-up |")
    print("|---|---|---|---|---|---|---|")
    base = None
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as d:
            cfg = CollectConfig(episodes=args.episodes, out=f"{d}/ds", workers=workers, progress=False)
            cfg.env.id = args.env
            t0 = time.perf_counter()
            collect(cfg)
            dt = time.perf_counter() - t0
            frames = sum(e.length for e in open_log(cfg.out).episodes)
        base = base or dt
        print(f"| {workers} | {args.episodes} | {frames} | {dt:.1f} | {args.episodes / dt:.2f} | {frames / dt:.1f} | {base / dt:.2f}x |")


if __name__ == "__main__":
    main()
