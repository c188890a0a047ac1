"""`vjepa-ac train`: train or fine-tune the action-conditioned predictor on cached encoder features of trajectory logs.

The two losses of V-JEPA 2-AC: teacher-forced one-step L1 (every step predicts the next from the true past), and an
autoregressive rollout L1 over `auto_steps` steps (predictions fed back in). Targets are layer-normed encoder
features, as in the release (`normalize_reps`). Runs under `torchrun` with DDP when WORLD_SIZE > 1.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vjepa_ac.data.mapping import load_mapping
from vjepa_ac.data.reader import open_log
from vjepa_ac.device import pick_device
from vjepa_ac.features import FeatureCache
from vjepa_ac.io import atomic_path, open_step_log, remove_stale_temps, write_json
from vjepa_ac.predictor import ACPredictor, PredictorConfig, load_predictor, save_predictor  # noqa: F401  (re-exported)
from vjepa_ac.schedule import SCHEDULES, learning_rate


@dataclass
class TrainConfig:
    """`vjepa-ac train dataset=DIR features=CACHE_DIR out=DIR`."""

    dataset: str = "data/panda_play"
    mapping: str = "panda_sim"
    features: str | None = None  # the folder `vjepa-ac encode` wrote for one encoder (holds meta.json)
    encoder: str | None = None  # instead of a cache: encode each batch's frames on the fly with this frozen encoder (default, HF folder, .pt)
    encode_batch: int = 64  # frames per encoder call on the fly
    out: str = "runs/predictor"
    predictor: PredictorConfig = field(default_factory=lambda: PredictorConfig(hidden=192, depth=4, heads=6))
    frames: int = 4  # per clip: frames-1 teacher-forced predictions
    stride: int = 1
    auto_steps: int = 2
    batch_size: int = 32
    steps: int = 2000
    lr: float = 3e-4
    min_lr: float = 1e-5
    warmup: int = 100
    weight_decay: float = 0.04
    grad_clip: float = 1.0
    val_fraction: float = 0.15  # the last episodes
    val_every: int = 250
    checkpoint_every: int = 250
    resume: bool = True
    init: str | None = None  # fine-tune from: a folder of ours, or an official release file (.pt)
    freeze_layers: int = 0  # freeze the input encoders and the first k blocks
    schedule: str = "cosine"  # after the linear warm-up: cosine or linear decay to min_lr, or constant (short fine-tunes)
    activation_checkpointing: bool = False  # recompute block activations in backward: the official-size predictor in less memory
    seed: int = 0
    device: str = "auto"
    bf16: bool = False  # autocast on CUDA
    fsdp: bool = False  # under torchrun: shard parameters, gradients and optimiser state (FSDP2) instead of DDP
    progress: bool | None = None  # None: only when stderr is a terminal


class Episodes:
    """Features z [T, N, D] (layer-normed), state [T, S] and action [T, A] of every episode, in memory."""

    def __init__(self, cfg: TrainConfig):
        log = open_log(cfg.dataset)
        mapping = load_mapping(cfg.mapping)
        self.cache = cache = FeatureCache(cfg.features)
        if len(cache) != len(log):
            raise ValueError(f"{cfg.features} caches {len(cache)} episodes, {cfg.dataset} has {len(log)}")
        self.z, self.state, self.action = [], [], []
        for e in range(len(log)):
            s, a = mapping.read(log, e)
            z = cache[e]
            if len(z) != len(s):
                raise ValueError(f"episode {e}: {len(z)} cached frames but {len(s)} rows in {cfg.dataset}")
            self.z.append(F.layer_norm(z, (z.shape[-1],)).to(torch.float16))
            self.state.append(torch.from_numpy(s))
            self.action.append(torch.from_numpy(a))
        self.dim, self.tokens = self.z[0].shape[-1], self.z[0].shape[-2]

    def identity(self) -> str | None:
        return self.cache.meta.get("identity")

    def split(self, val_fraction: float) -> tuple[list[int], list[int]]:
        n = len(self.state)
        n_val = max(1, int(n * val_fraction)) if n > 1 else 0
        return list(range(n - n_val)), list(range(n - n_val, n))

    def batch(self, episodes: list[int], size: int, frames: int, stride: int, gen: torch.Generator):
        """z [B, T, N, D], state [B, T, S], action [B, T, A] of random windows."""
        span = (frames - 1) * stride + 1
        zs, ss, as_ = [], [], []
        for _ in range(size):
            e = episodes[int(torch.randint(0, len(episodes), (1,), generator=gen))]
            start = int(torch.randint(0, len(self.z[e]) - span + 1, (1,), generator=gen))
            idx = torch.arange(start, start + span, stride)
            zs.append(self.z[e][idx].float())
            ss.append(self.state[e][idx])
            as_.append(self.action[e][idx])
        return torch.stack(zs), torch.stack(ss), torch.stack(as_)


class StreamedEpisodes(Episodes):
    """Episodes whose features are not cached: each batch's frames are decoded and encoded by the frozen encoder on
    the fly (batched; bf16 autocast on CUDA). States and actions are held in memory. Batches and validation windows
    are drawn exactly as from a cache (the same generator calls), and embeddings pass through float16 as cached ones
    do, so both modes train the same model from the same data."""

    def __init__(self, cfg: TrainConfig, device: torch.device):
        from vjepa_ac.encoder import load_encoder

        self.log = open_log(cfg.dataset)
        self.mapping = load_mapping(cfg.mapping)
        self.mapping.check(self.log)
        self.encoder = load_encoder(cfg.encoder).to(device).eval()
        self.device, self.encode_batch, self.bf16 = device, cfg.encode_batch, cfg.bf16 and device.type == "cuda"
        self.state, self.action, self.rows = [], [], []
        for e in range(len(self.log)):
            s, a = self.mapping.read(self.log, e)
            self.state.append(torch.from_numpy(s))
            self.action.append(torch.from_numpy(a))
            self.rows.append(self.mapping.rows(self.log, e))
        self.dim, self.tokens = self.encoder.dim, self.encoder.num_patches

    def identity(self) -> str:
        return self.encoder.identity()

    @torch.no_grad()
    def _embed(self, frames: np.ndarray) -> torch.Tensor:
        out = []
        for i in range(0, len(frames), self.encode_batch):
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.bf16):
                out.append(self.encoder.embed_images(frames[i : i + self.encode_batch]).float())
        return torch.cat(out).to(torch.float16).float().cpu()  # [M, N, D], through float16 as a cache stores it

    def batch(self, episodes: list[int], size: int, frames: int, stride: int, gen: torch.Generator):
        span = (frames - 1) * stride + 1
        picks, ss, as_ = [], [], []
        for _ in range(size):
            e = episodes[int(torch.randint(0, len(episodes), (1,), generator=gen))]
            start = int(torch.randint(0, len(self.state[e]) - span + 1, (1,), generator=gen))
            idx = np.arange(start, start + span, stride)
            rec = self.rows[e][idx]  # recorded frame indices
            picks.append(self.log.frames(e, self.mapping.camera, int(rec[0]), int(rec[-1] - rec[0]) + 1)[rec - rec[0]])
            ss.append(self.state[e][idx])
            as_.append(self.action[e][idx])
        z = self._embed(np.concatenate(picks)).reshape(size, len(idx), self.tokens, self.dim)
        return z, torch.stack(ss), torch.stack(as_)


def losses(model: ACPredictor, z, state, action, auto_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(teacher-forced L1, rollout L1) of a batch z [B, T, N, D] with its states and actions."""
    core = model.module if hasattr(model, "module") else model
    tf = model(z[:, :-1], state[:, :-1], action[:, :-1])  # [B, T-1, N, D]
    jloss = (tf - z[:, 1:]).abs().mean()
    k = min(auto_steps, z.shape[1] - 1)
    hist = [z[:, 0], tf[:, 0]]
    for n in range(1, k):  # feed predictions back, as at planning time
        nxt = core._run(torch.stack(hist, 1), state[:, : n + 1], action[:, : n + 1], 0, None)[:, -1]
        hist.append(nxt)
    sloss = (torch.stack(hist[1:], 1) - z[:, 1 : k + 1]).abs().mean()
    return jloss, sloss


