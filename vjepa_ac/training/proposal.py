"""`vjepa-ac train-proposal kind=policy|subgoal dataset=DIR features=CACHE_DIR out=DIR`: train a proposal model
(`proposals.py`) on a trajectory log and its feature cache, hindsight-relabelled.

With `object_weight` > 0 the policy also learns where the object lies in the current and in the goal frame, a guess
read off the robot's own grasps (`grasp_track.py`: no object label), so that what it reads from the tokens locates the
object it must carry.

Each example is drawn from one episode: a frame t, and a goal frame t + k later in the same episode (k uniform in
1..max_gap, never past the episode's end). The policy learns the recorded actions t..t+H-1 (L1, in units of each
action dim's bound); the sub-goal model learns the tokens of frame min(t + ahead, t + k) (L1 on layer-normed tokens,
plus, with `head=`, the weighted L1 of what the goal-distance head reads off them: the coordinates the energy uses).
The last episodes are held out and scored against what doing nothing new would give (the policy against the mean
action; the sub-goal model against the current frame itself).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vjepa_ac.data.mapping import load_mapping
from vjepa_ac.training.features import extra_sources, open_sources, split_sources
from vjepa_ac.training.grasp_track import object_track
from vjepa_ac.models.proposals import KINDS, PAIRS, ProposalConfig, build, save_proposal
from vjepa_ac.training.trainer import ReaderArch, ReaderTrainConfig, Run, check_loop, fit, setup


ProposalArch = ReaderArch


@dataclass
class ProposalTrainConfig(ReaderTrainConfig):
    """`vjepa-ac train-proposal kind=policy dataset=DIR features=CACHE_DIR out=DIR`."""

    kind: str = "policy"  # policy or subgoal
    out: str = "runs/proposal"
    arch: ReaderArch = field(default_factory=lambda: ReaderArch(channels=16))
    horizon: int = 1  # policy: actions proposed
    ahead: int = 4  # subgoal: the proposed frame lies this many steps further on (or is the goal, when nearer)
    max_gap: int = 24  # goals are drawn up to this many steps after the frame
    head: str | None = None  # subgoal: also match this goal-distance head's readout of the proposed tokens
    readout_weight: float = 1.0
    val_batches: int = 8
    object_weight: float = 0.0  # policy: weight of the object-position guess (label-free, from the grasps) in the loss
    hold: list[float] = field(default_factory=lambda: [0.3, 0.7])  # the hand closure range of a hand holding an object (the state's last dim)
    dropout: float = 0.0  # the share of the reduced tokens' features dropped in training (a regularizer)
    pair: str = "both"  # how current and goal tokens are read: both, centered (less each frame's mean token), change (goal less current)


def hindsight(lengths: list[int], episodes: list[int], gen: torch.Generator, max_gap: int, after: int = 1) -> tuple[int, int, int]:
    """One relabelled example: (episode, frame t, goal frame g) with t < g <= t + max_gap, both in the episode, and
    `after` frames from t on inside it (the actions a policy of that horizon learns)."""
    e = episodes[int(torch.randint(0, len(episodes), (1,), generator=gen))]
    n = lengths[e]
    t = int(torch.randint(0, n - max(after, 1), (1,), generator=gen))
    g = t + 1 + int(torch.randint(0, min(max_gap, n - 1 - t), (1,), generator=gen))
    return e, t, g


class Relabelled:
    """Every episode's tokens [T, N, D] (layer-normed, float16), states [T, S] and actions [T, A] in memory."""

    def __init__(self, cfg: ProposalTrainConfig):
        mapping = load_mapping(cfg.mapping)
        sources = open_sources(cfg)
        self.cache = sources[0].cache
        self.z, self.state, self.action, self.obj, self.obj_ok = [], [], [], [], []
        for src in sources:
            for e in range(len(src.log)):
                s, a = mapping.read(src.log, e)
                z = src.cache[e].float()
                if len(z) != len(s):
                    raise ValueError(f"{src.dataset}: episode {e}: {len(z)} cached frames but {len(s)} rows")
                self.z.append(F.layer_norm(z, (z.shape[-1],)).to(torch.float16))
                self.state.append(torch.from_numpy(s))
                self.action.append(torch.from_numpy(a))
                if cfg.object_weight > 0:
                    pos, ok = object_track(s, tuple(cfg.hold))
                    self.obj.append(torch.from_numpy(pos))
                    self.obj_ok.append(torch.from_numpy(ok))
                if len(s) < (need := max(2, cfg.horizon + 1 if cfg.kind == "policy" else 2)):
                    raise ValueError(f"{src.dataset}: episode {e} has {len(s)} frames, fewer than the {need} a relabelled example needs")
        self.train_eps, self.val_eps = split_sources(sources, cfg.val_fraction, cfg.train_episodes)
        self.lengths = [len(s) for s in self.state]
        actions = torch.cat([self.action[e] for e in self.train_eps])
        if cfg.object_weight > 0:
            if not any(bool(self.obj_ok[e].any()) for e in self.train_eps):
                raise ValueError(f"{cfg.dataset}: object_weight > 0 but no training episode's hand closure ever lies in hold={tuple(cfg.hold)} "
                                 "(the state's last dim while the hand holds something): no grasp to learn the object's place from")
            objs = torch.cat([self.obj[e][self.obj_ok[e]] for e in self.train_eps])
            self.obj_mean, self.obj_std = objs.mean(0), objs.std(0).clamp_min(1e-3)  # [3]
        self.action_scale = actions.abs().max(0).values.clamp_min(1e-6)  # [A]: the data's bound per dim

    def batch(self, episodes: list[int], cfg: ProposalTrainConfig, gen: torch.Generator) -> dict[str, torch.Tensor]:
        """z [B, N, D], state [B, S], z_goal [B, N, D], and the targets: actions [B, H, A] or z_next [B, N, D]."""
        after = cfg.horizon if cfg.kind == "policy" else 1
        z, s, zg, target, obj, obj_ok = [], [], [], [], [], []
        for _ in range(cfg.batch_size):
            e, t, g = hindsight(self.lengths, episodes, gen, cfg.max_gap, after)
            z.append(self.z[e][t])
            s.append(self.state[e][t])
            zg.append(self.z[e][g])
            if cfg.kind == "policy":
                target.append(self.action[e][t : t + cfg.horizon])
                if cfg.object_weight > 0:
                    obj.append(torch.cat([self.obj[e][t], self.obj[e][g]]))
                    obj_ok.append(torch.stack([self.obj_ok[e][t], self.obj_ok[e][g]]))
            else:
                target.append(self.z[e][min(t + cfg.ahead, g)])
        out = {"z": torch.stack(z).float(), "state": torch.stack(s), "z_goal": torch.stack(zg).float()}
        out["target"] = torch.stack(target).float()
        if obj:
            out["object"] = torch.stack(obj)  # [B, 6]: where it lies now and in the goal
            out["object_ok"] = torch.stack(obj_ok).repeat_interleave(3, 1)  # [B, 6]
        return out


