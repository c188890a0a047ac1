"""Panda tasks: how a goal is drawn, what the goal image shows, and when the episode counts as a success.

Success (docs/tasks.md):
- reach: the tool centre point (between the finger pads) within 5 cm of the goal position.
- grasp: the cube held between the fingers at least 5 cm above where it started, for `HOLD_STEPS` control steps in a
  row (1 s): a cube tossed up or dropped on the way does not count.
- reach-with-object: the cube (held from the start) within 5 cm of the goal position.
- pick-and-place: the cube was lifted in the hand, then let go (fingers open, no part of the hand touching it) and
  rests on the table with its centre within 5 cm (horizontally) of the target spot: a pushed cube does not count.

Each task also reports the criterion used before 2026-12 (`lenient_success`: grasp, held and lifted at one step;
pick-and-place, resting within 5 cm of the spot however it got there), so that the change is visible in results.
A task with `track(env)` is told after every control step (success may depend on what happened before).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.scene import CUBE_HALF

REACH_THRESHOLD = 0.05
LIFT_HEIGHT = 0.05
PLACE_THRESHOLD = 0.05
HOLD_STEPS = 4  # control steps (1 s at 4 Hz) a grasp must hold the cube up
RELEASED_CLOSURE = 0.15  # fingers at most this closed count as open
GRASP_CLOSURE = 1.0 - CUBE_HALF / 0.04  # finger opening that just touches the cube
GRASP_HEIGHT_OFFSET = 0.008  # TCP above the cube centre when grasping, so fingertips clear the table


def _workspace_goal(rng: np.random.Generator, avoid: np.ndarray, min_dist: float = 0.12) -> np.ndarray:
    for _ in range(100):
        goal = rng.uniform([0.35, -0.25, 0.08], [0.65, 0.25, 0.35])
        if np.linalg.norm(goal - avoid) > min_dist:
            return goal
    raise ValueError(f"no goal {min_dist} m from {avoid} in 100 draws of the goal region")


def _hold_cube(env, pos: np.ndarray, yaw: float) -> None:
    """Arm and cube posed with the cube between closed fingers at `pos` (TCP slightly above the cube centre)."""
    env.set_arm(pos + [0, 0, GRASP_HEIGHT_OFFSET], np.array([0.0, 0.0, yaw]), closure=GRASP_CLOSURE)
    env.set_cube(pos, yaw)


def grasp_subgoals(start: np.ndarray, yaw: float, then) -> list:
    """Configurations of a grasp's stages for a cube resting at `start`: the open hand around it, then the cube held
    on the table, then `then` (the next stage's configuration)."""
    def around(env):
        env.set_arm(start + [0, 0, GRASP_HEIGHT_OFFSET], np.array([0.0, 0.0, yaw]), closure=0.0)
        env.set_cube(start, yaw)

    return [around, lambda env: _hold_cube(env, start, yaw), then]


@dataclass
class Reach:
    """Move the gripper to a goal position."""

    name: str = "reach"
    max_episode_steps: int = 40

    def reset(self, env, rng: np.random.Generator) -> dict:
        return {"position": _workspace_goal(rng, env.tcp_pos)}

    def configure_goal(self, env) -> None:
        env.set_arm(env.goal["position"], np.zeros(3), closure=0.0)

    def evaluate(self, env) -> tuple[bool, float]:
        d = float(np.linalg.norm(env.tcp_pos - env.goal["position"]))
        return d < REACH_THRESHOLD, d


@dataclass
class Grasp:
    """Grasp the cube and lift it at least 5 cm."""

    name: str = "grasp"
    max_episode_steps: int = 50
    goal_lift: float = 0.12  # how high the goal image shows the cube

    def reset(self, env, rng: np.random.Generator) -> dict:
        start = env.cube_pos
        self.held_streak = 0
        return {"position": start + [0, 0, self.goal_lift], "object_start": start, "object_yaw": np.array(env.cube_yaw())}

    def configure_goal(self, env) -> None:
        _hold_cube(env, env.goal["position"], float(env.goal["object_yaw"]))

    def subgoal_configurations(self, env) -> list:
        """Open hand around the cube, cube held on the table, cube lifted (the goal): an option the agent may take
        (`agent.use_subgoals`); the single goal image stays the V-JEPA 2-AC protocol."""
        return grasp_subgoals(env.goal["object_start"], float(env.goal["object_yaw"]), self.configure_goal)

    def held_up(self, env) -> bool:
        return bool(env.cube_pos[2] - env.goal["object_start"][2] >= LIFT_HEIGHT and env.cube_held())

    def track(self, env) -> None:
        self.held_streak = self.held_streak + 1 if self.held_up(env) else 0

    def evaluate(self, env) -> tuple[bool, float]:
        d = float(np.linalg.norm(env.cube_pos - env.goal["position"]))
        return self.held_streak >= HOLD_STEPS, d

    def lenient_success(self, env) -> bool:
        return self.held_up(env)


@dataclass
class ReachWithObject:
    """Carry the cube, already grasped at the start, to a goal position."""

    name: str = "reach_with_object"
    max_episode_steps: int = 40

    def reset(self, env, rng: np.random.Generator) -> dict:
        yaw = float(env.ee_state()[5])
        _hold_cube(env, env.tcp_pos - [0, 0, GRASP_HEIGHT_OFFSET], yaw)
        env.data.ctrl[env.finger_act] = 0.0  # squeeze
        env.settle(150)
        return {"position": _workspace_goal(rng, env.cube_pos), "object_yaw": np.array(yaw)}

    def configure_goal(self, env) -> None:
        _hold_cube(env, env.goal["position"], float(env.goal["object_yaw"]))

    def evaluate(self, env) -> tuple[bool, float]:
        d = float(np.linalg.norm(env.cube_pos - env.goal["position"]))
        return d < REACH_THRESHOLD, d


@dataclass
class PickPlace:
    """Pick the cube up and put it down on a target spot of the table."""

    name: str = "pick_place"
    max_episode_steps: int = 80
    carry_height: float = 0.12

    def reset(self, env, rng: np.random.Generator) -> dict:
        start = env.cube_pos
        cup = env.cup_pos
        for _ in range(100):
            xy = rng.uniform(env.cfg.object_low, env.cfg.object_high)
            if np.linalg.norm(xy - start[:2]) > 0.12 and np.linalg.norm(xy - cup[:2]) > 0.12:
                break
        else:
            raise ValueError(f"no place spot 12 cm clear of the cube and the cup in 100 draws: the object region "
                             f"object_low={env.cfg.object_low}, object_high={env.cfg.object_high} is too small")
        self.lifted = False
        return {"position": np.array([*xy, CUBE_HALF]), "object_start": start, "object_yaw": np.array(env.cube_yaw())}

    def configure_goal(self, env) -> None:
        pos = env.goal["position"]
        env.set_cube(pos, float(env.goal["object_yaw"]))
        env.set_arm(pos + [0, 0, self.carry_height], np.array([0.0, 0.0, float(env.goal["object_yaw"])]), closure=0.0)

    def subgoal_configurations(self, env) -> list:
        """Open hand around the cube, cube held, grasped and lifted, carried above the target, placed: the three
        sub-goals V-JEPA 2-AC plans through, after the two of the grasp (see `Grasp.subgoal_configurations`)."""
        yaw = float(env.goal["object_yaw"])
        lifted = env.goal["object_start"] + [0, 0, self.carry_height]
        above = env.goal["position"] + [0, 0, self.carry_height]
        around, held, _ = grasp_subgoals(env.goal["object_start"], yaw, None)
        return [around, held, lambda e: _hold_cube(e, lifted, yaw), lambda e: _hold_cube(e, above, yaw), self.configure_goal]

    def track(self, env) -> None:
        self.lifted = self.lifted or bool(env.cube_held() and env.cube_pos[2] - CUBE_HALF >= LIFT_HEIGHT)

    def lenient_success(self, env) -> bool:
        d = float(np.linalg.norm(env.cube_pos[:2] - env.goal["position"][:2]))
        return bool(d < PLACE_THRESHOLD and env.cube_pos[2] < CUBE_HALF + 0.01)

    def evaluate(self, env) -> tuple[bool, float]:
        d = float(np.linalg.norm(env.cube_pos[:2] - env.goal["position"][:2]))
        let_go = env.gripper_closure <= RELEASED_CLOSURE and not env.hand_touches_cube()
        return bool(self.lifted and let_go and self.lenient_success(env)), d


TASKS = {"reach": Reach, "grasp": Grasp, "reach_with_object": ReachWithObject, "pick_place": PickPlace}
