"""`vjepa-ac train-decoder`: train the decoder probe (embeddings -> pixels) on a trajectory log and its feature cache.

L1 plus `ssim_weight` x (1 - SSIM) between decoded and real frames; the last `val_fraction` episodes held out and
scored by PSNR and SSIM. Checkpoints every `checkpoint_every` steps (weights, optimiser, step, random state, written
atomically) so a killed run resumes where it stopped, like the other trainers.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from vjepa_ac.data.mapping import load_mapping
from vjepa_ac.data.reader import open_log
from vjepa_ac.decoder import DecoderConfig, PatchDecoder, psnr, save_decoder, ssim, to_float
from vjepa_ac.device import pick_device
from vjepa_ac.features import FeatureCache
from vjepa_ac.io import atomic_path, open_step_log, remove_stale_temps, write_json
from vjepa_ac.schedule import warmup_cosine


@dataclass
class DecoderTrainConfig:
    """`vjepa-ac train-decoder dataset=DIR features=CACHE_DIR out=DIR`."""

    dataset: str = "data/panda_play"
    mapping: str = "panda_sim"
    features: str = "features"  # the folder `vjepa-ac encode` wrote for one encoder (holds meta.json)
    out: str = "runs/decoder"
    decoder: DecoderConfig = field(default_factory=DecoderConfig)  # embed_dim and grid are taken from the cache
    batch_size: int = 32
    steps: int = 3000
    lr: float = 1e-3
    min_lr: float = 1e-5
    warmup: int = 100
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ssim_weight: float = 0.2
    val_fraction: float = 0.15  # the last episodes
    val_frames: int = 256  # fixed held-out frames scored at each validation
    val_every: int = 500
    checkpoint_every: int = 250
    resume: bool = True
    seed: int = 0
    device: str = "auto"
    progress: bool | None = None


def check_config(cfg: DecoderTrainConfig) -> None:
    rules = {"steps": cfg.steps >= 1, "batch_size": cfg.batch_size >= 1, "lr": cfg.lr > 0, "ssim_weight": cfg.ssim_weight >= 0,
             "val_fraction": 0 <= cfg.val_fraction < 1, "val_frames": cfg.val_frames >= 1, "val_every": cfg.val_every >= 1,
             "checkpoint_every": cfg.checkpoint_every >= 1}
    bad = [k for k, ok in rules.items() if not ok]
    if bad:
        raise ValueError(f"out-of-range decoder training setting {bad[0]}={getattr(cfg, bad[0])!r} (steps, batch_size, val_frames, "
                         "val_every, checkpoint_every >= 1; lr > 0; ssim_weight >= 0; 0 <= val_fraction < 1)")


class Frames:
    """Every frame uint8 [H, W, 3] and its embedding [N, D] (float16), flattened over episodes, with the episode split."""

    def __init__(self, cfg: DecoderTrainConfig):
        log = open_log(cfg.dataset)
        mapping = load_mapping(cfg.mapping)
        mapping.check(log)
        self.cache = FeatureCache(cfg.features)
        if len(self.cache) != len(log):
            raise ValueError(f"{cfg.features} caches {len(self.cache)} episodes, {cfg.dataset} has {len(log)}")
        frames, z, episode = [], [], []
        for e in range(len(log)):
            f, ze = mapping.frames(log, e), self.cache[e]
            if len(f) != len(ze):
                raise ValueError(f"episode {e}: {len(ze)} cached embeddings but {len(f)} frames in {cfg.dataset}")
            frames.append(torch.from_numpy(f))
            z.append(ze.to(torch.float16))
            episode.append(torch.full((len(f),), e))
        self.frames, self.z, self.episode = torch.cat(frames), torch.cat(z), torch.cat(episode)  # [M, H, W, 3], [M, N, D], [M]
        n = len(log)
        n_val = max(1, int(n * cfg.val_fraction)) if n > 1 and cfg.val_fraction > 0 else 0
        self.val_episodes = list(range(n - n_val, n))
        self.train_idx = torch.nonzero(self.episode < n - n_val)[:, 0]
        self.val_idx = torch.nonzero(self.episode >= n - n_val)[:, 0]
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
    """Train with atomic checkpoints; resume continues step, optimiser, schedule and random state. Returns out/decoder."""
    check_config(cfg)
    device = pick_device(cfg.device)
    out = Path(cfg.out)
    if out.exists():
        remove_stale_temps(out)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    data = Frames(cfg)
    tokens, dim = data.z.shape[1], data.z.shape[2]
    dcfg = DecoderConfig(**{**asdict(cfg.decoder), "embed_dim": dim, "grid": int(round(tokens**0.5)), "image_size": data.frames.shape[1]})
    model = PatchDecoder(dcfg).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    val_idx = data.val_idx[torch.linspace(0, len(data.val_idx) - 1, min(cfg.val_frames, len(data.val_idx))).long()] if len(data.val_idx) else data.val_idx
    ckpt_path = out / "checkpoint.pt"
    step = 0
    if cfg.resume and ckpt_path.exists():
        st = torch.load(ckpt_path, map_location=device, weights_only=True)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        gen.set_state(st["generator"])
        torch.set_rng_state(st["torch_rng"])
        step = int(st["step"])
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "train_config.json", asdict(cfg))
    log_f, log = open_step_log(out / "log.csv", step, ["step", "loss", "l1", "lr", "val_psnr", "val_ssim", "val_l1", "seconds"])
    from tqdm import tqdm

    bar = tqdm(total=cfg.steps, initial=step, desc="train-decoder", disable=not (sys.stderr.isatty() if cfg.progress is None else cfg.progress))
    t0 = time.time()
    val = {}
    while step < cfg.steps:
        idx = data.train_idx[torch.randint(0, len(data.train_idx), (cfg.batch_size,), generator=gen)]
        z, target = data.batch(idx, device)
        lr = warmup_cosine(step, cfg.lr, cfg.min_lr, cfg.warmup, cfg.steps)
        for g in opt.param_groups:
            g["lr"] = lr
        loss, l1 = loss_fn(model(z), target, cfg.ssim_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        bar.update()
        val = validate(model, data, val_idx, device) if (step % cfg.val_every == 0 or step == cfg.steps) and len(val_idx) else {}
        log.writerow([step, f"{loss.item():.5f}", f"{l1.item():.5f}", f"{lr:.2e}", f"{val.get('val_psnr', float('nan')):.3f}",
                      f"{val.get('val_ssim', float('nan')):.4f}", f"{val.get('val_l1', float('nan')):.5f}", f"{time.time() - t0:.1f}"])
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            state = {"step": torch.tensor(step), "model": model.state_dict(), "optimizer": opt.state_dict(),
                     "generator": gen.get_state(), "torch_rng": torch.get_rng_state()}
            with atomic_path(ckpt_path) as tmp:
                torch.save(state, tmp)
    bar.close()
    log_f.close()
    if not val and len(val_idx):
        val = validate(model, data, val_idx, device)
    meta = {"encoder": data.cache.meta.get("identity"), "features": str(cfg.features), "dataset": str(cfg.dataset), "steps": step,
            "val_episodes": data.val_episodes, **{k: round(v, 4) for k, v in val.items()}}
    save_decoder(model.cpu(), out / "decoder", meta)
    return out / "decoder"
