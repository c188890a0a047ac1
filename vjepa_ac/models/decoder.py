"""A decoder probe: frozen patch embeddings back to pixels, to show what the world model believes in pictures.

For visualisation only (the planner never uses it). A small convolutional decoder: each token is projected onto a
`grid x grid` map, then upsampled x2 per stage to the frame size. It reads embeddings layer-normed without affine, the
space the predictor works in, so real and imagined embeddings decode alike. Trained by `vjepa-ac train-decoder`
(`vjepa_ac/training/decoder.py`); saved as a folder (`model.safetensors`, `config.json` naming the encoder it reads).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vjepa_ac.models.weights import load_model, read_folder, save_folder


@dataclass
class DecoderConfig:
    embed_dim: int = 192  # the encoder's width
    grid: int = 8  # tokens per side (N = grid**2)
    image_size: int = 128  # square frames; image_size / grid must be a power of two
    channels: list[int] = field(default_factory=lambda: [256, 128, 64])  # at the grid, then after each x2 conv stage
    shuffle: int = 4  # the last x`shuffle` by pixel shuffle (a conv to 3 * shuffle^2 channels), not by convs at full size

    def __post_init__(self):
        up = self.image_size / (self.grid * self.shuffle)
        stages = int(round(math.log2(up))) if up >= 1 else -1
        if stages < 0 or 2**stages != up:
            raise ValueError(f"decoder image_size {self.image_size} must be the grid {self.grid} times shuffle {self.shuffle} times a power of two")
        if len(self.channels) != stages + 1:
            raise ValueError(f"decoder channels needs {stages + 1} entries (the grid, then one per x2 stage up to "
                             f"{self.image_size // self.shuffle} px), got {list(self.channels)}")


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.GroupNorm(8 if c_out % 8 == 0 else 1, c_out), nn.SiLU(),
                         nn.Conv2d(c_out, c_out, 3, padding=1), nn.GroupNorm(8 if c_out % 8 == 0 else 1, c_out), nn.SiLU())


class PatchDecoder(nn.Module):
    """z [B, N, D] (any scale: it is layer-normed first) -> images [B, 3, H, W] in [0, 1].

    Convolutions up to a quarter of the frame size, then a pixel shuffle: at 128 px it trains at ~0.2 s per batch of
    32 on two CPU cores, where convolutions at full size took ~1 s."""

    def __init__(self, cfg: DecoderConfig):
        super().__init__()
        self.cfg = cfg
        c = list(cfg.channels)
        self.proj = nn.Linear(cfg.embed_dim, c[0])
        self.mix = _block(c[0], c[0])  # neighbouring tokens, before any upsampling
        self.stages = nn.ModuleList(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), _block(ci, co)) for ci, co in zip(c, c[1:]))
        self.head = nn.Sequential(nn.Conv2d(c[-1], 3 * cfg.shuffle**2, 3, padding=1), nn.PixelShuffle(cfg.shuffle))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b, n, d = z.shape
        g = self.cfg.grid
        if (n, d) != (g * g, self.cfg.embed_dim):
            raise ValueError(f"decoder expects embeddings [B, {g * g}, {self.cfg.embed_dim}], got {list(z.shape)}")
        x = self.proj(F.layer_norm(z.float(), (d,)))  # [B, N, C0]
        x = x.transpose(1, 2).reshape(b, -1, g, g)  # [B, C0, g, g]
        x = self.mix(x)
        for stage in self.stages:
            x = stage(x)
        return torch.sigmoid(self.head(x))

    @torch.no_grad()
    def images(self, z: torch.Tensor, batch: int = 64) -> np.ndarray:
        """z [B, N, D] -> uint8 frames [B, H, W, 3]."""
        p = next(self.parameters())
        out = [self(z[i : i + batch].to(p.device)) for i in range(0, len(z), batch)]
        return to_uint8(torch.cat(out)) if out else np.zeros((0, self.cfg.image_size, self.cfg.image_size, 3), np.uint8)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """[B, 3, H, W] in [0, 1] -> uint8 [B, H, W, 3]."""
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def to_float(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 [B, H, W, 3] -> float [B, 3, H, W] in [0, 1]."""
    return torch.as_tensor(np.asarray(frames)).permute(0, 3, 1, 2).float() / 255.0


# ----- fidelity -------------------------------------------------------------------------------------------------------
def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio [B] in dB of images [B, 3, H, W] in [0, 1]."""
    mse = ((a.float() - b.float()) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Structural similarity [B] (Wang et al. 2004: Gaussian window, K1 0.01, K2 0.03) of images [B, 3, H, W] in [0, 1]."""
    t = torch.arange(window, dtype=torch.float32, device=a.device) - window // 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    c = a.shape[1]
    kh, kw = g.view(1, 1, 1, -1).expand(c, 1, 1, window), g.view(1, 1, -1, 1).expand(c, 1, window, 1)  # separable

    def blur(x):
        return F.conv2d(F.conv2d(x, kh, groups=c), kw, groups=c)

    a, b = a.float(), b.float()
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2, blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1)


