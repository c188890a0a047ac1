"""Device choice: `auto` is CUDA, then Apple MPS, then CPU; never a hard-coded cuda:0."""

from __future__ import annotations

import torch


def pick_device(name: str = "auto") -> torch.device:
    """The torch device for a name ('auto', 'cpu', 'cuda', 'cuda:1', 'mps')."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} asked for, but CUDA is not available here")
    return dev
