"""Commands that fail, fail loudly: every setting that cannot run is refused before any episode runs, naming the
field, with a non-zero exit; crashed episodes make the command exit non-zero; a table checks every cell first."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import first_fast

EXE = shutil.which("vjepa-ac")
pytestmark = pytest.mark.skipif(EXE is None, reason="vjepa-ac is not installed on PATH (pip install .)")
TINY = ["env.image_height=48", "env.image_width=48", "videos=0", "workers=1"]


def run(*args, timeout=300):
    import os

    here = Path(__file__).parent / "planning"  # dying_env.py: an env whose worker process dies
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=timeout, cwd=here, env=env)


def test_device_auto_plans_on_the_cpu_here(tmp_path):
    out = tmp_path / "auto"
    r = run("eval", "env=panda_reach", "episodes=1", "device=auto", "world_model=oracle", f"out={out}", *TINY)
    assert r.returncode == 0, r.stderr[-2000:]
    s = json.loads((out / "results.json").read_text())
    assert s["errors"] == 0 and s["config"]["device"] == "cpu" and s["planning_ms"]["median"] > 0


@pytest.mark.parametrize("setting, named", first_fast([
    ("agent.plan_dims=[0,1,9]", "agent.plan_dims"),
    ("agent.mppi.temperature=0", "agent.mppi.temperature=0"),
    ("energy.metric=l3", "energy.metric must be one of"),
    ("energy.head=/no/such/head", "energy.head=/no/such/head"),
    ("energy.anchor=pose", "energy.anchor must be true, false or 'state'"),
]))
def test_a_setting_that_cannot_run_fails_before_any_episode(tmp_path, setting, named):
    out = tmp_path / "never"
    r = run("eval", "episodes=2", f"out={out}", setting, *TINY)
    assert r.returncode != 0 and named in r.stderr, r.stderr[-2000:]
    assert not (out / "episodes").exists() and not (out / "eval_config.json").exists()


def test_an_encoder_and_predictor_of_other_sizes_fail_at_start(tmp_path):
    from vjepa_ac.models.predictor import ACPredictor, PredictorConfig, save_predictor

    save_predictor(ACPredictor(PredictorConfig(embed_dim=48, hidden=16, depth=1, heads=2, grid=8)), tmp_path / "pred")
    r = run("eval", "episodes=1", f"out={tmp_path / 'o'}", f"world_model={tmp_path / 'pred'}", *TINY)
    assert r.returncode != 0 and "encoder gives 64 tokens of width 192, predictor expects 64 of width 48" in r.stderr, r.stderr[-2000:]
    assert not (tmp_path / "o" / "episodes").exists()


@pytest.mark.slow
def test_crashed_episodes_make_eval_exit_non_zero_unless_allowed(tmp_path):
    args = ["eval", "env.id=dying_env:DyingEnv-v0", "policy=random", "episodes=3", "workers=2", "videos=0"]
    r = run(*args, f"out={tmp_path / 'a'}")
    assert r.returncode != 0 and "1 of 3 episodes crashed (first: worker process died)" in r.stderr, r.stderr[-2000:]
    assert json.loads((tmp_path / "a" / "results.json").read_text())["errors"] == 1, "the results are written all the same"
    r = run(*args, f"out={tmp_path / 'b'}", "max_error_rate=0.5")
    assert r.returncode == 0, r.stderr[-2000:]


def test_a_crashed_row_names_the_task_as_finished_rows_do():
    from vjepa_ac.eval.episode import failed_row
    from vjepa_ac.eval.config import EvalConfig

    cfg = EvalConfig()
    cfg.env.id = "vjepa_ac/PandaGrasp-v0"
    assert failed_row(cfg, 0, "boom")["task"] == "grasp"
    cfg.env.id = "dying_env:DyingEnv-v0"
    assert failed_row(cfg, 0, "boom")["task"] == "dying_env:DyingEnv-v0"


def test_a_table_with_a_bad_last_cell_fails_before_its_first_cell_runs(tmp_path):
    out = tmp_path / "t"
    r = run("table", "tasks=[reach]", "rows=[random,sim+image]", "episodes=1", f"out={out}", "encoder=/no/such/encoder",
            "base.videos=0", "base.workers=1")
    assert r.returncode != 0 and "encoder='/no/such/encoder' does not exist" in r.stderr, r.stderr[-2000:]
    assert not list(out.rglob("results.json")) and not list(out.rglob("episode_*.json"))


@pytest.mark.parametrize("field", first_fast(["base.episodes=3", "base.out=elsewhere", "base.env.id=vjepa_ac/PandaGrasp-v0", "base.encoder=x"]))
def test_a_table_refuses_a_base_field_it_would_overwrite(tmp_path, field):
    r = run("table", "tasks=[reach]", "rows=[random]", "episodes=1", f"out={tmp_path / 't'}", field)
    assert r.returncode != 0 and f"{field.split('=')[0]}=" in r.stderr and "would be overwritten" in r.stderr, r.stderr[-2000:]


def test_merged_tables_name_trained_models_by_what_they_are(tmp_path):
    """Two runs of `vjepa-ac train` both write <out>/predictor: their rows stay apart, named by run and weights."""
    from vjepa_ac.eval.evaluate import evaluate
    from vjepa_ac.eval.config import EvalConfig
    from vjepa_ac.planning.ladder import model_identity
    from vjepa_ac.models.predictor import ACPredictor, PredictorConfig, save_predictor
    from vjepa_ac.eval.table import merge_results

    import torch

    results = []
    for run_name, seed in (("runA", 0), ("runB", 1)):
        torch.manual_seed(seed)
        save_predictor(ACPredictor(PredictorConfig(embed_dim=192, hidden=16, depth=1, heads=2, grid=8)), tmp_path / run_name / "predictor")
        cfg = EvalConfig(world_model=str(tmp_path / run_name / "predictor"), episodes=1, out=str(tmp_path / f"e{run_name}"),
                         workers=1, videos=0, progress=False)
        cfg.env.image_height = cfg.env.image_width = 48
        cfg.env.max_episode_steps = 1
        cfg.agent.cem.samples, cfg.agent.cem.iterations, cfg.agent.cem.elites = 4, 1, 2
        evaluate(cfg)
        results.append(tmp_path / f"e{run_name}" / "results.json")
    names = [model_identity(str(tmp_path / r / "predictor")) for r in ("runA", "runB")]
    assert names[0].startswith("runA@") and names[1].startswith("runB@") and names[0] != names[1]
    text = merge_results(results)
    assert f"| {names[0]}+cem |" in text and f"| {names[1]}+cem |" in text


def test_merged_tables_keep_every_table_row_apart(tmp_path):
    """Each learned row of `vjepa-ac table` (sub-goals, one goal, nothing moves, the energies, the labelled rung, the
    proposals) is its own row when merged from results.json files, named as the table named it; results no table
    named stay apart by their protocol, shown under their policy's name."""
    from dataclasses import asdict

    from vjepa_ac.eval.table import ROWS, TableConfig, cell_config, merge_results

    rows = [r for r, fields in ROWS.items() if fields.get("world_model") in ("default", "nothing-moves")]
    paths = []
    for r in rows:
        cfg = cell_config(TableConfig(out=str(tmp_path)), "grasp", r)
        s = {"task": "grasp", "env": cfg.env.id, "policy": cfg.policy, "row": cfg.label, "episodes": 1, "successes": 1,
             "success_rate": 1.0, "success_ci95": [0.2, 1.0], "planning_ms": {"median": 1.0}, "config": asdict(cfg)}
        paths.append(tmp_path / f"{r.replace('/', '-')}.json")
        paths[-1].write_text(json.dumps(s))
    text = merge_results(paths)
    named = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith(("| default", "| nothing"))]
    assert sorted(named) == sorted(rows), text
    unnamed = []
    for i, goals in enumerate(["one goal image", "env sub-goal images (when reached)"]):
        protocol = {"policy": "mine+cem", "goals": goals, "energy": "temporal distance", "trained": "no labels", "gripper": "planned"}
        unnamed.append(tmp_path / f"u{i}.json")
        unnamed[-1].write_text(json.dumps({"task": "grasp", "env": "e", "policy": "planner", "protocol": protocol, "episodes": 1,
                                           "successes": 0, "success_rate": 0.0, "success_ci95": [0.0, 0.8], "planning_ms": None}))
    text = merge_results(unnamed)
    assert sorted(line.split(" | ")[1] for line in text.splitlines()[2:4]) == ["env sub-goal images (when reached)", "one goal image"]
    assert all(line.startswith("| mine+cem | ") for line in text.splitlines()[2:4]), text
