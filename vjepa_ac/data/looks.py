"""Other looks for a log's frames: the image seen from a slightly other camera, under other light, in other colours.

One log yields many looks (`vjepa-ac encode look_seed=S`): every frame of an episode gets the same draw, as a moved
camera, a dimmer lamp or a repainted scene would hold for a whole episode, and episode e's draw comes from
`default_rng([S, e])`, so a cache is rebuilt exactly. Only the frames change, so any robot log can be augmented.

The draws leave out bands around the values that `vjepa_ac/OGBenchCube-v0`'s robustness table tests (the same bands
as the env's `randomize_look`): no brightness scale of 0.4-0.6 (the table halves the light) and no colour turn
that carries a red cube into the greens (hue 80-160°; the table's cube is green). A turned camera is a 3-D change that no image warp reproduces; the warp here
(a small homography: turn, zoom, shift and tilt of the image plane) only shows the model that views move.
`look_factors` keeps some of the four factors (view, brightness, hue, saturation) and leaves the others as recorded;
the numbers drawn stay the same, so `look_factors=[view]` under seed S warps each episode as the full look of seed S does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

LOOK_FACTORS = ("view", "brightness", "hue", "saturation")
_FIELDS = {"view": ("turn_deg", "zoom", "shift", "tilt"), "brightness": ("brightness",), "hue": ("hue_deg",),
           "saturation": ("saturation",)}  # FrameLook's fields of each factor
HELD_OUT_BRIGHTNESS = (0.4, 0.6)  # the robustness table's light=0.5
HELD_OUT_HUE = (185.0, 285.0)  # degrees of the (I, Q) turn that carry a red cube's hue into 80-160° (the greens; the table's is 120)

# RGB <-> YIQ: a hue turn is a rotation of the (I, Q) plane
_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ2RGB = torch.linalg.inv(_RGB2YIQ)


@dataclass(frozen=True)
class FrameLook:
    """One episode's look. The identity look changes nothing."""

    turn_deg: float = 0.0  # image turned about its centre
    zoom: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)  # (x, y), fractions of half the image
    tilt: tuple[float, float] = (0.0, 0.0)  # the homography's perspective terms
    brightness: float = 1.0  # every channel scaled
    hue_deg: float = 0.0  # turn of the colour plane (I, Q) of YIQ; about 230 turns red into green
    saturation: float = 1.0  # 0 grey, 1 as recorded


def _outside(rng: np.random.Generator, low: float, high: float, band: tuple[float, float]) -> float:
    """Uniform on [low, high] less the band (inverse transform over the two pieces)."""
    a, b = max(low, band[0]), min(high, band[1])
    gap = max(0.0, b - a)
    u = rng.uniform(low, high - gap)
    return u + gap if gap and u >= a else u


def check_share(p: float) -> None:
    """Refuse a look factor's chance outside [0, 1], naming the setting."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"look_share must lie in [0, 1], got {p}")


def check_factors(factors) -> tuple[str, ...]:
    """The look factors asked for, in LOOK_FACTORS' order; an unknown or empty choice is refused, naming the setting."""
    factors = tuple(factors)
    unknown = [f for f in factors if f not in LOOK_FACTORS]
    if unknown or not factors:
        raise ValueError(f"look_factors must be a non-empty subset of {list(LOOK_FACTORS)}, got {list(factors)}")
    return tuple(f for f in LOOK_FACTORS if f in factors)


def draw_frame_look(rng: np.random.Generator, p: float = 0.8, factors=LOOK_FACTORS) -> FrameLook:
    """Each of the four factors (view, brightness, hue, saturation) drawn with probability p, else left as recorded.

    Factors not in `factors` are left as recorded; the generator is consumed alike, so the others are the same draws.
    """
    check_share(p)
    keep = check_factors(factors)
    recorded = FrameLook()
    return replace(_draw_all(rng, p), **{name: getattr(recorded, name) for factor in LOOK_FACTORS if factor not in keep
                                         for name in _FIELDS[factor]})


def _draw_all(rng: np.random.Generator, p: float) -> FrameLook:
    view = rng.random() < p
    return FrameLook(
        turn_deg=float(rng.uniform(-10.0, 10.0)) if view else 0.0,
        zoom=float(rng.uniform(0.9, 1.15)) if view else 1.0,
        shift=(float(rng.uniform(-0.1, 0.1)), float(rng.uniform(-0.1, 0.1))) if view else (0.0, 0.0),
        tilt=(float(rng.uniform(-0.12, 0.12)), float(rng.uniform(-0.12, 0.12))) if view else (0.0, 0.0),
        brightness=_outside(rng, 0.3, 1.3, HELD_OUT_BRIGHTNESS) if rng.random() < p else 1.0,
        hue_deg=_outside(rng, 0.0, 360.0, HELD_OUT_HUE) if rng.random() < p else 0.0,
        saturation=float(rng.uniform(0.4, 1.4)) if rng.random() < p else 1.0,
    )


def episode_look(seed: int, episode: int, p: float = 0.8, factors=LOOK_FACTORS) -> FrameLook:
    """Episode `episode`'s look under `look_seed=seed` (and `look_factors=factors`)."""
    return draw_frame_look(np.random.default_rng([seed, episode]), p, factors)


def _homography(look: FrameLook) -> torch.Tensor:
    """The 3 x 3 map from output to input pixel coordinates in [-1, 1]: [3, 3]."""
    c, s = math.cos(math.radians(look.turn_deg)), math.sin(math.radians(look.turn_deg))
    return torch.tensor([[c / look.zoom, -s / look.zoom, look.shift[0]],
                         [s / look.zoom, c / look.zoom, look.shift[1]],
                         [look.tilt[0], look.tilt[1], 1.0]], dtype=torch.float32)


def apply_look(frames: np.ndarray, look: FrameLook) -> np.ndarray:
    """frames uint8 [T, H, W, 3] -> the same frames under `look`, uint8 [T, H, W, 3] (edges repeat the border)."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    if look == FrameLook():
        return frames.copy()
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0  # [T, 3, H, W]
    t, _, h, w = x.shape
    ys, xs = torch.linspace(-1, 1, h), torch.linspace(-1, 1, w)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    out_xy1 = torch.stack([gx, gy, torch.ones_like(gx)], -1).reshape(-1, 3)  # [H*W, 3]
    src = out_xy1 @ _homography(look).T  # [H*W, 3]
    grid = (src[:, :2] / src[:, 2:].clamp_min(1e-3)).reshape(1, h, w, 2).expand(t, h, w, 2)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
    yiq = torch.einsum("ij,tjhw->tihw", _RGB2YIQ, x)  # [T, 3, H, W]
    c, s = math.cos(math.radians(look.hue_deg)), math.sin(math.radians(look.hue_deg))
    i, q = yiq[:, 1], yiq[:, 2]
    yiq = torch.stack([yiq[:, 0], look.saturation * (c * i - s * q), look.saturation * (s * i + c * q)], 1)
    x = torch.einsum("ij,tjhw->tihw", _YIQ2RGB, yiq) * look.brightness
    return (x.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
