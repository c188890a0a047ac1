"""`vjepa-ac pretrain`: train a small V-JEPA encoder from scratch on the videos of trajectory logs.

The V-JEPA objective with transformers' VJEPA2 modules: 3D multi-block masks (spatial blocks through all frames),
a context encoder that sees only the unmasked tokens, a predictor that fills in the masked ones from mask tokens,
an EMA target encoder on the whole clip, and an L1 loss between prediction and layer-normed target.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import VJEPA2Config, VJEPA2Model

from vjepa_ac.data.mapping import load_mapping
from vjepa_ac.data.reader import open_log
from vjepa_ac.models.encoder import Preprocess, preprocess, save_encoder
from vjepa_ac.models.weights import model_folder
from vjepa_ac.io import write_json
from vjepa_ac.training.trainer import Distributed, LoopConfig, Run, WindowSampler, check_loop, fit, split_episodes


@dataclass
class EncoderArch:
    """Size of the encoder and of its pretraining predictor."""

    hidden_size: int = 192
    layers: int = 6
    heads: int = 4
    patch_size: int = 16
    tubelet_size: int = 1  # 1: a single frame is already a whole tubelet, as planning encodes frames
    crop_size: int = 128
    mlp_ratio: float = 4.0
    pred_hidden_size: int = 96
    pred_layers: int = 4
    pred_heads: int = 4

    def config(self, frames: int) -> VJEPA2Config:
        return VJEPA2Config(
            hidden_size=self.hidden_size, num_hidden_layers=self.layers, num_attention_heads=self.heads,
            patch_size=self.patch_size, tubelet_size=self.tubelet_size, crop_size=self.crop_size, mlp_ratio=self.mlp_ratio,
            frames_per_clip=frames, pred_hidden_size=self.pred_hidden_size, pred_num_hidden_layers=self.pred_layers,
            pred_num_attention_heads=self.pred_heads, pred_num_mask_tokens=1,
        )


@dataclass
class MaskSpec:
    """One mask generator: `blocks` random spatial blocks, each `scale` of the frame, carried through every frame."""

    blocks: int = 8
    scale: float = 0.15


def vjepa2_masks() -> list[MaskSpec]:
    """V-JEPA 2's pair: short-range (8 blocks of 15 %) and long-range (2 blocks of 70 %)."""
    return [MaskSpec(8, 0.15), MaskSpec(2, 0.7)]


@dataclass
class PretrainConfig(LoopConfig):
    """`vjepa-ac pretrain dataset=DIR out=DIR steps=N`."""

    dataset: str = "data/panda_play"  # a LeRobot-layout folder (`data` names the key-mapping config group)
    mapping: str = "panda_sim"
    out: str = "runs/encoder"
    init: str | None = None  # start from an encoder of ours ("default" or a folder it was exported to): context and target encoder and predictor
    arch: EncoderArch = field(default_factory=EncoderArch)
    frames: int = 4
    stride: int = 2
    lr: float = 5e-4
    ema_start: float = 0.996
    ema_end: float = 1.0
    masks: list[MaskSpec] = field(default_factory=vjepa2_masks)  # one context/target split of each per clip and step
    crop_scale: tuple[float, float] = (0.3, 1.0)  # random resized crop, area fraction (V-JEPA 2's); (1, 1) turns it off
    crop_aspect: tuple[float, float] = (0.75, 1.35)
    val_batches: int = 4  # held-out batches (whole frames, fixed masks) scored at each validation
    export_dtype: str = "float16"  # of the exported encoder weights (training runs in float32)
    bf16: bool = False  # autocast; on CUDA it pays, on this 2-core CPU it ran 2.7x slower than float32 (RoPE ops)


def load_videos(data: str, mapping: str) -> tuple[list[np.ndarray], list[int]]:
    """Every episode's frames uint8 [T, H, W, 3], decoded once into memory, and the episode indices."""
    log = open_log(data)
    m = load_mapping(mapping)
    m.check(log)
    return [m.frames(log, i) for i in range(len(log))], list(range(len(log)))


