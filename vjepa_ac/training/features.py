"""A feature cache: encoder features of a whole dataset on disk, keyed by the encoder's identity.

With `look_seed`, every episode is encoded as seen under a look drawn for it (data/looks.py): one log, many looks.

Layout: `out/<encoder identity>/meta.json` and `shard-XXXXX.safetensors` (one tensor `episode_<i>` [T, N, D] per
episode). Features of another encoder live in another folder, so a changed encoder never reads stale features;
shards are written atomically and existing ones are kept, so an interrupted run resumes.

A trainer reads one log and its cache, or several (`extra_datasets`, `extra_features`): `open_sources` opens and
checks them, `split_sources` holds out each one's own last episodes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from vjepa_ac.data.looks import LOOK_FACTORS, apply_look, check_factors, check_share, episode_look
from vjepa_ac.data.mapping import load_mapping
from vjepa_ac.data.reader import open_log
from vjepa_ac.models.encoder import FrozenEncoder, load_encoder, view_mismatch
from vjepa_ac.io import atomic_path, write_json
from vjepa_ac.training.trainer import split_episodes

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class EncodeConfig:
    """`vjepa-ac encode dataset=DIR encoder=default out=DIR`."""

    dataset: str = "data/panda_play"
    mapping: str = "panda_sim"
    encoder: str = "default"
    out: str = "features"
    dtype: str = "float16"
    episodes_per_shard: int = 16
    batch_frames: int = 64
    device: str = "auto"
    look_seed: int | None = None  # set: every episode's frames under a look of their own (vjepa_ac/data/looks.py)
    look_share: float = 0.8  # each look factor's chance of being drawn
    look_factors: list[str] = field(default_factory=lambda: list(LOOK_FACTORS))  # the others left as recorded, e.g. [view]


def encode_dataset(cfg: EncodeConfig, encoder: FrozenEncoder | None = None) -> Path:
    """Encode every frame of every episode; returns the folder holding this encoder's features."""
    import sys

    from tqdm import tqdm

    from vjepa_ac.device import pick_device

    if cfg.dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {cfg.dtype!r}")
    enc = encoder or load_encoder(cfg.encoder)
    enc.to(pick_device(cfg.device))
    if encoder is None:
        warning = view_mismatch(cfg.dataset, cfg.encoder)
        if warning:
            print(warning, file=sys.stderr)
    log = open_log(cfg.dataset)
    mapping = load_mapping(cfg.mapping)
    mapping.check(log)
    root = Path(cfg.out) / enc.identity()
    meta = {
        "encoder": enc.name, "identity": enc.identity(), "dataset": str(Path(cfg.dataset).resolve()), "camera": mapping.camera,
        "dtype": cfg.dtype, "tokens": enc.num_patches, "dim": enc.dim, "episodes_per_shard": cfg.episodes_per_shard,
        "episodes": len(log),
    }
    if mapping.fps is not None:  # frames at the mapping's rate, not the recorded one
        meta["fps"] = mapping.fps
    if cfg.look_seed is not None:
        check_share(cfg.look_share)  # before anything is written
        factors = check_factors(cfg.look_factors)
        meta["look_seed"], meta["look_share"] = int(cfg.look_seed), float(cfg.look_share)
        if factors != LOOK_FACTORS:  # a cache of all four factors keeps the meta it had before the choice existed
            meta["look_factors"] = list(factors)
    meta_path = root / "meta.json"
    if meta_path.exists():
        old = json.loads(meta_path.read_text())
        if {k: v for k, v in old.items() if k != "encoder"} != {k: v for k, v in meta.items() if k != "encoder"}:
            raise ValueError(f"{meta_path} was written for other settings ({old}); use another `out`")
    write_json(meta_path, meta)
    shards = range(0, len(log), cfg.episodes_per_shard)
    for first in tqdm(shards, desc="shards", disable=not sys.stderr.isatty()):
        path = root / f"shard-{first // cfg.episodes_per_shard:05d}.safetensors"
        if path.exists():
            continue
        tensors = {}
        for e in range(first, min(first + cfg.episodes_per_shard, len(log))):
            frames = mapping.frames(log, e)  # uint8 [T, H, W, 3]
            if cfg.look_seed is not None:
                frames = apply_look(frames, episode_look(cfg.look_seed, e, cfg.look_share, factors))
            z = [enc.encode(torch.from_numpy(frames[i : i + cfg.batch_frames]).permute(0, 3, 1, 2)[None])[0]
                 for i in range(0, len(frames), cfg.batch_frames)]
            tensors[f"episode_{e}"] = torch.cat(z).to(DTYPES[cfg.dtype]).cpu().contiguous()  # [T, N, D]
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata={"identity": meta["identity"]})
    return root


