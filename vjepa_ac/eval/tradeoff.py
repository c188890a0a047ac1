"""`vjepa-ac tradeoff`: success against planning time per action, over a few CEM budgets, for some rows of the
ladder (`default+cem`, `sim`, ...) and tasks; every cell a resumable evaluation, and a PNG plot of the lot."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from vjepa_ac.eval.evaluate import evaluate
from vjepa_ac.io import atomic_write, write_json
from vjepa_ac.eval.table import ROWS, TableConfig, cell_config

BUDGET = re.compile(r"^(\d+)x(\d+)$")


@dataclass
class TradeoffConfig:
    """`vjepa-ac tradeoff out=DIR [tasks=[reach,grasp] rows=[default+cem,sim] budgets=[8x2,16x3,32x3,64x4] episodes=20]`."""

    table: TableConfig = field(default_factory=lambda: TableConfig(tasks=["reach", "grasp"], rows=["default+cem", "sim"], episodes=20))
    budgets: list[str] = field(default_factory=lambda: ["8x2", "16x3", "32x3", "64x4"])  # CEM samples x iterations
    elite_fraction: float = 0.1875  # elites per sample (the shipped 6 of 32), at least 2
    out: str = "runs/tradeoff"
    plot: str | None = None  # the PNG; None: OUT/tradeoff.png
    run: bool = True  # false: only plot the cells already in OUT


def parse_budget(text: str) -> tuple[int, int]:
    """'32x3' -> (samples, iterations); anything else fails naming the field."""
    m = BUDGET.match(str(text).strip())
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise ValueError(f"budgets: each is SAMPLESxITERATIONS with both >= 1 (e.g. 32x3), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def budget_config(cfg: TradeoffConfig, task: str, row: str, budget: str):
    """The evaluation behind one point: the table's cell, with the CEM budget set and its own folder."""
    samples, iterations = parse_budget(budget)
    c = cell_config(cfg.table, task, row)
    if c.policy != "planner" or c.planner != "cem":
        raise ValueError(f"rows: {row!r} does not plan with CEM, so it has no budget to vary; use rows that do, e.g. default+cem, sim")
    c.agent.cem.samples, c.agent.cem.iterations = samples, iterations
    c.agent.cem.elites = min(samples, max(2, round(cfg.elite_fraction * samples)))
    c.out = str(Path(cfg.out) / task / row.replace("/", "-") / budget)
    return c


def check(cfg: TradeoffConfig) -> None:
    """Refuse what cannot run before any cell does, naming the field."""
    if not cfg.budgets:
        raise ValueError("budgets: give at least one SAMPLESxITERATIONS")
    for b in cfg.budgets:
        parse_budget(b)
    for row in cfg.table.rows:
        if row not in ROWS:
            raise ValueError(f"unknown row {row!r} in rows; known: {list(ROWS)}")
    from vjepa_ac.eval.table import check_cells

    for t in cfg.table.tasks:
        for r in cfg.table.rows:
            budget_config(cfg, t, r, cfg.budgets[0])
    if cfg.run:
        check_cells(cfg.table, [(t, r) for t in cfg.table.tasks for r in cfg.table.rows])


def crashed_points(cfg: TradeoffConfig) -> None:
    """Raise EpisodesCrashed naming every point with more crashed episodes than table.base.max_error_rate."""
    from vjepa_ac.eval.evaluate import raise_on_crashes

    summaries = {}
    for t in cfg.table.tasks:
        for r in cfg.table.rows:
            for b in cfg.budgets:
                results = Path(budget_config(cfg, t, r, b).out) / "results.json"
                if results.exists():
                    summaries[f"{t}/{r}/{b}"] = json.loads(results.read_text())
    raise_on_crashes(summaries, cfg.table.base.max_error_rate)


def points(cfg: TradeoffConfig) -> list[dict]:
    """Run (or read back) every cell; one point per task, row and budget that has a results.json."""
    check(cfg)
    out = []
    for t in cfg.table.tasks:
        for r in cfg.table.rows:
            for b in cfg.budgets:
                c = budget_config(cfg, t, r, b)
                results = Path(c.out) / "results.json"
                if cfg.run:
                    s = evaluate(c)  # budget_config builds a fresh config for each point
                elif results.exists():
                    s = json.loads(results.read_text())
                else:
                    continue
                ms = (s.get("planning_ms") or {}).get("median", float("nan"))
                lo, hi = s["success_ci95"]
                out.append({"task": t, "row": r, "budget": b, "episodes": s["episodes"], "success": s["success_rate"],
                            "ci_low": lo, "ci_high": hi, "ms_per_action": ms})
    return out


def plot(pts: list[dict], path: str | Path, title: str = "") -> Path:
    """Success [95 % Wilson interval] against median planning ms per action (log axis), one panel per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    tasks = list(dict.fromkeys(p["task"] for p in pts))
    rows = list(dict.fromkeys(p["row"] for p in pts))
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks), 4.0), squeeze=False, sharey=True)
    for ax, t in zip(axes[0], tasks):
        for i, r in enumerate(rows):
            ps = sorted((p for p in pts if p["task"] == t and p["row"] == r), key=lambda p: p["ms_per_action"])
            if not ps:
                continue
            x = [p["ms_per_action"] for p in ps]
            y = [100 * p["success"] for p in ps]
            # Wilson bounds at 0 or n successes land a rounding error past the rate: clamp, errorbar refuses negatives
            err = [[100 * max(0.0, p["success"] - p["ci_low"]) for p in ps], [100 * max(0.0, p["ci_high"] - p["success"]) for p in ps]]
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, color=f"C{i}", label=r)
            for p, xi, yi in zip(ps, x, y):
                ax.annotate(p["budget"], (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7, color=f"C{i}")
        ax.axvline(250, color="0.6", ls=":", lw=1)
        ax.set_xscale("log")
        ticks = [t for t in (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000)
                 if 0.5 * min(p["ms_per_action"] for p in pts) <= t <= 2 * max(p["ms_per_action"] for p in pts)]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("planning time per action, median (ms)")
        n = sorted({p["episodes"] for p in pts if p["task"] == t})
        ax.set_title(f"{t} ({'/'.join(map(str, n))} episodes per point)")
        ax.grid(alpha=0.3, which="both")
        ax.set_ylim(-3, 103)
    axes[0][0].set_ylabel("success (%), 95 % Wilson interval")
    handles = {}
    for ax in axes[0]:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    plt.close(fig)
    return path


def run_tradeoff(cfg: TradeoffConfig) -> tuple[Path, str]:
    """Every point, then OUT/tradeoff.csv, OUT/tradeoff.json and the plot; returns the plot's path and the CSV text."""
    pts = points(cfg)
    if not pts:
        raise FileNotFoundError(f"{cfg.out}: no cell has a results.json yet (run=false only plots finished cells)")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(pts[0]))
    w.writeheader()
    w.writerows(pts)
    root = Path(cfg.out)
    atomic_write(root / "tradeoff.csv", lambda p: p.write_text(buf.getvalue()))
    write_json(root / "tradeoff.json", pts)
    seeds = f"episode i resets with seed {cfg.table.base.seed} + i"
    path = plot(pts, cfg.plot or root / "tradeoff.png", title=f"CEM budgets (samples x iterations), horizon {cfg.table.base.agent.horizon}; {seeds}")
    return path, buf.getvalue()
