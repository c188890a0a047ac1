"""Recording scripted-policy episodes in a simulated env into a LeRobot v3.0 dataset: parallel, seeded, resumable.

Episode i always runs with env seed `seed + i` and policy seed `(seed, i)`, so it is the same episode whichever worker
runs it and whether or not the collection was interrupted. Finished episodes are staged as single files (written
atomically) under `out/.staging/`, then committed to the dataset in fixed batches of `episodes_per_file`.
"""

from __future__ import annotations

import copy

import json
import multiprocessing as mp
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vjepa_ac.data.lerobot_format import DatasetWriter, Episode, video_feature
from vjepa_ac.data.video import write_mp4
from vjepa_ac.environment import EnvConfig, fill_camera, make_env  # noqa: F401  (EnvConfig re-exported: collect's settings name it)
from vjepa_ac.io import atomic_write, claim_folder, progress, remove_stale_temps

CAMERA_KEY = "observation.images.front"
STATE_NAMES = ["x", "y", "z", "roll", "pitch", "yaw", "gripper"]
ACTION_NAMES = ["dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper"]
ENV_STATE_NAMES = ["object_x", "object_y", "object_z", "object_qw", "object_qx", "object_qy", "object_qz", "cup_x", "cup_y", "cup_z"]
TASK_TEXT = {
    "play": "Play with the cube and the cup.",
    "reach": "Move the gripper to the goal position.",
    "grasp": "Grasp the cube and lift it.",
    "reach_with_object": "Carry the cube to the goal position.",
    "pick_place": "Pick up the cube and place it on the target spot.",
    "reach_site": "Move the hand to the target site.",
    "lift_brick": "Lift the brick.",
    "play_jaco": "Move the hand around the workspace.",
    "cube_single": "Put the cube where the goal image shows it.",
    "play_ur5e": "Carry the cube to random places (OGBench's oracle).",
    "push_t": "Push the T and the disc to where the goal image shows them.",
    "play_pusht": "Push the T around with random moves near it (stable-worldmodel's WeakPolicy).",
}


@dataclass
class CollectConfig:
    """`vjepa-ac collect`: record `episodes` episodes of `policy` into the dataset folder `out`."""

    env: EnvConfig = field(default_factory=EnvConfig)
    policy: str = "play"
    policy_options: dict = field(default_factory=dict)  # the play policy's settings (envs/policies.py), e.g. place_prob
    episodes: int = 10
    seed: int = 0
    out: str = "data/panda_play"
    workers: int = 2
    episodes_per_file: int = 50
    # H.264 by default: the AV1 encoder PyAV 18.1 bundles (SVT-AV1 4.1) deadlocked twice in 16 files of 50 episodes
    # on a 2-core machine (2026-12), leaving the collection waiting forever; libsvtav1 (LeRobot's default) stays a choice
    codec: str = "libx264"
    preview: bool = False  # also write out/preview.mp4 of the first episodes, decoded back from the dataset
    progress: bool | None = None  # None: only when stderr is a terminal


_WORKER_ENV = None  # (the EnvConfig it was built from, the env): one env per worker process, rebuilt for another config


def _worker_env(cfg: EnvConfig):
    global _WORKER_ENV
    if _WORKER_ENV is None or _WORKER_ENV[0] != cfg:
        if _WORKER_ENV is not None:
            _WORKER_ENV[1].close()
        _WORKER_ENV = (copy.deepcopy(cfg), make_env(cfg))
    return _WORKER_ENV[1]


