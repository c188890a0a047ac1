"""`vjepa-ac eval`: seeded closed-loop episodes of a policy (the planning agent, random actions or the scripted
expert) in parallel env workers, summarised in results.json with per-episode rows and videos.

Each finished episode is written at once (`episodes/episode_NNNN.json`, atomically), so a killed evaluation resumes
where it stopped and ends with the same table as an uninterrupted one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path

import multiprocessing as mp

import numpy as np

from vjepa_ac.agent import AgentConfig
from vjepa_ac.environment import EnvConfig, make_env
from vjepa_ac.energy import EnergyConfig
from vjepa_ac.data.video import write_mp4
from vjepa_ac.io import atomic_write, claim_folder, progress, remove_stale_temps, write_json
from vjepa_ac.world_model import OracleConfig

POLICIES = ("planner", "random", "expert")
SIM_MODELS = ("sim", "sim+image")  # plan in the true simulator: true-state energy, or rendered views' embedding energy


@dataclass
class EvalConfig:
    """`vjepa-ac eval env=panda_reach planner=cem episodes=50 out=DIR`."""

    env: EnvConfig = field(default_factory=EnvConfig)
    policy: str = "planner"  # planner (the agent), random (uniform actions on the planned dims) or expert
    planner: str = "cem"  # cem or mppi (sets agent.planner)
    world_model: str = "default"  # default (shipped predictor), a predictor folder / official .pt file; sim, sim+image, oracle (kinematic)
    encoder: str = "default"  # default, a Hugging Face folder, or an original release file
    agent: AgentConfig = field(default_factory=AgentConfig)
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    oracle: OracleConfig = field(default_factory=OracleConfig)
    episodes: int = 50
    seed: int = 0  # episode i resets the env with seed + i
    stop_on_success: bool = True  # end an episode at its first success
    out: str = "runs/eval"
    workers: int = 2
    threads: int = 0  # torch threads per worker (0: the machine's cores shared out)
    device: str = "cpu"
    bf16: bool = False  # bf16 predictor on CUDA
    videos: int = 2  # write mp4s of the first this-many episodes
    rerun: str | None = None  # a folder for one .rrd recording per episode, or "spawn" for a live viewer
    rerun_episodes: int = 2  # record the first this-many episodes
    decoder: str | None = None  # default or a `train-decoder` folder: the recordings show imagined frames decoded to pixels
    progress: bool | None = None  # None: only when stderr is a terminal


def identity(cfg: EvalConfig) -> dict:
    """The settings that decide the results (not how many workers ran them, or which episodes get videos)."""
    d = asdict(cfg)
    for k in ("out", "workers", "threads", "videos", "progress", "episodes", "rerun", "rerun_episodes", "decoder"):
        d.pop(k)
    for k in ("kwargs", "camera"):  # folders written before these fields existed stay resumable
        if not d["env"][k]:
            d["env"].pop(k)
    if not d["agent"]["gripper_from_goal"]:
        for k in ("gripper_from_goal", "gripper_threshold"):
            d["agent"].pop(k)
    return d


def check_config(cfg: EvalConfig) -> None:
    """Refuse settings that cannot run, naming the field."""
    if cfg.policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {cfg.policy!r}")
    if cfg.episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {cfg.episodes}")
    if cfg.agent.horizon < 1:
        raise ValueError(f"agent.horizon must be >= 1, got {cfg.agent.horizon}")
    if cfg.planner not in ("cem", "mppi"):
        raise ValueError(f"planner must be 'cem' or 'mppi', got {cfg.planner!r}")
    for name in ("cem", "mppi"):
        p = getattr(cfg.agent, name)
        if not (p.samples >= 1 and p.iterations >= 1 and 1 <= p.elites <= p.samples and p.init_std > 0 and p.min_std >= 0):
            raise ValueError(f"agent.{name}: samples, iterations >= 1, 1 <= elites <= samples, init_std > 0, min_std >= 0; "
                             f"got samples={p.samples}, iterations={p.iterations}, elites={p.elites}, "
                             f"init_std={p.init_std}, min_std={p.min_std}")
    if cfg.workers < 1:
        raise ValueError(f"workers must be >= 1, got {cfg.workers}")
    from vjepa_ac.device import pick_device

    pick_device(cfg.device)  # a device that is not here fails now, not as every episode's error
    check_sources(cfg)
    if cfg.policy == "planner" and cfg.world_model not in ("oracle", "sim"):
        check_view(cfg)
    if cfg.decoder:
        if not cfg.rerun:
            raise ValueError("decoder= draws imagined frames into Rerun recordings: set rerun=DIR (or rerun=spawn) as well")
        if cfg.world_model in ("oracle", *SIM_MODELS):
            raise ValueError(f"decoder= decodes the learned model's imagined embeddings; world_model={cfg.world_model} imagines none")
        from vjepa_ac.decoder import load_decoder

        load_decoder(cfg.decoder)  # a missing or broken decoder fails now, before any episode runs
    cfg.agent.planner = cfg.planner


WORLD_MODELS = ("default", "oracle", *SIM_MODELS)


def check_sources(cfg: EvalConfig) -> None:
    """The env, world model and encoder must be buildable: a typo fails here, naming the value and the choices, not
    as every episode's crash in the workers."""
    try:
        make_env(cfg.env).close()
    except Exception as e:
        import envs

        raise ValueError(f"env.id={cfg.env.id!r} cannot be built ({type(e).__name__}: {e}); this package's envs: "
                         f"{sorted(envs.ENV_IDS)} (or any registered Gymnasium id with its options in env.kwargs)") from e
    if cfg.policy != "planner":
        return
    if cfg.world_model not in WORLD_MODELS:
        p = Path(cfg.world_model)
        if not ((p.is_dir() and (p / "config.json").exists() and (p / "model.safetensors").exists())
                or (p.is_file() and p.suffix in (".pt", ".pth", ".tar"))):
            raise ValueError(f"world_model={cfg.world_model!r} is none of {list(WORLD_MODELS)}, nor a predictor folder "
                             "(config.json + model.safetensors, as `vjepa-ac train` writes) nor a V-JEPA 2-AC release file (.pt)")
    if cfg.world_model in ("oracle", "sim") or cfg.encoder == "default":
        return
    p = Path(cfg.encoder)
    looks_like_hub_id = not p.is_absolute() and not str(cfg.encoder).startswith(".") and len(p.parts) == 2 and not p.exists()
    if not (p.exists() or looks_like_hub_id):
        raise ValueError(f"encoder={cfg.encoder!r} does not exist: give 'default', an encoder folder (config.json + "
                         "model.safetensors, as `vjepa-ac pretrain` exports), an original release file (.pt) or a Hugging Face hub id")


