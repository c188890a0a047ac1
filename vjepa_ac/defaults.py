"""The shipped default world models, one per robot, and the names that reach them.

`default-panda` is the Panda's (the encoder, predictor, goal head, decoder and proposal models in `vjepa_ac/weights/`);
`default-jaco` is the Jaco's: its own predictor and goal head (`vjepa_ac/weights/jaco/`), trained on Jaco play logs
on the tokens of the same frozen encoder, which both robots share. `default` is the default of the robot the env
drives (the Panda's where there is no env, or the robot has none of its own).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

ROBOT_DEFAULTS = {"panda_sim": "default-panda", "jaco_sim": "default-jaco"}  # by the env's `robot_type`
DEFAULT_NAMES = ("default", *ROBOT_DEFAULTS.values())
_FOLDER = {"default-panda": "", "default-jaco": "jaco"}  # where under vjepa_ac/weights each default's own parts lie


def is_default(source) -> bool:
    return str(source) in DEFAULT_NAMES


def resolve(name: str, robot: str | None = None) -> str:
    """A default's explicit name: `default` is the robot's own (the Panda's without a robot, or for one without)."""
    return ROBOT_DEFAULTS.get(robot or "panda_sim", "default-panda") if name == "default" else name


def weights_dir(name: str, part: str, robot: str | None = None) -> Path:
    """The folder of one part ("predictor", "head", ...) of a shipped default."""
    name = resolve(str(name), robot)
    if name not in _FOLDER:
        raise KeyError(f"no shipped default named {name!r}; known: {list(DEFAULT_NAMES)}")
    root = Path(str(resources.files("vjepa_ac") / "weights"))
    return root / _FOLDER[name] / part if _FOLDER[name] else root / part


def robot_of(env) -> str | None:
    """The robot an env drives (its `robot_type`), None without an env."""
    return None if env is None else getattr(getattr(env, "unwrapped", env), "robot_type", "panda_sim")
