"""Every `vjepa-ac` command the README shows runs through the installed console script, as a user would type it, with
tiny settings, in the order a user chains them (collect -> pretrain -> encode -> train -> the energy's heads -> export, decoders, eval,
table, tradeoff, viz, merge-results); and the README names no command this test does not run."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

EXE = shutil.which("vjepa-ac")
README = Path(__file__).resolve().parents[1] / "README.md"
TINY_ENV = ["env.image_height=64", "env.image_width=64"]
TINY_ENCODER = ["arch.hidden_size=32", "arch.layers=1", "arch.heads=2", "arch.crop_size=64", "arch.pred_hidden_size=16",
                "arch.pred_layers=1", "arch.pred_heads=2"]
TINY_PREDICTOR = ["predictor.hidden=32", "predictor.depth=1", "predictor.heads=2"]


def run(*args: str, timeout: float = 600) -> str:
    r = subprocess.run([EXE, *args], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"vjepa-ac {' '.join(args)}\n{r.stderr[-3000:]}"
    return r.stdout


def readme_commands() -> set[str]:
    """The subcommands the README's command lines use (`vjepa-ac <command> ...`)."""
    return set(re.findall(r"vjepa-ac ([a-z][a-z-]+)", README.read_text()))


RUN_HERE = {"collect", "pretrain", "encode", "train", "train-distance", "train-head", "train-proposal", "train-decoder", "export", "eval", "table", "tradeoff", "viz", "merge-results"}


def test_the_readme_names_only_commands_this_test_runs():
    named = readme_commands()
    assert named and named <= RUN_HERE, f"README commands without a console-script test: {sorted(named - RUN_HERE)}"


@pytest.mark.slow
@pytest.mark.skipif(EXE is None, reason="vjepa-ac is not installed on PATH (pip install .)")
def test_every_readme_command_runs_through_the_console_script(tmp_path):
    data = tmp_path / "play"
    out = run("collect", "env=panda_grasp", "policy=play", "episodes=3", "seed=0", f"out={data}", "workers=1",
              "env.max_episode_steps=8", *TINY_ENV, "codec=libx264")
    assert "3 episodes, 24 frames" in out
    run("pretrain", f"dataset={data}", f"out={tmp_path / 'enc'}", "frames=2", "stride=2", "batch_size=2", "steps=2", "warmup=1",
        "val_fraction=0.34", *TINY_ENCODER)
    encoder = tmp_path / "enc" / "encoder"
    out = run("encode", f"dataset={data}", f"encoder={encoder}", f"out={tmp_path / 'feat'}")
    features = out.strip().split("features written to ")[-1]
    run("train", f"dataset={data}", f"features={features}", f"out={tmp_path / 'pred'}", "steps=2", "batch_size=2", "frames=3",
        "warmup=1", *TINY_PREDICTOR)
    run("train", f"dataset={data}", f"encoder={encoder}", f"out={tmp_path / 'pred_fly'}", "steps=2", "batch_size=2", "frames=3",
        "warmup=1", "init=" + str(tmp_path / "pred" / "predictor"), "freeze_layers=1", "schedule=constant")
    run("train-head", f"dataset={data}", f"features={features}", f"out={tmp_path / 'head'}", "steps=2", "batch_size=4",
        "val_every=2", "checkpoint_every=2", f"predictor={tmp_path / 'pred' / 'predictor'}", "arch.channels=4", "arch.hidden=16")
    run("train-distance", f"dataset={data}", f"features={features}", f"out={tmp_path / 'dist'}", "steps=2", "batch_size=4",
        "val_every=2", "checkpoint_every=2", f"predictor={tmp_path / 'pred' / 'predictor'}", "imagined_share=0.5",
        "arch.channels=4", "arch.hidden=16", "val_pairs=8")
    assert (tmp_path / "dist" / "distance" / "model.safetensors").exists()
    run("train-proposal", "kind=subgoal", f"dataset={data}", f"features={features}", f"out={tmp_path / 'sub'}", "steps=2",
        "batch_size=4", "val_every=2", "checkpoint_every=2")
    run("train-decoder", f"dataset={data}", f"features={features}", f"out={tmp_path / 'dec'}", "steps=2", "batch_size=2",
        "decoder.channels=[16,16,16]")
    run("export", f"predictor={tmp_path / 'pred' / 'predictor'}", f"out={tmp_path / 'pred.pt'}")
    assert (tmp_path / "pred.pt").exists()
    run("viz", f"dataset={data}", "episode=1", f"out={tmp_path / 'rrd'}", f"decoder={tmp_path / 'dec' / 'decoder'}",
        f"encoder={encoder}", f"predictor={tmp_path / 'pred' / 'predictor'}", "ahead=2")
    assert list((tmp_path / "rrd").glob("*.rrd"))
    run("eval", "env=panda_reach", "episodes=1", "workers=1", "env.max_episode_steps=2", *TINY_ENV, f"out={tmp_path / 'eval'}",
        "agent.cem.samples=4", "agent.cem.iterations=1", "agent.cem.elites=2", f"rerun={tmp_path / 'rrd_eval'}", "decoder=default",
        "videos=0")
    assert (tmp_path / "eval" / "results.json").exists() and list((tmp_path / "rrd_eval").glob("*.rrd"))
    run("table", "tasks=[reach]", "rows=[oracle,random]", "episodes=1", f"out={tmp_path / 'table'}", "base.workers=1",
        "base.videos=0", "base.env.max_episode_steps=2", "base.env.image_height=48", "base.env.image_width=48")
    out = run("merge-results", str(tmp_path / "table"))
    assert "reach" in out
    out = run("tradeoff", f"out={tmp_path / 'tradeoff'}", "budgets=[4x1]", "table.tasks=[reach]", "table.rows=[oracle]",
              "table.episodes=1", "table.base.workers=1", "table.base.videos=0", "table.base.env.max_episode_steps=2",
              "table.base.env.image_height=48", "table.base.env.image_width=48")
    assert "reach,oracle,4x1" in out and (tmp_path / "tradeoff" / "tradeoff.png").exists()


def test_ci_runs_the_readmes_test_command_verbatim():
    ci = (README.parent / ".ci" / "run").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    setup = [line for b in blocks for line in b.splitlines() if line.startswith("python3 -m venv")]
    assert len(setup) == 2, "the README holds exactly two set-up commands"
    assert setup[1] in ci.splitlines() and "pytest" in setup[1] and "ruff check" in setup[1]