def multiblock_mask(grid: int, frames: int, blocks: int, scale: float, gen: torch.Generator,
                    min_keep: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids (context [Nc], target [Nt]) of a union of random spatial blocks carried through every frame.

    Draws again while fewer than `min_keep` patches per frame stay visible (default a sixteenth of the frame): two 70 %
    blocks can cover a small grid whole, and an empty context predicts nothing.
    """
    min_keep = max(1, grid * grid // 16) if min_keep is None else min_keep
    for _ in range(100):
        masked = torch.zeros(grid, grid, dtype=torch.bool)
        for _ in range(blocks):
            area = scale * grid * grid
            aspect = math.exp(torch.empty(1).uniform_(math.log(0.75), math.log(1.5), generator=gen).item())
            h = max(1, min(grid, round(math.sqrt(area * aspect))))
            w = max(1, min(grid, round(math.sqrt(area / aspect))))
            top = int(torch.randint(0, grid - h + 1, (1,), generator=gen))
            left = int(torch.randint(0, grid - w + 1, (1,), generator=gen))
            masked[top : top + h, left : left + w] = True
        if int((~masked).sum()) >= min_keep:
            break
    else:
        raise ValueError(f"masks of {blocks} blocks of scale {scale} leave fewer than {min_keep} of {grid}x{grid} patches visible")
    per_frame = masked.flatten()  # [grid*grid]
    full = per_frame.repeat(frames)  # token order: frame-major, then row, then column
    ids = torch.arange(full.numel())
    return ids[~full], ids[full]


def encode_context(model: VJEPA2Model, x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
    """The context encoder on the unmasked tokens only: x [B, T, 3, c, c], ctx [B, Nc] -> [B, Nc, D]."""
    enc = model.encoder
    h = enc.embeddings(x)  # [B, N, D]
    h = torch.gather(h, 1, ctx.unsqueeze(-1).expand(-1, -1, h.shape[-1]))
    for layer in enc.layer:
        h = layer(h, ctx)[0]  # the position ids drive RoPE, so tokens keep their place in space and time
    return enc.layernorm(h)


def random_resized_crop(video: torch.Tensor, size: int, scale: tuple[float, float], aspect: tuple[float, float],
                        gen: torch.Generator) -> torch.Tensor:
    """uint8 clips [B, T, 3, H, W] -> float [B, T, 3, size, size] in [0, 1]: one random box per clip, the same for its frames."""
    h, w = video.shape[-2:]
    out = []
    for clip in video:  # [T, 3, H, W]
        area = h * w * float(torch.empty(1).uniform_(scale[0], scale[1], generator=gen))
        ar = math.exp(float(torch.empty(1).uniform_(math.log(aspect[0]), math.log(aspect[1]), generator=gen)))
        ch = max(1, min(h, round(math.sqrt(area / ar))))
        cw = max(1, min(w, round(math.sqrt(area * ar))))
        top = int(torch.randint(0, h - ch + 1, (1,), generator=gen))
        left = int(torch.randint(0, w - cw + 1, (1,), generator=gen))
        box = clip[:, :, top : top + ch, left : left + cw].float() / 255.0
        out.append(F.interpolate(box, size=(size, size), mode="bilinear", align_corners=False, antialias=True))
    return torch.stack(out)


def _sample_batch(videos, windows: WindowSampler, episodes, cfg, gen) -> torch.Tensor:
    clips = []
    for _ in range(cfg.batch_size):
        e, start = windows.draw(episodes, gen)
        clips.append(videos[e][start : start + windows.span : cfg.stride])
    return torch.from_numpy(np.stack(clips)).permute(0, 1, 4, 2, 3)  # [B, T, 3, H, W] uint8


def vjepa_loss(model: VJEPA2Model, target: nn.Module, x: torch.Tensor, splits, grid: int, t_tokens: int) -> torch.Tensor:
    """The V-JEPA loss of clips x [B, T, 3, c, c]: for each (context, target) split, the predictor fills in the target
    tokens from the context encoder's view, against the layer-normed target encoder on the whole clip (L1), averaged."""
    b, device = x.shape[0], x.device
    with torch.no_grad():
        h = target(pixel_values_videos=x).last_hidden_state  # [B, N, D]
        h = F.layer_norm(h.float(), (h.shape[-1],))
    loss = 0.0
    for ctx, tgt in splits:
        ctx_b, tgt_b = ctx.to(device).expand(b, -1), tgt.to(device).expand(b, -1)
        y = torch.gather(h, 1, tgt_b.unsqueeze(-1).expand(-1, -1, h.shape[-1]))  # [B, Nt, D]
        z = encode_context(model, x, ctx_b)  # [B, Nc, D]
        full = torch.zeros(b, grid * grid * t_tokens, z.shape[-1], device=device, dtype=z.dtype)
        full.scatter_(1, ctx_b.unsqueeze(-1).expand(-1, -1, z.shape[-1]), z)  # the predictor gathers ctx itself
        pred = model.predictor(encoder_hidden_states=full, context_mask=[ctx_b], target_mask=[tgt_b]).last_hidden_state
        loss = loss + F.l1_loss(pred.float(), y) / len(splits)
    return loss


def _init_from(model: VJEPA2Model, target: nn.Module, source: str) -> None:
    """Copy an exported encoder of ours (and its pretraining predictor) into a fresh model; shapes must match."""
    path = model_folder(source, "encoder")
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"init={source!r}: no exported encoder at {path} (config.json missing)")
    src = VJEPA2Model.from_pretrained(str(path), torch_dtype=torch.float32)
    try:
        model.load_state_dict(src.state_dict())
    except RuntimeError as e:
        raise ValueError(f"init={source!r}: its architecture does not match `arch`: {e}") from None
    target.load_state_dict(model.encoder.state_dict())


