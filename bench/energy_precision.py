"""How precisely does the goal energy pin the hand where a grasp needs it?

    python bench/energy_precision.py [--scenes 10] [--seed 500] [--encoder default] [--camera wide]

For each grasp scene, the first grasp sub-goal image (the open hand around the cube) is rendered, then the same scene
with the hand moved off that pose on a grid (x and y from -4 to +4 cm, z 0, +2, +4 cm above; gripper open; the cube
where it is). Each view is encoded, and several energies to the sub-goal's embedding are computed. Printed per energy:
where its minimum over the grid lies when the exact pose itself is left out (median distance from the true pose, cm;
share of scenes within 1 cm, the precision a grasp of the 5-cm cube needs), how often a one-step descent is right
(from each grid pose, the lowest-energy of its neighbours one grid step away is closer to the true pose), separately
for poses within 2 cm and farther, and the Spearman correlation between energy and distance over the grid. A planner
with the true dynamics (`world_model=sim+image`) can only be as precise as this.

Energies (z layer-normed patch embeddings [N, D]): `l1` the mean absolute difference (V-JEPA 2-AC's); `l2` the mean
squared difference; `top8` the mean of the 8 largest per-token L1 differences (of N tokens: where the frames differ);
`pixels` the L1 of the raw frames, for reference. With a two-view framing (`--camera wide+wrist`) the L1 over each
half's tokens and pixels is reported too: which view pins the hand.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def energies(z: torch.Tensor, g: torch.Tensor, frames: np.ndarray, goal_frame: np.ndarray, halves: bool = False) -> dict[str, np.ndarray]:
    """z [M, N, D], g [N, D] -> {name: [M]}; with `halves` (a frame of two stacked views, row-major token grid), also
    the L1 over the top (front) and bottom (wrist) halves' tokens and pixels alone."""
    d = (z - g).abs()  # [M, N, D]
    per_token = d.mean(-1)  # [M, N]
    extra = {}
    if halves:
        n, rows = d.shape[1] // 2, frames.shape[1] // 2
        px = np.abs(frames.astype(np.float32) - goal_frame.astype(np.float32)) / 255.0  # [M, H, W, 3]
        extra = {"l1, front half's tokens": per_token[:, :n].mean(1).numpy(), "l1, wrist half's tokens": per_token[:, n:].mean(1).numpy(),
                 "pixels, front half": px[:, :rows].mean((1, 2, 3)), "pixels, wrist half": px[:, rows:].mean((1, 2, 3))}
    return extra | {
        "l1": d.mean((1, 2)).numpy(),
        "l2": ((z - g) ** 2).mean((1, 2)).numpy(),
        "top8": per_token.topk(min(8, per_token.shape[1]), dim=1).values.mean(1).numpy(),
        "pixels": np.abs(frames.astype(np.float32) - goal_frame.astype(np.float32)).mean((1, 2, 3)) / 255.0,
    }


def main() -> None:
    import envs  # noqa: F401
    from envs.tasks import GRASP_HEIGHT_OFFSET
    from vjepa_ac.models.encoder import load_encoder
    from vjepa_ac.environment import EnvConfig, make_env

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=10)
    ap.add_argument("--seed", type=int, default=500)
    ap.add_argument("--encoder", default="default")
    ap.add_argument("--camera", default=None)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    enc = load_encoder(args.encoder)
    env = make_env(EnvConfig(id="vjepa_ac/PandaGrasp-v0", camera=args.camera)).unwrapped
    xy = np.arange(-0.04, 0.041, 0.01)
    offsets = np.array([(dx, dy, dz) for dz in (0.0, 0.02, 0.04) for dx in xy for dy in xy])  # [M, 3]
    dist = np.linalg.norm(offsets, axis=1)
    gap = np.abs(offsets[:, None] - offsets[None]).max(-1)  # [M, M] grid steps apart (Chebyshev, m)
    neighbours = [np.flatnonzero((gap[i] > 1e-9) & (gap[i] <= 0.02 + 1e-9) & (np.abs(offsets[:, 0] - offsets[i, 0]) <= 0.01 + 1e-9)
                                 & (np.abs(offsets[:, 1] - offsets[i, 1]) <= 0.01 + 1e-9)) for i in range(len(offsets))]
    exact = int(np.argmin(dist))
    res: dict[str, dict[str, list]] = {}
    for s in range(args.scenes):
        env.reset(seed=args.seed + s)
        start, yaw = env.goal["object_start"].copy(), float(env.goal["object_yaw"])

        def pose(off):
            def configure(e):
                e.set_arm(start + [0, 0, GRASP_HEIGHT_OFFSET] + off, np.array([0.0, 0.0, yaw]), closure=0.0)
                e.set_cube(start, yaw)
            return configure

        goal_frame = env.render_configuration(pose(np.zeros(3)))
        frames = np.stack([env.render_configuration(pose(o)) for o in offsets])
        with torch.no_grad():
            g = enc.embed_images(goal_frame[None])[0].cpu()
            z = torch.cat([enc.embed_images(frames[i : i + 64]).cpu() for i in range(0, len(frames), 64)])
        for name, e in energies(z, g, frames, goal_frame, halves=env.wrist_view).items():
            r = res.setdefault(name, {"argmin": [], "rho": [], "near": [], "far": []})
            others = np.delete(np.arange(len(e)), exact)
            r["argmin"].append(dist[others[int(np.argmin(e[others]))]])
            r["rho"].append(spearman(e, dist))
            for i in others:
                best = neighbours[i][int(np.argmin(e[neighbours[i]]))]
                r["near" if dist[i] <= 0.02 + 1e-9 else "far"].append(dist[best] < dist[i] - 1e-9)
    print(f"{args.scenes} grasp scenes (seeds {args.seed}-{args.seed + args.scenes - 1}), encoder {enc.name}, camera {args.camera or 'default'}; "
          f"{len(offsets)} hand poses per scene within 4 cm of the open hand around the cube\n")
    print("| energy | minimum (exact pose left out): median distance | within 1 cm | right descent within 2 cm | farther | Spearman(energy, distance) |")
    print("|---|---|---|---|---|---|")
    for name, r in res.items():
        a = np.array(r["argmin"]) * 100
        print(f"| {name} | {np.median(a):.1f} cm | {100 * np.mean(a <= 1.0 + 1e-6):.0f} % | {100 * np.mean(r['near']):.0f} % | "
              f"{100 * np.mean(r['far']):.0f} % | {np.mean(r['rho']):.2f} |")


if __name__ == "__main__":
    main()
