"""Linear probes from frozen encoder features to end-effector and object position, on held-out episodes.

    python bench/encoder_probe.py --dataset DIR [--encoder default|PATH ...] [--val-episodes 36]
    python bench/encoder_probe.py --scenes 3000 [--camera wide|workspace] [--encoder default|PATH ...]

Prints R^2 for the given encoders, for the same architecture at random init, and for raw pixels, with two readouts:
ridge on the flattened patch tokens (where in the frame is kept) and on the mean over patches (the usual linear probe
of self-supervised learning: the features themselves must carry position). Pretraining learned something real only
if its features predict the scene state clearly better than random features do. Also prints each encoder's effective
rank (exp of the entropy of the singular values of its tokens): a collapsing encoder has a small one.

A play dataset holds few distinct cube positions (the cube stays put in most of an episode: 150 fitted episodes are
~150 positions for a 12,288-wide readout), so `--scenes N` probes on N fresh random scenes instead (random cube, cup,
colours, arm pose and gripper opening; the last fifth held out), one frame each, seen by the named camera framing.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from transformers import VJEPA2Model

from vjepa_ac.data.mapping import load_mapping
from vjepa_ac.data.reader import open_log
from vjepa_ac.models.encoder import FrozenEncoder, load_encoder

TARGETS = {"end-effector xyz": ("observation.state", slice(0, 3)), "gripper": ("observation.state", slice(6, 7)), "cube xyz": ("observation.environment_state", slice(0, 3))}


def frames_and_targets(log, episodes: list[int], every: int) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Frames uint8 [M, H, W, 3] (every `every`-th of each episode), the probe targets [M, k] and episode ids [M]."""
    cam = load_mapping("panda_sim").camera
    frames, ys, ids = [], {k: [] for k in TARGETS}, []
    for e in episodes:
        f = log.frames(e, cam)[::every]
        cols = log.columns(e, ["observation.state", "observation.environment_state"])
        frames.append(f)
        ids.append(np.full(len(f), e))
        for name, (key, sl) in TARGETS.items():
            ys[name].append(cols[key][::every, sl])
    return np.concatenate(frames), {k: np.concatenate(v) for k, v in ys.items()}, np.concatenate(ids)


def scene_frames(n: int, camera: str | None, seed: int = 12345) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """One frame uint8 [n, H, W, 3] of each of n random scenes, its probe targets [n, k] and scene ids [n]."""
    from envs import make_panda

    env = make_panda("grasp", render_goal=False, **({"camera": camera} if camera else {}))
    rng = np.random.default_rng(seed)
    frames, ys = [], {k: [] for k in TARGETS}
    for i in range(n):
        env.reset(seed=seed + i)  # cube, cup and colours drawn from the seed
        env.set_arm(rng.uniform([0.3, -0.25, 0.06], [0.65, 0.25, 0.35]), np.array([0, 0, rng.uniform(-0.8, 0.8)]), rng.uniform(0, 1))
        frames.append(env.render_image())
        ee = env.ee_state()
        ys["end-effector xyz"].append(ee[:3])
        ys["gripper"].append(ee[6:7])
        ys["cube xyz"].append(env.cube_pos)
    env.close()
    return np.stack(frames), {k: np.stack(v) for k, v in ys.items()}, np.arange(n)


def features(enc: FrozenEncoder, frames: np.ndarray, batch: int = 64) -> np.ndarray:
    """Patch tokens [M, N, D] of every frame."""
    out = []
    for i in range(0, len(frames), batch):
        v = torch.from_numpy(frames[i : i + batch]).permute(0, 3, 1, 2)[:, None]  # [b, 1, 3, H, W]
        out.append(enc.encode(v)[:, 0].numpy())
    return np.concatenate(out)


def effective_rank(tokens: np.ndarray) -> float:
    """exp(entropy of the normalised singular values) of tokens [M, D] (1 = collapsed, D = isotropic)."""
    s = np.linalg.svd(tokens - tokens.mean(0), compute_uv=False)
    p = s / s.sum()
    return float(np.exp(-(p * np.log(p + 1e-12)).sum()))


def r2(y: np.ndarray, p: np.ndarray) -> float:
    """Coefficient of determination over all target dims together."""
    return float(1 - ((y - p) ** 2).sum() / ((y - y.mean(0)) ** 2).sum())


def ridge_predict(xtr, ytr, xte, lambdas=tuple(10.0**k for k in range(-1, 7))) -> np.ndarray:
    """Test-set predictions of a ridge regression, lambda chosen on the last fifth of the training set."""
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    ym = ytr.mean(0)

    def fit(x, y, lam):  # dual form: features outnumber samples
        k = x @ x.T
        alpha = np.linalg.solve(k + lam * x.shape[1] / 1000 * np.eye(len(k)), y - ym)
        return x.T @ alpha

    cut = int(len(xtr) * 0.8)
    best = max(lambdas, key=lambda lam: r2(ytr[cut:], xtr[cut:] @ fit(xtr[:cut], ytr[:cut], lam) + ym))
    return xte @ fit(xtr, ytr, best) + ym


