"""Does the energy prefer the logged move? On held-out episodes of a robot log, toward the frame `--ahead` steps on
as the goal image, the planner's energy of the imagined outcome of the logged action against `--alternatives`
uniform random actions (the planned dims, the gripper open or closed, as the random policy and a binary-gripper
planner draw them).

    python bench/logged_move_rank.py --dataset DIR --mapping NAME --world-model default-ur5e [--ahead 5] [--episodes 20]

Prints, per world model (the named one and `nothing-moves`, the same energy on a predictor that imagines nothing):
- move rank: the share of random actions the energy scores worse than the logged one, ties counted half (0.5: chance
  or no preference; 1: always the logged);
- falls: the share of steps on which the energy of the real frame falls toward the goal (the logged moves are progress
  when the log is an expert's).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--mapping", required=True)
    ap.add_argument("--world-model", default="default")
    ap.add_argument("--ahead", type=int, default=5)
    ap.add_argument("--episodes", type=int, default=20, help="the log's last episodes (held out by the trainers)")
    ap.add_argument("--every", type=int, default=3)
    ap.add_argument("--alternatives", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from vjepa_ac.data.mapping import load_mapping
    from vjepa_ac.data.reader import open_log
    from vjepa_ac.models.predictor import load_predictor
    from vjepa_ac.planning.energy import EnergyConfig
    from vjepa_ac.planning.ladder import build_world_model
    from vjepa_ac.planning.truth import OracleConfig
    from vjepa_ac.planning.world_model import LatentContext, NothingMoves

    torch.set_grad_enabled(False)
    log, mapping = open_log(args.dataset), load_mapping(args.mapping)
    episodes = list(range(len(log)))[-args.episodes:]
    rng = np.random.default_rng(args.seed)

    model = build_world_model(args.world_model, "default", EnergyConfig(), OracleConfig(), "cpu")
    logs = []  # per held-out episode: states [T, S], actions [T, A], embeddings [T, N, D] (encoded once for both models)
    for e in episodes:
        state, action = mapping.read(log, e)
        logs.append((state, action, model.embed(log.frames(e, mapping.camera, 0, len(state)))))

    def context(z, s):
        return LatentContext(z, torch.as_tensor(s), model.energy.read(z))

    # the named predictor, then the same one with its output replaced by its input (the same heads either way)
    for name, predictor in ((args.world_model, model.predictor), ("nothing-moves", NothingMoves(load_predictor(args.world_model)))):
        model.predictor = predictor
        ranks, falls = [], []
        for state, action, z in logs:
            lo, hi = action.min(0), action.max(0)
            for t in range(0, len(state) - args.ahead - 1, args.every):
                g = model.goal_from_tokens(z[t + args.ahead])
                ctx = context(z[t], state[t])
                alt = rng.uniform(lo, hi, (args.alternatives, action.shape[1])).astype(np.float32)
                alt[:, -1] = np.where(alt[:, -1] > 0, 1.0, -1.0)
                cands = torch.as_tensor(np.concatenate([action[t][None], alt]))[:, None]  # [1 + K, 1, A]
                cost = model.cost(ctx, g, cands)
                ranks.append(float((cost[1:] > cost[0]).float().mean() + 0.5 * (cost[1:] == cost[0]).float().mean()))
                falls.append(model.distance(context(z[t + 1], state[t + 1]), g) < model.distance(ctx, g))
        print(f"{name}: move rank {np.mean(ranks):.2f} (chance 0.5) over {len(ranks)} steps of {len(episodes)} episodes, "
              f"goal {args.ahead} steps on; the real frame's energy falls on {np.mean(falls):.0%} of them")


if __name__ == "__main__":
    main()
