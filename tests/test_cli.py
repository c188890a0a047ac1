"""The installed `vjepa-ac` console script, run as a user would, with tiny budgets."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from conftest import first_fast

from vjepa_ac.data.reader import open_log

EXE = shutil.which("vjepa-ac")
pytestmark = pytest.mark.skipif(EXE is None, reason="vjepa-ac is not installed on PATH (pip install .)")


@pytest.mark.slow
def test_collect_writes_a_dataset_and_its_preview_video(tmp_path):
    out = tmp_path / "ds"
    r = subprocess.run(
        [EXE, "collect", "env=panda_grasp", "policy=expert", "episodes=2", "seed=5", f"out={out}", "workers=2",
         "env.image_height=64", "env.image_width=64", "env.max_episode_steps=6", "preview=true"],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "2 episodes, 12 frames" in r.stdout
    assert (out / "preview.mp4").stat().st_size > 1000
    log = open_log(out)
    assert log.episodes[0].tasks == ("Grasp the cube and lift it.",)
    assert json.loads((out / "meta/vjepa_ac_collect.json").read_text())["policy"] == "expert"


def test_a_mistyped_option_fails_naming_it(tmp_path):
    r = subprocess.run([EXE, "collect", f"out={tmp_path}", "episode=3"], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "episode" in r.stderr and "CollectConfig" in r.stderr


def test_an_unknown_command_is_refused():
    r = subprocess.run([EXE, "colect"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "unknown command 'colect'" in r.stderr


def test_viz_of_a_dataset_runs_through_the_console_script(small_collection, tmp_path):
    r = subprocess.run([EXE, "viz", f"dataset={small_collection.out}", "episode=1", f"out={tmp_path}"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert list(tmp_path.glob("*.rrd")), r.stdout


@pytest.mark.parametrize("setting, named", first_fast([("agent.cem.samples=0", "agent.cem"), ("agent.mppi.elites=999", "agent.mppi"),
                                            ("device=cuda:7", "cuda"), ("workers=0", "workers"),
                                            ("world_model=simm", "world_model='simm' is none of ['default', 'default-panda', 'default-jaco', 'default-ur5e', 'default-pusht', 'sim', 'sim+state', 'sim+image', 'sim+pixels', 'oracle', 'nothing-moves']"),
                                            ("env.id=vjepa_ac/PandaRech-v0", "env.id='vjepa_ac/PandaRech-v0' cannot be built"),
                                            ("encoder=/no/such/encoder", "encoder='/no/such/encoder' does not exist")]))
def test_eval_refuses_bad_settings_before_it_runs_or_writes_results(tmp_path, setting, named):
    out = tmp_path / "never"
    r = subprocess.run([EXE, "eval", "episodes=1", f"out={out}", setting], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and named in r.stderr, r.stderr[-2000:]
    assert not (out / "eval_config.json").exists() and not (out / "episodes").exists()  # only Hydra's own log folder