class FeatureCache:
    """Read cached features of one encoder: `cache[i]` is episode i's z [T, N, D] (float32)."""

    def __init__(self, root: str | Path, encoder: FrozenEncoder | None = None):
        self.root = Path(root)
        meta_path = self.root / "meta.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{meta_path} is missing: not a feature cache folder")
        self.meta = json.loads(meta_path.read_text())
        if encoder is not None and encoder.identity() != self.meta["identity"]:
            raise ValueError(f"{self.root} holds features of encoder {self.meta['identity']}, not of {encoder.identity()} ({encoder.name})")

    def __len__(self) -> int:
        return int(self.meta["episodes"])

    def __getitem__(self, episode: int) -> torch.Tensor:
        shard = self.root / f"shard-{episode // self.meta['episodes_per_shard']:05d}.safetensors"
        if not shard.exists():
            raise FileNotFoundError(f"{shard} is missing (run `vjepa-ac encode` again to complete the cache)")
        with safe_open(str(shard), framework="pt") as f:
            if f.metadata().get("identity") != self.meta["identity"]:
                raise ValueError(f"{shard} belongs to encoder {f.metadata().get('identity')}, not {self.meta['identity']}")
            return f.get_tensor(f"episode_{episode}").float()


@dataclass
class Source:
    """One trajectory log and its feature cache in a run that reads several; `first` is the index its first episode
    takes among all the run's episodes (the sources' episodes one after the other)."""

    dataset: str
    features: str
    cache: FeatureCache
    log: object | None  # the opened log (None when the trainer reads features only)
    first: int


def open_sources(cfg, logs: bool = True) -> list[Source]:
    """`cfg.dataset` with `cfg.features`, then each of `cfg.extra_datasets` with the `cfg.extra_features` at its
    position; refused when they do not pair, when a cache came from another encoder than the first, or when a cache
    holds another number of episodes than its log. `logs=False` opens the caches only."""
    extra_datasets, extra_features = list(cfg.extra_datasets), list(cfg.extra_features)
    if len(extra_datasets) != len(extra_features):
        raise ValueError(f"extra_datasets ({len(extra_datasets)}) and extra_features ({len(extra_features)}) pair "
                         "by position: give one feature cache per extra dataset")
    if extra_datasets and cfg.train_episodes is not None:
        raise ValueError("train_episodes limits a single dataset; leave it unset with extra_datasets")
    sources: list[Source] = []
    first = 0
    for dataset, features in [(cfg.dataset, cfg.features), *zip(extra_datasets, extra_features)]:
        cache = FeatureCache(features)
        if sources and cache.meta.get("identity") != sources[0].cache.meta.get("identity"):
            raise ValueError(f"{features} holds features of encoder {cache.meta.get('identity')}, {sources[0].features} of "
                             f"{sources[0].cache.meta.get('identity')}: every cache must come from one encoder")
        log = open_log(dataset) if logs else None
        if log is not None and len(cache) != len(log):
            raise ValueError(f"{features} caches {len(cache)} episodes, {dataset} has {len(log)}")
        sources.append(Source(str(dataset), str(features), cache, log, first))
        first += len(cache)
    return sources


def split_sources(sources: list[Source], val_fraction: float, train_episodes: int | None = None) -> tuple[list[int], list[int]]:
    """(train, held-out) indices among all the sources' episodes: each source holds out its own last `val_fraction`
    (`split_episodes`), so one source alone splits exactly as it would without the others."""
    train, held = [], []
    for s in sources:
        t, h = split_episodes(len(s.cache), val_fraction, s.dataset, train_episodes)
        train += [s.first + e for e in t]
        held += [s.first + e for e in h]
    return train, held


def extra_sources(cfg) -> dict:
    """The extra logs and caches a model was trained on, for its saved meta (nothing when there were none)."""
    if not cfg.extra_datasets:
        return {}
    return {"extra_datasets": list(cfg.extra_datasets), "extra_features": list(cfg.extra_features)}
