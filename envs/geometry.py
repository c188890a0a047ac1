"""Rotation helpers on numpy arrays: extrinsic xyz Euler angles (roll, pitch, yaw) and matrices."""

from __future__ import annotations

import numpy as np


def euler_to_mat(rpy: np.ndarray) -> np.ndarray:
    """Rotation matrix [3, 3] of extrinsic x-y-z Euler angles (roll, pitch, yaw): R = Rz @ Ry @ Rx."""
    r, p, y = (float(v) for v in rpy)
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )


def mat_to_euler(mat: np.ndarray) -> np.ndarray:
    """Extrinsic x-y-z Euler angles [3] (roll, pitch, yaw) of a rotation matrix [3, 3]."""
    pitch = np.arcsin(np.clip(-mat[2, 0], -1.0, 1.0))
    roll = np.arctan2(mat[2, 1], mat[2, 2])
    yaw = np.arctan2(mat[1, 0], mat[0, 0])
    return np.array([roll, pitch, yaw])


def rotation_error(target: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Axis-angle vector [3] (world frame) rotating `current` [3, 3] onto `target` [3, 3]."""
    r = target @ current.T
    angle = np.arccos(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0))
    if angle < 1e-9:
        return np.zeros(3)
    axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    s = np.sin(angle)
    if s < 1e-6:  # angle near pi: take the axis from the symmetric part
        axis = np.sqrt(np.clip((np.diag(r) + 1.0) / 2.0, 0.0, None))
        i = int(np.argmax(axis))
        for j in range(3):
            if j != i and r[i, j] + r[j, i] < 0:
                axis[j] = -axis[j]
        return axis / np.linalg.norm(axis) * angle
    return axis / (2.0 * s) * angle


def yaw_mat(yaw: float) -> np.ndarray:
    """Rotation matrix [3, 3] about the world z axis."""
    return euler_to_mat(np.array([0.0, 0.0, yaw]))


def wrap_angle(a: np.ndarray | float) -> np.ndarray | float:
    """Angle(s) wrapped to [-pi, pi)."""
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def look_at_quat(eye: np.ndarray, target: np.ndarray, up: np.ndarray | None = None) -> np.ndarray:
    """MuJoCo camera quaternion (w, x, y, z) at `eye` looking at `target` (camera looks along its -z); `up` world +z
    unless given."""
    up = np.array([0.0, 0.0, 1.0]) if up is None else up
    fwd = np.asarray(target, float) - np.asarray(eye, float)
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, up)
    right /= np.linalg.norm(right)
    cam_up = np.cross(right, fwd)
    mat = np.stack([right, cam_up, -fwd], axis=1)  # columns: camera x, y, z in world
    return mat_to_quat(mat)


def mat_to_quat(m: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of a rotation matrix [3, 3]."""
    t = np.trace(m)
    if t > 0:
        s = np.sqrt(t + 1.0) * 2
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    q = np.array(q)
    return q / np.linalg.norm(q)


def quat_to_mat(q: np.ndarray) -> np.ndarray:
    """Rotation matrix [3, 3] of a unit quaternion (w, x, y, z)."""
    w, x, y, z = (float(v) for v in q / np.linalg.norm(q))
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def project_points(points: np.ndarray, eye, target, fovy_deg: float, width: int, height: int) -> np.ndarray:
    """Pixel coordinates (u right, v down) [P, 2] of world points [P, 3] in the image of a `look_at_quat` camera
    (MuJoCo's pinhole: vertical field of view `fovy_deg`, square pixels); NaN for points behind the camera."""
    eye = np.asarray(eye, float)
    fwd = np.asarray(target, float) - eye
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    d = np.atleast_2d(np.asarray(points, float)) - eye  # [P, 3]
    x, y, depth = d @ right, d @ up, d @ fwd
    f = 0.5 * height / np.tan(np.deg2rad(fovy_deg) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = np.stack([0.5 * width + f * x / depth, 0.5 * height - f * y / depth], 1)
    uv[depth <= 0] = np.nan
    return uv