def object_colour(frame: np.ndarray, uv: np.ndarray, radius: int = 1) -> np.ndarray:
    """The median colour [3] of a (2 radius + 1)^2 window of a uint8 frame [H, W, 3] around pixel uv (the objects'
    colours are randomised per episode: read the cube's from a real frame at its projected position)."""
    h, w = frame.shape[:2]
    u, v = int(round(float(uv[0]))), int(round(float(uv[1])))
    win = frame[max(v - radius, 0) : min(v + radius + 1, h), max(u - radius, 0) : min(u + radius + 1, w)]
    return np.median(win.reshape(-1, 3), axis=0)


def locate_colour(frames: np.ndarray, colour: np.ndarray, tol: float = 40.0, min_pixels: int = 3) -> np.ndarray:
    """A colour-blob locator: the centroid (u, v) [B, 2] of the pixels within `tol` (RGB distance, 0-255 scale) of
    `colour` in uint8 frames [B, H, W, 3]; NaN where fewer than `min_pixels` match."""
    x = np.asarray(frames).astype(np.float32)
    mask = np.linalg.norm(x - np.asarray(colour, np.float32), axis=-1) < tol  # [B, H, W]
    out = np.full((len(x), 2), np.nan, np.float32)
    for i, m in enumerate(mask):
        v, u = np.nonzero(m)
        if len(u) >= min_pixels:
            out[i] = (u.mean(), v.mean())
    return out


# ----- checkpoints ----------------------------------------------------------------------------------------------------
def save_decoder(model: PatchDecoder, path: Path, extra: dict | None = None, dtype: torch.dtype = torch.float32) -> None:
    """model.safetensors (in `dtype`) and config.json (the architecture and the encoder identity it reads) in a folder."""
    save_folder(path, "decoder", asdict(model.cfg), model.state_dict(), extra, dtype)


def load_decoder(source: str | Path = "default", encoder=None) -> PatchDecoder:
    """A decoder: "default" (shipped, for the default encoder) or a folder written by `vjepa-ac train-decoder`.

    With `encoder` given, refuses a decoder trained on another encoder's embeddings (its pictures would be noise)."""
    meta, state, path = read_folder(source, "decoder", "decoder", "train-decoder", encoder)
    return load_model(PatchDecoder(DecoderConfig(**meta["decoder"])), state, path, meta)


# ----- imagination in pictures -----------------------------------------------------------------------------------------
@torch.no_grad()
def imagined_embeddings(predictor, z: torch.Tensor, state: torch.Tensor, action: torch.Tensor, ahead: int) -> dict[int, torch.Tensor]:
    """Open-loop predictions of a recorded episode: {k: zhat [T, N, D]} where zhat[t] is predicted for frame t from the
    real embedding of frame t - k and the recorded actions in between (NaN for t < k).

    z [T, N, D] real embeddings (layer-normed), state [T, S], action [T, A] as the mapping reads them."""
    t_len = len(z)
    out = {k: torch.full_like(z, float("nan")) for k in range(1, ahead + 1)}
    starts = torch.arange(0, max(t_len - 1, 0))  # each start rolls up to `ahead` steps
    p = next(predictor.parameters())
    for chunk in starts.split(256):
        k_max = min(ahead, t_len - 1 - int(chunk[0]))
        # windows of actions from each start; short windows near the end are padded and their outputs dropped
        idx = (chunk[:, None] + torch.arange(k_max)[None]).clamp_max(t_len - 1)  # [B, k]
        zhat = predictor.rollout(z[chunk].to(p), state[chunk].to(p), action[idx].to(p))  # [B, k, N, D]
        for k in range(1, k_max + 1):
            target = chunk + k
            keep = target < t_len
            out[k][target[keep]] = zhat[keep, k - 1].float().cpu()
    return out


@torch.no_grad()
def episode_pictures(frames: np.ndarray, state: np.ndarray, action: np.ndarray, encoder, predictor, decoder: PatchDecoder,
                     ahead: int = 4) -> dict:
    """What the model believes about a recorded episode, in pictures.

    frames uint8 [T, H, W, 3], state [T, S], action [T, A] (as the key mapping reads them). Returns {"real": frames,
    "decoded": the real embeddings decoded [T, H, W, 3], k: frames decoded from embeddings predicted k steps ahead
    [T, H, W, 3] (frame t imagined from frame t - k and the recorded actions; black for t < k), "z": real [T, N, D],
    "z_ahead": {k: [T, N, D]}}."""
    z = encoder.embed_images(np.asarray(frames)).cpu()  # [T, N, D], layer-normed
    zhat = imagined_embeddings(predictor, z, torch.as_tensor(state, dtype=torch.float32), torch.as_tensor(action, dtype=torch.float32), ahead)
    out = {"real": np.asarray(frames), "decoded": decoder.images(z), "z": z, "z_ahead": zhat}
    for k, zk in zhat.items():
        pics = np.zeros_like(out["decoded"])
        ok = torch.isfinite(zk).flatten(1).all(1)
        if ok.any():
            pics[ok.numpy()] = decoder.images(zk[ok])
        out[k] = pics
    return out
