"""`vjepa-ac train`: train or fine-tune the action-conditioned predictor on cached encoder features of trajectory logs.

The two losses of V-JEPA 2-AC: teacher-forced one-step L1 (every step predicts the next from the true past), and an
autoregressive rollout L1 over `auto_steps` steps (predictions fed back in). Targets are layer-normed encoder
features, as in the release (`normalize_reps`). Runs under `torchrun` with DDP when WORLD_SIZE > 1.

`change_weight` moves the L1 toward the tokens that change: where a small object moves over a still scene (Push-T's
disc and block are two of 64 tokens) a predictor that ignores the action loses almost nothing under the plain mean;
weighting each target token by how far it moved from the frame before makes ignoring the action cost what it should.
`error_weight` moves it further toward the tokens the predictor gets most wrong (its own error, detached): once the
robot's own move is learned, what it pushes (Push-T's block, a few tokens that change little) is where the error stays.
"""

from __future__ import annotations

import sys

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from vjepa_ac.data.mapping import load_mapping
from vjepa_ac.data.reader import open_log
from vjepa_ac.models.encoder import view_mismatch
from vjepa_ac.training.features import extra_sources, open_sources, split_sources
from vjepa_ac.models.predictor import ACPredictor, PredictorConfig, load_predictor, save_predictor  # noqa: F401  (re-exported)
from vjepa_ac.training.trainer import Distributed, LoopConfig, WindowSampler, check_loop, fit, split_episodes, Run


@dataclass
class TrainConfig(LoopConfig):
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
    init: str | None = None  # fine-tune from: a folder of ours, or an official release file (.pt)
    freeze_layers: int = 0  # freeze the input encoders and the first k blocks
    activation_checkpointing: bool = False  # recompute block activations in backward: the official-size predictor in less memory
    bf16: bool = False  # autocast on CUDA
    fsdp: bool = False  # under torchrun: shard parameters, gradients and optimiser state (FSDP2) instead of DDP
    # more logs beside `dataset` with their feature caches (features= only), paired by position, one encoder; each
    # holds out its own last val_fraction for validation
    extra_datasets: list[str] = field(default_factory=list)
    extra_features: list[str] = field(default_factory=list)
    # share of the L1 spread over the tokens by how much each changed from the frame before (0: the plain mean, as
    # in V-JEPA 2-AC; 1: only the tokens that change count); validation reports the plain mean either way
    change_weight: float = 0.0
    # share of the L1 spread over the tokens by the predictor's own error on each (detached; 0: off): the tokens it
    # still gets wrong count more, as a focal loss does; on top of change_weight's weights when both are set
    error_weight: float = 0.0


class Episodes:
    """Features z [T, N, D] (layer-normed), state [T, S] and action [T, A] of every episode, in memory."""

    def __init__(self, cfg: TrainConfig):
        mapping = load_mapping(cfg.mapping)
        self.sources = open_sources(cfg)
        self.cache = self.sources[0].cache
        self.z, self.state, self.action = [], [], []
        for src in self.sources:
            warning = view_mismatch(src.dataset, src.cache.meta.get("encoder", ""))
            if warning:
                print(warning, file=sys.stderr)
            for e in range(len(src.log)):
                s, a = mapping.read(src.log, e)
                z = src.cache[e]
                if len(z) != len(s):
                    raise ValueError(f"episode {e}: {len(z)} cached frames but {len(s)} rows in {src.dataset}")
                self.z.append(F.layer_norm(z, (z.shape[-1],)).to(torch.float16))
                self.state.append(torch.from_numpy(s))
                self.action.append(torch.from_numpy(a))
        self.dim, self.tokens = self.z[0].shape[-1], self.z[0].shape[-2]
        self.windows = WindowSampler([len(s) for s in self.state], (cfg.frames - 1) * cfg.stride + 1, str(cfg.dataset))

    def identity(self) -> str | None:
        return self.cache.meta.get("identity")

    def batch(self, episodes: list[int], size: int, frames: int, stride: int, gen: torch.Generator):
        """z [B, T, N, D], state [B, T, S], action [B, T, A] of random windows."""
        span = (frames - 1) * stride + 1
        zs, ss, as_ = [], [], []
        for _ in range(size):
            e, start = self.windows.draw(episodes, gen)
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
        from vjepa_ac.models.encoder import load_encoder

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
        self.windows = WindowSampler([len(s) for s in self.state], (cfg.frames - 1) * cfg.stride + 1, str(cfg.dataset))

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
            e, start = self.windows.draw(episodes, gen)
            idx = np.arange(start, start + span, stride)
            rec = self.rows[e][idx]  # recorded frame indices
            picks.append(self.log.frames(e, self.mapping.camera, int(rec[0]), int(rec[-1] - rec[0]) + 1)[rec - rec[0]])
            ss.append(self.state[e][idx])
            as_.append(self.action[e][idx])
        z = self._embed(np.concatenate(picks)).reshape(size, len(idx), self.tokens, self.dim)
        return z, torch.stack(ss), torch.stack(as_)


