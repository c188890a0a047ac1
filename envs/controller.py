"""End-effector control: damped-least-squares differential IK from a Cartesian target to arm joint targets."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from envs.geometry import rotation_error


@dataclass
class IKConfig:
    """Damped least squares with a null-space pull toward the home posture."""

    damping: float = 0.05
    iterations: int = 25
    rotation_weight: float = 0.5  # metres per radian: how much orientation error counts against position error
    nullspace_gain: float = 0.2
    max_step: float = 0.2  # radians per iteration and joint
    tolerance: float = 1e-4
    limit_margin: float = 0.02  # radians kept from every joint limit


class DiffIK:
    """Solves for arm joint positions that put a site at a target pose, within joint limits."""

    def __init__(self, model: mujoco.MjModel, site: str, joints: list[str], q_home: np.ndarray, cfg: IKConfig | None = None):
        self.model = model
        self.cfg = cfg or IKConfig()
        self.data = mujoco.MjData(model)  # scratch: solving never touches the simulation's own state
        self.site_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, site)
        jids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in joints]
        self.qadr = np.array([model.jnt_qposadr[j] for j in jids])
        self.dadr = np.array([model.jnt_dofadr[j] for j in jids])
        rng = np.array([model.jnt_range[j] if model.jnt_limited[j] else (-np.inf, np.inf) for j in jids])  # continuous joints: none
        self.q_low = rng[:, 0] + self.cfg.limit_margin
        self.q_high = rng[:, 1] - self.cfg.limit_margin
        self.q_home = np.asarray(q_home, float)
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))

    def site_pose(self, qpos_full: np.ndarray, q_arm: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Site position [3] and rotation [3, 3] for a full qpos, optionally with other arm joints."""
        self.data.qpos[:] = qpos_full
        if q_arm is not None:
            self.data.qpos[self.qadr] = q_arm
        mujoco.mj_kinematics(self.model, self.data)
        return self.data.site_xpos[self.site_id].copy(), self.data.site_xmat[self.site_id].reshape(3, 3).copy()

    def solve(
        self, qpos_full: np.ndarray, target_pos: np.ndarray, target_mat: np.ndarray, iterations: int | None = None
    ) -> tuple[np.ndarray, float]:
        """Arm joint positions [7] reaching the target from the given full qpos, and the remaining position error."""
        c = self.cfg
        d = self.data
        d.qpos[:] = qpos_full
        q = np.clip(d.qpos[self.qadr].copy(), self.q_low, self.q_high)
        err_pos = np.inf
        for _ in range(iterations or c.iterations):
            d.qpos[self.qadr] = q
            mujoco.mj_kinematics(self.model, d)
            mujoco.mj_comPos(self.model, d)
            pos = d.site_xpos[self.site_id]
            mat = d.site_xmat[self.site_id].reshape(3, 3)
            e = np.concatenate([target_pos - pos, c.rotation_weight * rotation_error(target_mat, mat)])
            err_pos = float(np.linalg.norm(e[:3]))
            if np.linalg.norm(e) < c.tolerance:
                break
            mujoco.mj_jacSite(self.model, d, self._jacp, self._jacr, self.site_id)
            jac = np.vstack([self._jacp[:, self.dadr], c.rotation_weight * self._jacr[:, self.dadr]])  # [6, 7]
            jjt = jac @ jac.T + (c.damping**2) * np.eye(6)
            dq = jac.T @ np.linalg.solve(jjt, e)
            pinv = jac.T @ np.linalg.solve(jjt, np.eye(6))  # damped pseudo-inverse [7, 6]
            dq += (np.eye(len(q)) - pinv @ jac) @ (c.nullspace_gain * (self.q_home - q))
            dq = np.clip(dq, -c.max_step, c.max_step)
            q = np.clip(q + dq, self.q_low, self.q_high)
        return q, err_pos
