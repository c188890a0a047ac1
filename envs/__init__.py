"""Simulated robot tasks as Gymnasium envs (registered on import under ``vjepa_ac/``): our Franka Panda tabletop, the
Kinova Jaco on DeepMind's manipulation tasks, and the field's shared benchmark under stable-worldmodel's protocol: OGBench's
UR5e cube task and Push-T."""

import os

# MuJoCo and PyOpenGL read these when first imported; EGL renders headless. Set before anything imports mujoco.
os.environ.setdefault("MUJOCO_GL", "egl")
if os.environ["MUJOCO_GL"] in ("egl", "osmesa"):
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

import importlib.util  # noqa: E402

import gymnasium as gym  # noqa: E402

PANDA_ENV_IDS = {
    "vjepa_ac/PandaReach-v0": "reach",
    "vjepa_ac/PandaGrasp-v0": "grasp",
    "vjepa_ac/PandaReachWithObject-v0": "reach_with_object",
    "vjepa_ac/PandaPickPlace-v0": "pick_place",
}
# The Kinova Jaco on DeepMind's own manipulation tasks (dm_control.manipulation), same observation and action contract.
JACO_ENV_IDS = {"vjepa_ac/JacoReachSite-v0": "reach_site", "vjepa_ac/JacoLiftBrick-v0": "lift_brick"}
# OGBench's single-cube task under stable-worldmodel's protocol: registered only where OGBench is installed
# (pip install ".[bench]"); without it the id is simply absent.
OGBENCH_ENV_IDS = {"vjepa_ac/OGBenchCube-v0": "cube_single"} if importlib.util.find_spec("ogbench") else {}
# Push-T (gym-pusht's physics and scene) under stable-worldmodel's protocol: likewise only where gym-pusht is installed.
PUSHT_ENV_IDS = {"vjepa_ac/PushT-v0": "push_t"} if importlib.util.find_spec("gym_pusht") else {}
ENV_IDS = {**PANDA_ENV_IDS, **JACO_ENV_IDS, **OGBENCH_ENV_IDS, **PUSHT_ENV_IDS}  # every registered id -> its task name


def make_panda(task: str, **options):
    """A Panda env for a task name ('reach', 'grasp', 'reach_with_object', 'pick_place'); options override PandaEnvConfig."""
    from envs.panda_env import PandaEnv
    from envs.tasks import TASKS

    if task not in TASKS:
        raise KeyError(f"unknown Panda task {task!r}; known: {sorted(TASKS)}")
    render_mode = options.pop("render_mode", "rgb_array")
    return PandaEnv(TASKS[task](), render_mode=render_mode, **options)


def make_jaco(task: str, **options):
    """A Jaco env for a dm_control.manipulation task name ('reach_site'); options override JacoEnvConfig."""
    from envs.jaco_env import JacoEnv

    render_mode = options.pop("render_mode", "rgb_array")
    return JacoEnv(task, render_mode=render_mode, **options)


def make_ogbench(task: str, **options):
    """OGBench's cube task with our contract and stable-worldmodel's protocol; options override OGBenchCubeConfig."""
    from envs.ogbench_env import OGBenchCubeEnv

    render_mode = options.pop("render_mode", "rgb_array")
    return OGBenchCubeEnv(task, render_mode=render_mode, **options)


def make_pusht(task: str, **options):
    """Push-T with our contract and stable-worldmodel's protocol; options override PushTConfig."""
    from envs.pusht_env import PushTEnv

    render_mode = options.pop("render_mode", "rgb_array")
    return PushTEnv(task, render_mode=render_mode, **options)


for _env_id, _task in PUSHT_ENV_IDS.items():
    if _env_id not in gym.registry:
        gym.register(id=_env_id, entry_point="envs:make_pusht", kwargs={"task": _task}, disable_env_checker=False)

for _env_id, _task in OGBENCH_ENV_IDS.items():
    if _env_id not in gym.registry:
        gym.register(id=_env_id, entry_point="envs:make_ogbench", kwargs={"task": _task}, disable_env_checker=False)

for _env_id, _task in JACO_ENV_IDS.items():
    if _env_id not in gym.registry:
        gym.register(id=_env_id, entry_point="envs:make_jaco", kwargs={"task": _task}, disable_env_checker=False)

for _env_id, _task in PANDA_ENV_IDS.items():
    if _env_id not in gym.registry:
        # The env truncates itself at the task's episode length, so no TimeLimit wrapper is stacked on top.
        gym.register(id=_env_id, entry_point="envs:make_panda", kwargs={"task": _task}, disable_env_checker=False)
