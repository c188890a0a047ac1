"""`vjepa-ac table`: the zero-shot table, tasks x a ladder of policies: `sim` (true dynamics and state), `sim+image`
(true dynamics, the encoder's energy), the learned model with CEM / MPPI / the single goal image, random, expert."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

from vjepa_ac.eval.evaluate import EvalConfig, evaluate
from vjepa_ac.io import atomic_write, write_json
from vjepa_ac.planning.ladder import model_identity, rung

TASK_ENVS = {
    "reach": "vjepa_ac/PandaReach-v0",
    "grasp": "vjepa_ac/PandaGrasp-v0",
    "reach_with_object": "vjepa_ac/PandaReachWithObject-v0",
    "pick_place": "vjepa_ac/PandaPickPlace-v0",
    "reach_site": "vjepa_ac/JacoReachSite-v0",  # the Kinova Jaco on DeepMind's tasks (dm_control.manipulation)
    "lift_brick": "vjepa_ac/JacoLiftBrick-v0",
}
PANDA_TASKS = ["reach", "grasp", "reach_with_object", "pick_place"]
ROWS = {  # row name -> fields of EvalConfig (dotted names reach into nested ones)
    # the diagnostic ladder, truth to learning: which part a failure belongs to
    # true dynamics, true-state energy; it moves to the next sub-goal once within 2 cm-equivalents of the current one
    "sim": {"policy": "planner", "world_model": "sim", "planner": "cem", "agent.subgoal_tolerance": 0.02},
    # true dynamics, the unshaped true-state distance to the (sub-)goal's true state: the ceiling of any image energy
    "sim+state": {"policy": "planner", "world_model": "sim+state", "planner": "cem"},
    "sim+image": {"policy": "planner", "world_model": "sim+image", "planner": "cem"},  # true dynamics, the default energy
    # true dynamics, V-JEPA 2-AC's energy: the mean L1 between the encoder's tokens of the outcome and of the goal image
    "sim+image/tokens": {"policy": "planner", "world_model": "sim+image", "planner": "cem", "energy.head": None},
    # true dynamics, mean L1 of the rendered outcome's raw pixels to the goal image: the floor
    "sim+pixels": {"policy": "planner", "world_model": "sim+pixels", "planner": "cem"},
    "default+cem": {"policy": "planner", "world_model": "default", "planner": "cem"},  # encoder + predictor, default energy
    # the Panda's default on any robot's env (its predictor and head): zero-shot across embodiments
    "default-panda+cem": {"policy": "planner", "world_model": "default-panda", "planner": "cem"},
    "default+cem/tokens": {"policy": "planner", "world_model": "default", "planner": "cem", "energy.head": None},
    # the head's pose coordinates taken from the predicted state itself instead of the current readout plus its change
    "default+cem/anchor-state": {"policy": "planner", "world_model": "default", "planner": "cem", "energy.anchor": "state"},
    "default+mppi": {"policy": "planner", "world_model": "default", "planner": "mppi"},
    # V-JEPA 2-AC's protocol: the final goal image alone, even where the task offers sub-goals
    "default+cem/one-goal": {"policy": "planner", "world_model": "default", "planner": "cem", "agent.use_subgoals": False},
    "sim/one-goal": {"policy": "planner", "world_model": "sim", "planner": "cem", "agent.use_subgoals": False},
    # sub-goals, with the gripper held open or closed as each sub-goal's state shows it (the encoder cannot see it)
    # the gripper planned with the other dims instead of held as the goal head reads each (sub-)goal image
    "default+cem/planned-gripper": {"policy": "planner", "world_model": "default", "planner": "cem", "agent.gripper_from_goal": None},
    # the gripper held as each sub-goal's true state shows it (privileged; a diagnostic of the earlier token energy)
    "default+cem/gripper-state": {"policy": "planner", "world_model": "default", "planner": "cem", "agent.gripper_from_goal": "state"},
    "sim+image/gripper-state": {"policy": "planner", "world_model": "sim+image", "planner": "cem", "agent.gripper_from_goal": "state"},
    "sim+state/gripper-state": {"policy": "planner", "world_model": "sim+state", "planner": "cem", "agent.gripper_from_goal": "state"},
    # proposals learned from play logs: the goal-conditioned policy alone (no search), as a quarter of CEM's samples, and
    # the latent sub-goal model proposing sub-goals from the final goal image alone
    "default/policy": {"policy": "planner", "world_model": "default", "planner": "policy", "agent.proposal": "default"},
    "default+cem/prior": {"policy": "planner", "world_model": "default", "planner": "cem", "agent.proposal": "default",
                          "agent.cem.prior_share": 0.25},
    "default+cem/one-goal+latent": {"policy": "planner", "world_model": "default", "planner": "cem",
                                    "agent.use_subgoals": False, "agent.latent_subgoals": "default"},
    "default+cem/one-goal+latent+prior": {"policy": "planner", "world_model": "default", "planner": "cem",
                                          "agent.use_subgoals": False, "agent.latent_subgoals": "default",
                                          "agent.proposal": "default", "agent.cem.prior_share": 0.25},
    "oracle": {"policy": "planner", "world_model": "oracle", "planner": "cem"},  # kinematic model: cheap, optimistic
    "random": {"policy": "random"},
    "expert": {"policy": "expert"},
}
DEFAULT_ROWS = ["sim", "sim+state", "sim+image", "sim+image/tokens", "sim+pixels", "default+cem", "default+cem/tokens",
                "default+mppi", "default+cem/one-goal", "random", "expert"]


@dataclass
class TableConfig:
    """`vjepa-ac table episodes=50 out=DIR [tasks=[reach,grasp] rows=[default+cem,oracle] base.workers=2 ...]`."""

    tasks: list[str] = field(default_factory=lambda: list(PANDA_TASKS))
    rows: list[str] = field(default_factory=lambda: list(DEFAULT_ROWS))
    episodes: int = 50
    out: str = "runs/zero_shot"
    predictor: str = "default"  # the learned rows' predictor: default (shipped), or a folder / release file
    encoder: str = "default"  # the encoder of the learned rows and of sim+image
    base: EvalConfig = field(default_factory=EvalConfig)  # every other knob, shared by all cells
    oracle_horizon: int = 2  # the kinematic oracle is cheap: it looks two steps ahead
    sim_episodes: int | None = None  # episodes of the true-dynamics rungs (each simulates every candidate); None: episodes


OWNED = {"episodes": "episodes", "out": "out", "env.id": "tasks", "encoder": "encoder"}  # base fields a cell sets: the table's own setting


def check_base(cfg: TableConfig) -> None:
    """Refuse a `base.` field that every cell would overwrite, naming the table's own setting to use instead."""
    default = EvalConfig()
    for name, own in OWNED.items():
        a, b = cfg.base, default
        for part in name.split("."):
            a, b = getattr(a, part), getattr(b, part)
        if a != b:
            raise ValueError(f"base.{name}={a!r} would be overwritten in every cell: the table sets it from its own `{own}` setting; "
                             f"set {own}= instead")