def _lr(step: int, cfg) -> float:
    return learning_rate(cfg.schedule, step, cfg.lr, cfg.min_lr, cfg.warmup, cfg.steps)


@torch.no_grad()
def validate(model, data: Episodes, episodes: list[int], cfg: TrainConfig, device) -> dict:
    """Mean teacher-forced and rollout L1 over fixed windows of the held-out episodes."""
    gen = torch.Generator().manual_seed(12345)
    model.eval()
    j, s = [], []
    for _ in range(4):
        z, st, a = (t.to(device) for t in data.batch(episodes, cfg.batch_size, cfg.frames, cfg.stride, gen))
        jl, sl = losses(model, z, st, a, cfg.auto_steps)
        j.append(float(jl))
        s.append(float(sl))
    model.train()
    return {"val_teacher_forced": float(np.mean(j)), "val_rollout": float(np.mean(s))}


def shard(model: ACPredictor) -> None:
    """FSDP2 over every block and each outer layer (not the root: the rollout loss calls `_run`, not `forward`)."""
    from torch.distributed.fsdp import fully_shard

    for m in [model.predictor_embed, model.action_encoder, model.state_encoder, *model.predictor_blocks, model.predictor_norm, model.predictor_proj]:
        fully_shard(m)


def full_state(model, opt, sharded: bool) -> tuple[dict, dict]:
    """Whole model and optimiser state dicts on CPU (gathered from every rank when sharded: a collective)."""
    if not sharded:
        return model.state_dict(), opt.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict, get_optimizer_state_dict

    o = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_model_state_dict(model, options=o), get_optimizer_state_dict(model, opt, options=o)


