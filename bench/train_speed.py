"""Predictor training speed: clips per second from a feature cache and with the encoder run on the fly.

    python bench/train_speed.py --dataset DIR --features CACHE_DIR [--encoder default] [--steps 30] [--batch-size 16]

Both runs train the same predictor (the default's size) on the same batches for `--steps` steps after 3 warm-up steps;
printed: seconds per step and clips (of `--frames` frames) per second, and the on-the-fly run's cost over the cache.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from dataclasses import replace
from pathlib import Path

import torch


def main() -> None:
    from vjepa_ac.training.predictor import TrainConfig, train

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--features", required=True)
    ap.add_argument("--encoder", default="default")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    warm = 3
    base = TrainConfig(dataset=args.dataset, out="", steps=warm + args.steps, batch_size=args.batch_size, frames=args.frames,
                       val_every=10**6, checkpoint_every=10**6, device=args.device, progress=False)
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, cfg in (("cache", replace(base, features=args.features)), ("on the fly", replace(base, encoder=args.encoder))):
            out = Path(tmp) / name.replace(" ", "_")
            train(replace(cfg, out=str(out)))
            rows = list(csv.DictReader(open(out / "log.csv")))
            seconds = float(rows[-2]["seconds"]) - float(rows[warm - 1]["seconds"])  # the last step also validates: left out
            rates[name] = seconds / (len(rows) - 1 - warm)
    print(f"{torch.get_num_threads()} threads; batches of {args.batch_size} clips x {args.frames} frames; {args.steps} timed steps")
    print("| features | s per step | clips/s |")
    print("|---|---|---|")
    for name, s in rates.items():
        print(f"| {name} | {s:.2f} | {args.batch_size / s:.1f} |")
    print(f"on the fly costs {rates['on the fly'] / rates['cache']:.1f}x the cached step")


if __name__ == "__main__":
    main()
