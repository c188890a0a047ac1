"""Does the predictor predict? L1 error of 1..H-step rollouts on held-out episodes, against "nothing moves".

    python bench/predictor_error.py --dataset DIR --features CACHE_DIR [--predictor default|DIR] [--horizon 4]

The rollout runs as planning runs it: from the true embedding of frame t and the logged actions, states integrated
from the actions, predictions fed back in. The baseline predicts that frame t+h looks like frame t.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from vjepa_ac.data.mapping import load_mapping
from vjepa_ac.data.reader import open_log
from vjepa_ac.training.features import FeatureCache
from vjepa_ac.models.predictor import load_predictor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--features", required=True)
    ap.add_argument("--predictor", default="default")
    ap.add_argument("--horizon", type=int, default=4)
    ap.add_argument("--episodes", type=int, default=36, help="held-out episodes, when the predictor does not list them")
    ap.add_argument("--all", action="store_true", help="every episode of the dataset (one no model trained on)")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    model = load_predictor(args.predictor)
    cfg_path = Path(args.predictor if args.predictor != "default" else "") / "config.json"
    log = open_log(args.dataset)
    cache = FeatureCache(args.features)
    meta = json.loads(cfg_path.read_text()) if args.predictor != "default" and cfg_path.exists() else {}
    if args.predictor == "default":
        from importlib import resources

        meta = json.loads((resources.files("vjepa_ac") / "weights" / "predictor" / "config.json").read_text())
    listed = meta.get("val_episodes") if meta.get("dataset") in (None, str(args.dataset)) or meta.get("train_episodes") else None
    if listed and max(listed) >= len(log):  # held out of another dataset: this one's last episodes instead
        listed = None
    episodes = list(range(len(log))) if args.all else listed or list(range(len(log) - args.episodes, len(log)))
    mapping = load_mapping("panda_sim")
    H = args.horizon
    err = torch.zeros(H)
    base = torch.zeros(H)
    n = 0
    for e in episodes:
        z = cache[e]
        z = F.layer_norm(z, (z.shape[-1],))  # [T, N, D]
        s, a = (torch.from_numpy(x) for x in mapping.read(log, e))
        starts = torch.arange(0, len(z) - H)
        pred = model.rollout(z[starts], s[starts], torch.stack([a[t : t + H] for t in starts.tolist()]))  # [B, H, N, D]
        truth = torch.stack([z[t + 1 : t + 1 + H] for t in starts.tolist()])
        err += (pred - truth).abs().mean(dim=(2, 3)).sum(0)
        base += (z[starts][:, None] - truth).abs().mean(dim=(2, 3)).sum(0)
        n += len(starts)
    err, base = err / n, base / n
    print(f"{len(episodes)} held-out episodes, {n} rollouts of {H} steps\n")
    print("| steps ahead | predictor L1 | nothing-moves L1 | ratio |")
    print("|---|---|---|---|")
    for h in range(H):
        print(f"| {h + 1} | {err[h]:.4f} | {base[h]:.4f} | {err[h] / base[h]:.2f} |")


if __name__ == "__main__":
    main()
