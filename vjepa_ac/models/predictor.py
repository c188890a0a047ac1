"""The action-conditioned predictor of V-JEPA 2-AC: a block-causal transformer over time steps.

Each time step holds an action token, a state token and the N patch tokens of its frame (in that order, as in
`src/models/ac_predictor.py` of facebookresearch/vjepa2). A token sees its own step and earlier ones, never later
ones. Patch tokens carry 3D rotary positions (time, row, column), action and state tokens the time one only. The
output for step t is the prediction of the frame embedding at t+1.

Parameter names follow the official release (`predictor_embed`, `action_encoder`, `state_encoder`,
`predictor_blocks.i.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}`, `predictor_norm`, `predictor_proj`), so its
checkpoint loads by stripping prefixes. The official model (configs/train/vitg16/droid-256px-8f.yaml there):
depth 24, width 1024, 16 heads, 7-D actions and states, ViT-g encoder width 1408, 256-px frames of 16x16 patches.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.utils.checkpoint
import torch.nn.functional as F
from torch import nn

from vjepa_ac.io import atomic_path
from vjepa_ac.models.weights import load_release_entry, load_state_checked, model_folder, read_folder, save_folder, strip_prefixes

HEADS_BY_WIDTH = {1024: 16}  # the released predictor; heads cannot be read off a state dict


STATE_UPDATES = ("pose_delta", "additive", "learned")


@dataclass
class PredictorConfig:
    """Sizes of the predictor. The defaults are the small model trained here; `official()` is V-JEPA 2-AC's."""

    embed_dim: int = 192  # encoder width D
    hidden: int = 256
    depth: int = 6
    heads: int = 8
    mlp_ratio: float = 4.0
    grid: int = 8  # patches per side: N = grid * grid
    action_dim: int = 7
    state_dim: int = 7
    residual: bool = False  # predict the change: z_next = LN(z + f(...)); starts as "nothing moves" (not in the release layout)
    # How the state follows from an action during a rollout (STATE_UPDATES): "pose_delta" (V-JEPA 2-AC's: pose plus the
    # action's delta, gripper closure from its command), "additive" (state + state_step * action, e.g. joint positions
    # and joint velocities x dt; needs action_dim == state_dim) or "learned" (a small state head trained with the predictor).
    state_update: str = "pose_delta"
    state_step: float = 1.0

    def __post_init__(self):
        if self.state_update not in STATE_UPDATES:
            raise ValueError(f"predictor state_update must be one of {STATE_UPDATES}, got {self.state_update!r}")
        if self.state_update == "additive" and self.state_dim != self.action_dim:
            raise ValueError(f"state_update=additive adds the action to the state: action_dim must equal state_dim, got "
                             f"action_dim={self.action_dim}, state_dim={self.state_dim}")

    @staticmethod
    def official() -> "PredictorConfig":
        return PredictorConfig(embed_dim=1408, hidden=1024, depth=24, heads=16, grid=16)

    @property
    def tokens(self) -> int:
        return self.grid * self.grid