def record_episode(env, policy_name: str, seed: int, index: int, options: dict | None = None) -> dict:
    """Run one seeded episode; per-step arrays (observation before each action, the action, success after it)."""
    from envs.policies import make_policy

    obs, info = env.reset(seed=seed + index)
    policy = make_policy(policy_name, env.unwrapped.task.name, **(options or {}))
    policy.reset(obs, info, np.random.default_rng([seed, index]))
    images, states, env_states, actions, success = [], [], [], [], []
    diverged = False
    while True:
        a = np.asarray(policy.act(obs), dtype=np.float32)
        images.append(obs["image"])
        states.append(obs["ee_state"])
        env_states.append(environment_state(env.unwrapped, obs))
        actions.append(a)
        obs, _, terminated, truncated, info = env.step(a)
        success.append(bool(info["success"]))
        if info.get("diverged"):
            diverged = True
        if terminated or truncated:
            break
    return {
        "images": np.stack(images),
        "state": np.stack(states),
        "env_state": np.stack(env_states),
        "action": np.stack(actions),
        "success": np.array(success),
        "diverged": diverged,
        "task": TASK_TEXT[play_text(env.unwrapped) if policy_name == "play" else env.unwrapped.task.name],
    }


def environment_state(u, obs: dict) -> np.ndarray:
    """The scene's state beside the robot's, as `observation.environment_state`: the env's own
    (`environment_state()`, named by `environment_state_names`), or the Panda scene's cube pose and cup position."""
    if hasattr(u, "environment_state"):
        return np.asarray(u.environment_state(), np.float32)
    p = obs["privileged"]
    return np.concatenate([p["object_pos"], p["object_quat"], p["cup_pos"]]).astype(np.float32)


def play_text(u) -> str:
    return "play" if getattr(u, "robot_type", "panda_sim") == "panda_sim" else f"play_{u.robot_type.split('_')[0]}"


def _stage_path(root: Path, index: int) -> Path:
    return root / ".staging" / f"episode_{index:06d}.npz"


def _run_and_stage(job: tuple) -> int:
    env_cfg, policy, options, seed, index, root = job
    ep = record_episode(_worker_env(env_cfg), policy, seed, index, options)
    meta = json.dumps({"task": ep.pop("task"), "diverged": ep.pop("diverged")})

    def write(p: Path) -> None:
        with open(p, "wb") as f:
            np.savez(f, meta=np.array(meta), **ep)

    atomic_write(_stage_path(root, index), write)
    return index


def _load_staged(root: Path, index: int, seed: int) -> Episode:
    with np.load(_stage_path(root, index)) as z:
        meta = json.loads(str(z["meta"]))
        success = z["success"]
        return Episode(
            index=index,
            task=meta["task"],
            columns={
                "observation.state": z["state"],
                "observation.environment_state": z["env_state"],
                "action": z["action"],
                "next.success": success,
            },
            videos={CAMERA_KEY: z["images"]},
            extra={"seed": seed + index, "success": bool(success.any()), "diverged": bool(meta["diverged"])},
        )


def dataset_features(height: int, width: int, fps: float, codec: str, env_state_names: list[str] | None = None,
                     action_names: list[str] | None = None) -> dict:
    """The features a simulated dataset declares in meta/info.json (the Panda scene's names unless given)."""
    env_state_names, action_names = env_state_names or ENV_STATE_NAMES, action_names or ACTION_NAMES
    return {
        CAMERA_KEY: video_feature(height, width, fps, codec),
        "observation.state": {"dtype": "float32", "shape": [7], "names": STATE_NAMES},
        "observation.environment_state": {"dtype": "float32", "shape": [len(env_state_names)], "names": env_state_names},
        "action": {"dtype": "float32", "shape": [len(action_names)], "names": action_names},
        "next.success": {"dtype": "bool", "shape": [1], "names": None},
    }


