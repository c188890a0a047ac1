"""`vjepa-ac tradeoff`: success against planning time over CEM budgets, as a PNG, a CSV and resumable cells."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vjepa_ac.eval.tradeoff import TradeoffConfig, budget_config, parse_budget, run_tradeoff

EXE = str(Path(sys.executable).with_name("vjepa-ac"))


@pytest.mark.slow
def test_the_command_writes_a_plot_and_one_point_per_task_row_and_budget(tmp_path):
    out = tmp_path / "tradeoff"
    args = [EXE, "tradeoff", f"out={out}", "budgets=[4x1,16x2]", "table.tasks=[reach]", "table.rows=[oracle]",
            "table.episodes=2", "table.base.workers=1", "table.base.videos=0", "table.base.env.image_height=48",
            "table.base.env.image_width=48"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    png = out / "tradeoff.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    import imageio.v3 as iio

    img = iio.imread(png)
    assert img.ndim == 3 and img.shape[0] > 200 and img.std() > 10  # drawn, not blank
    rows = list(csv.DictReader((out / "tradeoff.csv").open()))
    assert [(p["task"], p["row"], p["budget"]) for p in rows] == [("reach", "oracle", "4x1"), ("reach", "oracle", "16x2")]
    for p in rows:
        assert int(p["episodes"]) == 2 and float(p["ms_per_action"]) > 0
        assert float(p["ci_low"]) <= float(p["success"]) <= float(p["ci_high"])
    assert float(rows[1]["success"]) == 1.0, "the kinematic oracle reaches both goals with 16 samples x 2 iterations"
    assert float(rows[0]["ci_high"]) < 1.0 or float(rows[0]["success"]) == 1.0, "the interval is the success's own"
    # each point is an ordinary evaluation of that budget
    import json

    cell = json.loads((out / "reach" / "oracle" / "16x2" / "results.json").read_text())
    assert cell["config"]["agent"]["cem"]["samples"] == 16 and cell["config"]["agent"]["cem"]["iterations"] == 2
    # run=false replots from the finished cells without running any episode
    png.unlink()
    shutil.rmtree(out / "reach" / "oracle" / "4x1")
    r = subprocess.run(args + ["run=false"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert png.exists() and not (out / "reach" / "oracle" / "4x1").exists()
    assert len(list(csv.DictReader((out / "tradeoff.csv").open()))) == 1


def test_budgets_and_rows_that_cannot_vary_are_refused_before_anything_runs(tmp_path):
    assert parse_budget("32x3") == (32, 3)
    for bad in ("32", "0x3", "32x", "axb"):
        with pytest.raises(ValueError, match="budgets"):
            parse_budget(bad)
    cfg = TradeoffConfig(out=str(tmp_path / "t"), budgets=["8x2", "nope"])
    with pytest.raises(ValueError, match="budgets"):
        run_tradeoff(cfg)
    cfg = TradeoffConfig(out=str(tmp_path / "t"))
    cfg.table.rows = ["expert"]
    with pytest.raises(ValueError, match="expert.*CEM"):
        run_tradeoff(cfg)
    cfg.table.rows = ["default+mppi"]
    with pytest.raises(ValueError, match="CEM"):
        run_tradeoff(cfg)
    assert not (tmp_path / "t").exists()
    c = budget_config(TradeoffConfig(out=str(tmp_path / "t")), "grasp", "default+cem", "64x4")
    assert (c.agent.cem.samples, c.agent.cem.iterations, c.agent.cem.elites) == (64, 4, 12)
    assert np.isclose(TradeoffConfig().elite_fraction * 32, 6)


def test_the_plot_draws_points_at_no_and_at_every_success(tmp_path):
    """Wilson bounds at 0/n and n/n sit a rounding error past the rate; the plot still draws them."""
    from vjepa_ac.eval.evaluate import wilson
    from vjepa_ac.eval.tradeoff import plot

    pts = []
    for k, ms, b in ((0, 60.0, "8x2"), (20, 300.0, "32x3")):
        lo, hi = wilson(k, 20)
        pts.append({"task": "grasp", "row": "default+cem", "budget": b, "episodes": 20, "success": k / 20,
                    "ci_low": lo + 1e-12 * (k == 0), "ci_high": hi - 1e-12 * (k == 20), "ms_per_action": ms})
    assert plot(pts, tmp_path / "p.png").stat().st_size > 5000
