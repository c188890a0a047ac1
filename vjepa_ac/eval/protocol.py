"""What a row of results is, in words a reader of the table needs: the policy (world model and planner), the goals it
planned to (one goal image, the env's sub-goal images and how it moved on, latent sub-goals), what scored outcomes
and what trained that (object labels or none), and how the gripper was decided. Written into every results.json and
read back by `merge-results`, so a table never guesses a row from its folder's name."""

from __future__ import annotations

import json

from vjepa_ac.planning.agent import gripper_source
from vjepa_ac.planning.ladder import model_identity, rung

SCORES = {"shaped": "true state (shaped)", "state": "true state", "pixels": "raw pixels", "kinematic": "true state (kinematic model)"}


def _head_labels(path) -> bool:
    """Whether a readout head was trained with labels beyond the robot's own state (object positions)."""
    cfg = path / "config.json"
    if not cfg.exists():
        return False
    meta = json.loads(cfg.read_text())
    if "labels" in meta:
        return bool(meta["labels"])
    return any(n.startswith("object") for n in meta.get("head", {}).get("names", []))


def _readout_names(cfg, robot) -> list[str]:
    from vjepa_ac.models.weights import part_source

    path = part_source(cfg.energy.head, "head", cfg.world_model, cfg.encoder, robot) if rung(cfg.world_model).encoder else None
    if path is None or not (path / "config.json").exists():
        return []
    return json.loads((path / "config.json").read_text()).get("head", {}).get("names", [])


def energy_words(cfg, robot: str | None = None) -> tuple[str, str]:
    """(what scores an outcome, what trained it) for an EvalConfig's planner."""
    from vjepa_ac.models.weights import part_source

    r = rung(cfg.world_model)
    if not r.encoder:
        return SCORES.get(r.score, r.score), "simulator state"
    e = cfg.energy
    head = part_source(e.head, "head", cfg.world_model, cfg.encoder, robot) if e.head_weight > 0 else None
    dist = part_source(e.distance, "distance", cfg.world_model, cfg.encoder, robot) if e.distance_weight > 0 else None
    parts = []
    if dist is not None:
        parts.append("temporal distance")
    if head is not None:
        parts.append("readout" + {True: " (pose from integrated state)", "state": " (pose = predicted state)"}.get(e.anchor, ""))
    words = " + ".join(parts) or f"tokens ({e.metric.upper()})"
    labelled = head is not None and _head_labels(head)
    if e.state_weight > 0:
        words += " + goal state (privileged)"
    return words, "object labels" if labelled else "no labels"


def describe(cfg, robot: str | None = None) -> dict:
    """The row's policy, goals, energy, what trained the energy, and gripper, for an EvalConfig."""
    if cfg.policy != "planner":
        return {"policy": cfg.policy, "goals": "-", "energy": "-", "trained": "-", "gripper": "-"}
    a = cfg.agent
    name = model_identity(cfg.world_model)
    policy = f"{name}/policy" if a.planner == "policy" else f"{name}+{a.planner}"
    if a.proposal and a.planner != "policy":
        policy += f" (prior {a.cem.prior_share if a.planner == 'cem' else a.mppi.prior_share:g})"
    if not a.use_subgoals:
        goals = "one goal image" + (" + latent sub-goals" if a.latent_subgoals else "")
    else:
        advance = (f"clock {a.subgoal_steps} steps" if a.subgoal_steps else "clock") if a.subgoal_advance == "clock" else "when reached"
        goals = f"env sub-goal images ({advance})"
    energy, trained = energy_words(cfg, robot)
    gripper = {None: "planned", "image": "held as the goal image reads", "state": "held as the goal state says (privileged)",
               "policy": "proposal policy"}[gripper_source(a.gripper_from_goal, _readout_names(cfg, robot))]
    return {"policy": policy, "goals": goals, "energy": energy, "trained": trained, "gripper": gripper}


def row_label(d: dict) -> str:
    """One line naming a described row (merge-results' row name when a table did not name it)."""
    if d["goals"] == "-":
        return d["policy"]
    return f"{d['policy']} · {d['goals']} · {d['energy']}, {d['trained']} · gripper {d['gripper']}"
