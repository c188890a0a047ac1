"""Building the env an evaluation or a collection acts in: one config and one constructor that both share."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EnvConfig:
    """Which registered Gymnasium env to build, and its options (keyword arguments of gymnasium.make)."""

    id: str = "vjepa_ac/PandaReach-v0"
    image_height: int = 128  # these three go to the Panda envs only (ids under vjepa_ac/)
    image_width: int = 128
    control_hz: float = 4.0
    max_episode_steps: int | None = None
    camera: str | None = None  # Panda envs: a named framing (wide, workspace, wide+wrist); None: in eval, the encoder's own view
    kwargs: dict = field(default_factory=dict)  # anything else gymnasium.make should pass to the env


def make_env(cfg: EnvConfig):
    """Build the env of a config (imports `envs` so the Panda ids are registered)."""
    import gymnasium as gym

    import envs  # noqa: F401

    kwargs = dict(cfg.kwargs)
    if cfg.id.startswith("vjepa_ac/"):
        kwargs.update(image_height=cfg.image_height, image_width=cfg.image_width, control_hz=cfg.control_hz)
        if cfg.camera is not None:
            kwargs["camera"] = cfg.camera
    # gymnasium.make takes max_episode_steps itself and wraps the env in a TimeLimit
    return gym.make(cfg.id, max_episode_steps=cfg.max_episode_steps or None, **kwargs)


def prepare_env(env: EnvConfig, encoder: str = "default", plans_on_tokens: bool = False) -> None:
    """Give a Panda env with no camera set the view `encoder` was pretrained on (every row of a table then sees the
    same frames; logs made with the defaults train the default encoder's own view), and, when a planner reads that
    encoder's tokens, refuse another view than its own (its embeddings of another framing are meaningless: every
    episode would fail without saying why)."""
    import envs
    from vjepa_ac.models.encoder import trained_camera

    if env.id not in envs.PANDA_ENV_IDS:
        return  # another robot's camera: an encoder of ours planning there is a cross-embodiment choice, not a slip
    unset = env.camera is None and not env.kwargs.get("camera")
    here = env_camera(env)
    trained = trained_camera(encoder)
    if unset and trained is not None:
        env.camera = here = trained
    if plans_on_tokens and trained is not None and trained != here:
        raise ValueError(f"encoder={encoder} was pretrained on camera={trained!r} frames, but the env renders "
                         f"camera={here!r}: set env.camera={trained} (or use an encoder pretrained on that view)")


def make_checked(env: EnvConfig):
    """The env of a config, or an error naming the id and this package's envs when it cannot be built."""
    try:
        return make_env(env)
    except Exception as e:
        import envs

        known = env.id in envs.ENV_IDS or _registered(env.id)
        what = (f"env.id={env.id!r} (a known env) could not be built with these options ({type(e).__name__}: {e})" if known else
                f"env.id={env.id!r} cannot be built ({type(e).__name__}: {e}); this package's envs: "
                f"{sorted(envs.ENV_IDS)} (or any registered Gymnasium id with its options in env.kwargs)")
        raise ValueError(what) from e


def env_camera(env: EnvConfig) -> str:
    """The camera framing a Panda env config renders (the env's default filled in)."""
    from envs.panda_env import PandaEnvConfig

    return env.camera or env.kwargs.get("camera") or PandaEnvConfig().camera or "wide"


def fill_camera(env: EnvConfig, encoder: str = "default") -> None:
    """A Panda env with no camera set sees through the view `encoder` was pretrained on."""
    prepare_env(env, encoder)


def _registered(env_id: str) -> bool:
    import gymnasium as gym

    try:
        gym.spec(env_id)
        return True
    except Exception:
        return False
