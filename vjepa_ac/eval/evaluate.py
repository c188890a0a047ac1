"""`vjepa-ac eval`: seeded closed-loop episodes of a policy (the planning agent, random actions or the scripted
expert) in parallel env workers, summarised in results.json with per-episode rows and videos.

Every setting is checked, and the env and the policy built once, before any episode runs: a setting that cannot run
fails at start, naming the field. Each finished episode is written at once (`episodes/episode_NNNN.json`,
atomically; `eval_pool.py`), so a killed evaluation resumes where it stopped and ends with the same table as an
uninterrupted one. Episodes that crash are counted; the command exits non-zero when more crashed than
`max_error_rate` allows.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

from vjepa_ac.eval.config import EvalConfig, build_checked, check_config, check_settings, identity  # noqa: F401  (re-exported)
from vjepa_ac.eval.episode import run_episode  # noqa: F401  (re-exported)
from vjepa_ac.eval.pool import episode_path, init_worker, run_and_save, run_isolated
from vjepa_ac.eval.results import EpisodesCrashed, crash_report, summarise, wilson, write_results  # noqa: F401  (re-exported)
from vjepa_ac.io import claim_folder, progress, remove_stale_temps
from vjepa_ac.planning.ladder import model_identity


def evaluate(cfg: EvalConfig) -> dict:
    """Run (or finish) the evaluation in cfg.out and return its summary (`errors` counts crashed episodes; see
    `raise_on_crashes`)."""
    cfg = copy.deepcopy(cfg)
    check_settings(cfg)
    settings = identity(cfg)
    built = build_checked(cfg)
    protocol = built["protocol"]
    root = Path(cfg.out)
    if root.exists():
        remove_stale_temps(root)
    claim_folder(root / "eval_config.json", settings, "an evaluation")

    rows: dict[int, dict] = {}
    for i in range(cfg.episodes):
        p = episode_path(root, i)
        if p.exists():
            try:
                rows[i] = json.loads(p.read_text())
            except json.JSONDecodeError:  # cannot happen with atomic writes, but never trust a half file
                p.unlink()
    todo = [i for i in range(cfg.episodes) if i not in rows]
    workers = max(1, min(cfg.workers, len(todo)))
    threads = cfg.threads or max(1, (os.cpu_count() or 1) // workers)
    with progress(cfg.episodes, len(rows), cfg.progress, f"eval {cfg.env.id.split('/')[-1]}") as bar:
        def done(row: dict) -> None:
            rows[row["episode"]] = row
            bar.update()
            k = sum(r["success"] for r in rows.values())
            bar.set_postfix(success=f"{k}/{len(rows)}")

        if workers == 1:
            init_worker(cfg, threads, built)  # the env and policy built at start run the episodes
            for i in todo:
                done(run_and_save((cfg, i)))
        else:
            built["env"].close()
            run_isolated(cfg, todo, workers, threads, rows, done)
    return write_results(root, list(rows.values()), cfg, model=model_identity(cfg.world_model) if cfg.policy == "planner" else None,
                         protocol=protocol)


def raise_on_crashes(summaries: dict[str, dict], max_error_rate: float) -> None:
    """Raise EpisodesCrashed, naming each evaluation (name -> summary) with more crashed episodes than allowed."""
    report = crash_report(summaries, max_error_rate)
    if report:
        raise EpisodesCrashed(report)
