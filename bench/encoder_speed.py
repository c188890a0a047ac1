"""Encoding throughput: clips/s and frames/s of the default encoder on this machine (and ViT-L and ViT-g sized
random weights in bf16 on CUDA: every control step encodes one frame and the goal, each frame its own tubelet).

    python bench/encoder_speed.py [--clips 8] [--frames 4] [--repeats 5] [--vitg-cpu]
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import VJEPA2Config, VJEPA2Model

from vjepa_ac.device import pick_device
from vjepa_ac.models.encoder import FrozenEncoder, Preprocess, load_encoder


def measure(enc: FrozenEncoder, clips: int, frames: int, size: int, repeats: int, device: torch.device) -> float:
    """Seconds per call of encode() on `clips` clips of `frames` uint8 frames."""
    enc.to(device)
    video = torch.randint(0, 256, (clips, frames, 3, size, size), dtype=torch.uint8, device=device)
    enc.encode(video)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeats):
        enc.encode(video)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--vitg-cpu", action="store_true", help="also time ViT-g on the CPU (slow: one clip)")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    device = pick_device("auto")
    rows = []
    enc = load_encoder("default")
    n_params = sum(p.numel() for p in enc.parameters())
    s = measure(enc, args.clips, args.frames, 128, args.repeats, device)
    rows.append((f"default ({n_params / 1e6:.1f} M params, {enc.prep.crop_size} px, {enc.num_patches} tokens/frame)", device.type, s))
    if device.type == "cuda":
        cfg = VJEPA2Config(crop_size=256)  # ViT-L/16, as vjepa2-vitl-fpc64-256
        vitl = FrozenEncoder(VJEPA2Model(cfg), Preprocess(crop_size=256), bf16=True)
        rows.append(("ViT-L/16 random weights, 256 px, bf16", "cuda", measure(vitl, args.clips, args.frames, 256, args.repeats, device)))
    if device.type == "cuda" or args.vitg_cpu:
        # ViT-g/16 as vitg.pt: width 1408, 40 layers, 16 heads, MLP 6144, 256 px (256 tokens per frame)
        cfg = VJEPA2Config(hidden_size=1408, num_hidden_layers=40, num_attention_heads=16, mlp_ratio=6144 / 1408, crop_size=256,
                           patch_size=16, tubelet_size=2)
        vitg = FrozenEncoder(VJEPA2Model(cfg), Preprocess(crop_size=256), bf16=device.type == "cuda")
        clips = args.clips if device.type == "cuda" else 1
        rows.append((f"ViT-g/16 random weights, 256 px{', bf16' if device.type == 'cuda' else ''}", device.type,
                     measure(vitg, clips, args.frames, 256, args.repeats if device.type == "cuda" else 1, device) * args.clips / clips))
    print(f"| encoder | device | {args.clips} clips x {args.frames} frames, ms | clips/s | frames/s |")
    print("|---|---|---|---|---|")
    for name, dev, sec in rows:
        print(f"| {name} | {dev} | {sec * 1e3:.0f} | {args.clips / sec:.1f} | {args.clips * args.frames / sec:.0f} |")


if __name__ == "__main__":
    main()
