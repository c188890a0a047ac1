"""The tabletop scene: a Franka Panda (MJCF and meshes from gymnasium-robotics), a table, a cube, a cup and a camera."""

from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np
from dm_control import mjcf

from envs.geometry import look_at_quat

ARM_JOINTS = tuple(f"robot:panda0_joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("robot:panda0_finger_joint1", "robot:panda0_finger_joint2")
FINGER_OPEN = 0.04  # metres each finger slides out when open (the Panda's range)

CUBE_HALF = 0.025  # metres
CUP_RADIUS = 0.04
CUP_HEIGHT = 0.07
TABLE_TOP_Z = 0.0  # the robot base stands on the table top


@dataclass
class CameraConfig:
    """A fixed third-person camera, placed like a DROID exterior camera (front-left of the robot)."""

    eye: tuple[float, float, float] = (1.15, -0.4, 0.7)
    target: tuple[float, float, float] = (0.35, 0.0, 0.15)
    fovy: float = 48.0


# Named framings of the front camera (`camera=` env option). "wide" sees the whole robot and table, as a DROID
# exterior camera does; the 5-cm cube is 4-5 px wide at 128 px. "workspace" frames the reachable workspace (the
# hand at every reach goal and the objects), so the cube is ~8-10 px wide: about one 16-px patch instead of a third.
# "wide+wrist" is two views in one frame: the top half is a band of the wide view (same eye, 30 of its 48 degrees of
# vertical field about a raised target, so the hand and objects keep ~80 % of their size in pixels), the bottom half the wrist
# camera's, which sees the open fingers and what lies between them; the frame stays square, so every model keeps its
# token grid and cost.
CAMERAS = {
    "wide": CameraConfig(),
    "workspace": CameraConfig(eye=(1.0, -0.35, 0.62), target=(0.47, 0.0, 0.14), fovy=42.0),
    "wide+wrist": CameraConfig(target=(0.42, 0.0, 0.23), fovy=30.0),
}
WRIST_VIEWS = ("wide+wrist",)  # framings whose frame's bottom half is the wrist camera

# The wrist camera, fixed to the hand (link 7's frame): beside the palm, across the fingers' slide axis, looking
# along the approach direction past the finger tips, so both fingers frame the bottom corners of its view.
WRIST_EYE = (0.055, -0.055, 0.09)
WRIST_TARGET = (0.0, 0.0, 0.32)
WRIST_UP = (0.7071, -0.7071, 0.0)
WRIST_FOVY = 42.0  # vertical, for a 2:1 band (about 75 degrees across)


def camera_preset(name: str) -> CameraConfig:
    """The front camera of a named framing; unknown names fail naming the known ones."""
    if name not in CAMERAS:
        raise ValueError(f"unknown camera {name!r}; known: {sorted(CAMERAS)}")
    return CAMERAS[name]


@dataclass
class SceneConfig:
    """What the scene holds and how it looks."""

    camera: CameraConfig = field(default_factory=CameraConfig)
    shadows: bool = False
    reflections: bool = False
    timestep: float = 0.002
    # Draw the arm with its collision meshes (~2k faces) instead of the visual ones (~134k): at 128 px they look
    # alike, and the software rasteriser renders a frame in ~8 ms instead of ~36 ms.
    low_poly_arm: bool = True


def franka_assets_dir() -> Path:
    """The Panda MJCF folder shipped inside the installed gymnasium-robotics package (Apache-2.0)."""
    spec = importlib.util.find_spec("gymnasium_robotics")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "gymnasium-robotics is not installed: it ships the Franka Panda meshes and MJCF this scene uses "
            "(pip install gymnasium-robotics)"
        )
    path = Path(spec.submodule_search_locations[0]) / "envs" / "assets" / "kitchen_franka"
    if not (path / "franka_assets" / "chain.xml").exists():
        raise RuntimeError(f"no Franka assets at {path / 'franka_assets'}: the installed gymnasium-robotics lacks them")
    return path


def _panda_model(low_poly: bool) -> mjcf.RootElement:
    """The Panda arm and gripper as one MJCF model, assembled from gymnasium-robotics' include files."""
    base = franka_assets_dir()
    inc = base / "franka_assets"
    root = ET.Element("mujoco", model="panda")
    ET.SubElement(root, "compiler", angle="radian", meshdir="franka_assets/meshes")
    for part in ET.parse(inc / "assets.xml").getroot():
        if part.tag in ("asset", "default", "size"):
            root.append(part)
    worldbody = ET.SubElement(root, "worldbody")
    for part in ET.parse(inc / "chain.xml").getroot():
        worldbody.append(part)
    for part in ET.parse(inc / "actuator.xml").getroot():
        root.append(part)
    if low_poly:
        for geom in worldbody.iter("geom"):
            if geom.get("class") == "panda_viz" and geom.get("mesh", "").endswith("_viz") and geom.get("mesh") != "finger_viz":
                geom.set("mesh", geom.get("mesh").replace("_viz", "_col"))
        for asset in root.iter("asset"):
            for mesh in list(asset):
                if mesh.get("name", "").endswith("_viz") and mesh.get("name") != "finger_viz":
                    asset.remove(mesh)
    model = mjcf.from_xml_string(ET.tostring(root, encoding="unicode"), model_dir=str(base))
    for body in model.find_all("body"):
        body.gravcomp = 1.0  # joint-space position control without gravity sag, as a torque-controlled Panda has
    hand = model.find("body", "panda0_link7")
    # Tool centre point between the finger pads: z along the approach direction, y along the finger slide.
    hand.add("site", name="tcp", pos=[0, 0, 0.235], euler=[0, 0, -0.785398], size=[0.005], rgba=[1, 0, 0, 0], group=4)
    eye = np.array(WRIST_EYE)
    hand.add("camera", name="wrist", pos=list(eye), quat=list(look_at_quat(eye, np.array(WRIST_TARGET), np.array(WRIST_UP))), fovy=WRIST_FOVY)
    return model


