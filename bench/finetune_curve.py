"""Fine-tuning on a robot's own logs, against training from scratch: success against the number of episodes.

For each number of training episodes N, two predictors are trained on the first N episodes of a play dataset (the
same held-out episodes for every N, the same steps and batch): one fine-tuned from a shipped predictor (`--init`,
the Panda's default), one from scratch with the same architecture. Each is then evaluated zero-shot on the tasks
(`vjepa-ac eval`, the env's default energy head). Every run and evaluation resumes where it stopped; the table
(Markdown, with the held-out teacher-forced and rollout L1 of each predictor) and the plot are written at the end.

    python bench/finetune_curve.py --dataset data/jaco_play --features features/e620523bcf7256ff \
        --mapping jaco_sim --episodes 10 30 100 --tasks reach_site --out runs/curve
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from vjepa_ac.environment import EnvConfig
from vjepa_ac.eval.evaluate import evaluate
from vjepa_ac.eval.config import EvalConfig
from vjepa_ac.models.predictor import PredictorConfig
from vjepa_ac.eval.results import wilson
from vjepa_ac.eval.table import TASK_ENVS
from vjepa_ac.training.predictor import TrainConfig, train


def run_name(init: str | None, n: int) -> str:
    return f"{'init' if init else 'scratch'}_{n}"


def train_config(args, init: str | None, n: int) -> TrainConfig:
    """The predictor of one point: fine-tuned from `init`, or from scratch (a residual predictor of the default's size)."""
    pred = PredictorConfig(hidden=192, depth=4, heads=6, residual=init is None)
    return TrainConfig(dataset=args.dataset, mapping=args.mapping, features=args.features, out=str(Path(args.out) / run_name(init, n)),
                       steps=args.steps, batch_size=16, frames=4, seed=args.seed, init=init, train_episodes=n, predictor=pred)


def held_out(run: Path) -> tuple[float, float]:
    """The last validation's teacher-forced and rollout L1 in a run's log."""
    rows = [r for r in csv.DictReader(open(run / "log.csv")) if r["val_teacher_forced"] not in ("", "nan")]
    return float(rows[-1]["val_teacher_forced"]), float(rows[-1]["val_rollout"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--features", required=True, help="the feature cache of the shipped encoder (`vjepa-ac encode`)")
    ap.add_argument("--mapping", default="jaco_sim")
    ap.add_argument("--episodes", type=int, nargs="+", default=[10, 30, 100])
    ap.add_argument("--init", default="default", help="the predictor fine-tuned from (default: the Panda's)")
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--tasks", nargs="+", default=["reach_site"])
    ap.add_argument("--eval-episodes", type=int, default=10)
    ap.add_argument("--eval-seed", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/curve")
    ap.add_argument("--plot", default=None, help="the PNG (default: OUT/curve.png)")
    args = ap.parse_args()
    for task in args.tasks:
        if task not in TASK_ENVS:
            raise SystemExit(f"--tasks: unknown task {task!r}; known: {sorted(TASK_ENVS)}")

    points = []  # (init, n, task, successes, episodes, teacher-forced L1, rollout L1)
    for n in args.episodes:
        for init in (args.init, None):
            cfg = train_config(args, init, n)
            train(cfg)
            tf, ro = held_out(Path(cfg.out))
            for task in args.tasks:
                ev = EvalConfig(env=EnvConfig(id=TASK_ENVS[task]), world_model=str(Path(cfg.out) / "predictor"), episodes=args.eval_episodes,
                                seed=args.eval_seed, out=str(Path(args.out) / "eval" / task / run_name(init, n)), workers=1, threads=1, videos=0)
                s = evaluate(ev)
                points.append((init, n, task, s["successes"], s["episodes"], tf, ro))

    lines = ["| episodes | start | " + " | ".join(args.tasks) + " | held-out L1 (teacher-forced / 2-step rollout) |",
             "|---|---|" + "---|" * len(args.tasks) + "---|"]
    for n in args.episodes:
        for init in (args.init, None):
            cells = [p for p in points if p[0] == init and p[1] == n]
            succ = [f"{k} of {e} [{100 * wilson(k, e)[0]:.0f}-{100 * wilson(k, e)[1]:.0f} %]" for _, _, _, k, e, _, _ in cells]
            tf, ro = cells[0][5], cells[0][6]
            lines.append(f"| {n} | {'fine-tuned from ' + init if init else 'scratch'} | " + " | ".join(succ) + f" | {tf:.3f} / {ro:.3f} |")
    table = "\n".join(lines) + "\n"
    (Path(args.out) / "curve.md").write_text(table)
    (Path(args.out) / "curve.json").write_text(json.dumps(points, indent=1))
    print(table)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(args.tasks) + 1, figsize=(4.2 * (len(args.tasks) + 1), 3.4))
    for init, style in ((args.init, "o-"), (None, "s--")):
        label = f"fine-tuned from {init}" if init else "from scratch"
        for ax, task in zip(axes, args.tasks):
            pts = [p for p in points if p[0] == init and p[2] == task]
            ax.plot([p[1] for p in pts], [100 * p[3] / p[4] for p in pts], style, label=label)
            ax.set(title=f"{task}: success ({args.eval_episodes} episodes)", xlabel="training episodes", ylabel="%", xscale="log", ylim=(-5, 105))
        pts = [p for p in points if p[0] == init and p[2] == args.tasks[0]]
        axes[-1].plot([p[1] for p in pts], [p[6] for p in pts], style, label=label)
        axes[-1].set(title="held-out 2-step rollout L1", xlabel="training episodes", xscale="log")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    plot = Path(args.plot or Path(args.out) / "curve.png")
    fig.savefig(plot, dpi=110)
    print(f"wrote {plot} and {Path(args.out) / 'curve.md'}")


if __name__ == "__main__":
    main()