def load_full_state(model, opt, model_state: dict, opt_state: dict, sharded: bool) -> None:
    if not sharded:
        model.load_state_dict(model_state)
        opt.load_state_dict(opt_state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict, set_optimizer_state_dict

    o = StateDictOptions(full_state_dict=True)
    set_model_state_dict(model, model_state, options=o)
    set_optimizer_state_dict(model, opt, opt_state, options=o)


def check_config(cfg: TrainConfig) -> None:
    """Refuse values that cannot train, naming the field."""
    if bool(cfg.encoder) == bool(cfg.features):
        raise ValueError("give exactly one of features=CACHE_DIR (a `vjepa-ac encode` cache) or encoder=SOURCE (encode on the fly); "
                         f"got features={cfg.features!r}, encoder={cfg.encoder!r}")
    if cfg.schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {cfg.schedule!r}")
    rules = {"encode_batch": cfg.encode_batch >= 1, "steps": cfg.steps >= 1, "batch_size": cfg.batch_size >= 1, "frames": cfg.frames >= 2, "stride": cfg.stride >= 1,
             "lr": cfg.lr > 0, "val_fraction": 0 <= cfg.val_fraction < 1, "checkpoint_every": cfg.checkpoint_every >= 1,
             "val_every": cfg.val_every >= 1, "auto_steps": cfg.auto_steps >= 1, "freeze_layers": cfg.freeze_layers >= 0}
    bad = [k for k, ok in rules.items() if not ok]
    if bad:
        raise ValueError(f"out-of-range training setting {bad[0]}={getattr(cfg, bad[0])!r} (steps, batch_size, stride, "
                         "auto_steps, checkpoint_every, val_every >= 1; frames >= 2; lr > 0; 0 <= val_fraction < 1)")


def train(cfg: TrainConfig) -> Path:
    """Train with checkpoints every `checkpoint_every` steps; resume continues step, optimiser, schedule and RNG."""
    check_config(cfg)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = 0
    if distributed:
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        rank = torch.distributed.get_rank()
    device = pick_device(cfg.device)
    if distributed and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    out = Path(cfg.out)
    if rank == 0 and out.exists():
        remove_stale_temps(out)  # half-written checkpoints of a killed run
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + rank)  # each rank draws its own batches
    data = StreamedEpisodes(cfg, device) if cfg.encoder else Episodes(cfg)
    train_eps, val_eps = data.split(cfg.val_fraction)
    pcfg = PredictorConfig(**{**asdict(cfg.predictor), "embed_dim": data.dim, "grid": int(round(data.tokens**0.5))})
    if cfg.init:
        model = load_predictor(cfg.init).to(device).train()
        if (model.cfg.embed_dim, model.cfg.tokens) != (data.dim, data.tokens):
            raise ValueError(f"init {cfg.init} expects features [{model.cfg.tokens}, {model.cfg.embed_dim}], the cache has [{data.tokens}, {data.dim}]")
    else:
        model = ACPredictor(pcfg).to(device).train()
    model.activation_checkpointing = cfg.activation_checkpointing
    if cfg.freeze_layers > model.cfg.depth:
        raise ValueError(f"freeze_layers={cfg.freeze_layers} but the predictor has {model.cfg.depth} blocks")
    frozen = [model.predictor_embed, model.action_encoder, model.state_encoder, *model.predictor_blocks[: cfg.freeze_layers]] if cfg.freeze_layers else []
    for m in frozen:
        for p in m.parameters():
            p.requires_grad_(False)
    sharded = distributed and cfg.fsdp
    if sharded:
        shard(model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    ckpt_path = out / "checkpoint.pt"
    step = 0
    if cfg.resume and ckpt_path.exists():
        st = torch.load(ckpt_path, map_location="cpu" if sharded else device, weights_only=True)
        load_full_state(model, opt, st["model"], st["optimizer"], sharded)
        gen.set_state((st["generator"][rank] if st["generator"].ndim > 1 else st["generator"]).clone())  # a row view segfaults set_state
        torch.set_rng_state(st["torch_rng"])
        step = int(st["step"])
    net = torch.nn.parallel.DistributedDataParallel(model) if distributed and not sharded else model
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "train_config.json", asdict(cfg))
        log_f, log = open_step_log(out / "log.csv", step, ["step", "loss", "teacher_forced", "rollout", "lr", "val_teacher_forced",
                                                           "val_rollout", "seconds"])
    t0 = time.time()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16 and device.type == "cuda")
    from tqdm import tqdm

    show = (sys.stderr.isatty() if cfg.progress is None else cfg.progress) and rank == 0
    bar = tqdm(total=cfg.steps, initial=step, desc="train", disable=not show)
    while step < cfg.steps:
        z, s, a = (t.to(device) for t in data.batch(train_eps, cfg.batch_size, cfg.frames, cfg.stride, gen))
        for g in opt.param_groups:
            g["lr"] = _lr(step, cfg)
        with autocast:
            jl, sl = losses(net, z, s, a, cfg.auto_steps)
            loss = jl + sl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        step += 1
        bar.update()
        bar.set_postfix(loss=f"{loss.item():.4f}")
        due = step % cfg.val_every == 0 or step == cfg.steps
        val = validate(model, data, val_eps, cfg, device) if due and (rank == 0 or sharded) else {}  # sharded: all ranks take part
        if rank == 0:
            log.writerow([step, f"{loss.item():.5f}", f"{jl.item():.5f}", f"{sl.item():.5f}", f"{_lr(step - 1, cfg):.2e}",
                          f"{val.get('val_teacher_forced', float('nan')):.5f}", f"{val.get('val_rollout', float('nan')):.5f}", f"{time.time() - t0:.1f}"])
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            gens = [gen.get_state()]
            if distributed:
                gens = [torch.empty_like(gens[0]) for _ in range(torch.distributed.get_world_size())]
                torch.distributed.all_gather(gens, gen.get_state())
            model_state, opt_state = full_state(model, opt, sharded)
            if rank == 0:
                state = {"step": torch.tensor(step), "model": model_state, "optimizer": opt_state,
                         "generator": torch.stack(gens) if distributed else gens[0], "torch_rng": torch.get_rng_state()}
                with atomic_path(ckpt_path) as tmp:
                    torch.save(state, tmp)
    bar.close()
    final_state = full_state(model, opt, sharded)[0] if sharded else None
    if rank == 0:
        log_f.close()
        meta = {"features": str(cfg.features) if cfg.features else None, "encoder": data.identity(), "steps": step, "val_episodes": val_eps}
        if sharded:
            plain = ACPredictor(model.cfg)
            plain.load_state_dict(final_state)
            model = plain
        save_predictor(model, out / "predictor", meta)
    if distributed:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return out / "predictor"
