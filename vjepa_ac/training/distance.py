"""`vjepa-ac train-distance dataset=DIR features=CACHE_DIR out=DIR`: train the temporal-distance head
(`models/distance.py`) on the order of frames in a trajectory log, and nothing else of it.

Each example is a frame t of a training episode and a goal frame t + d of the same episode; d is drawn over the whole
range the episode allows, half of the draws log-uniform (short separations, where the last centimetres are decided,
well covered) and half uniform (long ones, so far goals read far: TRM found short separations alone fail). The head
learns which bin d falls in (cross-entropy). With `predictor=` a share of the frames are the predictor's one-step
imagination of them (what planning feeds the head) instead of their real tokens.

On the held-out episodes it reports the expected distance's mean absolute error in steps, how often the true bin is
within one bin of the most likely, and calibrates `reached`: the distance under which a frame counts as at its goal
(the 90th percentile of what it reads for separations of 0-1 steps), used by the agent to move to the next sub-goal.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vjepa_ac.data.mapping import load_mapping
from vjepa_ac.models.distance import DistanceConfig, DistanceHead, bin_of, save_distance
from vjepa_ac.training.features import extra_sources, open_sources, split_sources
from vjepa_ac.training.head import imagine_frames
from vjepa_ac.training.trainer import ReaderArch, ReaderTrainConfig, Run, check_loop, fit, setup


DistanceArch = ReaderArch


@dataclass
class DistanceTrainConfig(ReaderTrainConfig):
    """`vjepa-ac train-distance dataset=DIR features=CACHE_DIR out=DIR [predictor=default imagined_share=0.5]`."""

    out: str = "runs/distance"
    arch: ReaderArch = field(default_factory=lambda: ReaderArch(channels=16))
    near_share: float = 0.5  # share of separations drawn log-uniformly (the rest uniformly)
    max_separation: int | None = None  # goals at most this many steps on (null: anywhere later in the episode)
    label_smoothing: float = 0.05
    predictor: str | None = None  # train on this predictor's one-step imagined tokens too (default, or a folder)
    imagined_share: float = 0.5  # with predictor=: the share of frames that are imagined
    steps: int = 6000
    warmup: int = 200
    val_every: int = 1000
    val_pairs: int = 4096
    checkpoint_every: int = 1000


class Frames:
    """Every frame's layer-normed tokens [M, N, D] (float16), where each episode starts and how long it is; with a
    predictor, the one-step imagined tokens of every frame that has one before it."""

    def __init__(self, cfg: DistanceTrainConfig, device: torch.device):
        sources = open_sources(cfg, logs=bool(cfg.predictor))  # the logs' states and actions only feed the predictor
        self.cache = sources[0].cache
        self.train_eps, self.val_eps = split_sources(sources, cfg.val_fraction, cfg.train_episodes)
        predictor = mapping = None
        if cfg.predictor:
            from vjepa_ac.models.predictor import load_predictor

            predictor = load_predictor(cfg.predictor).to(device).eval()
            mapping = load_mapping(cfg.mapping)
            for src in sources:
                mapping.check(src.log)
        z, imagined, self.lengths = [], [], []
        for src in sources:
            for e in range(len(src.cache)):
                ze = src.cache[e]
                ze = F.layer_norm(ze, (ze.shape[-1],))
                z.append(ze.to(torch.float16))
                self.lengths.append(len(ze))
                if predictor is not None:
                    imagined.append(imagine_frames(predictor, ze, mapping.read(src.log, e), device))
        self.z = torch.cat(z)
        self.start = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        self.imagined = torch.cat(imagined) if imagined else None


def check_config(cfg: DistanceTrainConfig) -> None:
    check_loop(cfg, {"near_share": 0 <= cfg.near_share <= 1, "imagined_share": 0 <= cfg.imagined_share <= 1,
                     "label_smoothing": 0 <= cfg.label_smoothing < 1, "val_pairs": cfg.val_pairs >= 1,
                     "max_separation": cfg.max_separation is None or cfg.max_separation >= 1},
               "; 0 <= near_share, imagined_share <= 1; 0 <= label_smoothing < 1; val_pairs, max_separation >= 1")


def draw_pairs(lengths: list[int], episodes: list[int], n: int, gen: torch.Generator, near_share: float,
               max_separation: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n examples (episode, frame t, separation d) with t + d inside the episode: d log-uniform over 0..span with
    probability `near_share`, else uniform over 0..span (span: the episode's length - 1, capped at max_separation)."""
    ep = np.asarray(episodes)[torch.randint(0, len(episodes), (n,), generator=gen).numpy()]
    span = np.asarray(lengths)[ep] - 1
    if max_separation is not None:
        span = np.minimum(span, max_separation)
    u = torch.rand(n, generator=gen, dtype=torch.float64).numpy()
    near = torch.rand(n, generator=gen, dtype=torch.float64).numpy() < near_share
    d = np.where(near, np.floor(np.exp(u * np.log(span + 1.0))) - 1, np.floor(u * (span + 1)))
    d = np.clip(d, 0, span).astype(np.int64)
    t = np.floor(torch.rand(n, generator=gen, dtype=torch.float64).numpy() * (np.asarray(lengths)[ep] - d)).astype(np.int64)
    return ep, t, d


