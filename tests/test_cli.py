"""The installed `vjepa-ac` console script, run as a user would, with tiny budgets."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from vjepa_ac.data.reader import open_log

EXE = shutil.which("vjepa-ac")
pytestmark = pytest.mark.skipif(EXE is None, reason="vjepa-ac is not installed on PATH (pip install .)")


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