def check_config(cfg: ProposalTrainConfig) -> None:
    if cfg.kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {cfg.kind!r}")
    if cfg.pair not in PAIRS:
        raise ValueError(f"pair must be one of {PAIRS}, got {cfg.pair!r}")
    check_loop(cfg, {"horizon": cfg.horizon >= 1, "ahead": cfg.ahead >= 1, "max_gap": cfg.max_gap >= 1,
                     "val_batches": cfg.val_batches >= 1, "readout_weight": cfg.readout_weight >= 0,
                     "dropout": 0 <= cfg.dropout < 1, "object_weight": cfg.object_weight >= 0},
               "; horizon, ahead, max_gap, val_batches >= 1; readout_weight, object_weight >= 0; 0 <= dropout < 1")
    if cfg.object_weight > 0 and cfg.kind != "policy":
        raise ValueError("object_weight= shapes the policy's loss; the sub-goal model has no object guess: leave it 0")
    if cfg.head and cfg.kind != "subgoal":
        raise ValueError("head= shapes the sub-goal model's loss; a policy learns actions: leave head unset")


def train_proposal(cfg: ProposalTrainConfig) -> Path:
    """Train with atomic checkpoints (exact resume; a folder made with other settings is refused); returns out/proposal."""
    check_config(cfg)
    dist, gen = setup(cfg)
    device = dist.device
    data = Relabelled(cfg)
    identity = data.cache.meta.get("identity")
    head = None
    if cfg.head:
        from vjepa_ac.models.goal_head import load_head

        head = load_head(cfg.head).to(device)
        if head.meta.get("encoder") not in (None, identity):
            raise ValueError(f"head={cfg.head} reads tokens of encoder {head.meta.get('encoder')}, the cache holds {identity}'s")
    z0 = data.z[0]
    pcfg = ProposalConfig(kind=cfg.kind, embed_dim=z0.shape[-1], grid=int(round(z0.shape[-2] ** 0.5)), channels=cfg.arch.channels,
                          hidden=cfg.arch.hidden, dropout=cfg.dropout, state_dim=data.state[0].shape[-1], action_dim=data.action[0].shape[-1],
                          horizon=cfg.horizon, ahead=cfg.ahead, action_scale=data.action_scale.tolist(),
                          object_guess=cfg.object_weight > 0, pair=cfg.pair)
    model = build(pcfg).to(device).train()
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    val_cols = (["val_action_l1", "val_mean_action_l1", "val_gripper_sign"] + (["val_object_m", "val_mean_object_m"] if cfg.object_weight > 0 else [])
                if cfg.kind == "policy"
                else ["val_token_l1", "val_current_frame_token_l1"] + (["val_readout", "val_current_frame_readout"] if head else []))
    run = Run(cfg, "train_proposal", {**asdict(cfg), "encoder": identity}, ["step", "loss", "lr", *val_cols, "seconds"], dist)
    scale = data.action_scale.to(device)
    if cfg.object_weight > 0:
        obj_mean, obj_std = data.obj_mean.to(device), data.obj_std.to(device)

    def losses(b: dict) -> tuple[torch.Tensor, dict]:
        b = {k: v.to(device) for k, v in b.items()}
        if cfg.kind == "policy":
            a, guess = model.act_and_guess(b["z"], b["state"], b["z_goal"])
            loss = ((a - b["target"]) / scale).abs().mean()
            if guess is not None:
                norm = (b["object"] - obj_mean.repeat(2)) / obj_std.repeat(2)
                miss = (guess - norm).abs() * b["object_ok"]
                loss = loss + cfg.object_weight * miss.sum() / b["object_ok"].sum().clamp_min(1)
            return loss, {}
        zh = model(b["z"], b["z_goal"])
        loss = (zh - b["target"]).abs().mean()
        if head is not None:
            loss = loss + cfg.readout_weight * head.distance(head(zh), head(b["target"])).mean()
        return loss, {}

    @torch.no_grad()
    def validate() -> dict:
        if not data.val_eps:
            return {}
        vgen = torch.Generator().manual_seed(12345)
        model.eval()
        out: dict[str, list[float]] = {c: [] for c in val_cols}
        for _ in range(cfg.val_batches):
            b = {k: v.to(device) for k, v in data.batch(data.val_eps, cfg, vgen).items()}
            if cfg.kind == "policy":
                a, guess = model.act_and_guess(b["z"], b["state"], b["z_goal"])
                mean_action = torch.cat([data.action[e] for e in data.train_eps]).mean(0).to(device)
                out["val_action_l1"].append(float(((a - b["target"]) / scale).abs().mean()))
                out["val_mean_action_l1"].append(float(((mean_action - b["target"]) / scale).abs().mean()))
                out["val_gripper_sign"].append(float((torch.sign(a[..., -1]) == torch.sign(b["target"][..., -1])).float().mean()))
                if cfg.object_weight > 0:  # metres off, where the grasps say the object lies, against the mean place
                    guess = guess * obj_std.repeat(2) + obj_mean.repeat(2)
                    ok = b["object_ok"].bool()
                    miss = (guess - b["object"]).reshape(-1, 2, 3).norm(dim=-1)[ok[:, ::3]]
                    out["val_object_m"].append(float(miss.mean()))
                    out["val_mean_object_m"].append(float((obj_mean.repeat(2) - b["object"]).reshape(-1, 2, 3).norm(dim=-1)[ok[:, ::3]].mean()))
            else:
                zh = model(b["z"], b["z_goal"])
                out["val_token_l1"].append(float((zh - b["target"]).abs().mean()))
                out["val_current_frame_token_l1"].append(float((b["z"] - b["target"]).abs().mean()))
                if head is not None:
                    rt = head(b["target"])
                    out["val_readout"].append(float(head.distance(head(zh), rt).mean()))
                    out["val_current_frame_readout"].append(float(head.distance(head(b["z"]), rt).mean()))
        model.train()
        return {k: float(np.mean(v)) for k, v in out.items()}

    step = fit(run, model, opt, params, gen, lambda step: losses(data.batch(data.train_eps, cfg, gen)), validate,
               desc=f"train-proposal {cfg.kind}")
    val = validate()
    meta = {"encoder": identity, "features": str(cfg.features), "dataset": str(cfg.dataset), "steps": step, "head": cfg.head,
            **extra_sources(cfg),
            "val_episodes": data.val_eps, **{k: round(v, 5) for k, v in val.items()}}
    return save_proposal(model.cpu(), Path(cfg.out) / "proposal", meta, getattr(torch, cfg.export_dtype))
