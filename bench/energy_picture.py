"""A picture of each energy around a grasp: what does the planner's landscape look like near the cube?

    python bench/energy_picture.py [--seed 7100] [--encoder default] [--head default] [--camera VIEW] [--out docs/energy_picture.png]

For one grasp scene, the first sub-goal (the open hand around the cube) is the goal. The hand is posed (`set_arm`, the
cube where it lies, the gripper open) on a grid of positions at grasp height, 6 cm either side of the sub-goal's in x
and y (1-cm steps), and along the descent straight above it (0 to 15 cm higher); each view is rendered. Drawn, one
column per energy: the unshaped true-state distance (the ceiling), the raw-pixel L1 (the floor), the encoder's token
L1, and the goal-distance head's energy. Top row: the energy over the grid (the sub-goal's hand position marked +, the
grid's lowest energy marked o); bottom row: the energy against height above the sub-goal's hand. Each energy is
scaled to [0, 1] over its grid, so the shapes compare.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=7100)
    ap.add_argument("--encoder", default="default")
    ap.add_argument("--head", default="default")
    ap.add_argument("--camera", default=None, help="the view the encoder was trained on (default: its own)")
    ap.add_argument("--out", default="docs/energy_picture.png")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from envs import make_panda
    from envs.tasks import GRASP_HEIGHT_OFFSET
    from vjepa_ac.models.encoder import load_encoder, trained_camera
    from vjepa_ac.models.goal_head import load_head
    from vjepa_ac.planning.truth import pixel_l1, state_l1, state_vector

    args.camera = args.camera or trained_camera(args.encoder) or "wide"
    enc = load_encoder(args.encoder)
    head = load_head(args.head, enc)
    env = make_panda("grasp", camera=args.camera).unwrapped
    obs, info = env.reset(seed=args.seed)
    start, yaw = env.goal["object_start"].copy(), float(env.goal["object_yaw"])
    goal_img, goal_st = info["subgoal_images"][0], info["subgoal_states"][0]
    goal_x = state_vector(goal_st["ee_state"], goal_st["object_pos"])
    steps = np.round(np.arange(-0.06, 0.0601, 0.01), 3)
    heights = np.round(np.arange(0.0, 0.1501, 0.01), 3)
    offsets = [np.array([dx, dy, 0.0]) for dy in steps for dx in steps] + [np.array([0.0, 0.0, dz]) for dz in heights]

    views, states = [], []
    for off in offsets:
        def pose(e, off=off):
            e.set_arm(start + [0, 0, GRASP_HEIGHT_OFFSET] + off, np.array([0.0, 0.0, yaw]), closure=0.0)
            e.set_cube(start, yaw)
        img, st = env.inspect_configuration(pose)
        views.append(img)
        states.append(state_vector(st["ee_state"], st["object_pos"]))
    views = np.stack(views)
    z = torch.cat([enc.embed_images(views[i : i + 64]) for i in range(0, len(views), 64)])
    zg = enc.embed_images(goal_img[None])[0]
    energies = {
        "true state (unshaped L1): ceiling": state_l1(torch.stack(states), goal_x).numpy(),
        "raw pixels L1: floor": pixel_l1(views, goal_img).numpy(),
        "encoder tokens L1 (V-JEPA 2-AC's)": (z - zg).abs().mean((1, 2)).numpy(),
        "goal-distance head": head.energy(z, zg).numpy(),
    }
    n = len(steps) ** 2
    fig, axes = plt.subplots(2, len(energies), figsize=(4 * len(energies), 7.2), gridspec_kw={"height_ratios": [1.25, 1]})
    for col, (name, e) in enumerate(energies.items()):
        e = (e - e.min()) / max(1e-12, float(e.max() - e.min()))
        grid = e[:n].reshape(len(steps), len(steps))  # [y, x]
        ax = axes[0, col]
        ax.imshow(grid, origin="lower", extent=[-6.5, 6.5, -6.5, 6.5], cmap="viridis", vmin=0, vmax=1)
        iy, ix = np.unravel_index(int(np.argmin(grid)), grid.shape)
        ax.plot(0, 0, "w+", ms=14, mew=2, label="sub-goal's hand")
        ax.plot(steps[ix] * 100, steps[iy] * 100, "o", mfc="none", mec="red", ms=12, mew=2, label="lowest energy")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("hand x - sub-goal's (cm)")
        if col == 0:
            ax.set_ylabel("hand y - sub-goal's (cm)\nat grasp height")
            ax.legend(loc="upper left", fontsize=7, framealpha=0.7)
        ax = axes[1, col]
        ax.plot(heights * 100, e[n:], "o-")
        ax.set_xlabel("hand height above the sub-goal's (cm)")
        ax.set_ylim(-0.05, 1.05)
        if col == 0:
            ax.set_ylabel("energy (scaled to [0, 1] over the grid)")
        ax.grid(alpha=0.3)
    fig.suptitle(f"Energy to the 'open hand around the cube' sub-goal, grasp scene seed {args.seed} (encoder {args.encoder}, "
                 f"camera {args.camera})", fontsize=11)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"written to {args.out}")
    for name, e in energies.items():
        grid = e[:n].reshape(len(steps), len(steps))
        iy, ix = np.unravel_index(int(np.argmin(grid)), grid.shape)
        print(f"{name}: grid minimum at ({steps[ix] * 100:+.0f}, {steps[iy] * 100:+.0f}) cm; lowest height "
              f"{heights[int(np.argmin(e[n:]))] * 100:.0f} cm above the sub-goal's hand")


if __name__ == "__main__":
    main()