def collect(cfg: CollectConfig) -> Path:
    """Record episodes 0..cfg.episodes-1 into cfg.out, keeping and reusing whatever an earlier run finished."""
    if cfg.policy not in ("play", "expert"):
        raise ValueError(f"policy must be 'play' or 'expert', got {cfg.policy!r}")
    if cfg.episodes < 1 or cfg.workers < 1 or cfg.episodes_per_file < 1:
        raise ValueError(f"episodes, workers and episodes_per_file must be >= 1; got {cfg.episodes}, {cfg.workers}, {cfg.episodes_per_file}")
    root = Path(cfg.out)
    if root.exists():
        remove_stale_temps(root)  # half-written files of a killed run
    fill_camera(cfg.env)
    env_ident = {k: v for k, v in asdict(cfg.env).items() if k not in ("kwargs", "camera") or v}  # older folders have neither
    identity = {"env": env_ident, "policy": cfg.policy, "seed": cfg.seed, "codec": cfg.codec}
    if cfg.policy_options:  # older folders have none
        identity["policy_options"] = dict(cfg.policy_options)
    claim_folder(root / "meta" / "vjepa_ac_collect.json", identity, "a collection")

    probe = make_env(cfg.env)
    from envs.policies import make_policy

    make_policy(cfg.policy, probe.unwrapped.task.name, **cfg.policy_options)  # a mistyped option fails here, not in a worker
    h, w, _ = probe.observation_space["image"].shape
    fps = float(probe.metadata["render_fps"])
    u = probe.unwrapped
    n_act = probe.action_space.shape[0]
    action_names = getattr(u, "action_names", ACTION_NAMES if n_act == 7 else [f"a{i}" for i in range(n_act)])
    features = dataset_features(h, w, fps, cfg.codec, getattr(u, "environment_state_names", None), list(action_names))
    robot_type = getattr(u, "robot_type", "panda_sim")
    probe.close()
    writer = DatasetWriter(root, fps, features, robot_type=robot_type, codec=cfg.codec)

    staged = {int(p.stem.split("_")[1]) for p in (root / ".staging").glob("episode_*.npz")}
    for i in [i for i in staged if i < writer.num_episodes]:  # committed just before a kill, not yet unstaged
        _stage_path(root, i).unlink()
        staged.discard(i)
    todo = [i for i in range(writer.num_episodes, cfg.episodes) if i not in staged]

    def commit(final: bool) -> None:
        n = writer.num_episodes
        while n < cfg.episodes:
            end = min((n // cfg.episodes_per_file + 1) * cfg.episodes_per_file, cfg.episodes)
            ready = all(i in staged for i in range(n, end))
            if not ready:
                if not final:
                    return
                raise RuntimeError(f"episodes {[i for i in range(n, end) if i not in staged]} were not recorded")
            writer.append([_load_staged(root, i, cfg.seed) for i in range(n, end)])
            for i in range(n, end):
                _stage_path(root, i).unlink()
                staged.discard(i)
            n = writer.num_episodes

    jobs = [(cfg.env, cfg.policy, dict(cfg.policy_options), cfg.seed, i, root) for i in todo]
    with progress(cfg.episodes, cfg.episodes - len(todo), cfg.progress, "episodes") as bar:
        if cfg.workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                staged.add(_run_and_stage(job))
                bar.update()
                commit(final=False)
        else:
            ctx = mp.get_context("spawn")  # GL contexts and MuJoCo state do not survive fork
            with ctx.Pool(min(cfg.workers, len(jobs))) as pool:
                for i in pool.imap_unordered(_run_and_stage, jobs):
                    staged.add(i)
                    bar.update()
                    commit(final=False)
    commit(final=True)
    staging = root / ".staging"
    if staging.exists() and not any(staging.iterdir()):
        shutil.rmtree(staging)
    if cfg.preview:
        write_preview(root, root / "preview.mp4")
    return root


def write_preview(root: Path, path: Path, max_episodes: int = 4) -> Path:
    """An mp4 of the first episodes, decoded back from the dataset (what a training run will see)."""
    from vjepa_ac.data.reader import open_log

    log = open_log(root)
    frames = np.concatenate([log.frames(i, log.camera_keys[0]) for i in range(min(max_episodes, len(log)))])

    write_mp4(path, frames, log.fps)
    return path
