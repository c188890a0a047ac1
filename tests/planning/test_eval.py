"""`vjepa-ac eval` and `table`: seeded results with intervals, per-episode rows and videos, resumable, refusing
to mix settings; the table prints every cell."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from vjepa_ac.collect import EnvConfig
from vjepa_ac.eval.evaluate import evaluate, wilson
from vjepa_ac.eval.config import EvalConfig
from vjepa_ac.eval.table import TableConfig, merge_results, run_table


def small(tmp_path, **kw) -> EvalConfig:
    cfg = EvalConfig(env=EnvConfig(image_height=48, image_width=48), world_model="oracle", episodes=3,
                     out=str(tmp_path / "eval"), workers=1, videos=1, progress=False)
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def test_wilson_interval_matches_known_values():
    lo, hi = wilson(5, 10)
    assert math.isclose(lo, 0.2366, abs_tol=1e-4) and math.isclose(hi, 0.7634, abs_tol=1e-4)
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and math.isclose(hi, 0.2775, abs_tol=1e-4)
    assert wilson(10, 10)[1] == pytest.approx(1.0)


def test_eval_writes_results_rows_and_videos(tmp_path):
    cfg = small(tmp_path)
    s = evaluate(cfg)
    root = tmp_path / "eval"
    assert s["episodes"] == 3 and s["successes"] == 3, "the oracle reaches every goal"
    assert s["success_ci95"][0] < 1.0 and s["planning_ms"]["median"] > 0 and s["planning_ms"]["p90"] >= s["planning_ms"]["median"]
    assert json.loads((root / "results.json").read_text())["config"]["world_model"] == "oracle"
    lines = (root / "episodes.csv").read_text().splitlines()
    assert len(lines) == 4 and lines[0].startswith("episode,seed,task,success")
    assert (root / "videos" / "episode_0000.mp4").stat().st_size > 1000
    assert not (root / "videos" / "episode_0001.mp4").exists()


def test_a_resumed_eval_ends_with_the_same_results(tmp_path):
    first = evaluate(small(tmp_path))
    (tmp_path / "eval" / "episodes" / "episode_0001.json").unlink()  # as if killed before episode 1 was saved
    (tmp_path / "eval" / "results.json").unlink()
    again = evaluate(small(tmp_path))
    strip = lambda s: {k: v for k, v in s.items() if k not in ("planning_ms",)}  # noqa: E731  (timings differ)
    assert strip(again) == strip(first)


def test_another_setting_into_the_same_folder_is_refused(tmp_path):
    evaluate(small(tmp_path, episodes=1))
    with pytest.raises(ValueError, match="other settings"):
        evaluate(small(tmp_path, episodes=1, seed=5))
    with pytest.raises(ValueError, match="policy"):
        evaluate(small(tmp_path, policy="teleop"))


def test_random_and_expert_policies_and_the_table(tmp_path):
    cfg = TableConfig(tasks=["reach"], rows=["expert", "random"], episodes=2, out=str(tmp_path / "table"))
    cfg.base = small(tmp_path, episodes=EvalConfig().episodes, out=EvalConfig().out)  # the table sets these per cell
    text = run_table(cfg)
    assert "| expert | - | - | - | 100 % [" in text and "| random |" in text
    assert (tmp_path / "table" / "table.md").read_text().strip() == text.strip()
    merged = merge_results([tmp_path / "table" / "reach" / r / "results.json" for r in ("expert", "random")])
    assert "| expert | - | - | - | 100 % [" in merged
    with pytest.raises(ValueError, match="unknown row"):
        run_table(TableConfig(tasks=["reach"], rows=["teleop"], out=str(tmp_path / "t2")))


def test_a_crashing_episode_is_counted_not_fatal(tmp_path, monkeypatch):
    import vjepa_ac.eval.pool as pool

    real = pool.run_episode

    def flaky(cfg, index, *a, **kw):
        if index == 1:
            raise RuntimeError("simulated crash")
        return real(cfg, index, *a, **kw)

    monkeypatch.setattr(pool, "run_episode", flaky)
    s = evaluate(small(tmp_path))
    assert s["episodes"] == 3 and s["errors"] == 1 and s["successes"] == 2


@pytest.mark.slow
def test_eval_command_line(tmp_path):
    out = tmp_path / "cli"
    r = subprocess.run([sys.executable, "-m", "vjepa_ac.cli", "eval", "world_model=oracle", "episodes=2", f"out={out}",
                        "workers=2", "env.image_height=48", "env.image_width=48", "videos=0"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "2/2" in r.stdout and json.loads((out / "results.json").read_text())["successes"] == 2
    bad = subprocess.run([sys.executable, "-m", "vjepa_ac.cli", "eval", "episodez=2", f"out={out}"], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "episodez" in bad.stderr


@pytest.mark.slow
def test_a_worker_that_dies_is_counted_and_the_others_finish(tmp_path):
    cfg = EvalConfig(env=EnvConfig(id="dying_env:DyingEnv-v0"), policy="random", episodes=4, workers=2, videos=0,
                     out=str(tmp_path / "eval"), progress=False)
    s = evaluate(cfg)
    rows = {r["episode"]: r for r in (json.loads(p.read_text()) for p in (tmp_path / "eval" / "episodes").glob("*.json"))}
    assert s["episodes"] == 4 and s["errors"] == 1 and s["successes"] == 3
    assert rows[1]["error"] == "worker process died" and all(rows[i]["error"] is None for i in (0, 2, 3))
    assert not list((tmp_path / "eval" / "episodes").glob(".running_*"))


def test_nan_planner_costs_are_counted_in_the_results(tmp_path, monkeypatch):
    import torch

    from vjepa_ac.planning.truth import OracleWorldModel

    monkeypatch.setattr(OracleWorldModel, "cost", lambda self, ctx, goal, actions: torch.full((actions.shape[0],), float("nan")))
    cfg = small(tmp_path, episodes=1)
    cfg.env.max_episode_steps = 3
    s = evaluate(cfg)
    assert s["nan_plans"] == 3 and s["errors"] == 0 and s["successes"] == 0


@pytest.mark.slow
def test_the_ladder_table_runs_sim_sim_image_and_the_one_goal_protocol(tmp_path):
    out = tmp_path / "ladder"
    r = subprocess.run([sys.executable, "-m", "vjepa_ac.cli", "table", "tasks=[grasp]", "rows=[sim,sim+image,default+cem]",
                        "episodes=2", "sim_episodes=1", f"out={out}", "base.workers=1", "base.videos=0",
                        "base.env.image_height=48", "base.env.image_width=48", "base.env.max_episode_steps=2"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    table = (out / "table.md").read_text().splitlines()
    assert [line.split(" | ")[0] for line in table[2:5]] == ["| sim", "| sim+image", "| default+cem"]
    assert table[4].split(" | ")[1] == "one goal image" and table[2].split(" | ")[1].startswith("env sub-goal images (clock")
    assert "Fewer than 2 episodes: sim (grasp 1); sim+image (grasp 1)." in table
    cells = {p.parent.name: json.loads(p.read_text()) for p in out.rglob("results.json")}
    assert cells["sim+image"]["episodes"] == 1 and cells["sim"]["episodes"] == 1 and cells["default+cem"]["episodes"] == 2
    assert cells["default+cem"]["config"]["agent"]["use_subgoals"] is False
    assert cells["default+cem"]["protocol"]["trained"] == "no labels" and cells["default+cem"]["protocol"]["gripper"] == "planned"
    assert cells["sim"]["config"]["agent"]["use_subgoals"] is True
    merged = merge_results(sorted(out.rglob("results.json")))
    assert {line.split(" | ")[0] for line in merged.splitlines()[2:5]} == {"| sim", "| sim+image", "| default+cem"}


def test_the_table_evaluates_a_given_model_in_the_learned_rows_and_its_encoder_in_sim_image():
    from vjepa_ac.eval.table import cell_config

    cfg = TableConfig(predictor="runs/pred", encoder="runs/enc/encoder", episodes=50, sim_episodes=20)
    sub, one_goal = cell_config(cfg, "grasp", "default+cem/subgoals"), cell_config(cfg, "grasp", "default+cem")
    assert (sub.world_model, sub.encoder, sub.agent.use_subgoals, sub.agent.subgoal_advance) == ("runs/pred", "runs/enc/encoder", True, "reached")
    assert (one_goal.world_model, one_goal.agent.use_subgoals) == ("runs/pred", False)
    assert cell_config(cfg, "grasp", "nothing-moves+cem").world_model == "nothing-moves"
    image = cell_config(cfg, "grasp", "sim+image")
    assert (image.world_model, image.encoder, image.episodes) == ("sim+image", "runs/enc/encoder", 20)
    assert cell_config(cfg, "grasp", "sim").world_model == "sim" and cell_config(cfg, "grasp", "sim").episodes == 20
    assert cell_config(cfg, "grasp", "default+cem").episodes == 50
    assert cell_config(cfg, "grasp", "default+cem/tokens").energy.head is None and cell_config(cfg, "grasp", "default+cem").energy.head == "auto"
    old = cell_config(cfg, "grasp", "default+cem/labelled-2026-11")
    assert (old.world_model, old.energy.head, old.energy.distance, old.energy.anchor) == ("runs/pred", "labelled", None, True)
    assert (old.agent.gripper_from_goal, old.agent.use_subgoals, old.agent.subgoal_advance) == ("image", True, "clock")


def test_an_encoder_is_refused_on_another_camera_view_than_it_was_pretrained_on(tmp_path):
    """The shipped encoder's `training.json` names its view; planning with it on another framing fails at start,
    naming both views and the setting that fixes it, and writes nothing."""
    from vjepa_ac.models.encoder import trained_camera
    from vjepa_ac.environment import env_camera, fill_camera
    from vjepa_ac.eval.config import check_config

    trained = trained_camera("default")
    unset = small(tmp_path, world_model="default")
    fill_camera(unset.env, unset.encoder)
    assert trained == env_camera(unset.env)  # an unset camera is the encoder's own view
    other = "wide" if trained != "wide" else "wide+wrist"
    cfg = small(tmp_path, world_model="default", env=EnvConfig(id="vjepa_ac/PandaGrasp-v0", camera=other))
    import re

    pattern = ".*".join(re.escape(x) for x in (f"camera={trained!r}", f"camera={other!r}", f"env.camera={trained}"))
    with pytest.raises(ValueError, match=pattern):
        check_config(cfg)
    with pytest.raises(ValueError, match="env.camera"):
        evaluate(cfg)
    assert not (tmp_path / "eval").exists()
    check_config(small(tmp_path, world_model="sim", env=EnvConfig(camera=other)))  # no encoder, no view to match
