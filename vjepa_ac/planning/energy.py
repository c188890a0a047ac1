"""The planning energy: how far an imagined outcome is from the goal image, read off the encoder's tokens.

One `Energy` object, built from `EnergyConfig`, scores outcomes for every world model that has tokens (the learned one
and the true-dynamics `sim+image` rung), so the two cannot drift apart. Its terms, each optional:

- **temporal distance** (`distance`): the steps between the outcome and the goal image as the temporal-distance head
  reads them (`models/distance.py`; trained on nothing but the order of frames in play logs). It carries the object
  and the gripper: "cube lifted in the hand" is near "open hand around the cube", far from "closed empty hand".
- **readout** (`head`): the weighted L1 between what a goal head reads off the outcome and off the goal image. The
  shipped head reads the robot's own state (hand pose and closure: what any robot log holds); a head trained with
  object labels (`labelled`) is a ladder rung, not a default.
- **tokens**: V-JEPA 2-AC's mean L1 (or L2) between the outcome's and the goal's tokens: alone when neither head is
  used, beside them with `token_weight` > 0.
- `state_weight`: the end-effector distance to the goal's true state (privileged; a diagnostic).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

METRICS = ("l1", "l2")
ANCHORS = (True, False, "state")


@dataclass
class EnergyConfig:
    """Which terms score an outcome, and how."""

    metric: str = "l1"  # tokens term: l1 (mean absolute difference) or l2 (root mean square difference)
    per_step: bool = False  # average over every step of the rollout instead of scoring the last one only
    state_weight: float = 0.0  # weight of |xyz_H - xyz_goal| (metres) when the goal state is known: not image-only
    # The readout head (`vjepa-ac train-head`): "auto" (the shipped default's, with the shipped encoder; none with any
    # other), "default", "default-panda", "default-jaco", "labelled" (the shipped default's head trained with object
    # labels: a ladder rung), a head folder, or null.
    head: str | None = "auto"
    # the readout term's weight: its unit is the head's weighted mean absolute difference over its coordinates (1 cm of
    # the hand along one axis adds 0.0014 for the shipped 7-coordinate head), the distance's a control step: with 50,
    # 10 cm of the hand weighs 0.7 of a step
    head_weight: float = 50.0
    # With a head, how the outcome's robot pose is read: false, off the imagined tokens (the world model carries it);
    # true, the current frame's readout moved as the predicted state moves (the state the predictor integrates along the
    # actions: every predictor imagines the hand alike); "state", the predicted state itself.
    anchor: bool | str = False
    # The temporal-distance head (`vjepa-ac train-distance`): "auto" (the shipped default's with the shipped encoder),
    # "default", "default-panda", "default-jaco", a folder, or null.
    distance: str | None = "auto"
    distance_weight: float = 1.0  # the distance term's weight (its unit: control steps)
    distance_statistic: str = "mean"  # mean: the expected steps; quantile: a quantile of the predicted distribution
    distance_quantile: float = 0.25
    # the tokens term's weight beside a head or the distance (0: off; without either head the tokens term is the energy)
    token_weight: float = 0.0
    # the tokens term averaged over these poolings of the token grid (1: the tokens themselves; 2: each 2 x 2 block of
    # tokens averaged first; ...): a coarse grid still differs by less when an object is nearer its goal place, where
    # the fine grid's difference stops growing once it is a patch away. [1] is V-JEPA 2-AC's term.
    token_pools: tuple[int, ...] = (1,)

    def __post_init__(self):
        self.anchor = anchor_mode(self.anchor)
        if self.metric not in METRICS:
            raise ValueError(f"energy.metric must be one of {METRICS}, got {self.metric!r}")
        from vjepa_ac.models.distance import STATISTICS

        if self.distance_statistic not in STATISTICS:
            raise ValueError(f"energy.distance_statistic must be one of {STATISTICS}, got {self.distance_statistic!r}")
        weights = (self.head_weight, self.distance_weight, self.state_weight, self.token_weight)
        self.token_pools = tuple(int(k) for k in self.token_pools)
        if not self.token_pools or min(self.token_pools) < 1:
            raise ValueError(f"energy.token_pools must be one or more pooling factors >= 1, got {list(self.token_pools)}")
        if not (min(weights) >= 0 and 0 < self.distance_quantile < 1):
            raise ValueError(f"energy.head_weight, distance_weight, state_weight, token_weight must be >= 0 and 0 < "
                             f"distance_quantile < 1; got {list(weights)}, {self.distance_quantile}")


def anchor_mode(value) -> bool | str:
    """`energy.anchor` as one of ANCHORS (the strings true/false from a command line read as booleans)."""
    v = {"true": True, "false": False}.get(value.lower(), value) if isinstance(value, str) else value
    if v not in ANCHORS:
        raise ValueError(f"energy.anchor must be true, false or 'state', got {value!r}")
    return v


def _distance(diff: torch.Tensor, metric: str) -> torch.Tensor:
    """Mean over the last two dims (tokens, channels) of diff [..., N, D]."""
    if metric == "l1":
        return diff.abs().mean((-2, -1))
    if metric == "l2":
        return diff.pow(2).mean((-2, -1)).sqrt()
    raise ValueError(f"energy.metric must be one of {METRICS}, got {metric!r}")


def pool_tokens(z: torch.Tensor, k: int) -> torch.Tensor:
    """Tokens z [..., N, D] of a square grid (N = g * g) averaged over k x k blocks -> [..., N / k^2, D]."""
    if k == 1:
        return z
    n, d = z.shape[-2:]
    g = round(n**0.5)
    if g * g != n or g % k:
        raise ValueError(f"energy.token_pools: {k} x {k} pooling needs a square token grid whose side it divides; got {n} tokens")
    lead = z.shape[:-2]
    x = z.reshape(-1, g, g, d).permute(0, 3, 1, 2)  # [B, D, g, g]
    x = torch.nn.functional.avg_pool2d(x, k)  # [B, D, g/k, g/k]
    return x.permute(0, 2, 3, 1).reshape(*lead, -1, d)


def _token_distance(z: torch.Tensor, z_goal: torch.Tensor, cfg: EnergyConfig) -> torch.Tensor:
    """The tokens term of z [..., N, D] against z_goal [N, D], averaged over cfg.token_pools."""
    return sum(_distance(pool_tokens(z, k) - pool_tokens(z_goal, k), cfg.metric) for k in cfg.token_pools) / len(cfg.token_pools)


def latent_energy(z_pred: torch.Tensor, z_goal: torch.Tensor, cfg: EnergyConfig) -> torch.Tensor:
    """Token energy [S] of predicted embeddings z_pred [S, H, N, D] against one goal embedding z_goal [N, D]."""
    if z_pred.ndim != 4 or z_goal.shape != z_pred.shape[2:]:
        raise ValueError(f"z_pred must be [S, H, N, D] and z_goal [N, D]; got {tuple(z_pred.shape)}, {tuple(z_goal.shape)}")
    scored = z_pred if cfg.per_step else z_pred[:, -1:]  # [S, H', N, D]
    return _token_distance(scored, z_goal, cfg).mean(1)


def frame_energy(z: torch.Tensor, z_goal: torch.Tensor, cfg: EnergyConfig) -> float:
    """Token energy of one observed embedding z [N, D] against the goal z_goal [N, D] (no prediction involved)."""
    return float(_token_distance(z, z_goal, cfg))


def anchored_readout(head, r_now: torch.Tensor, r_pred: torch.Tensor, s_now: torch.Tensor, s_pred: torch.Tensor,
                     mode: bool | str = True) -> torch.Tensor:
    """The outcome's readout [..., K]: the current one r_now [K] plus the predicted change, where the head's
    `pose_coords` leading coordinates change as the state does (s_pred [..., S] - s_now [S]) and the rest as the head
    reads the imagined tokens (r_pred [..., K] - r_now). With mode "state" the pose coordinates are s_pred itself."""
    p = head.cfg.pose_coords
    out = r_pred.clone()
    if p:
        out[..., :p] = s_pred[..., :p] if mode == "state" else r_now[:p] + (s_pred[..., :p] - s_now[:p])
    return out


@torch.no_grad()
def head_energy(head, z_pred: torch.Tensor, r_goal: torch.Tensor, anchor: tuple | None = None, mode: bool | str = True) -> torch.Tensor:
    """Readout energy [S] of imagined tokens z_pred [S, H', N, D] (the scored steps) to the goal's readout r_goal [K],
    averaged over the steps; with `anchor` = (r_now [K], s_now [S_dim], s_pred [S, H', S_dim]) the outcome is read as
    the current readout plus the predicted change (`anchored_readout`, in `mode`)."""
    r = head(z_pred)  # [S, H', K]
    if anchor is not None:
        r = anchored_readout(head, anchor[0], r, anchor[1], anchor[2], mode)
    return head.distance(r, r_goal).mean(1)


@dataclass
class GoalCode:
    """What the energy keeps of a goal image, computed once: its tokens, the head's readout, the distance head's
    reduced tokens."""

    z: torch.Tensor  # [N, D]
    read: torch.Tensor | None = None  # [K]
    features: torch.Tensor | None = None  # [N, C]


class Energy:
    """Scores imagined (or rendered) outcomes against a goal image; built once from `EnergyConfig` and the loaded
    heads, shared by every world model with tokens."""

    def __init__(self, cfg: EnergyConfig, head=None, distance=None, device: str | torch.device = "cpu"):
        self.cfg = cfg
        self.head = head.to(device).eval() if head is not None else None
        self.distance = distance.to(device).eval() if distance is not None else None

    @property
    def uses_tokens(self) -> bool:
        """Scored by the raw token distance (neither head)."""
        return self.head is None and self.distance is None

    @property
    def needs_states(self) -> bool:
        """The predicted states enter the readout (anchored head)."""
        return self.head is not None and bool(self.cfg.anchor)

    @torch.no_grad()
    def read(self, z: torch.Tensor) -> torch.Tensor | None:
        """The head's readout [K] of one frame's tokens z [N, D] (None without a head)."""
        return self.head(z[None])[0] if self.head is not None else None

    @torch.no_grad()
    def goal(self, z: torch.Tensor) -> GoalCode:
        """The goal's code from its tokens z [N, D]."""
        return GoalCode(z, self.read(z), self.distance.goal_features(z) if self.distance is not None else None)

    @torch.no_grad()
    def score(self, z_pred: torch.Tensor, goal: GoalCode, now: tuple | None = None, s_pred: torch.Tensor | None = None) -> torch.Tensor:
        """Energy [S] of outcomes z_pred [S, H, N, D] (imagined, or rendered and encoded). now = (r_now [K], s_now [S_dim])
        of the current frame and s_pred [S, H, S_dim] the predicted states, for an anchored head."""
        if self.uses_tokens:
            return latent_energy(z_pred, goal.z, self.cfg)
        scored = z_pred if self.cfg.per_step else z_pred[:, -1:]  # [S, H', N, D]
        e = torch.zeros(z_pred.shape[0], device=z_pred.device)
        if self.head is not None and self.cfg.head_weight > 0:
            anchor = None
            if self.cfg.anchor:
                steps = slice(None) if self.cfg.per_step else slice(-1, None)
                anchor = (now[0], now[1], s_pred[:, steps])
            e = e + self.cfg.head_weight * head_energy(self.head, scored, goal.read, anchor, self.cfg.anchor)
        if self.distance is not None and self.cfg.distance_weight > 0:
            e = e + self.cfg.distance_weight * self.steps(scored, goal).mean(1)
        if self.cfg.token_weight > 0:
            e = e + self.cfg.token_weight * latent_energy(z_pred, goal.z, self.cfg)
        return e

    @torch.no_grad()
    def steps(self, z: torch.Tensor, goal: GoalCode) -> torch.Tensor:
        """The distance head's steps [...] from frames z [..., N, D] to the goal."""
        logits = self.distance.logits_to(z, goal.features)
        return self.distance.steps(logits, self.cfg.distance_statistic, self.cfg.distance_quantile)

    @torch.no_grad()
    def frame(self, z: torch.Tensor, goal: GoalCode, read: torch.Tensor | None = None) -> float:
        """Energy of one observed frame z [N, D] (its readout `read` if known) against the goal: no prediction."""
        if self.uses_tokens:
            return frame_energy(z, goal.z, self.cfg)
        e = 0.0
        if self.head is not None and self.cfg.head_weight > 0:
            e += self.cfg.head_weight * float(self.head.distance(self.read(z) if read is None else read, goal.read))
        if self.distance is not None and self.cfg.distance_weight > 0:
            e += self.cfg.distance_weight * float(self.steps(z, goal))
        if self.cfg.token_weight > 0:
            e += self.cfg.token_weight * frame_energy(z, goal.z, self.cfg)
        return e

    @torch.no_grad()
    def reached(self, z: torch.Tensor, goal: GoalCode) -> bool | None:
        """Whether the frame z [N, D] is at the goal, as the distance head was calibrated to say on play logs (its
        expected distance below `reached`); None without a distance head."""
        if self.distance is None:
            return None
        return float(self.distance.steps(self.distance.logits_to(z, goal.features), "mean")) < self.distance.cfg.reached