def _angles(pos: torch.Tensor, d: int) -> torch.Tensor:
    """Rotary angles [L, d] at positions pos [L], with the frequency layout of the V-JEPA 2 release.

    The release pairs neighbouring channels but lays the frequencies out as two copies of the d/2 of them (its code
    notes this as a harmless bug kept for checkpoint compatibility); so do we, or official weights would not match.
    """
    omega = 1.0 / 10000 ** (torch.arange(d // 2, dtype=torch.float32, device=pos.device) / (d / 2.0))
    return (pos.float()[:, None] * omega[None]).repeat(1, 2)


def rope_tables(t0: int, steps: int, cond: int, grid: int, head_dim: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin [steps*(cond+N), head_dim] for the tokens of steps t0..: per step `cond` tokens rotated in time
    only, then the N patch tokens rotated in time, row and column, each on its own `r` channels; the rest untouched."""
    r = 2 * ((head_dim // 3) // 2)
    n = grid * grid
    t = torch.arange(t0, t0 + steps, device=device)
    idx = torch.arange(n, device=device)
    ang = torch.zeros(steps, cond + n, head_dim, device=device)
    ang[:, :cond, :r] = _angles(t, r)[:, None]
    ang[:, cond:, :r] = _angles(t, r)[:, None]
    ang[:, cond:, r : 2 * r] = _angles(idx // grid, r)[None]
    ang[:, cond:, 2 * r : 3 * r] = _angles(idx % grid, r)[None]
    ang = ang.reshape(steps * (cond + n), head_dim)
    return ang.cos(), ang.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [..., L, d] rotated pairwise (channels 2k, 2k+1) by the angles behind cos/sin [L, d]."""
    pairs = x.unflatten(-1, (-1, 2))
    rotated = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
    return x * cos.to(x.dtype) + rotated * sin.to(x.dtype)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, grid: int):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.grid = grid
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, rot: tuple, mask: torch.Tensor, cache: dict | None, layer: int) -> torch.Tensor:
        """x [B, L, dim] of the new steps; rot = rope tables [L, hd]; mask [L, L_total] (True = may attend)."""
        b, length, dim = x.shape
        q, k, v = self.qkv(x).view(b, length, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)  # each [B, h, L, hd]
        q, k = apply_rope(q, *rot), apply_rope(k, *rot)
        if cache is not None:
            if layer in cache:
                pk, pv = cache[layer]
                k, v = torch.cat([pk, k], dim=2), torch.cat([pv, v], dim=2)
            cache[layer] = (k, v)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(out.transpose(1, 2).reshape(b, length, dim))


class MLP(nn.Module):
    def __init__(self, dim: int, ratio: float):
        super().__init__()
        self.fc1 = nn.Linear(dim, int(dim * ratio))
        self.fc2 = nn.Linear(int(dim * ratio), dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, ratio: float, grid: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, grid)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = MLP(dim, ratio)

    def forward(self, x, rot, mask, cache, layer):
        x = x + self.attn(self.norm1(x), rot, mask, cache, layer)
        return x + self.mlp(self.norm2(x))


class ACPredictor(nn.Module):
    """Predicts the next frame's patch embeddings from the current ones, the end-effector state and an action."""

    COND = 2  # action and state tokens per step

    def __init__(self, cfg: PredictorConfig):
        super().__init__()
        self.cfg = cfg
        self.predictor_embed = nn.Linear(cfg.embed_dim, cfg.hidden)
        self.action_encoder = nn.Linear(cfg.action_dim, cfg.hidden)
        self.state_encoder = nn.Linear(cfg.state_dim, cfg.hidden)
        self.predictor_blocks = nn.ModuleList(Block(cfg.hidden, cfg.heads, cfg.mlp_ratio, cfg.grid) for _ in range(cfg.depth))
        self.predictor_norm = nn.LayerNorm(cfg.hidden, eps=1e-6)
        self.predictor_proj = nn.Linear(cfg.hidden, cfg.embed_dim)
        self.activation_checkpointing = False  # training: recompute each block's activations in backward (memory for time)
        self.apply(self._init)
        for i, blk in enumerate(self.predictor_blocks):  # deeper residual branches start smaller, as in the release
            blk.attn.proj.weight.data.div_((2.0 * (i + 1)) ** 0.5)
            blk.mlp.fc2.weight.data.div_((2.0 * (i + 1)) ** 0.5)
        if cfg.residual:  # an untrained residual predictor imagines that nothing moves, and keeps every detail of z
            nn.init.zeros_(self.predictor_proj.weight)
        if cfg.state_update == "learned":  # the state's change after an action; starts at "nothing moves"
            self.state_head = nn.Sequential(nn.Linear(cfg.state_dim + cfg.action_dim, cfg.hidden), nn.GELU(),
                                            nn.Linear(cfg.hidden, cfg.state_dim))
            nn.init.zeros_(self.state_head[2].weight)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    def _check(self, z, state, action):
        c = self.cfg
        if z.ndim != 4 or z.shape[2:] != (c.tokens, c.embed_dim):
            raise ValueError(f"z must be [B, T, {c.tokens}, {c.embed_dim}], got {tuple(z.shape)}")
        if state.shape != (*z.shape[:2], c.state_dim) or action.shape != (*z.shape[:2], c.action_dim):
            raise ValueError(f"state must be [B, T, {c.state_dim}] and action [B, T, {c.action_dim}] for z {tuple(z.shape)}; got {tuple(state.shape)}, {tuple(action.shape)}")

    def _run(self, z, state, action, t0: int, cache: dict | None) -> torch.Tensor:
        """Steps t0..t0+T-1: z [B, T, N, D] -> predicted next-step z [B, T, N, D] (layer-normed, as trained)."""
        b, t, n, _ = z.shape
        x = self.predictor_embed(z)  # [B, T, N, h]
        a = self.action_encoder(action).unsqueeze(2)  # [B, T, 1, h]
        s = self.state_encoder(state).unsqueeze(2)
        x = torch.cat([a, s, x], dim=2).flatten(1, 2)  # [B, T*(2+N), h]
        per = self.COND + n
        rot = rope_tables(t0, t, self.COND, self.cfg.grid, self.cfg.hidden // self.cfg.heads, z.device)
        q_step = t0 + torch.arange(t * per, device=z.device) // per  # block-causal: step i sees steps <= i
        k_step = torch.arange((t0 + t) * per, device=z.device) // per
        mask = k_step[None, :] <= q_step[:, None]  # [L, L_total]
        recompute = self.activation_checkpointing and cache is None and torch.is_grad_enabled()
        for i, blk in enumerate(self.predictor_blocks):
            if recompute and any(p.requires_grad for p in blk.parameters()):
                x = torch.utils.checkpoint.checkpoint(blk, x, rot, mask, None, i, use_reentrant=False)
            else:
                x = blk(x, rot, mask, cache, i)
        x = x.view(b, t, self.COND + n, -1)[:, :, self.COND :]
        out = self.predictor_proj(self.predictor_norm(x))
        if self.cfg.residual:
            out = out + z
        return F.layer_norm(out, (out.shape[-1],))

    def forward(self, z: torch.Tensor, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Teacher-forced: z [B, T, N, D], state [B, T, S], action [B, T, A] -> z_next [B, T, N, D]."""
        self._check(z, state, action)
        return self._run(z, state, action, 0, None)

    def rollout(self, z0: torch.Tensor, s0: torch.Tensor, actions: torch.Tensor, use_cache: bool = True) -> torch.Tensor:
        """Autoregressive imagination: z0 [B, N, D], s0 [B, S], actions [B, H, A] -> z [B, H, N, D].

        The state of each next step follows from the action as `cfg.state_update` says: by default the current one plus
        the action on the pose dims and the gripper command mapped to a closure in [0, 1], as V-JEPA 2-AC integrates it.
        With `use_cache`, keys and values of past steps are kept, so step h costs one step, not h.
        """
        b, horizon, _ = actions.shape
        if z0.shape != (b, self.cfg.tokens, self.cfg.embed_dim) or s0.shape != (b, self.cfg.state_dim):
            raise ValueError(f"z0 must be [B, N, D] and s0 [B, S] with B={b}; got {tuple(z0.shape)}, {tuple(s0.shape)}")
        cache: dict | None = {} if use_cache else None
        zs, ss, preds = [z0], [s0], []
        for h in range(horizon):
            if use_cache:
                nxt = self._run(zs[-1][:, None], ss[-1][:, None], actions[:, h : h + 1], h, cache)[:, 0]
            else:
                z_hist, s_hist = torch.stack(zs, 1), torch.stack(ss, 1)  # the whole past, recomputed every step
                nxt = self._run(z_hist, s_hist, actions[:, : h + 1], 0, None)[:, -1]
            preds.append(nxt)
            zs.append(nxt)
            ss.append(self.next_state(ss[-1], actions[:, h]))
        return torch.stack(preds, 1)

    def next_state(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """The state [B, S] after action [B, A], as `cfg.state_update` says (see PredictorConfig)."""
        mode = self.cfg.state_update
        if mode == "pose_delta":
            return integrate_state(state, action)
        if mode == "additive":
            return state + self.cfg.state_step * action
        return state + self.state_head(torch.cat([state, action], dim=-1))  # learned: the head predicts the change


def integrate_state(state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """Next end-effector state [B, 7]: pose plus delta, gripper closure from the command in [-1, 1]."""
    if state.shape[-1] != 7 or action.shape[-1] != 7:
        raise ValueError(f"state_update=pose_delta integrates 7-D states and actions (xyz, Euler xyz, gripper), got "
                         f"{state.shape[-1]}-D states and {action.shape[-1]}-D actions: set the mapping's state_update to "
                         "additive or learned for this robot")
    pose = state[:, :6] + action[:, :6]
    grip = ((action[:, 6:7] + 1.0) / 2.0).clamp(0.0, 1.0)
    return torch.cat([pose, grip], dim=1)


def official_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A release predictor state dict with DDP prefixes stripped and the unused extrinsics encoder dropped."""
    out = {strip_prefixes(k): v for k, v in state.items()}
    return {k: v for k, v in out.items() if not k.startswith("extrinsics_encoder.")}


def config_from_official(state: dict[str, torch.Tensor], grid: int = 16, heads: int | None = None) -> PredictorConfig:
    """Sizes read off a release state dict; `grid` (patches per side: 16 for 256-px frames) and heads are not in it."""
    s = official_state(state)
    if "predictor_embed.weight" not in s:
        raise KeyError("no 'predictor_embed.weight' in the state dict: not a V-JEPA 2-AC predictor")
    hidden, embed = s["predictor_embed.weight"].shape
    n_heads = heads or HEADS_BY_WIDTH.get(hidden)
    if n_heads is None:
        raise ValueError(f"cannot tell the number of heads of a {hidden}-wide predictor; pass heads")
    depth = 1 + max(int(k.split(".")[1]) for k in s if k.startswith("predictor_blocks."))
    return PredictorConfig(
        embed_dim=embed, hidden=hidden, depth=depth, heads=n_heads, grid=grid,
        mlp_ratio=s["predictor_blocks.0.mlp.fc1.weight"].shape[0] / hidden,
        action_dim=s["action_encoder.weight"].shape[1], state_dim=s["state_encoder.weight"].shape[1],
    )


def load_official_predictor(path: str | Path, grid: int = 16, heads: int | None = None) -> ACPredictor:
    """The V-JEPA 2-AC predictor from its release file (vjepa2-ac-vitg.pt, entry `predictor`), loaded weights-only."""
    path = Path(path)
    found, state = load_release_entry(path, ["predictor"])
    model = ACPredictor(config_from_official(state, grid, heads))
    load_state_checked(model, official_state(state), f"{path}[{found}]")
    return model.eval()


# ----- our own checkpoints ------------------------------------------------------------------------------------------
def save_predictor(model: ACPredictor, path: Path, extra: dict | None = None) -> None:
    """Our checkpoint: model.safetensors and config.json in a folder, each written atomically."""
    save_folder(path, "predictor", asdict(model.cfg), model.state_dict(), extra)


def load_predictor(source: str | Path = "default", **official_kwargs) -> ACPredictor:
    """A predictor: a shipped default ("default" or "default-panda": the Panda's; "default-jaco"), a folder written by
    `save_predictor`, or an official release file."""
    path = model_folder(source, "predictor")
    if path.suffix in (".pt", ".pth", ".tar"):
        return load_official_predictor(path, **official_kwargs)
    meta, state, path = read_folder(path, "predictor", "predictor", "train")
    model = ACPredictor(PredictorConfig(**meta["predictor"]))
    load_state_checked(model, state, str(path / "model.safetensors"))
    return model.eval()


@dataclass
class ExportConfig:
    """`vjepa-ac export predictor=DIR out=FILE.pt`: a predictor of ours in the V-JEPA 2-AC release layout."""

    predictor: str = "default"
    out: str = "predictor.pt"


def export_predictor(model: ACPredictor, out: str | Path) -> Path:
    """Write `{"predictor": {"module." + key: tensor}}` (weights only), as vjepa2-ac-vitg.pt holds it, so the official
    `vit_ac_predictor` loads it with `load_state_dict(strict=True)` after stripping `module.`. The release also
    carries an `extrinsics_encoder` (camera extrinsics, unused by V-JEPA 2-AC's planning): it is written as zeros."""
    if model.cfg.state_update != "pose_delta":
        raise ValueError(f"a predictor with state_update={model.cfg.state_update} has no equivalent in the V-JEPA 2-AC release "
                         "layout: the official code integrates states as pose deltas")
    if model.cfg.residual:
        raise ValueError("a residual predictor (predictor.residual=true) has no equivalent in the V-JEPA 2-AC release layout: "
                         "the official code would not add the input back; export a non-residual one")
    out = Path(out)
    state = {f"module.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    c = model.cfg
    state["module.extrinsics_encoder.weight"] = torch.zeros(c.hidden, c.action_dim - 1)
    state["module.extrinsics_encoder.bias"] = torch.zeros(c.hidden)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        torch.save({"predictor": state}, tmp)
    return out
