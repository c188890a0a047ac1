"""Where models live and how their weights load: the shipped defaults (one per robot) and the names that reach
them, and released checkpoints read safely (weights-only unpickling, prefixes stripped, every key and shape checked).

`default-panda` is the Panda's (the encoder, predictor, goal head, decoder and proposal models in `vjepa_ac/weights/`);
`default-jaco` is the Jaco's: its own predictor and goal head (`vjepa_ac/weights/jaco/`), trained on Jaco play logs
on the tokens of the same frozen encoder, which every robot shares; `default-ur5e` is OGBench's UR5e's
(`vjepa_ac/weights/ur5e/`), trained on its oracle's logs; `default-pusht` is Push-T's disc's (`vjepa_ac/weights/pusht/`),
trained on logs of stable-worldmodel's Push-T collection policy. `default` is the default of the robot the env
drives (the Panda's where there is no env, or the robot has none of its own).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch
from torch import nn


# by the env's `robot_type`; the UR5e is OGBench's cube arm (vjepa_ac/OGBenchCube-v0)
# and Push-T's disc (vjepa_ac/PushT-v0)
ROBOT_DEFAULTS = {"panda_sim": "default-panda", "jaco_sim": "default-jaco", "ur5e_sim": "default-ur5e", "pusht_sim": "default-pusht"}
DEFAULT_NAMES = ("default", *ROBOT_DEFAULTS.values())
_FOLDER = {"default-panda": "", "default-jaco": "jaco", "default-ur5e": "ur5e", "default-pusht": "pusht"}  # where under vjepa_ac/weights each default's own parts lie


def is_default(source) -> bool:
    return str(source) in DEFAULT_NAMES


def resolve(name: str, robot: str | None = None) -> str:
    """A default's explicit name: `default` is the robot's own (the Panda's without a robot, or for one without)."""
    return ROBOT_DEFAULTS.get(robot or "panda_sim", "default-panda") if name == "default" else name


def weights_root() -> Path:
    """`vjepa_ac/weights/` of this install."""
    return Path(str(resources.files("vjepa_ac") / "weights"))


def weights_dir(name: str, part: str, robot: str | None = None) -> Path:
    """The folder of one part ("encoder", "predictor", "head", "decoder", "policy", "subgoal", ...) of a shipped
    default: the robot's own, else the one every robot shares (the Jaco plans on the Panda's encoder)."""
    name = resolve(str(name), robot)
    if name not in _FOLDER:
        raise KeyError(f"no shipped default named {name!r}; known: {list(DEFAULT_NAMES)}")
    root = weights_root()
    own = root / _FOLDER[name] / part if _FOLDER[name] else root / part
    if own.exists() or not _FOLDER[name]:
        return own
    return root / part


def model_folder(source: str | Path, part: str, robot: str | None = None) -> Path:
    """The folder a model setting names: a shipped default's `part` ("default", "default-panda", "default-jaco") or
    the path as given."""
    return weights_dir(str(source), part, robot) if is_default(source) else Path(source)


def save_folder(path: str | Path, entry: str, cfg: dict, state: dict[str, torch.Tensor], meta: dict | None = None,
                dtype: torch.dtype | None = None) -> Path:
    """A model folder: `model.safetensors` (floating tensors in `dtype` when given) and `config.json` holding
    `{entry: cfg, **meta}`, each written atomically (a killed save never leaves half a file)."""
    from safetensors.torch import save_file

    from vjepa_ac.io import atomic_path, write_json

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    cast = (lambda v: v.to(dtype) if v.is_floating_point() else v) if dtype is not None else (lambda v: v)
    with atomic_path(path / "model.safetensors") as tmp:
        save_file({k: cast(v.detach()).cpu().contiguous() for k, v in state.items()}, str(tmp))
    write_json(path / "config.json", {entry: cfg, **(meta or {})})
    return path


def read_folder(source: str | Path, part: str, entry: str, command: str, encoder=None,
                robot: str | None = None) -> tuple[dict, dict[str, torch.Tensor], Path]:
    """(config.json as a dict, the weights, the folder) of a saved model: a shipped default's `part` or a folder that
    `vjepa-ac <command>` wrote. Refuses a folder without `config.json` or without its `entry`, and, with `encoder`
    given, a model trained on another encoder's tokens (what it reads off them would be noise)."""
    import json

    from safetensors.torch import load_file

    path = model_folder(source, part, robot)
    cfg_path = path / "config.json"
    if not cfg_path.exists():
        raise FileNotFoundError(f"{cfg_path} is missing: not a {part} folder (train one with `vjepa-ac {command}`)")
    meta = json.loads(cfg_path.read_text())
    if entry not in meta:
        raise ValueError(f"{cfg_path} has no {entry!r} entry: not a {part} folder")
    if encoder is not None and meta.get("encoder") not in (None, encoder.identity()):
        raise ValueError(f"{part} {path} was trained on tokens of encoder {meta.get('encoder')}, not of "
                         f"{encoder.identity()} ({encoder.name}); train one for it with `vjepa-ac {command}`")
    weights = path / "model.safetensors"
    if not weights.exists():
        raise FileNotFoundError(f"{weights} is missing: the {part} folder {path} holds a config but no weights")
    return meta, load_file(str(weights)), path


def load_model(model: nn.Module, state: dict[str, torch.Tensor], path: Path, meta: dict) -> nn.Module:
    """`model` with the checked weights of the folder `path` loaded, its config.json kept as `model.meta`, frozen."""
    load_state_checked(model, state, str(path / "model.safetensors"))
    model.meta = meta
    return model.eval().requires_grad_(False)


def part_source(setting: str | None, part: str, world_model: str = "default", encoder: str = "default",
                robot: str | None = None) -> Path | None:
    """The folder a setting such as `energy.head` or `energy.distance` names for one `part` of a world model: null for
    none; "auto" for the part of the default the world model names (the robot's own for any other world model), with
    the shipped encoder only (none with another: its tokens would be foreign to the shipped part); "labelled" for
    that default's `<part>-labelled` (trained with simulator labels: a ladder rung); a default's name for its part;
    else the path given."""
    if setting is None:
        return None
    base = resolve(world_model if is_default(world_model) else "default", robot)
    if setting == "auto":
        return weights_dir(base, part) if str(encoder) == "default" else None
    if setting == "labelled":
        return weights_dir(base, f"{part}-labelled")
    if is_default(setting):
        return weights_dir(resolve(setting, robot), part)
    return Path(setting)


def robot_of(env) -> str | None:
    """The robot an env drives (its `robot_type`), None without an env."""
    return None if env is None else getattr(getattr(env, "unwrapped", env), "robot_type", "panda_sim")


def strip_prefixes(key: str) -> str:
    """A key without the `module.` (DDP) and `backbone.` wrappers of the V-JEPA 2 releases."""
    for prefix in ("module.", "backbone."):
        while key.startswith(prefix):
            key = key[len(prefix) :]
    return key


def load_release_entry(path: Path, entries: list[str]) -> tuple[str, dict[str, torch.Tensor]]:
    """The first present entry of a `torch.load`ed release dict, loaded weights-only (no code is ever unpickled)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a pickle with code in it, a truncated file, not a torch file at all
        raise ValueError(f"{path}: not a loadable weights-only checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(ckpt, dict):
        raise ValueError(f"{path}: expected a dict of state dicts, got {type(ckpt).__name__}")
    found = next((k for k in entries if k in ckpt), None)
    if found is None:
        raise KeyError(f"{path}: none of the entries {entries} present; entries: {sorted(ckpt)[:10]}")
    return found, ckpt[found]


def load_state_checked(model: nn.Module, state: dict[str, torch.Tensor], source: str, prefix: str = "") -> None:
    """Load a state dict after checking every key and shape; the first mismatch is named with both shapes."""
    expected = {k: v for k, v in model.state_dict().items() if k.startswith(prefix)}
    for k, v in state.items():
        if k not in expected:
            raise KeyError(f"{source}: unexpected key {k!r} (not a parameter of {type(model).__name__} under {prefix!r})")
        if tuple(v.shape) != tuple(expected[k].shape):
            raise ValueError(f"{source}: key {k!r} has shape {tuple(v.shape)}, expected {tuple(expected[k].shape)}")
        if expected[k].is_floating_point() and not v.is_floating_point():
            raise TypeError(f"{source}: key {k!r} has dtype {v.dtype}, expected floating point like {expected[k].dtype}")
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise ValueError(f"{source}: key {k!r} holds NaN or inf values")
    missing = sorted(set(expected) - set(state))
    if missing:
        raise KeyError(f"{source}: missing key {missing[0]!r}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
    model.load_state_dict(state, strict=False)