def _cup(parent: mjcf.Element) -> None:
    """A cup-like open cylinder made of a base and twelve wall slabs."""
    n = 12
    wall = 2 * np.pi * CUP_RADIUS / n / 2 * 1.05
    parent.add("geom", name="cup_base", type="cylinder", size=[CUP_RADIUS, 0.004], pos=[0, 0, 0.004], mass=0.02)
    for i in range(n):
        a = 2 * np.pi * i / n
        parent.add(
            "geom",
            name=f"cup_wall{i}",
            type="box",
            size=[0.004, wall, CUP_HEIGHT / 2],
            pos=[CUP_RADIUS * np.cos(a), CUP_RADIUS * np.sin(a), CUP_HEIGHT / 2],
            euler=[0, 0, a],
            mass=0.005,
        )


def build_scene(cfg: SceneConfig | None = None) -> mujoco.MjModel:
    """Compile the tabletop scene into a MuJoCo model."""
    cfg = cfg or SceneConfig()
    arena = mjcf.RootElement(model="panda_tabletop")
    arena.option.timestep = cfg.timestep
    arena.option.integrator = "implicitfast"
    arena.option.cone = "elliptic"
    arena.option.noslip_iterations = 3
    arena.visual.headlight.ambient = [0.35, 0.35, 0.35]
    arena.visual.headlight.diffuse = [0.5, 0.5, 0.5]
    arena.visual.quality.shadowsize = 2048 if cfg.shadows else 0
    grid = arena.asset.add("texture", name="floor_tex", type="2d", builtin="checker", rgb1=[0.22, 0.24, 0.27], rgb2=[0.18, 0.2, 0.22], width=256, height=256)
    arena.asset.add("material", name="floor_mat", texture=grid, texrepeat=[6, 6], reflectance=0.2 if cfg.reflections else 0.0)
    wood = arena.asset.add("texture", name="table_tex", type="2d", builtin="flat", rgb1=[0.55, 0.42, 0.3], width=64, height=64, mark="random", random=0.05, markrgb=[0.5, 0.38, 0.27])
    arena.asset.add("material", name="table_mat", texture=wood, reflectance=0.15 if cfg.reflections else 0.0)

    wb = arena.worldbody
    wb.add("light", name="key", pos=[0.6, -0.6, 2.0], dir=[-0.2, 0.3, -1], directional=True, castshadow=cfg.shadows, diffuse=[0.6, 0.6, 0.6])
    wb.add("light", name="fill", pos=[-0.5, 0.8, 2.0], dir=[0.3, -0.4, -1], directional=True, castshadow=False, diffuse=[0.25, 0.25, 0.25])
    wb.add("geom", name="floor", type="plane", size=[3, 3, 0.1], pos=[0, 0, -0.75], material="floor_mat", contype=1, conaffinity=1)
    wb.add("geom", name="table", type="box", size=[0.6, 0.65, 0.375], pos=[0.4, 0, TABLE_TOP_Z - 0.375], material="table_mat", friction=[1.0, 0.005, 0.0001])
    wb.add("camera", name="front", pos=list(cfg.camera.eye), quat=list(look_at_quat(np.array(cfg.camera.eye), np.array(cfg.camera.target))), fovy=cfg.camera.fovy)

    cube = wb.add("body", name="cube", pos=[0.5, 0.0, CUBE_HALF])
    cube.add("freejoint", name="cube_joint")
    cube.add("geom", name="cube_geom", type="box", size=[CUBE_HALF] * 3, mass=0.08, rgba=[0.8, 0.2, 0.2, 1], friction=[1.5, 0.01, 0.001], condim=4)
    cup = wb.add("body", name="cup", pos=[0.5, 0.25, 0.0])
    cup.add("freejoint", name="cup_joint")
    _cup(cup)

    arena.attach(_panda_model(cfg.low_poly_arm))
    xml = arena.to_xml_string()
    model = mujoco.MjModel.from_xml_string(xml, arena.get_assets())
    # Collision bits: the cup's walls (contype 4) touch the arm, fingers and cube (conaffinity bit 4) but not the
    # table, floor or each other; resting on the table is the base's job. Without this the twelve walls add ~48
    # table contacts and double the physics time of a step.
    for i in range(model.ngeom):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, i) or ""
        if name.startswith("cup_wall"):
            model.geom_contype[i], model.geom_conaffinity[i] = 4, 0
        elif model.geom_contype[i] and name not in ("table", "floor", "cup_base"):
            model.geom_conaffinity[i] |= 4
        if name.startswith("cup_"):
            model.geom_rgba[i] = [0.2, 0.4, 0.8, 1.0]
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, 1024)
    model.vis.global_.offheight = max(model.vis.global_.offheight, 1024)
    return model