def change_weights(z: torch.Tensor, share: float) -> torch.Tensor | None:
    """Per-token weights [B, T-1, N] of the targets z[:, 1:] of z [B, T, N, D]: (1 - share) + share x each token's
    mean absolute change from the frame before over the frame's mean change, so a frame's weights average 1 (a
    uniform error costs what the plain mean charges). None for share 0 (the plain mean)."""
    return None if share == 0 else _spread((z[:, 1:] - z[:, :-1]).abs().mean(-1), share)  # per token: its mean change


def _spread(per_token: torch.Tensor, share: float) -> torch.Tensor:
    """(1 - share) + share x per_token [..., N] over its mean across the tokens: weights that average 1 per frame."""
    return (1 - share) + share * per_token / per_token.mean(-1, keepdim=True).clamp_min(1e-8)


def error_weights(pred: torch.Tensor, target: torch.Tensor, share: float) -> torch.Tensor | None:
    """Per-token weights [B, T, N] from the predictor's own error on pred, target [B, T, N, D] (detached: they steer the
    gradient, they are not trained): (1 - share) + share x each token's mean absolute error over the frame's mean, so
    a frame's weights average 1. None for share 0."""
    return None if share == 0 else _spread((pred.detach() - target).abs().mean(-1), share)  # per token: its mean error