@torch.no_grad()
def validate(model: DistanceHead, data: Frames, pairs, source: torch.Tensor, prefix: str, device) -> tuple[dict, torch.Tensor, np.ndarray]:
    """Held-out figures of the pairs (episode, t, d): expected-distance error in steps, near-bin accuracy; also the
    expected distances [P] themselves and the separations [P]."""
    model.eval()
    ep, t, d = pairs
    i, j = data.start[ep] + t, data.start[ep] + t + d
    steps, hits = [], []
    for c in range(0, len(i), 512):
        logits = model(source[i[c : c + 512]].float().to(device), data.z[j[c : c + 512]].float().to(device))
        steps.append(model.steps(logits).cpu())
        hits.append((logits.argmax(-1).cpu() - bin_of(torch.from_numpy(d[c : c + 512]), model.cfg.edges)).abs() <= 1)
    model.train()
    steps = torch.cat(steps)
    return ({f"{prefix}mae_steps": float((steps - torch.from_numpy(d).float()).abs().mean()),
             f"{prefix}near_bin": float(torch.cat(hits).float().mean())}, steps, d)


def calibrate(steps: torch.Tensor, d: np.ndarray) -> tuple[float, dict]:
    """The `reached` threshold (90th percentile of the expected distance of pairs 0-1 steps apart) and how it
    separates: the share of 0-1 step pairs below it, and of pairs 4 or more steps apart below it (false arrivals)."""
    near, far = steps[torch.from_numpy(d <= 1)], steps[torch.from_numpy(d >= 4)]
    if not len(near):
        return 2.0, {}
    reached = float(torch.quantile(near, 0.9))
    return reached, {"val_reached_hits": float((near <= reached).float().mean()),
                     "val_reached_false": float((far <= reached).float().mean()) if len(far) else math.nan}


def train_distance(cfg: DistanceTrainConfig) -> Path:
    """Train with atomic checkpoints (resume continues step, optimiser, schedule and random state; a folder made with
    other settings is refused); returns out/distance."""
    check_config(cfg)
    dist, gen = setup(cfg)
    data = Frames(cfg, dist.device)
    identity = data.cache.meta.get("identity")
    dcfg = DistanceConfig(embed_dim=data.z.shape[2], grid=int(round(data.z.shape[1] ** 0.5)), channels=cfg.arch.channels,
                          hidden=cfg.arch.hidden)
    model = DistanceHead(dcfg).to(dist.device).train()
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    cols = ["val_mae_steps", "val_near_bin"] + (["val_imagined_mae_steps", "val_imagined_near_bin"] if data.imagined is not None else [])
    run = Run(cfg, "train_distance", {**asdict(cfg), "encoder": identity}, ["step", "loss", "lr", *cols, "seconds"], dist)
    val_gen = torch.Generator().manual_seed(cfg.seed + 1)
    val_pairs = draw_pairs(data.lengths, data.val_eps, cfg.val_pairs, val_gen, 0.5, cfg.max_separation) if data.val_eps else None
    if val_pairs is not None and data.imagined is not None:
        keep = val_pairs[1] >= 1  # frames with an imagined version (not an episode's first)
        val_imagined = tuple(x[keep] for x in val_pairs)
    n_imagined = int(round(cfg.batch_size * cfg.imagined_share)) if data.imagined is not None else 0

    def loss_fn(step: int):
        ep, t, d = draw_pairs(data.lengths, data.train_eps, cfg.batch_size, gen, cfg.near_share, cfg.max_separation)
        i, j = data.start[ep] + t, data.start[ep] + t + d
        z = data.z[i].float()
        if n_imagined:
            k = np.nonzero(t[:n_imagined] >= 1)[0]  # imagined versions exist from an episode's second frame on
            z[k] = data.imagined[i[k]].float()
        logits = model(z.to(dist.device), data.z[j].float().to(dist.device))
        target = bin_of(torch.from_numpy(d), dcfg.edges).to(dist.device)
        return F.cross_entropy(logits, target, label_smoothing=cfg.label_smoothing), {}

    def validate_all() -> dict:
        if val_pairs is None:
            return {}
        v, _, _ = validate(model, data, val_pairs, data.z, "val_", dist.device)
        if data.imagined is not None:
            v.update(validate(model, data, val_imagined, data.imagined, "val_imagined_", dist.device)[0])
        return v

    step = fit(run, model, opt, params, gen, loss_fn, validate_all, desc="train-distance")
    meta = {"encoder": identity, "features": str(cfg.features), "dataset": str(cfg.dataset), "steps": step,
            "val_episodes": data.val_eps, "predictor": cfg.predictor, "labels": "none (the order of frames in time)",
            **extra_sources(cfg)}
    if val_pairs is not None:
        v, steps_pred, d = validate(model, data, val_pairs, data.z, "val_", dist.device)
        model.cfg.reached, cal = calibrate(steps_pred, d)
        meta.update({k: round(x, 4) for k, x in {**v, **cal}.items()})
    return save_distance(model.cpu(), Path(cfg.out) / "distance", meta, getattr(torch, cfg.export_dtype))
