"""`vjepa-ac train-decoder`: train the decoder probe (embeddings -> pixels) on a trajectory log and its feature cache.

L1 plus `ssim_weight` x (1 - SSIM) between decoded and real frames; the last `val_fraction` episodes held out and
scored by PSNR and SSIM. Checkpoints, resume and the settings check are the shared trainer's (`trainer.py`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from vjepa_ac.data.mapping import load_mapping
from vjepa_ac.models.decoder import DecoderConfig, PatchDecoder, psnr, save_decoder, ssim, to_float
from vjepa_ac.training.features import extra_sources, open_sources, split_sources
from vjepa_ac.training.trainer import CachedTrainConfig, Run, check_loop, fit, setup


@dataclass
class DecoderTrainConfig(CachedTrainConfig):
    """`vjepa-ac train-decoder dataset=DIR features=CACHE_DIR out=DIR`."""

    out: str = "runs/decoder"
    decoder: DecoderConfig = field(default_factory=DecoderConfig)  # embed_dim and grid are taken from the cache
    steps: int = 3000
    lr: float = 1e-3
    weight_decay: float = 0.0
    ssim_weight: float = 0.2
    val_frames: int = 256  # fixed held-out frames scored at each validation
    val_every: int = 500


def check_config(cfg: DecoderTrainConfig) -> None:
    check_loop(cfg, {"ssim_weight": cfg.ssim_weight >= 0, "val_frames": cfg.val_frames >= 1}, "; ssim_weight >= 0; val_frames >= 1")


class Frames:
    """Every frame uint8 [H, W, 3] and its embedding [N, D] (float16), flattened over episodes, with the episode split."""

    def __init__(self, cfg: DecoderTrainConfig):
        mapping = load_mapping(cfg.mapping)
        sources = open_sources(cfg)
        self.cache = sources[0].cache
        frames, z, episode = [], [], []
        for src in sources:
            mapping.check(src.log)
            for e in range(len(src.log)):
                f, ze = mapping.frames(src.log, e), src.cache[e]
                if len(f) != len(ze):
                    raise ValueError(f"episode {e}: {len(ze)} cached embeddings but {len(f)} frames in {src.dataset}")
                frames.append(torch.from_numpy(f))
                z.append(ze.to(torch.float16))
                episode.append(torch.full((len(f),), src.first + e))
        self.frames, self.z, self.episode = torch.cat(frames), torch.cat(z), torch.cat(episode)  # [M, H, W, 3], [M, N, D], [M]
        train_eps, self.val_episodes = split_sources(sources, cfg.val_fraction, cfg.train_episodes)
        self.train_idx = torch.nonzero(torch.isin(self.episode, torch.tensor(train_eps)))[:, 0]
        self.val_idx = torch.nonzero(torch.isin(self.episode, torch.tensor(self.val_episodes, dtype=torch.long)))[:, 0]
        if self.frames.shape[1] != self.frames.shape[2]:
            raise ValueError(f"{cfg.dataset}: the decoder makes square frames; the camera gives {tuple(self.frames.shape[1:3])}")

    def batch(self, idx: torch.Tensor, device) -> tuple[torch.Tensor, torch.Tensor]:
        """z [B, N, D] float32 and target frames [B, 3, H, W] in [0, 1]."""
        return self.z[idx].float().to(device), to_float(self.frames[idx]).to(device)


def loss_fn(pred: torch.Tensor, target: torch.Tensor, ssim_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    l1 = F.l1_loss(pred, target)
    return l1 + (ssim_weight * (1 - ssim(pred, target).mean()) if ssim_weight > 0 else 0.0), l1


@torch.no_grad()
def validate(model: PatchDecoder, data: Frames, idx: torch.Tensor, device, batch: int = 64) -> dict:
    """Mean PSNR (dB), SSIM and L1 over the given held-out frames."""
    model.eval()
    p, s, l1 = [], [], []
    for chunk in idx.split(batch):
        z, target = data.batch(chunk, device)
        pred = model(z)
        p.append(psnr(pred, target).cpu())
        s.append(ssim(pred, target).cpu())
        l1.append((pred - target).abs().flatten(1).mean(1).cpu())
    model.train()
    return {"val_psnr": float(torch.cat(p).mean()), "val_ssim": float(torch.cat(s).mean()), "val_l1": float(torch.cat(l1).mean())}


def train_decoder(cfg: DecoderTrainConfig) -> Path:
    """Train with atomic checkpoints; resume continues step, optimiser, schedule and random state (a folder made with
    other settings is refused). Returns out/decoder."""
    check_config(cfg)
    dist, gen = setup(cfg)
    device = dist.device
    data = Frames(cfg)
    tokens, dim = data.z.shape[1], data.z.shape[2]
    dcfg = DecoderConfig(**{**asdict(cfg.decoder), "embed_dim": dim, "grid": int(round(tokens**0.5)), "image_size": data.frames.shape[1]})
    model = PatchDecoder(dcfg).to(device).train()
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    val_idx = data.val_idx[torch.linspace(0, len(data.val_idx) - 1, min(cfg.val_frames, len(data.val_idx))).long()] if len(data.val_idx) else data.val_idx
    identity = data.cache.meta.get("identity")
    run = Run(cfg, "train_decoder", {**asdict(cfg), "encoder": identity},
              ["step", "loss", "l1", "lr", "val_psnr", "val_ssim", "val_l1", "seconds"], dist)

    def loss_step(step: int):
        idx = data.train_idx[torch.randint(0, len(data.train_idx), (cfg.batch_size,), generator=gen)]
        z, target = data.batch(idx, device)
        loss, l1 = loss_fn(model(z), target, cfg.ssim_weight)
        return loss, {"l1": l1}

    def validate_now() -> dict:
        return validate(model, data, val_idx, device) if len(val_idx) else {}

    step = fit(run, model, opt, params, gen, loss_step, validate_now, desc="train-decoder")
    val = validate_now()
    meta = {"encoder": identity, "features": str(cfg.features), "dataset": str(cfg.dataset), "steps": step,
            "val_episodes": data.val_episodes, **{k: round(v, 4) for k, v in val.items()}, **extra_sources(cfg)}
    save_decoder(model.cpu(), Path(cfg.out) / "decoder", meta, getattr(torch, cfg.export_dtype))
    return Path(cfg.out) / "decoder"
