"""What every trainer shares (`pretrain`, `train`, `train-decoder`, `train-head`): the loop settings, the episode
split, the clip-window sampler, checkpoints that resume exactly (and refuse a folder made with other settings), the
per-step CSV log, the learning-rate schedule, validation at fixed steps, and DDP/FSDP under `torchrun`.

A trainer supplies its model, its optimiser and one function that computes a batch's loss; `fit` does the rest.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from vjepa_ac.io import atomic_path, open_step_log, remove_stale_temps, write_json
from vjepa_ac.training.schedule import SCHEDULES, learning_rate

RESUME_MODES = ("auto", "force", "no")
# Settings that never change what a run computes: they may differ when a run is resumed. `steps` may grow too (a run
# is extended by resuming it with more steps; its schedule then stretches from that point on).
NOT_SETTINGS = ("out", "steps", "resume", "progress", "device", "val_every", "checkpoint_every", "encode_batch", "export_dtype")
# Settings added after runs were made without them: left empty, they compare as absent, so those runs still resume.
EMPTY_AS_ABSENT = ("extra_datasets", "extra_features")


@dataclass
class LoopConfig:
    """Settings of the training loop that every trainer shares."""

    out: str = "runs/train"
    steps: int = 2000
    batch_size: int = 32
    lr: float = 3e-4
    min_lr: float = 1e-5
    warmup: int = 100
    schedule: str = "cosine"  # after the linear warm-up: cosine or linear decay to min_lr, or constant
    weight_decay: float = 0.04
    grad_clip: float = 1.0
    val_fraction: float = 0.15  # the last episodes are held out and validated on; 0 holds none out
    # train on only the first N episodes of those not held out (null: all): a data-size curve keeps the same
    # held-out episodes for every N
    train_episodes: int | None = None
    val_every: int = 250
    checkpoint_every: int = 250
    # auto: continue a run in `out` made with the same settings and refuse one made with others (naming the first
    # field that differs); force: continue it whatever its settings; no: start over
    resume: str = "auto"
    seed: int = 0
    device: str = "auto"
    progress: bool | None = None  # None: a progress bar only when stderr is a terminal


EXPORT_DTYPES = ("float32", "float16", "bfloat16")


@dataclass
class CachedTrainConfig(LoopConfig):
    """A trainer on a trajectory log and its feature cache (`vjepa-ac encode`), exporting its model in a dtype."""

    dataset: str = "data/panda_play"
    mapping: str = "panda_sim"
    features: str = "features"  # the folder `vjepa-ac encode` wrote for one encoder (holds meta.json)
    export_dtype: str = "float32"  # of the exported weights (float16 halves the file; it loads as float32)
    # more logs beside `dataset` (e.g. the same robot under other visuals), with their feature caches, paired by
    # position and made by the same encoder; each holds out its own last val_fraction for validation
    extra_datasets: list[str] = field(default_factory=list)
    extra_features: list[str] = field(default_factory=list)


@dataclass
class ReaderArch:
    """A network that reads tokens: each token reduced to `channels`, keeping where it is, then `hidden`-wide layers."""

    channels: int = 32
    hidden: int = 512


@dataclass
class ReaderTrainConfig(CachedTrainConfig):
    """A trainer of a small network that reads cached tokens (the readout and distance heads, the proposals)."""

    arch: ReaderArch = field(default_factory=ReaderArch)
    steps: int = 4000
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.05
    val_every: int = 500
    checkpoint_every: int = 500


def setup(cfg: LoopConfig) -> tuple[Distributed, torch.Generator]:
    """This process's place in the run (one process or one of torchrun's) and the seeded random state of a trainer."""
    dist = Distributed(cfg.device)
    torch.manual_seed(cfg.seed)
    return dist, torch.Generator().manual_seed(cfg.seed)


def resume_mode(value) -> str:
    """`resume` as one of RESUME_MODES (true/false from older configs and the Python API read as auto/no)."""
    v = {True: "auto", False: "no"}.get(value, value) if isinstance(value, bool) else str(value).lower()
    v = {"true": "auto", "false": "no"}.get(v, v)
    if v not in RESUME_MODES:
        raise ValueError(f"resume must be one of {RESUME_MODES}, got {value!r}")
    return v


def check_loop(cfg: LoopConfig, extra: dict[str, bool] | None = None, rule_text: str = "") -> None:
    """Refuse loop settings (and a trainer's own `extra` rules: field -> ok) that cannot train, naming the field."""
    rules = {"steps": cfg.steps >= 1, "batch_size": cfg.batch_size >= 1, "lr": cfg.lr > 0, "min_lr": cfg.min_lr >= 0,
             "warmup": cfg.warmup >= 0, "grad_clip": cfg.grad_clip > 0, "val_fraction": 0 <= cfg.val_fraction < 1,
             "val_every": cfg.val_every >= 1, "checkpoint_every": cfg.checkpoint_every >= 1, **(extra or {})}
    if hasattr(cfg, "export_dtype"):
        rules["export_dtype"] = cfg.export_dtype in EXPORT_DTYPES
    for name in ("channels", "hidden"):
        if isinstance(getattr(cfg, "arch", None), ReaderArch):
            rules[f"arch.{name}"] = getattr(cfg.arch, name) >= 1
    bad = [k for k, ok in rules.items() if not ok]
    if bad:
        value = cfg
        for part in bad[0].split("."):
            value = getattr(value, part, None)
        raise ValueError(f"out-of-range training setting {bad[0]}={value!r} (steps, batch_size, val_every, checkpoint_every, "
                         f"arch.* >= 1; lr, grad_clip > 0; min_lr, warmup >= 0; 0 <= val_fraction < 1; export_dtype one of "
                         f"{EXPORT_DTYPES}{rule_text})")
    if cfg.schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {cfg.schedule!r}")
    resume_mode(cfg.resume)


def split_episodes(n: int, val_fraction: float, where: str, train_episodes: int | None = None) -> tuple[list[int], list[int]]:
    """(train, held-out) episode indices: the last ceil-free `val_fraction` of them held out, at least one when the
    fraction is above zero, none when it is zero; with `train_episodes`, only the first that many of the rest are
    trained on. Too few episodes to hold any out and train on the rest, or to train on that many, is refused."""
    train, held = _split(n, val_fraction, where)
    if train_episodes is not None:
        if not 1 <= train_episodes <= len(train):
            raise ValueError(f"train_episodes={train_episodes}: {where} has {len(train)} episodes to train on "
                             f"(after holding out {len(held)}); expected 1 to {len(train)}")
        train = train[:train_episodes]
    return train, held


def _split(n: int, val_fraction: float, where: str) -> tuple[list[int], list[int]]:
    if n < 1:
        raise ValueError(f"{where} holds no episodes")
    if val_fraction <= 0:
        return list(range(n)), []
    if n < 2:
        raise ValueError(f"{where} holds 1 episode: too few to hold some out for validation and train on the rest; "
                         "set val_fraction=0 to train on it without validating")
    n_val = min(n - 1, max(1, int(n * val_fraction)))
    return list(range(n - n_val)), list(range(n - n_val, n))


class WindowSampler:
    """Random clip windows (episode, first frame) of `span` frames from episodes of the given lengths, drawn with a
    generator, so a resumed run draws the same ones. Episodes shorter than the window are refused by name."""

    def __init__(self, lengths: list[int], span: int, where: str):
        short = [e for e, n in enumerate(lengths) if n < span]
        if short:
            raise ValueError(f"{where}: episode {short[0]} has {lengths[short[0]]} frames, fewer than a training window "
                             f"of {span} ({len(short)} such episodes); use fewer frames or a smaller stride, or drop them")
        self.lengths, self.span = lengths, span

    def draw(self, episodes: list[int], gen: torch.Generator) -> tuple[int, int]:
        """One window (episode, start) from the given episodes."""
        e = episodes[int(torch.randint(0, len(episodes), (1,), generator=gen))]
        return e, int(torch.randint(0, self.lengths[e] - self.span + 1, (1,), generator=gen))


def first_difference(a, b, prefix: str = "") -> str | None:
    """The dotted name of the first field where two settings dicts differ, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            d = first_difference(a.get(k), b.get(k), f"{prefix}{k}.")
            if d is not None:
                return d
        return None
    return None if a == b else prefix.rstrip(".")


class Distributed:
    """Rank, world size and device of this process: one process, or one of `torchrun`'s (DDP, or FSDP2 sharding)."""

    def __init__(self, device: str, fsdp: bool = False):
        from vjepa_ac.device import pick_device

        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.active = self.world > 1
        self.rank = 0
        if self.active:
            torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
            self.rank = torch.distributed.get_rank()
        self.device = pick_device(device)
        if self.active and self.device.type == "cuda":
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        self.sharded = self.active and fsdp

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module the loss is computed with: DDP across ranks, or the model itself (one process, or sharded)."""
        return torch.nn.parallel.DistributedDataParallel(model) if self.active and not self.sharded else model

    def full_state(self, model, opt) -> tuple[dict, dict]:
        """Whole model and optimiser state dicts on CPU (gathered from every rank when sharded: a collective)."""
        if not self.sharded:
            return model.state_dict(), opt.state_dict()
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict, get_optimizer_state_dict

        o = StateDictOptions(full_state_dict=True, cpu_offload=True)
        return get_model_state_dict(model, options=o), get_optimizer_state_dict(model, opt, options=o)

    def load_full_state(self, model, opt, model_state: dict, opt_state: dict) -> None:
        if not self.sharded:
            model.load_state_dict(model_state)
            opt.load_state_dict(opt_state)
            return
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict, set_optimizer_state_dict

        o = StateDictOptions(full_state_dict=True)
        set_model_state_dict(model, model_state, options=o)
        set_optimizer_state_dict(model, opt, opt_state, options=o)

    def generators(self, gen: torch.Generator) -> torch.Tensor:
        """Every rank's generator state (a collective under torchrun): [world, L], or [L] for one process."""
        if not self.active:
            return gen.get_state()
        states = [torch.empty_like(gen.get_state()) for _ in range(self.world)]
        torch.distributed.all_gather(states, gen.get_state())
        return torch.stack(states)

    def close(self) -> None:
        if self.active:
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()


class Run:
    """One training run in its `out` folder: settings check, checkpoint and resume, log, schedule.

    `settings` (the trainer's config as a dict, with what decides its results: the data, the model, the recipe) is
    written to `out/<kind>_config.json`; a run resumed into a folder whose checkpoint was made with other settings is
    refused, naming the first field that differs, unless `resume=force`.
    """

    def __init__(self, cfg: LoopConfig, kind: str, settings: dict, columns: list[str], dist: Distributed | None = None):
        self.cfg, self.kind = cfg, kind
        self.dist = dist or Distributed(cfg.device)
        self.out = Path(cfg.out)
        self.ckpt = self.out / "checkpoint.pt"
        self.mode = resume_mode(cfg.resume)
        self.settings = json.loads(json.dumps(settings))  # as it reads back (tuples become lists)
        self.settings_path = self.out / f"{kind}_config.json"
        if self.dist.main and self.out.exists():
            remove_stale_temps(self.out)  # half-written checkpoints of a killed run
        if self.mode == "auto" and self.ckpt.exists() and self.settings_path.exists():
            earlier = json.loads(self.settings_path.read_text())
            field = first_difference(_results_settings(earlier), _results_settings(self.settings))
            if field is not None:
                old, new = _get(earlier, field), _get(self.settings, field)
                raise ValueError(f"{self.out} holds a {kind} run made with other settings: {field}={old!r} there, "
                                 f"{field}={new!r} now. Use another out=, the same settings to resume, resume=force to "
                                 "continue it anyway, or resume=no to start over")
        self.columns = columns
        self.t0 = time.time()

    def lr(self, step: int) -> float:
        c = self.cfg
        return learning_rate(c.schedule, step, c.lr, c.min_lr, c.warmup, c.steps)

    def restore(self, model, opt, gen: torch.Generator, extra: dict | None = None) -> int:
        """Load the checkpoint (if resuming and one exists) into the model, optimiser, generator, torch's random state and
        `extra` modules (name -> module with state_dict); returns the step to continue from."""
        if self.mode == "no" or not self.ckpt.exists():
            return 0
        st = torch.load(self.ckpt, map_location="cpu" if self.dist.sharded else self.dist.device, weights_only=True)
        self.dist.load_full_state(model, opt, st["model"], st["optimizer"])
        g = st["generator"]
        gen.set_state((g[self.dist.rank] if g.ndim > 1 else g).clone())  # a row view segfaults set_state
        torch.set_rng_state(st["torch_rng"])
        for k, m in (extra or {}).items():
            m.load_state_dict(st[k])
        return int(st["step"])

    def save(self, step: int, model, opt, gen: torch.Generator, extra: dict | None = None) -> None:
        """An atomic checkpoint (every rank takes part in the gathers; rank 0 writes)."""
        gens = self.dist.generators(gen)
        model_state, opt_state = self.dist.full_state(model, opt)
        if not self.dist.main:
            return
        state = {"step": torch.tensor(step), "model": model_state, "optimizer": opt_state, "generator": gens,
                 "torch_rng": torch.get_rng_state(), **{k: m.state_dict() for k, m in (extra or {}).items()}}
        with atomic_path(self.ckpt) as tmp:
            torch.save(state, tmp)

    def open_log(self, step: int) -> None:
        if self.dist.main:
            self.out.mkdir(parents=True, exist_ok=True)
            write_json(self.settings_path, self.settings)
            self.log_file, self.log = open_step_log(self.out / "log.csv", step, self.columns)

    def write(self, values: dict) -> None:
        if self.dist.main:
            self.log.writerow([_fmt(values.get(c, float("nan"))) for c in self.columns[:-1]] + [f"{time.time() - self.t0:.1f}"])

    def close_log(self) -> None:
        if self.dist.main:
            self.log_file.close()


def _results_settings(d: dict) -> dict:
    return {k: v for k, v in d.items() if k not in NOT_SETTINGS and not (k in EMPTY_AS_ABSENT and not v)}


def _get(d: dict, dotted: str):
    for k in dotted.split("."):
        d = d.get(k) if isinstance(d, dict) else None
    return d


def _fmt(v) -> str:
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    v = float(v)
    return f"{v:.2e}" if 0 < abs(v) < 1e-3 else f"{v:.5f}"


def fit(run: Run, model: torch.nn.Module, opt: torch.optim.Optimizer, params: list, gen: torch.Generator,
        loss_fn: Callable[[int], tuple[torch.Tensor, dict]], validate: Callable[[], dict] | None = None,
        after_step: Callable[[int], dict] | None = None, extra: dict | None = None, desc: str = "train") -> int:
    """The loop: learning rate, `loss_fn(step) -> (loss, logged values)`, backward, clipping, optimiser step,
    `after_step(step)` (an EMA, say), the log row, validation every `val_every` steps and at the end, atomic checkpoints
    every `checkpoint_every` steps and at the end. Resumes from the run's checkpoint; returns the last step."""
    from tqdm import tqdm

    cfg = run.cfg
    step = run.restore(model, opt, gen, extra)
    run.open_log(step)
    show = (sys.stderr.isatty() if cfg.progress is None else cfg.progress) and run.dist.main
    bar = tqdm(total=cfg.steps, initial=step, desc=desc, disable=not show)
    while step < cfg.steps:
        lr = run.lr(step)
        for g in opt.param_groups:
            g["lr"] = lr
        loss, logged = loss_fn(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        logged = {"loss": float(loss.detach()), **{k: float(v.detach() if torch.is_tensor(v) else v) for k, v in logged.items()}, "lr": lr}
        if after_step is not None:
            logged.update(after_step(step))
        step += 1
        bar.update()
        bar.set_postfix(loss=f"{logged['loss']:.4f}")
        if validate is not None and (step % cfg.val_every == 0 or step == cfg.steps):
            logged.update(validate())
        run.write({"step": step, **logged})
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            run.save(step, model, opt, gen, extra)
    bar.close()
    run.close_log()
    return step


def mean_of(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def settings_of(cfg) -> dict:
    """A trainer config as the plain dict `Run` compares."""
    return asdict(cfg)
