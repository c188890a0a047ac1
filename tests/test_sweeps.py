"""Evaluation sweeps: Hydra multirun over envs (local launcher here), merged into one table; the SLURM launcher composes."""

from __future__ import annotations

import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "vjepa_ac.cli"]


@pytest.mark.slow
def test_a_multirun_sweep_merges_into_one_table(tmp_path):
    sweep = tmp_path / "sweep"
    r = subprocess.run(CLI + ["eval", "-m", "env=panda_reach,panda_grasp", "policy=expert,random", "episodes=2", "workers=1",
                              "videos=0", "env.image_height=48", "env.image_width=48", f"hydra.sweep.dir={sweep}",
                              "out=${hydra:sweep.dir}/${hydra:job.override_dirname}"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert len(list(sweep.rglob("results.json"))) == 4
    m = subprocess.run(CLI + ["merge-results", str(sweep)], capture_output=True, text=True, timeout=120)
    assert m.returncode == 0, m.stderr
    lines = m.stdout.splitlines()
    assert lines[0] == "| policy | goals | energy; trained on | gripper | reach | grasp |"
    assert any(line.startswith("| expert | ") for line in lines) and any(line.startswith("| random | ") for line in lines)


def test_the_slurm_launcher_is_a_configuration_change():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    r = subprocess.run(CLI + ["eval", "hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu", "--cfg", "hydra", "-p", "hydra.launcher"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "SlurmLauncher" in r.stdout and "partition: gpu" in r.stdout