def env_camera(env: EnvConfig) -> str:
    """The camera framing a Panda env config renders (the env's default filled in)."""
    from envs.panda_env import PandaEnvConfig

    return env.camera or env.kwargs.get("camera") or PandaEnvConfig().camera or "wide"


def check_view(cfg: EvalConfig) -> None:
    """Refuse to plan with an encoder of ours on another view than the one it was pretrained on: its embeddings of
    another framing are meaningless, and the episodes would all fail without saying why."""
    from vjepa_ac.encoder import trained_camera

    if not cfg.env.id.startswith("vjepa_ac/"):
        return
    trained, here = trained_camera(cfg.encoder), env_camera(cfg.env)
    if trained is not None and trained != here:
        raise ValueError(f"encoder={cfg.encoder} was pretrained on camera={trained!r} frames, but the env renders "
                         f"camera={here!r}: set env.camera={trained} (or use an encoder pretrained on that view)")


# ----- building the policy -------------------------------------------------------------------------------------------
def build_world_model(cfg: EvalConfig, env=None):
    """The world model named by cfg.world_model; `sim` and `sim+image` plan inside `env`, the one they act in."""
    from vjepa_ac.world_model import LatentWorldModel, OracleWorldModel, SimWorldModel

    if cfg.world_model == "oracle":
        return OracleWorldModel(cfg.oracle, cfg.device)
    from vjepa_ac.encoder import load_encoder
    from vjepa_ac.predictor import load_predictor

    if cfg.world_model in SIM_MODELS:
        if env is None:
            raise ValueError(f"world_model={cfg.world_model} plans inside the env it acts in: pass the env")
        encoder = load_encoder(cfg.encoder) if cfg.world_model == "sim+image" else None
        return SimWorldModel(env.unwrapped, cfg.oracle, encoder, cfg.energy, cfg.device)

    return LatentWorldModel(load_encoder(cfg.encoder), load_predictor(cfg.world_model), cfg.energy, cfg.device, cfg.bf16)


