"""Loading released checkpoints safely: weights-only unpickling, prefixes stripped, every key and shape checked."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def strip_prefixes(key: str) -> str:
    """A key without the `module.` (DDP) and `backbone.` wrappers of the V-JEPA 2 releases."""
    for prefix in ("module.", "backbone."):
        while key.startswith(prefix):
            key = key[len(prefix) :]
    return key


def load_release_entry(path: Path, entries: list[str]) -> tuple[str, dict[str, torch.Tensor]]:
    """The first present entry of a `torch.load`ed release dict, loaded weights-only (no code is ever unpickled)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a pickle with code in it, a truncated file, not a torch file at all
        raise ValueError(f"{path}: not a loadable weights-only checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(ckpt, dict):
        raise ValueError(f"{path}: expected a dict of state dicts, got {type(ckpt).__name__}")
    found = next((k for k in entries if k in ckpt), None)
    if found is None:
        raise KeyError(f"{path}: none of the entries {entries} present; entries: {sorted(ckpt)[:10]}")
    return found, ckpt[found]


def load_state_checked(model: nn.Module, state: dict[str, torch.Tensor], source: str, prefix: str = "") -> None:
    """Load a state dict after checking every key and shape; the first mismatch is named with both shapes."""
    expected = {k: v for k, v in model.state_dict().items() if k.startswith(prefix)}
    for k, v in state.items():
        if k not in expected:
            raise KeyError(f"{source}: unexpected key {k!r} (not a parameter of {type(model).__name__} under {prefix!r})")
        if tuple(v.shape) != tuple(expected[k].shape):
            raise ValueError(f"{source}: key {k!r} has shape {tuple(v.shape)}, expected {tuple(expected[k].shape)}")
        if expected[k].is_floating_point() and not v.is_floating_point():
            raise TypeError(f"{source}: key {k!r} has dtype {v.dtype}, expected floating point like {expected[k].dtype}")
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise ValueError(f"{source}: key {k!r} holds NaN or inf values")
    missing = sorted(set(expected) - set(state))
    if missing:
        raise KeyError(f"{source}: missing key {missing[0]!r}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
    model.load_state_dict(state, strict=False)