def bootstrap_gap(y: np.ndarray, pa: np.ndarray, pb: np.ndarray, episodes: np.ndarray, n: int = 2000) -> tuple[float, float]:
    """95 % interval of R^2(a) - R^2(b), resampling held-out episodes with replacement (frames of one episode move together)."""
    rng = np.random.default_rng(0)
    eps = np.unique(episodes)
    rows = {e: np.flatnonzero(episodes == e) for e in eps}
    gaps = []
    for _ in range(n):
        idx = np.concatenate([rows[e] for e in rng.choice(eps, len(eps))])
        gaps.append(r2(y[idx], pa[idx]) - r2(y[idx], pb[idx]))
    lo, hi = np.percentile(gaps, [2.5, 97.5])
    return float(lo), float(hi)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", help="a play dataset (its last --val-episodes held out)")
    ap.add_argument("--scenes", type=int, default=0, help="probe on this many fresh random scenes instead of a dataset")
    ap.add_argument("--camera", default=None, help="with --scenes: the camera framing (wide, workspace)")
    ap.add_argument("--encoder", nargs="+", default=["default"], help="'default', or encoder folders")
    ap.add_argument("--val-episodes", type=int, default=36, help="the last episodes, held out from pretraining")
    ap.add_argument("--train-episodes", type=int, default=150)
    ap.add_argument("--every", type=int, default=3, help="use every k-th frame")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    if args.scenes:
        f, y, ids = scene_frames(args.scenes, args.camera)
        cut = args.scenes * 4 // 5
        ftr, ytr, fte, yte, ep_te = f[:cut], {k: v[:cut] for k, v in y.items()}, f[cut:], {k: v[cut:] for k, v in y.items()}, ids[cut:]
        val, train = list(ids[cut:]), list(ids[:cut])
    elif args.dataset:
        log = open_log(args.dataset)
        n = len(log)
        val = list(range(n - args.val_episodes, n))
        train = list(range(max(0, n - args.val_episodes - args.train_episodes), n - args.val_episodes))
        ftr, ytr, _ = frames_and_targets(log, train, args.every)
        fte, yte, ep_te = frames_and_targets(log, val, args.every)
    else:
        ap.error("give --dataset DIR or --scenes N")
    encoders = {f"pretrained ({name})": load_encoder(name) for name in args.encoder}
    first = next(iter(encoders.values()))
    torch.manual_seed(0)
    encoders["same architecture, random init"] = FrozenEncoder(VJEPA2Model(first.config), first.prep, name="random-init")
    readouts = {"flattened patch tokens": lambda z: z.reshape(len(z), -1), "mean over patches": lambda z: z.mean(1)}
    preds = {r: {} for r in readouts}  # readout -> features -> target -> held-out predictions
    ranks = {}
    for name, enc in encoders.items():
        t = time.time()
        ztr, zte = features(enc, ftr), features(enc, fte)  # [M, N, D]
        for r, f in readouts.items():
            preds[r][name] = {k: ridge_predict(f(ztr), ytr[k], f(zte)) for k in TARGETS}
        ranks[name] = effective_rank(ztr.reshape(-1, ztr.shape[-1])[::7])
        print(f"# {name}: {ztr.shape[1]} tokens x {ztr.shape[2]}-D, {len(ftr) + len(fte)} frames in {time.time() - t:.0f} s")
    px = lambda f: torch.nn.functional.interpolate(torch.from_numpy(f).permute(0, 3, 1, 2).float(), size=32, mode="area").flatten(1).numpy()  # noqa: E731
    preds["flattened patch tokens"]["raw pixels (32x32)"] = {k: ridge_predict(px(ftr), ytr[k], px(fte)) for k in TARGETS}
    unit = "scenes" if args.scenes else "episodes"
    print(f"\nlinear probe R^2 on {len(val)} held-out {unit} ({len(fte)} frames), fitted on {len(train)} {unit} ({len(ftr)} frames)"
          + (f", camera {args.camera or 'default'}" if args.scenes else "") + ";")
    print(f"in brackets: 95 % interval of the gain over random init, resampling held-out {unit}")
    base = "same architecture, random init"
    for r, table in preds.items():
        print(f"\n{r}:\n\n| features | " + " | ".join(TARGETS) + " |")
        print("|---|" + "---|" * len(TARGETS))
        for name, p in table.items():
            cells = []
            for k in TARGETS:
                cell = f"{r2(yte[k], p[k]):.3f}"
                if name != base:
                    lo, hi = bootstrap_gap(yte[k], p[k], table[base][k], ep_te)
                    cell += f" [{lo:+.3f}, {hi:+.3f}]"
                cells.append(cell)
            print(f"| {name} | " + " | ".join(cells) + " |")
    print("\neffective rank of the patch tokens (of " + str(first.dim) + "): " + ", ".join(f"{n} {v:.1f}" for n, v in ranks.items()))

if __name__ == "__main__":
    main()