class RandomPolicy:
    """Uniform random actions on the agent's planned dims (the rest zero): the floor of the table."""

    def __init__(self, low, high, dims: list[int]):
        self.low, self.high, self.dims = np.asarray(low, np.float32), np.asarray(high, np.float32), list(dims)

    def reset(self, obs, info, rng: np.random.Generator) -> None:
        self.rng = rng

    def act(self, obs) -> np.ndarray:
        a = np.zeros_like(self.low)
        a[self.dims] = self.rng.uniform(self.low[self.dims], self.high[self.dims])
        return a


_WORKER: dict = {}


def _init_worker(cfg: EvalConfig, threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, threads))
    _WORKER.clear()
    _WORKER["cfg"] = cfg


def _worker_state(cfg: EvalConfig) -> dict:
    """The env and the policy of this process, built once."""
    if "env" not in _WORKER:
        env = make_env(cfg.env)
        _WORKER["env"] = env
        if cfg.policy == "planner":
            from vjepa_ac.agent import Agent

            _WORKER["agent"] = Agent(build_world_model(cfg, env), env.action_space.low, env.action_space.high, cfg.agent, cfg.device)
    return _WORKER


# ----- one episode ---------------------------------------------------------------------------------------------------
def run_episode(cfg: EvalConfig, index: int, env=None, agent=None, on_step=None) -> tuple[dict, list[np.ndarray]]:
    """Run episode `index`; returns its result row and, if asked for, the video frames (camera | current goal)."""
    if env is None:
        state = _worker_state(cfg)
        env, agent = state["env"], state.get("agent")
    u = env.unwrapped
    max_steps = getattr(u, "max_episode_steps", None) or env.spec.max_episode_steps
    obs, info = env.reset(seed=cfg.seed + index)
    rng = np.random.default_rng([cfg.seed, index])
    if cfg.policy == "planner":
        agent.reset(info, max_steps, index)
        policy = agent
    elif cfg.policy == "random":
        policy = RandomPolicy(env.action_space.low, env.action_space.high, cfg.agent.plan_dims)
        policy.reset(obs, info, rng)
    else:
        from envs.policies import make_policy

        policy = make_policy("expert", u.task.name)
        policy.reset(obs, info, rng)
    goals = info.get("subgoal_images") if cfg.agent.use_subgoals and "subgoal_images" in info else [info.get("goal_image")]
    want_video = index < cfg.videos
    recorder = None
    if cfg.rerun and cfg.policy == "planner" and index < cfg.rerun_episodes:
        from vjepa_ac.viz import EpisodeRecorder

        agent.cfg.cem.keep_samples = agent.cfg.mppi.keep_samples = True  # candidate paths are drawn from them
        decoder = None
        if cfg.decoder:
            from vjepa_ac.decoder import load_decoder

            decoder = _WORKER.setdefault("decoder", load_decoder(cfg.decoder, encoder=agent.model.encoder))
        recorder = EpisodeRecorder(cfg.rerun, f"episode_{index:04d}", decoder=decoder)
        recorder.start(obs, info)
    frames, distances, plan_ms = [], [], []
    success = ever = diverged = False
    steps = 0
    distance = float(info.get("distance", float("nan")))
    nan_plans = 0
    while True:
        action = policy.act(obs)
        if cfg.policy == "planner":
            rec = agent.records[-1]
            plan_ms.append(rec.plan_ms)
            nan_plans += int(not math.isfinite(rec.plan.cost))
        if want_video:
            g = goals[agent.records[-1].goal_index] if cfg.policy == "planner" else goals[-1]
            frames.append(np.concatenate([obs["image"], g if g is not None else np.zeros_like(obs["image"])], axis=1))
        prev_obs = obs
        obs, _, terminated, truncated, info = env.step(action)
        if recorder is not None:
            recorder.step(steps, prev_obs, agent, goals[agent.records[-1].goal_index], obs, info)
        steps += 1
        if on_step is not None:
            on_step(obs, info)
        diverged = diverged or bool(info.get("diverged", False))
        success = bool(info.get("success", False))
        ever = ever or success
        if not diverged:
            distance = float(info.get("distance", float("nan")))
        distances.append(distance)
        if terminated or truncated or (success and cfg.stop_on_success) or steps >= (max_steps or 10**9):
            break
    if want_video:
        frames.append(np.concatenate([obs["image"], frames[-1][:, obs["image"].shape[1]:]], axis=1))
    if recorder is not None:
        recorder.close()
        agent.cfg.cem.keep_samples = agent.cfg.mppi.keep_samples = False
    row = {
        "episode": index,
        "seed": cfg.seed + index,
        "task": getattr(getattr(u, "task", None), "name", cfg.env.id),
        "success": success,
        "ever_success": ever,
        "steps": steps,
        "final_distance": _finite_or_none(distance),
        "min_distance": _finite_or_none(min((d for d in distances if math.isfinite(d)), default=float("nan"))),
        "diverged": diverged,
        "plan_ms_median": float(np.median(plan_ms)) if plan_ms else None,
        "plan_ms": [round(x, 2) for x in plan_ms],
        "nan_plans": nan_plans,
        "error": None,
    }
    return row, frames


