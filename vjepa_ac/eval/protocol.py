"""What a row of results is, in words a reader of the table needs: the policy (world model and planner), the goals it
planned to (one goal image, the env's sub-goal images and how it moved on, latent sub-goals), what scored outcomes
and what trained that (object labels or none), and how the gripper was decided. Read off the agent that ran (not
re-derived from settings), written into every results.json and read back by `merge-results`, so a table never
guesses a row from its folder's name."""

from __future__ import annotations

SCORES = {"shaped": "true state (shaped)", "state": "true state", "pixels": "raw pixels", "kinematic": "true state (kinematic model)",
          "image": "the energy of the rendered outcome"}
GRIPPERS = {None: "planned", "image": "held as the goal image reads", "state": "held as the goal state says (privileged)",
            "policy": "proposal policy"}


def energy_words(model) -> tuple[str, str]:
    """(what scores an outcome, what trained it) for a world model."""
    energy = getattr(model, "energy", None)
    if energy is None:
        return SCORES.get(getattr(model, "score", "kinematic"), "true state"), "simulator state"
    c = energy.cfg
    parts = []
    if energy.distance is not None and c.distance_weight > 0:
        parts.append("temporal distance" + (f" (q{round(100 * c.distance_quantile)})" if c.distance_statistic == "quantile" else ""))
    if energy.head is not None and c.head_weight > 0:
        parts.append("readout" + {True: " (pose from integrated state)", "state": " (pose = predicted state)"}.get(c.anchor, ""))
    tokens = f"tokens ({c.metric.upper()}" + (f", grids /{'/'.join(map(str, c.token_pools))}" if c.token_pools != (1,) else "") + ")"
    if parts and c.token_weight > 0:
        parts.append(tokens)
    words = " + ".join(parts) or tokens
    if c.state_weight > 0:
        words += " + goal state (privileged)"
    labels = getattr(energy.head, "meta", {}).get("labels") if energy.head is not None and c.head_weight > 0 else None
    if labels is None and energy.head is not None and c.head_weight > 0:  # heads from before `labels` was recorded
        labels = [n for n in energy.head.cfg.names if n.startswith("object")]
    return words, "object labels" if labels else "no labels"


def describe(policy: str, model_name: str | None = None, agent=None) -> dict:
    """The row's policy, goals, energy, what trained the energy, and gripper: `policy` is planner, random or expert;
    the planner's are read off its `agent` (its settings, world model, gripper rule)."""
    if policy != "planner":
        return {"policy": policy, "goals": "-", "energy": "-", "trained": "-", "gripper": "-"}
    a = agent.cfg
    name = f"{model_name}/policy" if a.planner == "policy" else f"{model_name}+{a.planner}"
    share = agent.planner_config().prior_share if a.planner != "policy" else 0
    if share:
        name += f" (prior {share:g})"
    if not a.use_subgoals:
        goals = "one goal image" + (" + latent sub-goals" if a.latent_subgoals else "")
    else:
        advance = (f"clock {a.subgoal_steps} steps" if a.subgoal_steps else "clock") if a.subgoal_advance == "clock" else "when reached"
        goals = f"env sub-goal images ({advance})"
    if a.planner == "policy":  # the proposal policy acts alone: no energy scores anything, it commands the gripper too
        return {"policy": name, "goals": goals, "energy": "none (the policy acts alone)", "trained": "no labels", "gripper": "policy"}
    energy, trained = energy_words(agent.model)
    return {"policy": name, "goals": goals, "energy": energy, "trained": trained, "gripper": GRIPPERS[agent.gripper_mode]}


def row_label(d: dict) -> str:
    """One line naming a described row (merge-results' row name when a table did not name it)."""
    if d["goals"] == "-":
        return d["policy"]
    return f"{d['policy']} · {d['goals']} · {d['energy']}, {d['trained']} · gripper {d['gripper']}"