def token_l1(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Mean L1 of pred and target [B, T, N, D], each token's error scaled by weights [B, T, N] (None: the plain mean)."""
    err = (pred - target).abs()
    return err.mean() if weights is None else (err.mean(-1) * weights).mean()


class Losses(NamedTuple):
    teacher_forced: torch.Tensor  # L1 of the one-step predictions
    rollout: torch.Tensor  # L1 of the predictions fed back for auto_steps
    state: torch.Tensor | None  # L1 of the next state the state head predicts (state_update=learned), else None
    predicted: torch.Tensor  # the teacher-forced predictions [B, T-1, N, D] themselves


def losses(model: ACPredictor, z, state, action, auto_steps: int, change_weight: float = 0.0, error_weight: float = 0.0) -> Losses:
    """The L1s of a batch z [B, T, N, D] with its states [B, T, S] and actions [B, T, A] (see `Losses`). The token
    L1s weigh each target token by its change (`change_weights`) when change_weight > 0, and by the teacher-forced
    prediction's own error on it (`error_weights`) when error_weight > 0."""
    core = model.module if hasattr(model, "module") else model
    w = change_weights(z, change_weight)  # [B, T-1, N] or None
    tf = model(z[:, :-1], state[:, :-1], action[:, :-1])  # [B, T-1, N, D]
    we = error_weights(tf, z[:, 1:], error_weight)  # [B, T-1, N] or None
    if we is not None:
        w = we if w is None else w * we / (w * we).mean(-1, keepdim=True).clamp_min(1e-8)  # both: their product, averaging 1
    jloss = token_l1(tf, z[:, 1:], w)
    k = min(auto_steps, z.shape[1] - 1)
    hist = [z[:, 0], tf[:, 0]]
    for n in range(1, k):  # feed predictions back, as at planning time
        nxt = core._run(torch.stack(hist, 1), state[:, : n + 1], action[:, : n + 1], 0, None)[:, -1]
        hist.append(nxt)
    sloss = token_l1(torch.stack(hist[1:], 1), z[:, 1 : k + 1], None if w is None else w[:, :k])
    state_loss = None
    if core.cfg.state_update == "learned":
        b, t, s_dim = state.shape
        nxt = core.next_state(state[:, :-1].reshape(-1, s_dim), action[:, :-1].reshape(b * (t - 1), -1))  # [B*(T-1), S]
        state_loss = (nxt.reshape(b, t - 1, s_dim) - state[:, 1:]).abs().mean()
    return Losses(jloss, sloss, state_loss, tf)


@torch.no_grad()
def validate(model, data: Episodes, episodes: list[int], cfg: TrainConfig, device) -> dict:
    """Mean teacher-forced and rollout L1 over fixed windows of the held-out episodes (the plain mean, whatever
    `change_weight` trains with), and the teacher-forced L1 on the tokens that move (weighted by their change, share
    1) beside what a predictor that imagines nothing (the frame before, copied) scores there: the gap is what the
    predictor has learned of the motion."""
    gen = torch.Generator().manual_seed(12345)
    model.eval()
    j, s, st_l, moved, still = [], [], [], [], []
    for _ in range(4):
        z, st, a = (t.to(device) for t in data.batch(episodes, cfg.batch_size, cfg.frames, cfg.stride, gen))
        out = losses(model, z, st, a, cfg.auto_steps)
        j.append(float(out.teacher_forced))
        s.append(float(out.rollout))
        st_l += [float(out.state)] if out.state is not None else []
        w = change_weights(z, 1.0)
        moved.append(float(token_l1(out.predicted, z[:, 1:], w)))
        still.append(float(token_l1(z[:, :-1], z[:, 1:], w)))
    model.train()
    return {"val_teacher_forced": float(np.mean(j)), "val_rollout": float(np.mean(s)),
            **({"val_state": float(np.mean(st_l))} if st_l else {}),
            "val_moved": float(np.mean(moved)), "val_moved_still": float(np.mean(still))}


def shard(model: ACPredictor) -> None:
    """FSDP2 over every block and each outer layer (not the root: the rollout loss calls `_run`, not `forward`)."""
    from torch.distributed.fsdp import fully_shard

    for m in [model.predictor_embed, model.action_encoder, model.state_encoder, *model.predictor_blocks, model.predictor_norm, model.predictor_proj,
              *([model.state_head] if hasattr(model, "state_head") else [])]:
        fully_shard(m)


def check_config(cfg: TrainConfig) -> None:
    """Refuse values that cannot train, naming the field."""
    if bool(cfg.encoder) == bool(cfg.features):
        raise ValueError("give exactly one of features=CACHE_DIR (a `vjepa-ac encode` cache) or encoder=SOURCE (encode on the fly); "
                         f"got features={cfg.features!r}, encoder={cfg.encoder!r}")
    if cfg.encoder and (cfg.extra_datasets or cfg.extra_features):
        raise ValueError("extra_datasets and extra_features read feature caches: give features=CACHE_DIR, not encoder=, to train on several logs")
    check_loop(cfg, {"encode_batch": cfg.encode_batch >= 1, "frames": cfg.frames >= 2, "stride": cfg.stride >= 1,
                     "auto_steps": cfg.auto_steps >= 1, "freeze_layers": cfg.freeze_layers >= 0,
                     "change_weight": 0 <= cfg.change_weight <= 1, "error_weight": 0 <= cfg.error_weight <= 1},
               "; encode_batch, stride, auto_steps >= 1; frames >= 2; freeze_layers >= 0; 0 <= change_weight, error_weight <= 1")


def build_model(cfg: TrainConfig, data: Episodes, device: torch.device) -> ACPredictor:
    """A fresh predictor sized for the features, or the one to fine-tune (`init`), with `freeze_layers` frozen."""
    mapping = load_mapping(cfg.mapping)
    update = {"state_update": mapping.state_update, "state_step": mapping.state_step}  # the mapping says how states follow
    if cfg.predictor.state_update not in ("pose_delta", mapping.state_update):
        raise ValueError(f"predictor.state_update={cfg.predictor.state_update} but mapping {cfg.mapping} says state_update="
                         f"{mapping.state_update}: set it in the mapping (it describes the robot's state and action)")
    pcfg = PredictorConfig(**{**asdict(cfg.predictor), "embed_dim": data.dim, "grid": int(round(data.tokens**0.5)), **update})
    if cfg.init:
        model = load_predictor(cfg.init).to(device).train()
        if (model.cfg.embed_dim, model.cfg.tokens) != (data.dim, data.tokens):
            raise ValueError(f"init {cfg.init} expects features [{model.cfg.tokens}, {model.cfg.embed_dim}], the cache has [{data.tokens}, {data.dim}]")
        if (model.cfg.state_update, model.cfg.state_step) != (mapping.state_update, mapping.state_step):
            raise ValueError(f"init {cfg.init} integrates states by state_update={model.cfg.state_update} (step "
                             f"{model.cfg.state_step}); mapping {cfg.mapping} says {mapping.state_update} (step {mapping.state_step})")
    else:
        model = ACPredictor(pcfg).to(device).train()
    model.activation_checkpointing = cfg.activation_checkpointing
    if cfg.freeze_layers > model.cfg.depth:
        raise ValueError(f"freeze_layers={cfg.freeze_layers} but the predictor has {model.cfg.depth} blocks")
    frozen = [model.predictor_embed, model.action_encoder, model.state_encoder, *model.predictor_blocks[: cfg.freeze_layers]] if cfg.freeze_layers else []
    for m in frozen:
        for p in m.parameters():
            p.requires_grad_(False)
    return model


def train(cfg: TrainConfig) -> Path:
    """Train with checkpoints every `checkpoint_every` steps; resume continues step, optimiser, schedule and RNG (a
    folder made with other settings is refused)."""
    check_config(cfg)
    dist = Distributed(cfg.device, cfg.fsdp)
    device, rank = dist.device, dist.rank
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + rank)  # each rank draws its own batches
    data = StreamedEpisodes(cfg, device) if cfg.encoder else Episodes(cfg)
    if cfg.encoder:
        train_eps, val_eps = split_episodes(len(data.state), cfg.val_fraction, str(cfg.dataset), cfg.train_episodes)
    else:
        train_eps, val_eps = split_sources(data.sources, cfg.val_fraction, cfg.train_episodes)
    model = build_model(cfg, data, device)
    if dist.sharded:
        shard(model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    net = dist.wrap(model)
    learned = model.cfg.state_update == "learned"
    columns = ["step", "loss", "teacher_forced", "rollout", *(["state"] if learned else []), "lr", "val_teacher_forced",
               "val_rollout", *(["val_state"] if learned else []), "val_moved", "val_moved_still", "seconds"]
    run = Run(cfg, "train", {**asdict(cfg), "encoder_identity": data.identity()}, columns, dist)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16 and device.type == "cuda")

    def loss_fn(step: int):
        z, s, a = (t.to(device) for t in data.batch(train_eps, cfg.batch_size, cfg.frames, cfg.stride, gen))
        with autocast:
            jl, sl, stl, _ = losses(net, z, s, a, cfg.auto_steps, cfg.change_weight, cfg.error_weight)
        if stl is None:
            return jl + sl, {"teacher_forced": jl, "rollout": sl}
        return jl + sl + stl, {"teacher_forced": jl, "rollout": sl, "state": stl}

    def validate_now() -> dict:  # sharded: every rank takes part
        return validate(model, data, val_eps, cfg, device) if val_eps and (dist.main or dist.sharded) else {}

    step = fit(run, model, opt, params, gen, loss_fn, validate_now, desc="train")
    final_state = dist.full_state(model, opt)[0] if dist.sharded else None
    if dist.main:
        meta = {"features": str(cfg.features) if cfg.features else None, "encoder": data.identity(), "steps": step, "val_episodes": val_eps,
                "train_episodes": train_eps, "change_weight": cfg.change_weight,
                "error_weight": cfg.error_weight,
                **extra_sources(cfg)}
        if dist.sharded:
            plain = ACPredictor(model.cfg)
            plain.load_state_dict(final_state)
            model = plain
        save_predictor(model, Path(cfg.out) / "predictor", meta)
    dist.close()
    return Path(cfg.out) / "predictor"
