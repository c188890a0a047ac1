"""Headless rendering: picks the GL backend before MuJoCo loads and turns renderer failures into clear errors."""

from __future__ import annotations

import atexit
import os
import weakref

# MuJoCo reads MUJOCO_GL when it first creates a context; EGL renders without a display.
os.environ.setdefault("MUJOCO_GL", "egl")
if os.environ["MUJOCO_GL"] in ("egl", "osmesa"):
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

import mujoco  # noqa: E402
import numpy as np  # noqa: E402


_LIVE: "weakref.WeakSet[CameraRenderer]" = weakref.WeakSet()
_hooked = False


def _close_all() -> None:
    for r in list(_LIVE):
        r.close()


class CameraRenderer:
    """Renders one named camera to uint8 RGB [H, W, 3], shadows and reflections off unless asked for."""

    def __init__(self, model: mujoco.MjModel, height: int, width: int, camera: str, shadows: bool = False, reflections: bool = False):
        self._renderer = None
        try:
            self._renderer = mujoco.Renderer(model, height, width)
        except Exception as e:  # the backend's own errors rarely say what to do
            raise RuntimeError(
                f"MuJoCo could not create a {width}x{height} renderer with MUJOCO_GL={os.environ.get('MUJOCO_GL')!r}: {e}. "
                "Headless machines need EGL (libEGL, e.g. Debian's libegl1 and libgl1-mesa-dri) or OSMesa "
                "(MUJOCO_GL=osmesa); a desktop can use MUJOCO_GL=glfw. MuJoCo fixes its backend when first imported: "
                "set MUJOCO_GL before that, or import envs before mujoco."
            ) from e
        self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = int(shadows)
        self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = int(reflections)
        self.camera = camera
        _LIVE.add(self)
        global _hooked
        if not _hooked:
            # atexit runs last-registered first: hooked after MuJoCo's EGL module registered its own teardown, this
            # frees our contexts while EGL still works instead of raising noisy errors during interpreter exit.
            atexit.register(_close_all)
            _hooked = True

    def render(self, data: mujoco.MjData) -> np.ndarray:
        """The camera's current view as uint8 [H, W, 3]."""
        self._renderer.update_scene(data, self.camera)
        return self._renderer.render()

    def close(self) -> None:
        """Free the GL context (safe to call twice)."""
        if self._renderer is not None:
            try:
                self._renderer.close()
            except Exception:  # a context already torn down at interpreter exit
                pass
            self._renderer = None

    def __del__(self) -> None:
        self.close()