def _finite_or_none(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _episode_path(root: Path, index: int) -> Path:
    return root / "episodes" / f"episode_{index:04d}.json"


def failed_row(cfg: EvalConfig, index: int, error: str) -> dict:
    """The result row of an episode that could not finish."""
    return {"episode": index, "seed": cfg.seed + index, "task": cfg.env.id, "success": False, "ever_success": False,
            "steps": 0, "final_distance": None, "min_distance": None, "diverged": False, "plan_ms_median": None,
            "plan_ms": [], "nan_plans": 0, "error": error}


def _running_marker(root: Path, index: int) -> Path:
    return root / "episodes" / f".running_{index:04d}"


def _run_and_save(job: tuple[EvalConfig, int]) -> dict:
    cfg, index = job
    root = Path(cfg.out)
    marker = _running_marker(root, index)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()  # left behind if this process dies mid-episode
    try:
        row, frames = run_episode(cfg, index)
    except Exception as e:  # a crashing episode is a result too; the evaluation goes on
        row = {**failed_row(cfg, index, f"{type(e).__name__}: {e}"), "traceback": traceback.format_exc()}
        frames = []
    if frames:
        fps = float(_WORKER["env"].metadata.get("render_fps", 4)) if "env" in _WORKER else 4.0
        write_mp4(root / "videos" / f"episode_{index:04d}.mp4", frames, fps)
    write_json(_episode_path(root, index), row)
    marker.unlink(missing_ok=True)
    return row


def _pool(cfg: EvalConfig, workers: int, threads: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker, initargs=(cfg, threads))


def _run_isolated(cfg: EvalConfig, todo: list[int], workers: int, threads: int, rows: dict, done) -> None:
    """Episodes in worker processes. A worker that dies (segfault, OOM kill) breaks the pool: the episodes then in
    flight each run again alone, so the one that kills its worker is recorded as such and the others finish."""
    root = Path(cfg.out)
    while True:
        todo = [i for i in todo if i not in rows]
        if not todo:
            return
        for m in (root / "episodes").glob(".running_*"):
            m.unlink()
        try:
            with _pool(cfg, workers, threads) as pool:
                for f in as_completed([pool.submit(_run_and_save, (cfg, i)) for i in todo]):
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
                        done(alone.submit(_run_and_save, (cfg, i)).result())
                except BrokenProcessPool:
                    row = failed_row(cfg, i, "worker process died")
                    write_json(_episode_path(root, i), row)
                    _running_marker(root, i).unlink(missing_ok=True)
                    done(row)


# ----- summary -------------------------------------------------------------------------------------------------------
def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a success rate k/n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def summarise(rows: list[dict], cfg: EvalConfig) -> dict:
    """Success rate with its Wilson interval, distances, steps, planning time and failures of a set of episodes."""
    n = len(rows)
    k = sum(r["success"] for r in rows)
    finite = [r["final_distance"] for r in rows if r["final_distance"] is not None and math.isfinite(r["final_distance"])]
    ms = [x for r in rows for x in r.get("plan_ms", [])]
    lo, hi = wilson(k, n)
    return {
        "task": rows[0].get("task") if rows else None,
        "env": cfg.env.id,
        "policy": cfg.policy,
        "world_model": cfg.world_model if cfg.policy == "planner" else None,
        "planner": cfg.planner if cfg.policy == "planner" else None,
        "episodes": n,
        "successes": k,
        "success_rate": k / n if n else float("nan"),
        "success_ci95": [lo, hi],
        "final_distance": {"mean": float(np.mean(finite)) if finite else None, "median": float(np.median(finite)) if finite else None},
        "steps": {"mean": float(np.mean([r["steps"] for r in rows])) if n else None, "median": float(np.median([r["steps"] for r in rows])) if n else None},
        "planning_ms": {"median": float(np.median(ms)), "p90": float(np.percentile(ms, 90)), "mean": float(np.mean(ms)), "actions": len(ms)} if ms else None,
        "diverged": sum(bool(r["diverged"]) for r in rows),
        "errors": sum(r.get("error") is not None for r in rows),
        "nan_plans": sum(r.get("nan_plans", 0) for r in rows),
        "config": asdict(cfg),
    }


CSV_FIELDS = ["episode", "seed", "task", "success", "ever_success", "steps", "final_distance", "min_distance", "diverged", "plan_ms_median", "nan_plans", "error"]


def write_results(root: Path, rows: list[dict], cfg: EvalConfig) -> dict:
    """results.json and episodes.csv from the episode rows, each written atomically."""
    rows = sorted(rows, key=lambda r: r["episode"])
    summary = summarise(rows, cfg)
    buf = io.StringIO()
    w = csv.DictWriter(buf, CSV_FIELDS, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    atomic_write(root / "episodes.csv", lambda p: p.write_text(buf.getvalue()))
    write_json(root / "results.json", summary)
    return summary


# ----- the command ---------------------------------------------------------------------------------------------------
def evaluate(cfg: EvalConfig) -> dict:
    """Run (or finish) the evaluation in cfg.out and return its summary."""
    check_config(cfg)
    root = Path(cfg.out)
    if root.exists():
        remove_stale_temps(root)
    claim_folder(root / "eval_config.json", identity(cfg), "an evaluation")

    rows: dict[int, dict] = {}
    for i in range(cfg.episodes):
        p = _episode_path(root, i)
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
            _init_worker(cfg, threads)
            for i in todo:
                done(_run_and_save((cfg, i)))
        else:
            _run_isolated(cfg, todo, workers, threads, rows, done)
    return write_results(root, list(rows.values()), cfg)
