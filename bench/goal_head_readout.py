"""How well does a goal-distance head read the goal images it will be given? Its error on the sub-goal images of fresh
scenes, per readout coordinate.

    python bench/goal_head_readout.py [--encoder default] [--head default] [--camera wide+wrist] [--scenes 20] [--seed 9000]

For each fresh grasp and pick-and-place scene (seeds `--seed` on), every sub-goal image (grasp: the open hand around
the cube, the cube held, lifted; pick-and-place adds carried above the target and placed) is read by the head and
compared with the sub-goal's true state. Printed per sub-goal: the mean signed error (the head's bias) and the mean
absolute error of the hand's x, y, z (m), yaw (rad), closure, and the cube's x, y, z (m). A bias common to the goal
image and the frames near it cancels in the anchored energy (`energy.anchor`); what differs between them does not.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

COORDS = ["x", "y", "z", "yaw", "closure", "cube x", "cube y", "cube z"]
PICK = [0, 1, 2, 5, 6, 7, 8, 9]  # of the readout: x y z roll pitch yaw gripper object_x object_y object_z
STAGES = {"grasp": ["open hand around the cube", "cube held", "lifted"],
          "pick_place": ["open hand around the cube", "cube held", "lifted", "carried above the target", "placed"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", default="default")
    ap.add_argument("--head", default="default")
    ap.add_argument("--camera", default=None, help="the view the encoder was trained on (default: its own)")
    ap.add_argument("--scenes", type=int, default=20)
    ap.add_argument("--seed", type=int, default=9000)
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    from envs import make_panda
    from vjepa_ac.models.encoder import load_encoder, trained_camera
    from vjepa_ac.models.goal_head import load_head

    enc = load_encoder(args.encoder)
    head = load_head(args.head, enc)
    camera = args.camera or trained_camera(args.encoder) or "wide"
    print(f"encoder {args.encoder}, head {args.head}, camera {camera}; {args.scenes} scenes from seed {args.seed}\n")
    print("| task | sub-goal | " + " | ".join(f"{c}: bias / abs" for c in COORDS) + " |")
    print("|---|---|" + "---|" * len(COORDS))
    for task, stages in STAGES.items():
        env = make_panda(task, camera=camera)
        errs: dict[int, list[np.ndarray]] = {}
        for seed in range(args.seed, args.seed + args.scenes):
            _, info = env.reset(seed=seed)
            for k, (img, st) in enumerate(zip(info["subgoal_images"], info["subgoal_states"])):
                r = head(enc.embed_images(img[None]))[0].numpy()
                truth = np.r_[st["ee_state"], st["object_pos"]]
                errs.setdefault(k, []).append((r - truth)[PICK])
        env.close()
        for k, e in errs.items():
            e = np.array(e)
            cells = [f"{b:+.3f} / {a:.3f}" for b, a in zip(e.mean(0), np.abs(e).mean(0))]
            print(f"| {task} | {stages[k]} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
