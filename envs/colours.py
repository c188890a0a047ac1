"""Colours the envs' visual factors of variation draw: hue in degrees, saturation and value in [0, 1], to RGB."""

from __future__ import annotations

import colorsys


def hsv(h_deg: float, s: float, v: float) -> tuple[float, float, float]:
    """RGB in [0, 1] of a hue in degrees (any, taken mod 360), a saturation and a value in [0, 1]."""
    return tuple(float(x) for x in colorsys.hsv_to_rgb((h_deg % 360) / 360, s, v))
