"""What the key/value cache saves: autoregressive rollouts with and without it, by horizon.

    python bench/rollout_cache.py [--samples 64] [--horizons 1 2 4 8] [--official]

Without the cache every step recomputes the whole past (what V-JEPA 2-AC's release does); with it, a step costs one
step. `--official` uses the 305 M-parameter V-JEPA 2-AC size (GPU advised).
"""

from __future__ import annotations

import argparse
import time

import torch

from vjepa_ac.device import pick_device
from vjepa_ac.models.predictor import ACPredictor, PredictorConfig


def timed(fn, device, repeats: int) -> float:
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--horizons", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--official", action="store_true")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    device = pick_device("auto")
    cfg = PredictorConfig.official() if args.official else PredictorConfig(hidden=192, depth=4, heads=6)
    model = ACPredictor(cfg).to(device).eval()
    n_params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"predictor {n_params:.1f} M params, {cfg.tokens} tokens/frame, {args.samples} samples, {device.type}\n")
    print("| horizon | recompute ms | KV cache ms | speed-up |")
    print("|---|---|---|---|")
    for h in args.horizons:
        z0 = torch.randn(args.samples, cfg.tokens, cfg.embed_dim, device=device)
        s0 = torch.randn(args.samples, cfg.state_dim, device=device)
        acts = torch.randn(args.samples, h, cfg.action_dim, device=device)
        slow = timed(lambda: model.rollout(z0, s0, acts, use_cache=False), device, args.repeats)
        fast = timed(lambda: model.rollout(z0, s0, acts, use_cache=True), device, args.repeats)
        print(f"| {h} | {slow * 1e3:.1f} | {fast * 1e3:.1f} | {slow / fast:.2f}x |")


if __name__ == "__main__":
    main()