def check_cells(cfg: TableConfig, cells: list[tuple[str, str]]) -> None:
    """Check every cell's settings before any cell runs (a typo in the last row fails before the first cell), and build
    each distinct world model once (one that cannot load, or does not fit its encoder, fails here too)."""
    from vjepa_ac.eval.evaluate import build_checked, check_settings

    check_base(cfg)
    configs = [cell_config(cfg, t, r) for t, r in cells]
    for c in configs:
        check_settings(c)
    seen = set()
    for c in configs:
        key = (c.policy, c.world_model, c.encoder, c.energy.head, c.env.id if c.world_model.startswith("sim") else None)
        if c.policy == "planner" and key not in seen:
            seen.add(key)
            built = build_checked(c)
            built["env"].close()


def cell_config(cfg: TableConfig, task: str, row: str) -> EvalConfig:
    """The evaluation behind one cell of the table."""
    if task not in TASK_ENVS:
        raise ValueError(f"unknown task {task!r} in tasks; known: {list(TASK_ENVS)}")
    if row not in ROWS:
        raise ValueError(f"unknown row {row!r} in rows; known: {list(ROWS)}")
    c = copy.deepcopy(cfg.base)
    c.env.id = TASK_ENVS[task]
    for k, v in ROWS[row].items():
        *parents, name = k.split(".")
        obj = c
        for p in parents:
            obj = getattr(obj, p)
        setattr(obj, name, v)
    if c.world_model == "default":
        c.world_model = cfg.predictor
    c.encoder = cfg.encoder
    if row == "oracle":
        c.agent.horizon = cfg.oracle_horizon
    c.episodes = cfg.sim_episodes if row.startswith("sim") and cfg.sim_episodes else cfg.episodes
    c.out = str(Path(cfg.out) / task / row.replace("/", "-"))
    return c


def format_cell(s: dict) -> str:
    lo, hi = s["success_ci95"]
    text = f"{100 * s['success_rate']:.0f} % [{100 * lo:.0f}-{100 * hi:.0f}]"
    if s.get("planning_ms"):
        text += f", {s['planning_ms']['median']:.0f} ms"
    return text


