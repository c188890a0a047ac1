"""`vjepa-ac <command> [hydra overrides]`: one Hydra app per job, built from one table, configs shipped inside the package.

A command's module is imported only when it runs (its config dataclass is registered with Hydra then), so
`vjepa-ac --help` and every other command start without importing every trainer.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass

CONFIGS = "pkg://vjepa_ac.configs"


@dataclass(frozen=True)
class Command:
    """One job: the module holding its config dataclass and entry point, the YAML naming its defaults, a line of help,
    and what to do with the plain config (call the job, report where its output went)."""

    module: str
    schema: str
    config: str
    help: str
    run: Callable


def _collect(m, c) -> None:
    root = m.collect(c)
    from vjepa_ac.data.reader import open_log

    log = open_log(root)
    frames = sum(e.length for e in log.episodes)
    print(f"{root}: {len(log)} episodes, {frames} frames at {log.fps:g} fps" + (f"; preview video {root / 'preview.mp4'}" if c.preview else ""))


def _written(what: str, fn: str) -> Callable:
    def run(m, c) -> None:
        print(f"{what.format(c=c)} written to {getattr(m, fn)(c)}")
    return run


def _eval(m, c) -> None:
    from vjepa_ac.eval.table import format_cell

    s = m.evaluate(c)
    print(f"{c.out}: {s['task']} {s['row']}: {s['successes']}/{s['episodes']} = {format_cell(s)} per action; "
          f"diverged {s['diverged']}, errors {s['errors']}")
    m.raise_on_crashes({c.out: s}, c.max_error_rate)


def _table(m, c) -> None:
    print(m.run_table(c))
    print(f"\nwritten to {c.out}/table.md; videos in {c.out}/<task>/<policy>/videos/")
    m.crashed_cells(c)


def _tradeoff(m, c) -> None:
    path, text = m.run_tradeoff(c)
    print(text, end="")
    print(f"plot written to {path}")
    m.crashed_points(c)


def _viz(m, c) -> None:
    path = m.record_log_episode(c.dataset, c.episode, c.out, c.mapping, c.decoder, c.encoder, c.predictor, c.ahead)
    print(f"recording written to {path} (open it with `rerun {path}`)" if path else "sent to the Rerun viewer")


def _export(m, c) -> None:
    print(f"predictor {c.predictor} written to {m.export_predictor(m.load_predictor(c.predictor), c.out)} (release layout)")


COMMANDS = {
    "collect": Command("vjepa_ac.collect", "CollectConfig", "collect", "Record scripted-policy episodes into a LeRobot v3.0 dataset.", _collect),
    "pretrain": Command("vjepa_ac.training.pretrain", "PretrainConfig", "pretrain", "Pretrain a small V-JEPA encoder on a log's videos.",
                        _written("encoder", "pretrain")),
    "encode": Command("vjepa_ac.training.features", "EncodeConfig", "encode", "Cache the encoder features of a dataset.",
                      _written("features", "encode_dataset")),
    "train": Command("vjepa_ac.training.predictor", "TrainConfig", "train", "Train or fine-tune the action-conditioned predictor.",
                     _written("predictor", "train")),
    "train-decoder": Command("vjepa_ac.training.decoder", "DecoderTrainConfig", "train_decoder",
                             "Train the decoder probe (tokens to pixels; never used for planning).", _written("decoder", "train_decoder")),
    "train-head": Command("vjepa_ac.training.head", "HeadTrainConfig", "train_head",
                          "Train the readout head: what the energy reads off tokens (the robot's pose and closure).", _written("readout head", "train_head")),
    "train-distance": Command("vjepa_ac.training.distance", "DistanceTrainConfig", "train_distance",
                              "Train the temporal-distance head on the order of frames in play logs (the label-free energy).",
                              _written("temporal-distance head", "train_distance")),
    "train-proposal": Command("vjepa_ac.training.proposal", "ProposalTrainConfig", "train_proposal",
                              "Train a proposal model on play logs: a goal-conditioned policy, or a latent sub-goal model.",
                              _written("{c.kind} proposal model", "train_proposal")),
    "eval": Command("vjepa_ac.eval.evaluate", "EvalConfig", "eval", "Closed-loop evaluation on seeded episodes: results.json, episodes.csv, videos.", _eval),
    "table": Command("vjepa_ac.eval.table", "TableConfig", "table", "The zero-shot table: tasks x rows of the ladder.", _table),
    "tradeoff": Command("vjepa_ac.eval.tradeoff", "TradeoffConfig", "tradeoff", "Success against planning time over CEM budgets (PNG + CSV).", _tradeoff),
    "viz": Command("vjepa_ac.viz", "VizConfig", "viz", "Show a recorded trajectory log in Rerun.", _viz),
    "export": Command("vjepa_ac.models.predictor", "ExportConfig", "export", "Write a predictor in the V-JEPA 2-AC release layout.", _export),
}


def _plain(cfg, schema):
    """The Hydra config as a plain dataclass (OmegaConf objects stay out of library code)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), cfg))


def run_command(name: str) -> None:
    """Import the command's module, register its config schema, and run its Hydra app on sys.argv."""
    import hydra
    from hydra.core.config_store import ConfigStore

    spec = COMMANDS[name]
    module = importlib.import_module(spec.module)
    schema = getattr(module, spec.schema)
    ConfigStore.instance().store(name=f"{spec.config}_schema", node=schema)
    ConfigStore.instance().store(name="job_name", node={"name": spec.config}, package="hydra.job")  # configs/common.yaml

    @hydra.main(version_base="1.3", config_path=CONFIGS, config_name=spec.config)
    def app(cfg) -> None:
        spec.run(module, _plain(cfg, schema))

    app.__doc__ = spec.help
    app()


def merge_main() -> None:
    """`vjepa-ac merge-results FILE_OR_DIR...`: one table from the results.json files of many jobs."""
    from pathlib import Path

    from vjepa_ac.eval.table import merge_results

    paths = []
    for a in sys.argv[1:]:
        p = Path(a)
        paths += sorted(p.rglob("results.json")) if p.is_dir() else [p]
    if not paths:
        print("usage: vjepa-ac merge-results DIR_OR_RESULTS_JSON ...", file=sys.stderr)
        sys.exit(2)
    print(merge_results(paths))


NAMES = [*COMMANDS, "merge-results"]


def main() -> None:
    """Dispatch to the command's Hydra app."""
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        lines = [f"  {n:<15} {COMMANDS[n].help}" for n in COMMANDS] + [f"  {'merge-results':<15} One table from many jobs' results.json."]
        print("usage: vjepa-ac <command> [key=value ...]\ncommands:\n" + "\n".join(lines)
              + "\n`vjepa-ac <command> --cfg job` prints a command's config.")
        sys.exit(0 if len(sys.argv) >= 2 else 2)
    cmd = sys.argv.pop(1)
    if cmd not in NAMES:
        print(f"vjepa-ac: unknown command {cmd!r}; commands: {', '.join(NAMES)}", file=sys.stderr)
        sys.exit(2)
    sys.argv[0] = f"vjepa-ac {cmd}"
    if cmd == "merge-results":
        merge_main()
    else:
        run_command(cmd)


if __name__ == "__main__":
    main()
