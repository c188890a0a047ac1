"""The worker processes of an evaluation: each builds its env and policy once, runs episodes, and writes each finished
episode at once (atomically), so a killed evaluation resumes where it stopped. A worker that dies (segfault, OOM
kill) is found out, and its episode recorded as such while the others finish."""

from __future__ import annotations

import multiprocessing as mp
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from vjepa_ac.data.video import write_mp4
from vjepa_ac.environment import make_checked
from vjepa_ac.eval.episode import build_agent, failed_row, run_episode
from vjepa_ac.eval.protocol import describe
from vjepa_ac.planning.ladder import model_identity
from vjepa_ac.io import write_json

_WORKER: dict = {}


def init_worker(cfg, threads: int, built: dict | None = None) -> None:
    """Set this process's torch threads and forget any earlier evaluation's env and policy (or take `built` ones: the
    env, agent and decoder the parent already made, when it runs the episodes itself)."""
    import torch

    torch.set_num_threads(max(1, threads))
    _WORKER.clear()
    _WORKER.update(built or {})
    _WORKER["cfg"] = cfg


def worker_state(cfg) -> dict:
    """The env, the agent (planner policy) and the decoder (recorded imagined frames) of this process, built once."""
    if "env" not in _WORKER:
        _WORKER.update(build(cfg))
    return _WORKER


def build(cfg) -> dict:
    """The env, agent and decoder an evaluation's episodes use, and the protocol the agent plans by (in words)."""
    out = {"env": make_checked(cfg.env)}
    if cfg.policy == "planner":
        out["agent"] = build_agent(cfg, out["env"])
        if cfg.decoder:
            from vjepa_ac.models.decoder import load_decoder

            out["decoder"] = load_decoder(cfg.decoder, encoder=out["agent"].model.encoder)
    out["protocol"] = describe(cfg.policy, model_identity(cfg.world_model), out.get("agent"))
    return out


def episode_path(root: Path, index: int) -> Path:
    return root / "episodes" / f"episode_{index:04d}.json"


def _running_marker(root: Path, index: int) -> Path:
    return root / "episodes" / f".running_{index:04d}"


def run_and_save(job: tuple) -> dict:
    """Run one episode in this process and write its row (and video) atomically; a crash is a result too."""
    cfg, index = job
    root = Path(cfg.out)
    marker = _running_marker(root, index)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()  # left behind if this process dies mid-episode
    try:
        state = worker_state(cfg)
        row, frames = run_episode(cfg, index, state["env"], state.get("agent"), decoder=state.get("decoder"))
    except Exception as e:  # a crashing episode is a result too; the evaluation goes on
        row = {**failed_row(cfg, index, f"{type(e).__name__}: {e}"), "traceback": traceback.format_exc()}
        frames = []
    if frames:
        fps = float(_WORKER["env"].metadata.get("render_fps", 4)) if "env" in _WORKER else 4.0
        write_mp4(root / "videos" / f"episode_{index:04d}.mp4", frames, fps)
    write_json(episode_path(root, index), row)
    marker.unlink(missing_ok=True)
    return row


def _pool(cfg, workers: int, threads: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=init_worker, initargs=(cfg, threads))


def run_isolated(cfg, todo: list[int], workers: int, threads: int, rows: dict, done) -> None:
    """Episodes in worker processes. A worker that dies breaks the pool: the episodes then in flight each run again
    alone, so the one that kills its worker is recorded as such and the others finish."""
    root = Path(cfg.out)
    while True:
        todo = [i for i in todo if i not in rows]
        if not todo:
            return
        for m in (root / "episodes").glob(".running_*"):
            m.unlink()
        try:
            with _pool(cfg, workers, threads) as pool:
                for f in as_completed([pool.submit(run_and_save, (cfg, i)) for i in todo]):
                    done(f.result())
            return
        except BrokenProcessPool:
            suspects = sorted(int(m.name.split("_")[1]) for m in (root / "episodes").glob(".running_*"))
            for i in suspects:
                if i in rows:
                    continue
                _running_marker(root, i).unlink(missing_ok=True)
                try:
                    with _pool(cfg, 1, threads) as alone:
                        done(alone.submit(run_and_save, (cfg, i)).result())
                except BrokenProcessPool:
                    row = failed_row(cfg, i, "worker process died")
                    write_json(episode_path(root, i), row)
                    _running_marker(root, i).unlink(missing_ok=True)
                    done(row)
