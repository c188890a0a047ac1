"""`vjepa-ac train-head`: train the goal-distance head (`goal_head.py`) on a trajectory log and its feature cache.

Every frame's layer-normed tokens are paired with what the key mapping's `readout` names (by default the robot's own
state: the hand's pose and closure; `panda_sim_labelled` adds the cube's position, a column only the simulator writes,
and the head records which such `labels` it was trained with); the head learns to read them (smooth L1 on standardised labels). With
`predictor=` a share of each batch is the predictor's one-step imagination of a frame instead of its real tokens
(teacher-forced from the frame before, with the recorded action), labelled with the real frame's state: the head then
reads imagined tokens, which is what planning feeds it, as well as real ones. The last episodes are held out and
scored per coordinate (mean absolute error, in the labels' units).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vjepa_ac.data.mapping import load_mapping
from vjepa_ac.training.features import extra_sources, open_sources, split_sources
from vjepa_ac.models.goal_head import GoalHead, HeadConfig, save_head
from vjepa_ac.training.trainer import ReaderArch, ReaderTrainConfig, Run, check_loop, fit, setup


HeadArch = ReaderArch


@dataclass
class HeadTrainConfig(ReaderTrainConfig):
    """`vjepa-ac train-head dataset=DIR features=CACHE_DIR out=DIR [predictor=default imagined_share=0.5]`."""

    out: str = "runs/head"
    predictor: str | None = None  # train on this predictor's imagined tokens too (default, or a folder)
    imagined_share: float = 0.5  # with predictor=: the share of each batch that is imagined
    val_frames: int = 4096  # held-out frames scored at each validation (evenly spaced)


@torch.no_grad()
def imagine_frames(predictor, z: torch.Tensor, state_action, device) -> torch.Tensor:
    """One-step imagined tokens [T, N, D] (float16) of an episode's frames 1..T-1, each from the real frame before and
    the recorded action (NaN at frame 0): what planning shows a head trained on them. z [T, N, D] layer-normed;
    state_action: (state [T, S], action [T, A]) as the mapping reads them."""
    s, a = (torch.from_numpy(x).to(device) for x in state_action)
    out = torch.full_like(z, float("nan"), dtype=torch.float16)
    if len(z) > 1:
        zh = predictor.rollout(z[:-1].to(device), s[:-1], a[:-1, None])[:, 0]  # [T-1, N, D]
        out[1:] = zh.float().cpu().to(torch.float16)
    return out


class Readouts:
    """Every frame's tokens [M, N, D] (layer-normed, float16), readout labels [M, K] and episode [M]; with a predictor,
    the imagined tokens of every frame that has one before it."""

    def __init__(self, cfg: HeadTrainConfig, device: torch.device):
        self.mapping = mapping = load_mapping(cfg.mapping)
        sources = open_sources(cfg)
        for src in sources:
            mapping.check(src.log)
        self.cache = sources[0].cache
        self.train_eps, self.val_eps = split_sources(sources, cfg.val_fraction, cfg.train_episodes)
        z, y, ep, imagined = [], [], [], []
        predictor = None
        if cfg.predictor:
            from vjepa_ac.models.predictor import load_predictor

            predictor = load_predictor(cfg.predictor).to(device).eval()
        for src in sources:
            for e in range(len(src.log)):
                ze = src.cache[e].float()
                ze = F.layer_norm(ze, (ze.shape[-1],))
                ye = mapping.read_readout(src.log, e)
                if len(ye) != len(ze):
                    raise ValueError(f"episode {e}: {len(ze)} cached frames but {len(ye)} rows in {src.dataset}")
                if not np.isfinite(ye).all():
                    raise ValueError(f"episode {e} of {src.dataset}: the readout columns hold NaN or inf")
                z.append(ze.to(torch.float16))
                y.append(torch.from_numpy(ye))
                ep.append(torch.full((len(ye),), src.first + e))
                if predictor is not None:
                    imagined.append(imagine_frames(predictor, ze, mapping.read(src.log, e), device))
        self.z, self.y, self.episode = torch.cat(z), torch.cat(y), torch.cat(ep)
        self.imagined = torch.cat(imagined) if imagined else None  # [M, N, D]; NaN at each episode's first frame
        names, weights = mapping.readout_spec(self.y.shape[1])
        self.names, self.weights = names, weights
        train = torch.isin(self.episode, torch.tensor(self.train_eps))
        held = torch.isin(self.episode, torch.tensor(self.val_eps, dtype=torch.long))  # not the episodes train_episodes leaves out
        self.train_idx = torch.nonzero(train)[:, 0]
        self.val_idx = torch.nonzero(held)[:, 0]
        if self.imagined is not None:
            ok = torch.isfinite(self.imagined[:, 0, 0])
            self.imagined_train_idx = torch.nonzero(train & ok)[:, 0]
            self.imagined_val_idx = torch.nonzero(held & ok)[:, 0]
        labels = self.y[self.train_idx]
        self.mean, self.std = labels.mean(0), labels.std(0).clamp_min(1e-6)


def check_config(cfg: HeadTrainConfig) -> None:
    check_loop(cfg, {"val_frames": cfg.val_frames >= 1, "imagined_share": 0 <= cfg.imagined_share <= 1},
               "; val_frames >= 1; 0 <= imagined_share <= 1")


@torch.no_grad()
def validate(model: GoalHead, data: Readouts, idx: torch.Tensor, source: torch.Tensor, prefix: str, device) -> dict:
    """Mean absolute error per readout coordinate over the given held-out frames (in the labels' units)."""
    model.eval()
    err = torch.cat([(model(source[c].float().to(device)).cpu() - data.y[c]).abs() for c in idx.split(1024)])
    model.train()
    return {f"{prefix}{n}": float(v) for n, v in zip(data.names, err.mean(0))}


def train_head(cfg: HeadTrainConfig) -> Path:
    """Train with atomic checkpoints (resume continues step, optimiser, schedule and random state; a folder made with
    other settings is refused); returns out/head."""
    check_config(cfg)
    dist, gen = setup(cfg)
    data = Readouts(cfg, dist.device)
    identity = data.cache.meta.get("identity")
    hcfg = HeadConfig(embed_dim=data.z.shape[2], grid=int(round(data.z.shape[1] ** 0.5)), channels=cfg.arch.channels,
                      hidden=cfg.arch.hidden, names=data.names, weights=data.weights, mean=data.mean.tolist(), std=data.std.tolist(),
                      pose_coords=data.mapping.readout_pose if data.mapping.readout is not None else 0)
    model = GoalHead(hcfg).to(dist.device).train()
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    val_cols = [f"val_{n}" for n in data.names] + ([f"val_imagined_{n}" for n in data.names] if data.imagined is not None else [])
    run = Run(cfg, "train_head", {**asdict(cfg), "encoder": identity}, ["step", "loss", "lr", *val_cols, "seconds"], dist)
    mean, std = data.mean.to(dist.device), data.std.to(dist.device)

    def pick(idx: torch.Tensor) -> torch.Tensor:
        return idx[torch.linspace(0, len(idx) - 1, min(cfg.val_frames, len(idx))).long()] if len(idx) else idx

    val_idx = pick(data.val_idx)
    imagined_val_idx = pick(data.imagined_val_idx) if data.imagined is not None else None
    n_imagined = int(round(cfg.batch_size * cfg.imagined_share)) if data.imagined is not None else 0

    def loss_fn(step: int):
        real = data.train_idx[torch.randint(0, len(data.train_idx), (cfg.batch_size - n_imagined,), generator=gen)]
        z, y = data.z[real].float(), data.y[real]
        if n_imagined:
            im = data.imagined_train_idx[torch.randint(0, len(data.imagined_train_idx), (n_imagined,), generator=gen)]
            z, y = torch.cat([z, data.imagined[im].float()]), torch.cat([y, data.y[im]])
        out = model.standardised(z.to(dist.device))
        return F.smooth_l1_loss(out, (y.to(dist.device) - mean) / std, beta=0.1), {}

    def validate_all() -> dict:
        if not len(val_idx):
            return {}
        v = validate(model, data, val_idx, data.z, "val_", dist.device)
        if imagined_val_idx is not None and len(imagined_val_idx):
            v.update(validate(model, data, imagined_val_idx, data.imagined, "val_imagined_", dist.device))
        return v

    step = fit(run, model, opt, params, gen, loss_fn, validate_all, desc="train-head")
    val = validate_all()
    labels = [c for c in (data.mapping.readout or ()) if c not in data.mapping.state]  # columns beyond the robot's own state
    meta = {"encoder": identity, "features": str(cfg.features), "dataset": str(cfg.dataset), "steps": step, "labels": labels,
            "val_episodes": data.val_eps, "predictor": cfg.predictor, **{k: round(v, 5) for k, v in val.items()},
            **extra_sources(cfg)}
    return save_head(model.cpu(), Path(cfg.out) / "head", meta, getattr(torch, cfg.export_dtype))