def check_pretrain_config(cfg: PretrainConfig) -> None:
    """Refuse values that cannot train, naming the field."""
    def lo_hi(r, top):
        return len(r) == 2 and 0 < r[0] <= r[1] <= top

    rules = {"frames": cfg.frames >= 1, "stride": cfg.stride >= 1, "masks": len(cfg.masks) >= 1, "val_batches": cfg.val_batches >= 1,
             "crop_scale": lo_hi(cfg.crop_scale, 1.0), "crop_aspect": lo_hi(cfg.crop_aspect, float("inf"))}
    for i, m in enumerate(cfg.masks):
        rules[f"masks[{i}]"] = m.blocks >= 1 and 0 < m.scale <= 1
    bad = [k for k, ok in rules.items() if not ok]
    if bad:
        k = bad[0]
        v = cfg.masks[int(k[6:-1])] if k.startswith("masks[") else getattr(cfg, k)
        raise ValueError(f"out-of-range pretraining setting {k}={v!r} (frames, stride, val_batches >= 1; at least one mask, each "
                         "blocks >= 1 and 0 < scale <= 1; crop_scale [lo, hi] with 0 < lo <= hi <= 1; crop_aspect [lo, hi] "
                         "with 0 < lo <= hi)")
    check_loop(cfg)


def pretrain(cfg: PretrainConfig) -> Path:
    """Train, checkpoint atomically every `checkpoint_every` steps, resume from the last checkpoint (a folder made with
    other settings is refused), validate on the held-out episodes, export the encoder."""
    check_pretrain_config(cfg)
    dist = Distributed(cfg.device)
    device = dist.device
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    videos, episodes = load_videos(cfg.dataset, cfg.mapping)
    train_eps, val_eps = split_episodes(len(episodes), cfg.val_fraction, str(cfg.dataset), cfg.train_episodes)
    windows = WindowSampler([len(v) for v in videos], (cfg.frames - 1) * cfg.stride + 1, str(cfg.dataset))
    prep = Preprocess(crop_size=cfg.arch.crop_size, mode="resize")
    model = VJEPA2Model(cfg.arch.config(cfg.frames)).to(device).train()
    target = copy.deepcopy(model.encoder).eval()
    for p in target.parameters():
        p.requires_grad_(False)
    params = [p for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    if cfg.init is not None:
        _init_from(model, target, cfg.init)
    grid = cfg.arch.crop_size // cfg.arch.patch_size
    t_tokens = cfg.frames // cfg.arch.tubelet_size
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16 and device.type in ("cpu", "cuda"))
    run = Run(cfg, "pretrain", asdict(cfg), ["step", "loss", "lr", "ema", "val_loss", "seconds"], dist)

    def loss_fn(step: int):
        clips = _sample_batch(videos, windows, train_eps, cfg, gen).to(device)  # [B, T, 3, H, W] uint8
        x = preprocess(random_resized_crop(clips, cfg.arch.crop_size, cfg.crop_scale, cfg.crop_aspect, gen), prep)
        splits = [multiblock_mask(grid, t_tokens, m.blocks, m.scale, gen) for m in cfg.masks]
        with autocast:
            return vjepa_loss(model, target, x, splits, grid, t_tokens), {}

    def ema_update(step: int) -> dict:
        ema = cfg.ema_start + (cfg.ema_end - cfg.ema_start) * step / max(1, cfg.steps)
        with torch.no_grad():
            for pt, pm in zip(target.parameters(), model.encoder.parameters()):
                pt.lerp_(pm, 1 - ema)
        return {"ema": ema}

    @torch.no_grad()
    def validate() -> dict:
        """The loss on fixed held-out clips (whole frames, masks from a fixed generator)."""
        if not val_eps:
            return {}
        vgen = torch.Generator().manual_seed(12345)
        model.eval()
        losses = []
        for _ in range(cfg.val_batches):
            clips = _sample_batch(videos, windows, val_eps, cfg, vgen).to(device)
            x = preprocess(random_resized_crop(clips, cfg.arch.crop_size, (1.0, 1.0), (1.0, 1.0), vgen), prep)
            splits = [multiblock_mask(grid, t_tokens, m.blocks, m.scale, vgen) for m in cfg.masks]
            with autocast:
                losses.append(float(vjepa_loss(model, target, x, splits, grid, t_tokens)))
        model.train()
        return {"val_loss": float(np.mean(losses))}

    step = fit(run, model, opt, params, gen, loss_fn, validate, after_step=ema_update, extra={"target": target}, desc="pretrain")
    out = Path(cfg.out)
    export = VJEPA2Model(cfg.arch.config(cfg.frames))
    export.encoder.load_state_dict(target.state_dict())  # the EMA target encoder is the one V-JEPA keeps
    export.predictor.load_state_dict(model.predictor.state_dict())
    save_encoder(export.cpu().eval(), prep, out / "encoder", dtype=getattr(torch, cfg.export_dtype))
    collected = Path(cfg.dataset) / "meta" / "vjepa_ac_collect.json"  # the env (camera included) the frames came from
    env = json.loads(collected.read_text())["env"] if collected.exists() else None
    write_json(out / "encoder" / "training.json", {"config": asdict(cfg), "steps": step, "val_episodes": val_eps, "env": env})
    return out / "encoder"
