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


def fill_camera(env: EnvConfig, encoder: str = "default") -> None:
    """A Panda env with no camera set sees through the view `encoder` was pretrained on (eval renders it for every
    row of a table; collect records it, so that logs made with the defaults train the default encoder's own view); an
    encoder with no recorded view leaves the env's default."""
    import envs
    from vjepa_ac.models.encoder import trained_camera

    if env.id in envs.PANDA_ENV_IDS and env.camera is None and not env.kwargs.get("camera"):
        env.camera = trained_camera(encoder)
