"""`vjepa-ac table`: the zero-shot table, tasks x a ladder of policies: `sim` (true dynamics and state), `sim+image`
(true dynamics, the encoder's energy), the learned model with CEM / MPPI / the single goal image, random, expert."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import envs
from vjepa_ac.eval.evaluate import EvalConfig, evaluate
from vjepa_ac.eval.protocol import row_label
from vjepa_ac.io import atomic_write, write_json

TASK_ENVS = {task: env_id for env_id, task in envs.ENV_IDS.items()}  # task name -> the env id that registers it
PANDA_TASKS = list(envs.PANDA_ENV_IDS.values())
SUBGOALS = {"agent.use_subgoals": True}  # the env's sub-goal images, moved on from when the world model says reached
CLOCK = {"agent.use_subgoals": True, "agent.subgoal_advance": "clock"}  # ... or every max_steps // n steps
LEARNED = {"policy": "planner", "world_model": "default", "planner": "cem"}
STILL = {"policy": "planner", "world_model": "nothing-moves", "planner": "cem"}
# the default of 2026-11: a readout head trained with object labels, the hand's pose from the integrated state, the
# gripper held as the head reads each sub-goal image, sub-goals on a clock
LABELLED_2026_11 = {"energy.head": "labelled", "energy.distance": None, "energy.anchor": True, "agent.gripper_from_goal": "image", **CLOCK}
ROWS = {  # row name -> fields of EvalConfig (dotted names reach into nested ones); each row's protocol is in results.json
    # the diagnostic ladder, truth to learning: which part a failure belongs to
    # true dynamics, true-state energy; it moves to the next sub-goal once within 2 cm-equivalents of the current one
    "sim": {"policy": "planner", "world_model": "sim", "planner": "cem", "agent.subgoal_tolerance": 0.02, **CLOCK},
    # true dynamics, the unshaped true-state distance to the (sub-)goal's true state: the ceiling of any image energy
    "sim+state": {"policy": "planner", "world_model": "sim+state", "planner": "cem", **CLOCK},
    "sim+state/gripper-state": {"policy": "planner", "world_model": "sim+state", "planner": "cem", "agent.gripper_from_goal": "state", **CLOCK},
    "sim/one-goal": {"policy": "planner", "world_model": "sim", "planner": "cem"},
    # true dynamics, the default energy of the rendered outcome: is the energy's landscape good enough?
    "sim+image": {"policy": "planner", "world_model": "sim+image", "planner": "cem"},
    "sim+image/subgoals": {"policy": "planner", "world_model": "sim+image", "planner": "cem", **SUBGOALS},
    # true dynamics, V-JEPA 2-AC's energy: the mean L1 between the encoder's tokens of the outcome and of the goal image
    "sim+image/tokens": {"policy": "planner", "world_model": "sim+image", "planner": "cem", "energy.head": None, "energy.distance": None},
    # true dynamics, mean L1 of the rendered outcome's raw pixels to the goal image: the floor
    "sim+pixels": {"policy": "planner", "world_model": "sim+pixels", "planner": "cem"},
    # the learned model (encoder + predictor) with the default energy (temporal distance + readout of the robot's own
    # state: no labels), the gripper planned, from one goal image (V-JEPA 2-AC's protocol for reach and grasp) ...
    "default+cem": dict(LEARNED),
    "default+mppi": {**LEARNED, "planner": "mppi"},
    # ... through the env's sub-goal images, moved on from when the temporal-distance head says reached
    "default+cem/subgoals": {**LEARNED, **SUBGOALS},
    # a predictor that imagines nothing moves, with the same energy: what the learned imagination contributes
    "nothing-moves+cem": dict(STILL),
    "nothing-moves+cem/subgoals": {**STILL, **SUBGOALS},
    # what the parts of the energy do: V-JEPA 2-AC's token L1 alone; the temporal distance alone; the readout alone
    "default+cem/tokens": {**LEARNED, "energy.head": None, "energy.distance": None},
    "default+cem/distance-only": {**LEARNED, "energy.head": None},
    "default+cem/readout-only": {**LEARNED, "energy.distance": None},
    # what object labels are worth: the readout head trained with the cube's position beside the hand's
    "default+cem/labelled-head": {**LEARNED, "energy.head": "labelled"},
    # the default of 2026-11, and beside it the same with a predictor that imagines nothing
    "default+cem/labelled-2026-11": {**LEARNED, **LABELLED_2026_11},
    "nothing-moves+cem/labelled-2026-11": {**STILL, **LABELLED_2026_11},
    # the Panda's default on any robot's env: zero-shot across embodiments
    "default-panda+cem": {**LEARNED, "world_model": "default-panda"},
    # proposals learned from play logs: the goal-conditioned policy alone (no search), as a quarter of CEM's samples, and
    # the latent sub-goal model proposing sub-goals from the final goal image
    "default/policy": {**LEARNED, "planner": "policy", "agent.proposal": "default"},
    "default+cem/prior": {**LEARNED, "agent.proposal": "default", "agent.cem.prior_share": 0.25},
    "default+cem/latent": {**LEARNED, "agent.latent_subgoals": "default"},
    "oracle": {"policy": "planner", "world_model": "oracle", "planner": "cem", **CLOCK},  # kinematic model: cheap, optimistic
    "random": {"policy": "random"},
    "expert": {"policy": "expert"},
}
DEFAULT_ROWS = ["sim+state", "sim+image", "default+cem", "nothing-moves+cem", "default+cem/subgoals", "nothing-moves+cem/subgoals",
                "default+cem/tokens", "default+cem/labelled-head", "random", "expert"]


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
    c.label = row
    return c


def format_cell(s: dict) -> str:
    lo, hi = s["success_ci95"]
    text = f"{100 * s['success_rate']:.0f} % [{100 * lo:.0f}-{100 * hi:.0f}]"
    if s.get("planning_ms"):
        text += f", {s['planning_ms']['median']:.0f} ms"
    return text


def markdown(cells: dict[tuple[str, str], dict], tasks: list[str], rows: list[str], names: dict[str, str] | None = None) -> str:
    """Success rate [95 % Wilson interval] and median planning ms per action, rows x tasks, each row with its
    protocol: the goals it planned to, its energy and what trained it, how the gripper was decided."""
    def protocol(r: str) -> list[str]:
        d = next((cells[(t, r)].get("protocol") for t in tasks if (t, r) in cells and cells[(t, r)].get("protocol")), None) or {}
        return [d.get("goals", "?"), f"{d.get('energy', '?')}; {d.get('trained', '?')}" if d.get("energy", "-") != "-" else "-",
                d.get("gripper", "?")]

    lines = ["| policy | goals | energy; trained on | gripper | " + " | ".join(tasks) + " |", "|---|---|---|---|" + "---|" * len(tasks)]
    for r in rows:
        lines.append(f"| {(names or {}).get(r, r)} | " + " | ".join(protocol(r)) + " | "
                     + " | ".join(format_cell(cells[(t, r)]) if (t, r) in cells else "-" for t in tasks) + " |")
    n = {s["episodes"] for s in cells.values()}
    lines.append("")
    lines.append(f"Success rate [95 % Wilson interval] over {'/'.join(map(str, sorted(n)))} seeded episodes; ms: median planning time per action.")
    fewer = sorted({r for (t, r), s in cells.items() if s["episodes"] < max(n)}, key=rows.index)
    if fewer:
        def short(r: str) -> str:
            return ", ".join(f"{t} {cells[(t, r)]['episodes']}" for t in tasks if (t, r) in cells and cells[(t, r)]["episodes"] < max(n))

        each = [f"{r} ({short(r)})" for r in fewer]
        lines.append(f"Fewer than {max(n)} episodes: " + "; ".join(each) + ".")
    lenient = [(t, r) for t in tasks for r in rows if (t, r) in cells and cells[(t, r)].get("lenient_success_rate") is not None
               and cells[(t, r)]["lenient_success_rate"] != cells[(t, r)]["success_rate"]]
    if lenient:
        lines.append("By the success criterion before 2026-12 (grasp: held up at one step; pick-and-place: resting at the spot "
                     "however it got there): " + "; ".join(f"{r} {t} {100 * cells[(t, r)]['lenient_success_rate']:.0f} %"
                                                            for t, r in lenient) + ".")
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


def merge_results(paths: list[str | Path]) -> str:
    """One Markdown table from results.json files of separate jobs (a sweep's outputs): each row as its results.json
    names it (a table's row name, or the protocol in words)."""
    cells, tasks, rows, names = {}, [], [], {}
    for p in paths:
        s = json.loads(Path(p).read_text())
        task = s.get("task") or s["env"]
        protocol = s.get("protocol") or {"policy": s["policy"], "goals": "-"}
        row = s.get("row") if s.get("row") in ROWS else row_label(protocol)  # a table's row name, else the protocol in words
        names[row] = row if row in ROWS else protocol["policy"]  # shown beside the protocol's own columns
        if (task, row) in cells:
            raise ValueError(f"{p}: a second result for task {task!r}, policy {row!r}")
        cells[(task, row)] = s
        tasks += [task] if task not in tasks else []
        rows += [row] if row not in rows else []
    order = lambda known: (lambda x: (list(known).index(x) if x in known else len(known), x))  # noqa: E731
    return markdown(cells, sorted(tasks, key=order(TASK_ENVS)), sorted(rows, key=order(ROWS)), names)
