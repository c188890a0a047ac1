"""The settings of `vjepa-ac eval` and their checks: every value, name, env, encoder view and world model is checked
(and the env and policy built once) before any episode runs, so a setting that cannot run fails at start, naming the
field. `identity` is what decides an evaluation's results (the folder it resumes into must have been made with it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path

from vjepa_ac.environment import EnvConfig, env_camera, prepare_env  # noqa: F401  (env_camera re-exported)
from vjepa_ac.eval.episode import POLICIES
from vjepa_ac.eval.pool import build
from vjepa_ac.models.weights import DEFAULT_NAMES
from vjepa_ac.planning.agent import AgentConfig
from vjepa_ac.planning.energy import EnergyConfig
from vjepa_ac.planning.ladder import NAMES, rung
from vjepa_ac.planning.truth import OracleConfig


@dataclass
class EvalConfig:
    """`vjepa-ac eval env=panda_reach planner=cem episodes=50 out=DIR`."""

    env: EnvConfig = field(default_factory=EnvConfig)
    policy: str = "planner"  # planner (the agent), random (uniform actions on the planned dims) or expert
    planner: str = "cem"  # cem or mppi (sets agent.planner)
    # default (the shipped predictor of the env's robot), default-panda, default-jaco, a predictor folder / official .pt
    # file, or a rung of ladder.py
    world_model: str = "default"
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
    device: str = "cpu"  # cpu, cuda, cuda:1, mps, or auto (cuda, then mps, then cpu)
    bf16: bool = False  # bf16 predictor on CUDA
    videos: int = 2  # write mp4s of the first this-many episodes
    rerun: str | None = None  # a folder for one .rrd recording per episode, or "spawn" for a live viewer
    rerun_episodes: int = 2  # record the first this-many episodes
    decoder: str | None = None  # default or a `train-decoder` folder: the recordings show imagined frames decoded to pixels
    max_error_rate: float = 0.0  # the share of episodes that may crash before the command exits non-zero (long sweeps)
    progress: bool | None = None  # None: only when stderr is a terminal
    label: str | None = None  # the row name a table gives these settings (written into results.json)


RUN_ONLY = ("out", "workers", "threads", "videos", "progress", "episodes", "rerun", "rerun_episodes", "decoder", "max_error_rate", "label")


def differences(value, default) -> dict | None:
    """The fields of a dataclass `value` that differ from `default` (nested ones as nested dicts), or None if none do."""
    if is_dataclass(value) and type(value) is type(default):
        out = {}
        for f in fields(value):
            d = differences(getattr(value, f.name), getattr(default, f.name))
            if d is not None:
                out[f.name] = d
        return out or None
    plain = json.loads(json.dumps(asdict(value) if is_dataclass(value) else value))
    return None if plain == json.loads(json.dumps(asdict(default) if is_dataclass(default) else default)) else plain


def identity(cfg: EvalConfig) -> dict:
    """The settings that decide the results, as the fields that differ from their defaults (not how many workers ran
    them, or which episodes get videos): a field added later, at its default, leaves older folders resumable."""
    d = differences(cfg, EvalConfig()) or {}
    for k in RUN_ONLY:
        d.pop(k, None)
    return d


def check_config(cfg: EvalConfig) -> dict:
    """Refuse settings that cannot run, naming the field; resolve the device (`auto`) in place. Builds the env and the
    policy once (a world model that cannot load, or does not fit its encoder, fails here) and returns them."""
    check_settings(cfg)
    return build_checked(cfg)


def check_settings(cfg: EvalConfig) -> None:
    """Every check that builds no world model: values, names, the env, the encoder's view; `auto` resolved in place.
    Each nested config checks its own fields (again here: a field may have been set after it was built)."""
    if cfg.policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {cfg.policy!r}")
    rules = {"episodes": cfg.episodes >= 1, "workers": cfg.workers >= 1, "threads": cfg.threads >= 0, "videos": cfg.videos >= 0,
             "max_error_rate": 0 <= cfg.max_error_rate <= 1}
    bad = [k for k, ok in rules.items() if not ok]
    if bad:
        raise ValueError(f"out-of-range eval setting {bad[0]}={getattr(cfg, bad[0])!r} (episodes, workers >= 1; threads, "
                         "videos >= 0; 0 <= max_error_rate <= 1)")
    cfg.agent.planner = cfg.planner
    for part in (cfg.agent, cfg.agent.cem, cfg.agent.mppi, cfg.energy):
        part.__post_init__()
    check_sources(cfg)
    r = rung(cfg.world_model)
    if cfg.decoder:
        if not cfg.rerun:
            raise ValueError("decoder= draws imagined frames into Rerun recordings: set rerun=DIR (or rerun=spawn) as well")
        if not r.imagines:
            raise ValueError(f"decoder= decodes the learned model's imagined embeddings; world_model={cfg.world_model} imagines none")
        if str(cfg.decoder) != "default" and not (Path(cfg.decoder) / "config.json").exists():
            raise FileNotFoundError(f"decoder={cfg.decoder}: {Path(cfg.decoder) / 'config.json'} is missing: not a decoder "
                                    "folder (train one with `vjepa-ac train-decoder`)")
    for name in ("head", "distance"):
        if getattr(cfg.energy, name) not in (None, "auto") and not r.encoder:
            raise ValueError(f"energy.{name} reads encoder tokens; world_model={cfg.world_model} scores no tokens (use a "
                             "learned predictor or sim+image)")
    prepare_env(cfg.env, cfg.encoder, plans_on_tokens=cfg.policy == "planner" and r.encoder)
    from vjepa_ac.device import pick_device

    cfg.device = str(pick_device(cfg.device))  # `auto` resolved once; a device that is not here fails now


def build_checked(cfg: EvalConfig) -> dict:
    """The env and policy of the settings (eval_pool.build), or an error naming the settings that would not build."""
    try:
        return build(cfg)
    except ValueError as e:
        if str(e).startswith("env.id="):
            raise  # the env itself: its own message names the id and the choices
        raise ValueError(f"cannot build the {cfg.policy} policy of world_model={cfg.world_model}, encoder={cfg.encoder}, "
                         f"energy.head={cfg.energy.head} ({type(e).__name__}: {e})") from e
    except Exception as e:
        raise ValueError(f"cannot build the {cfg.policy} policy of world_model={cfg.world_model}, encoder={cfg.encoder}, "
                         f"energy.head={cfg.energy.head} ({type(e).__name__}: {e})") from e


def check_sources(cfg: EvalConfig) -> None:
    """The world model and encoder must be found: a typo fails here, naming the value and the choices, not as every
    episode's crash in the workers."""
    if cfg.policy != "planner":
        return
    r = rung(cfg.world_model)
    if r.score == "learned" and cfg.world_model not in DEFAULT_NAMES:
        p = Path(cfg.world_model)
        if not ((p.is_dir() and (p / "config.json").exists() and (p / "model.safetensors").exists())
                or (p.is_file() and p.suffix in (".pt", ".pth", ".tar"))):
            raise ValueError(f"world_model={cfg.world_model!r} is none of {list(NAMES)}, nor a predictor folder "
                             "(config.json + model.safetensors, as `vjepa-ac train` writes) nor a V-JEPA 2-AC release file (.pt)")
    if not r.encoder or cfg.encoder == "default":
        return
    p = Path(cfg.encoder)
    looks_like_hub_id = not p.is_absolute() and not str(cfg.encoder).startswith(".") and len(p.parts) == 2 and not p.exists()
    if not (p.exists() or looks_like_hub_id):
        raise ValueError(f"encoder={cfg.encoder!r} does not exist: give 'default', an encoder folder (config.json + "
                         "model.safetensors, as `vjepa-ac pretrain` exports), an original release file (.pt) or a Hugging Face hub id")
