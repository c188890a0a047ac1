"""The frozen V-JEPA video encoder: transformers' VJEPA2 encoder with the official preprocessing.

`encode(video[B, T, 3, H, W]) -> z[B, T, N, D]` follows the V-JEPA 2-AC convention for single frames: every frame
is its own tubelet (repeated `tubelet_size` times), so every time step has its own N patch tokens.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from transformers import VJEPA2Config, VJEPA2Model

from vjepa_ac.models.weights import is_default, load_release_entry, load_state_checked, model_folder, strip_prefixes, weights_dir

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PREPROCESS_FILE = "vjepa_ac_encoder.json"


@dataclass
class Preprocess:
    """How frames become model input: 'official' (short side to crop*256/224, centre crop) or 'resize' (whole view)."""

    crop_size: int = 256
    mode: str = "official"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self):
        if self.mode not in ("official", "resize"):
            raise ValueError(f"preprocess mode must be 'official' or 'resize', got {self.mode!r}")


def preprocess(video: torch.Tensor, p: Preprocess) -> torch.Tensor:
    """uint8 or [0, 1] float frames [B, T, 3, H, W] -> normalised float [B, T, 3, crop, crop]."""
    if video.ndim != 5 or video.shape[2] != 3:
        raise ValueError(f"video must be [B, T, 3, H, W], got shape {tuple(video.shape)}")
    b, t, _, h, w = video.shape
    x = video.reshape(b * t, 3, h, w)
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    if p.mode == "official":
        short = int(p.crop_size * 256 / 224)
        scale = short / min(h, w)
        nh, nw = max(p.crop_size, round(h * scale)), max(p.crop_size, round(w * scale))
        if (nh, nw) != (h, w):
            x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
        top, left = (nh - p.crop_size) // 2, (nw - p.crop_size) // 2
        x = x[:, :, top : top + p.crop_size, left : left + p.crop_size]
    elif (h, w) != (p.crop_size, p.crop_size):
        x = F.interpolate(x, size=(p.crop_size, p.crop_size), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(p.mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(p.std, device=x.device).view(1, 3, 1, 1)
    return ((x - mean) / std).reshape(b, t, 3, p.crop_size, p.crop_size)


class FrozenEncoder(nn.Module):
    """A V-JEPA 2 encoder in eval mode with no gradients; optional bf16 autocast on CUDA."""

    def __init__(self, model: VJEPA2Model, prep: Preprocess, name: str = "custom", bf16: bool = False):
        super().__init__()
        self.encoder = model.encoder
        self.config: VJEPA2Config = model.config
        self.prep = prep
        self.name = name  # where it came from, for humans; `identity()` is what caches key on
        self.bf16 = bf16
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    def identity(self) -> str:
        """A digest of the weights and the preprocessing: equal identities mean equal features."""
        import hashlib

        h = hashlib.sha256(json.dumps(asdict(self.prep), sort_keys=True).encode())
        for k, v in sorted(self.encoder.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().float().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    @property
    def tubelet(self) -> int:
        return self.config.tubelet_size

    @property
    def num_patches(self) -> int:
        return (self.prep.crop_size // self.config.patch_size) ** 2

    @property
    def dim(self) -> int:
        return self.config.hidden_size

    def train(self, mode: bool = True) -> "FrozenEncoder":
        return super().train(False)  # frozen: dropout and drop-path stay off

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        """Model input [B, T, 3, crop, crop] -> tokens [B, T/tubelet * N, D]."""
        use_bf16 = self.bf16 and x.is_cuda
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
            out = self.encoder(pixel_values_videos=x).last_hidden_state
        return out.float()

    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """Frames [B, T, 3, H, W] (uint8, or float in [0, 1]) -> z [B, T, N, D], each frame its own tubelet."""
        device = next(self.parameters()).device
        x = preprocess(video.to(device), self.prep)  # [B, T, 3, c, c]
        b, t = x.shape[:2]
        frames = x.reshape(b * t, 1, *x.shape[2:]).expand(-1, self.tubelet, -1, -1, -1)  # [B*T, tubelet, 3, c, c]
        z = self._run(frames)  # [B*T, N, D]
        return z.reshape(b, t, self.num_patches, self.dim)

    @torch.no_grad()
    def embed_images(self, images: np.ndarray) -> torch.Tensor:
        """Frames uint8 [B, H, W, 3] -> layer-normed embeddings [B, N, D] (the planning energy's space)."""
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 [B, H, W, 3], got {images.dtype} {images.shape}")
        video = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)[:, None]  # [B, 1, 3, H, W]
        z = self.encode(video)[:, 0]  # [B, N, D]
        return F.layer_norm(z, (z.shape[-1],))

    @torch.no_grad()
    def encode_clip(self, video: torch.Tensor) -> torch.Tensor:
        """Frames [B, T, 3, H, W] as one video (T a multiple of the tubelet) -> z [B, T/tubelet, N, D]."""
        device = next(self.parameters()).device
        x = preprocess(video.to(device), self.prep)
        b, t = x.shape[:2]
        if t % self.tubelet:
            raise ValueError(f"clip length {t} is not a multiple of the tubelet size {self.tubelet}")
        return self._run(x).reshape(b, t // self.tubelet, self.num_patches, self.dim)


# ----- loading -------------------------------------------------------------------------------------------------------
# Heads cannot be read off a state dict; the released V-JEPA 2 encoders, by width (vision_transformer.py there).
HEADS_BY_WIDTH = {384: 6, 768: 12, 1024: 16, 1280: 16, 1408: 22}


def original_to_hf(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Original V-JEPA 2 encoder keys (blocks.i.attn.qkv, patch_embed, norm) -> transformers' VJEPA2 encoder keys."""
    out: dict[str, torch.Tensor] = {}
    for raw, val in state.items():
        key = strip_prefixes(raw)
        if key == "pos_embed":
            continue  # V-JEPA 2 uses RoPE; a stored sincos table is not a parameter there
        if key.startswith("patch_embed."):
            out["encoder.embeddings.patch_embeddings." + key[len("patch_embed.") :]] = val
        elif key.startswith("norm."):
            out["encoder.layernorm." + key[len("norm.") :]] = val
        elif key.startswith("blocks."):
            _, i, rest = key.split(".", 2)
            base = f"encoder.layer.{i}."
            if rest.startswith("attn.qkv."):
                q, k, v = val.chunk(3, dim=0)
                leaf = rest[len("attn.qkv.") :]
                out[base + "attention.query." + leaf], out[base + "attention.key." + leaf], out[base + "attention.value." + leaf] = q, k, v
            elif rest.startswith("attn."):
                out[base + "attention." + rest[len("attn.") :]] = val
            else:
                out[base + rest] = val
        else:
            raise KeyError(f"unexpected key {raw!r} in a V-JEPA 2 encoder state dict")
    return out


def hf_to_original(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of `original_to_hf`, with the release's `module.backbone.` prefix (for tests and export)."""
    out: dict[str, torch.Tensor] = {}
    qkv: dict[str, dict[str, torch.Tensor]] = {}
    for key, val in state.items():
        if not key.startswith("encoder."):
            continue
        key = key[len("encoder.") :]
        if key.startswith("embeddings.patch_embeddings."):
            out["patch_embed." + key[len("embeddings.patch_embeddings.") :]] = val
        elif key.startswith("layernorm."):
            out["norm." + key[len("layernorm.") :]] = val
        else:
            _, i, rest = key.split(".", 2)
            if rest.split(".")[1] in ("query", "key", "value"):
                _, part, leaf = rest.split(".")
                qkv.setdefault(f"blocks.{i}.attn.qkv.{leaf}", {})[part] = val
            elif rest.startswith("attention."):
                out[f"blocks.{i}.attn." + rest[len("attention.") :]] = val
            else:
                out[f"blocks.{i}.{rest}"] = val
    for key, parts in qkv.items():
        out[key] = torch.cat([parts["query"], parts["key"], parts["value"]], dim=0)
    return {"module.backbone." + k: v for k, v in out.items()}


def config_from_original(state: dict[str, torch.Tensor], crop_size: int = 256, num_heads: int | None = None) -> VJEPA2Config:
    """A VJEPA2Config matching an original encoder state dict (widths and depth read off the tensors)."""
    s = {strip_prefixes(k): v for k, v in state.items()}
    if "patch_embed.proj.weight" not in s:
        raise KeyError("no 'patch_embed.proj.weight' in the state dict: not a V-JEPA 2 encoder")
    w = s["patch_embed.proj.weight"]  # [D, 3, tubelet, p, p]
    dim = w.shape[0]
    depth = 1 + max(int(k.split(".")[1]) for k in s if k.startswith("blocks."))
    heads = num_heads or HEADS_BY_WIDTH.get(dim)
    if heads is None:
        raise ValueError(f"cannot tell the number of heads of a {dim}-wide encoder; pass num_heads")
    from transformers import VJEPA2Config  # imported when an encoder is built: checking settings needs no transformers

    return VJEPA2Config(
        hidden_size=dim, num_hidden_layers=depth, num_attention_heads=heads, patch_size=w.shape[-1],
        tubelet_size=w.shape[2], crop_size=crop_size, mlp_ratio=s["blocks.0.mlp.fc1.weight"].shape[0] / dim,
        qkv_bias="blocks.0.attn.qkv.bias" in s,
    )


def load_original_encoder(path: str | Path, crop_size: int = 256, num_heads: int | None = None, key: str | None = None) -> FrozenEncoder:
    """An encoder from an original V-JEPA 2 release file (vitl.pt, vith.pt, vitg.pt, ...), loaded weights-only."""
    path = Path(path)
    found, state = load_release_entry(path, [key] if key else ["target_encoder", "encoder"])
    config = config_from_original(state, crop_size, num_heads)
    from transformers import VJEPA2Model

    model = VJEPA2Model(config)
    load_state_checked(model, original_to_hf(state), f"{path}[{found}]", prefix="encoder.")
    return FrozenEncoder(model, Preprocess(crop_size=crop_size), name=f"original:{path.name}:{found}")


def load_hf_encoder(path_or_id: str | Path, prep: Preprocess | None = None) -> FrozenEncoder:
    """An encoder from a Hugging Face-format folder (config.json + safetensors) or hub id (when online)."""
    from transformers import VJEPA2Model
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one bar per load would flood eval logs
    model = VJEPA2Model.from_pretrained(str(path_or_id), use_safetensors=True).float()  # stored bf16 comes back fp32
    side = Path(path_or_id) / PREPROCESS_FILE
    if prep is None:
        prep = Preprocess(**json.loads(side.read_text())) if side.exists() else Preprocess(crop_size=model.config.crop_size)
    return FrozenEncoder(model, prep, name=f"hf:{path_or_id}")


def save_encoder(model: VJEPA2Model, prep: Preprocess, path: str | Path, dtype: torch.dtype | None = None) -> None:
    """Our own checkpoint: transformers' safetensors + config.json, and the preprocessing beside them."""
    path = Path(path)
    if dtype is not None:
        model = copy.deepcopy(model).to(dtype)
    model.save_pretrained(str(path), safe_serialization=True)
    (path / PREPROCESS_FILE).write_text(json.dumps(asdict(prep), indent=2))


def trained_camera(source: str | Path = "default") -> str | None:
    """The Panda camera framing an encoder of ours was pretrained on, from the `training.json` that `vjepa-ac
    pretrain` writes beside it; None for encoders without one (official releases) or trained on other envs."""
    path = model_folder(source, "encoder")
    f = path / "training.json"
    if not path.is_dir() or not f.exists():
        return None
    env = json.loads(f.read_text()).get("env") or {}
    if not env.get("id", "").startswith("vjepa_ac/"):
        return None
    return env.get("camera") or (env.get("kwargs") or {}).get("camera") or "wide"


def recorded_camera(dataset: str | Path) -> str | None:
    """The Panda camera framing a dataset that `vjepa-ac collect` recorded was seen through (None for other envs and
    for logs recorded elsewhere)."""
    f = Path(dataset) / "meta" / "vjepa_ac_collect.json"
    if not f.exists():
        return None
    env = json.loads(f.read_text()).get("env") or {}
    if not env.get("id", "").startswith("vjepa_ac/Panda"):
        return None
    return env.get("camera") or (env.get("kwargs") or {}).get("camera") or "wide"


def view_mismatch(dataset: str | Path, encoder: str | Path) -> str | None:
    """A warning when a dataset was recorded through another camera than the one the encoder was pretrained on (its
    features of that view are foreign to it, and a predictor trained on them plans worse than one on its own view)."""
    here, trained = recorded_camera(dataset), trained_camera(encoder) if str(encoder).split(":")[0] != "hf" else None
    if here is None or trained is None or here == trained:
        return None
    return (f"warning: {dataset} was recorded through camera={here!r}, but encoder {encoder} was pretrained on camera={trained!r} "
            f"frames; collect with env.camera={trained} (the default) or use an encoder pretrained on {here!r}")


def default_encoder_dir() -> Path:
    """The small encoder that ships inside the package (trained by `vjepa-ac pretrain` on simulated play data)."""
    return weights_dir("default", "encoder")


def load_encoder(source: str | Path = "default", **kwargs) -> FrozenEncoder:
    """A frozen encoder: "default" (shipped, offline), a Hugging Face folder or hub id, or an original release file."""
    if is_default(source):
        path = weights_dir(str(source), "encoder")
        if not (path / "model.safetensors").exists():
            raise FileNotFoundError(f"the default encoder is missing from this install ({path}); reinstall vjepa-ac")
        enc = load_hf_encoder(path, **kwargs)
        enc.name = "default"
        return enc
    p = Path(source)
    if p.suffix in (".pt", ".pth", ".tar"):
        return load_original_encoder(p, **kwargs)
    return load_hf_encoder(source, **kwargs)