def markdown(cells: dict[tuple[str, str], dict], tasks: list[str], rows: list[str]) -> str:
    """Success rate [95 % Wilson interval] and median planning ms per action, rows x tasks."""
    lines = ["| policy | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    for r in rows:
        lines.append(f"| {r} | " + " | ".join(format_cell(cells[(t, r)]) if (t, r) in cells else "-" for t in tasks) + " |")
    n = {s["episodes"] for s in cells.values()}
    lines.append("")
    lines.append(f"Success rate [95 % Wilson interval] over {'/'.join(map(str, sorted(n)))} seeded episodes; ms: median planning time per action.")
    fewer = sorted({r for (t, r), s in cells.items() if s["episodes"] < max(n)}, key=rows.index)
    if fewer:
        def short(r: str) -> str:
            return ", ".join(f"{t} {cells[(t, r)]['episodes']}" for t in tasks if (t, r) in cells and cells[(t, r)]["episodes"] < max(n))

        each = [f"{r} ({short(r)})" for r in fewer]
        lines.append(f"Fewer than {max(n)} episodes: " + "; ".join(each) + ".")
    return "\n".join(lines)


def run_table(cfg: TableConfig) -> str:
    """Evaluate every cell (each resumable in its own folder) and write table.md and table.json."""
    order = [(t, r) for t in cfg.tasks for r in cfg.rows]
    check_cells(cfg, order)
    cells = {(t, r): evaluate(cell_config(cfg, t, r)) for t, r in order}
    text = markdown(cells, cfg.tasks, cfg.rows)
    root = Path(cfg.out)
    atomic_write(root / "table.md", lambda p: p.write_text(text + "\n"))
    write_json(root / "table.json", {f"{t}/{r}": {k: v for k, v in s.items() if k != "config"} for (t, r), s in cells.items()})
    return text


def crashed_cells(cfg: TableConfig) -> None:
    """Raise EpisodesCrashed naming every cell of a finished table with more crashed episodes than base.max_error_rate."""
    from vjepa_ac.eval.evaluate import raise_on_crashes

    root = Path(cfg.out)
    summaries = {f"{t}/{r}": json.loads((root / t / r.replace("/", "-") / "results.json").read_text()) for t in cfg.tasks for r in cfg.rows}
    raise_on_crashes(summaries, cfg.base.max_error_rate)


def _row_name(s: dict) -> str:
    """A planner's row in a merged table: the rung, or the learned model's identity with its planner."""
    wm = str(s["world_model"])
    if rung(wm).score != "learned":
        return wm
    sep = "/" if s["planner"] == "policy" else "+"  # the proposal policy acts alone: no planner
    return f"{s.get('model') or model_identity(wm)}{sep}{s['planner']}"


def merge_results(paths: list[str | Path]) -> str:
    """One Markdown table from results.json files of separate jobs (a sweep's outputs)."""
    cells, tasks, rows = {}, [], []
    for p in paths:
        s = json.loads(Path(p).read_text())
        task = s.get("task") or s["env"]
        row = s["policy"] if s["policy"] != "planner" else _row_name(s)
        agent = s.get("config", {}).get("agent", {})
        if s["policy"] == "planner" and rung(str(s["world_model"])).encoder and s.get("config", {}).get("energy", {}).get("head", "auto") is None:
            row += "/tokens"
        elif s["policy"] == "planner" and s.get("config", {}).get("energy", {}).get("anchor") == "state":
            row += "/anchor-state"
        planner = agent.get("planner", s.get("planner"))
        prior = s["policy"] == "planner" and planner in ("cem", "mppi") and agent.get(planner, {}).get("prior_share", 0) > 0
        one_goal = s["policy"] == "planner" and not agent.get("use_subgoals", True)
        if prior and not one_goal:
            row += "/prior"
        if one_goal:
            row += "/one-goal" + ("+latent" if agent.get("latent_subgoals") else "") + ("+prior" if prior else "")
        elif s["policy"] == "planner" and agent.get("gripper_from_goal") in (True, "state"):
            row += "/gripper-state"
        elif s["policy"] == "planner" and agent.get("gripper_from_goal", "auto") in (None, False) and rung(str(s["world_model"])).encoder:
            row += "/planned-gripper"
        if (task, row) in cells:
            raise ValueError(f"{p}: a second result for task {task!r}, policy {row!r}")
        cells[(task, row)] = s
        tasks += [task] if task not in tasks else []
        rows += [row] if row not in rows else []
    order = lambda known: (lambda x: (list(known).index(x) if x in known else len(known), x))  # noqa: E731
    return markdown(cells, sorted(tasks, key=order(TASK_ENVS)), sorted(rows, key=order(ROWS)))
