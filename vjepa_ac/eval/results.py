"""The summary of an evaluation: success rate with its Wilson interval, distances, steps, planning time, failures;
`results.json` and `episodes.csv` written from the per-episode rows."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np

from vjepa_ac.io import atomic_write, write_json

CSV_FIELDS = ["episode", "seed", "task", "success", "ever_success", "lenient_success", "steps", "final_distance", "min_distance", "diverged",
              "plan_ms_median", "nan_plans", "error"]


class EpisodesCrashed(RuntimeError):
    """Episodes of an evaluation crashed (more than its `max_error_rate` allows): the command exits non-zero."""


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a success rate k/n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def summarise(rows: list[dict], cfg, model: str | None = None, protocol: dict | None = None) -> dict:
    """Success rate with its Wilson interval, distances, steps, planning time and failures of a set of episodes."""
    n = len(rows)
    k = sum(r["success"] for r in rows)
    finite = [r["final_distance"] for r in rows if r["final_distance"] is not None and math.isfinite(r["final_distance"])]
    ms = [x for r in rows for x in r.get("plan_ms", [])]
    lo, hi = wilson(k, n)
    errors = [r for r in rows if r.get("error") is not None]
    lenient = [r["lenient_success"] for r in rows if r.get("lenient_success") is not None]
    from vjepa_ac.eval.protocol import describe, row_label

    protocol = protocol or describe(cfg.policy)
    return {
        "task": rows[0].get("task") if rows else None,
        "row": cfg.label or row_label(protocol),
        "protocol": protocol,
        "env": cfg.env.id,
        "policy": cfg.policy,
        "world_model": cfg.world_model if cfg.policy == "planner" else None,
        "model": model,  # the world model's identity (ladder.model_identity): what merged tables name its row by
        "planner": cfg.planner if cfg.policy == "planner" else None,
        "episodes": n,
        "successes": k,
        "success_rate": k / n if n else float("nan"),
        "success_ci95": [lo, hi],
        # the task's success criterion before 2026-12 (envs/tasks.py), where it has one; an episode that ends at its
        # strict success also met the lenient one
        "lenient_success_rate": sum(lenient) / len(lenient) if lenient else None,
        "final_distance": {"mean": float(np.mean(finite)) if finite else None, "median": float(np.median(finite)) if finite else None},
        "steps": {"mean": float(np.mean([r["steps"] for r in rows])) if n else None, "median": float(np.median([r["steps"] for r in rows])) if n else None},
        "planning_ms": {"median": float(np.median(ms)), "p90": float(np.percentile(ms, 90)), "mean": float(np.mean(ms)), "actions": len(ms)} if ms else None,
        "diverged": sum(bool(r["diverged"]) for r in rows),
        "errors": len(errors),
        "first_error": errors[0]["error"] if errors else None,
        "nan_plans": sum(r.get("nan_plans", 0) for r in rows),
        "config": asdict(cfg),
    }


def write_results(root: Path, rows: list[dict], cfg, model: str | None = None, protocol: dict | None = None) -> dict:
    """results.json and episodes.csv from the episode rows, each written atomically."""
    rows = sorted(rows, key=lambda r: r["episode"])
    summary = summarise(rows, cfg, model, protocol)
    buf = io.StringIO()
    w = csv.DictWriter(buf, CSV_FIELDS, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    atomic_write(root / "episodes.csv", lambda p: p.write_text(buf.getvalue()))
    write_json(root / "results.json", summary)
    return summary


def crash_report(summaries: dict[str, dict], max_error_rate: float) -> str | None:
    """A message naming every evaluation (name -> summary) with more crashed episodes than `max_error_rate` allows,
    or None when all are within it."""
    bad = [(name, s) for name, s in summaries.items() if s["errors"] > max_error_rate * s["episodes"]]
    if not bad:
        return None
    lines = [f"{name}: {s['errors']} of {s['episodes']} episodes crashed (first: {s.get('first_error')})" for name, s in bad]
    return ("\n".join(lines) + f"\n(allowed: max_error_rate={max_error_rate}; the rows of each episode, with its "
            "traceback, are in <out>/episodes/episode_NNNN.json)")
