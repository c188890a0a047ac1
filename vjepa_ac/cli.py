"""`vjepa-ac <command> [hydra overrides]`: one Hydra app per job, configs shipped inside the package."""

from __future__ import annotations

import sys

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from vjepa_ac.collect import CollectConfig, collect
from vjepa_ac.eval.evaluate import EvalConfig
from vjepa_ac.training.features import EncodeConfig
from vjepa_ac.models.predictor import ExportConfig
from vjepa_ac.training.pretrain import PretrainConfig
from vjepa_ac.eval.table import TableConfig
from vjepa_ac.eval.tradeoff import TradeoffConfig
from vjepa_ac.viz import VizConfig
from vjepa_ac.training.predictor import TrainConfig
from vjepa_ac.training.decoder import DecoderTrainConfig
from vjepa_ac.training.head import HeadTrainConfig
from vjepa_ac.training.proposal import ProposalTrainConfig
from vjepa_ac.training.distance import DistanceTrainConfig

CONFIGS = "pkg://vjepa_ac.configs"
ConfigStore.instance().store(name="collect_schema", node=CollectConfig)
ConfigStore.instance().store(name="pretrain_schema", node=PretrainConfig)
ConfigStore.instance().store(name="encode_schema", node=EncodeConfig)
ConfigStore.instance().store(name="train_schema", node=TrainConfig)
ConfigStore.instance().store(name="eval_schema", node=EvalConfig)
ConfigStore.instance().store(name="table_schema", node=TableConfig)
ConfigStore.instance().store(name="tradeoff_schema", node=TradeoffConfig)
ConfigStore.instance().store(name="viz_schema", node=VizConfig)
ConfigStore.instance().store(name="export_schema", node=ExportConfig)
ConfigStore.instance().store(name="train_decoder_schema", node=DecoderTrainConfig)
ConfigStore.instance().store(name="train_head_schema", node=HeadTrainConfig)
ConfigStore.instance().store(name="train_proposal_schema", node=ProposalTrainConfig)
ConfigStore.instance().store(name="train_distance_schema", node=DistanceTrainConfig)


def _plain(cfg: DictConfig, schema):
    """The Hydra config as a plain dataclass (OmegaConf objects stay out of library code)."""
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), cfg))


@hydra.main(version_base="1.3", config_path=CONFIGS, config_name="collect")
def collect_app(cfg: DictConfig) -> None:
    """Record scripted-policy episodes into a LeRobot v3.0 dataset."""
    c: CollectConfig = _plain(cfg, CollectConfig)
    root = collect(c)
    from vjepa_ac.data.reader import open_log

    log = open_log(root)
    frames = sum(e.length for e in log.episodes)
    print(f"{root}: {len(log)} episodes, {frames} frames at {log.fps:g} fps" + (f"; preview video {root / 'preview.mp4'}" if c.preview else ""))


@hydra.main(version_base="1.3", config_path=CONFIGS, config_name="pretrain")
def pretrain_app(cfg: DictConfig) -> None:
    """Pretrain a small V-JEPA encoder on the videos of a trajectory log."""
    from vjepa_ac.training.pretrain import pretrain

    c: PretrainConfig = _plain(cfg, PretrainConfig)
    print(f"encoder written to {pretrain(c)}")


@hydra.main(version_base="1.3", config_path=CONFIGS, config_name="encode")
def encode_app(cfg: DictConfig) -> None:
    """Write the encoder features of a dataset to a cache keyed by the encoder's identity."""
    from vjepa_ac.training.features import encode_dataset

    c: EncodeConfig = _plain(cfg, EncodeConfig)
    print(f"features written to {encode_dataset(c)}")


@hydra.main(version_base="1.3", config_path=CONFIGS, config_name="train")
def train_app(cfg: DictConfig) -> None:
    """Train or fine-tune the action-conditioned predictor on cached features (torchrun for several processes)."""
    from vjepa_ac.training.predictor import train

    c: TrainConfig = _plain(cfg, TrainConfig)
    print(f"predictor written to {train(c)}")


@hydra.main(version_base="1.3", config_path=CONFIGS, config_name="train_decoder")
def train_decoder_app(cfg: DictConfig) -> None:
    """Train the decoder probe (embeddings -> pixels) that shows imagined frames; never used for planning."""
    from vjepa_ac.training.decoder import train_decoder

    c: DecoderTrainConfig = _plain(cfg, DecoderTrainConfig)
    print(f"decoder written to {train_decoder(c)}")


@hydra.main(version_base="1.3", config_path=CONFIGS, config_name="train_head")
def train_head_app(cfg: DictConfig) -> None:
    """Train the goal-distance head: what the planning energy reads off tokens (hand pose, closure, object)."""
    from vjepa_ac.training.head import train_head

    c: HeadTrainConfig = _plain(cfg, HeadTrainConfig)
    print(f"goal head written to {train_head(c)}")


@hydra.main(version_base="1.3", config_path=CONFIGS, config_name="train_proposal")
def train_proposal_app(cfg: DictConfig) -> None:
    """Train a proposal model on play logs: a goal-conditioned policy, or a latent sub-goal model."""
    from vjepa_ac.training.proposal import train_proposal

    c: ProposalTrainConfig = _plain(cfg, ProposalTrainConfig)
    print(f"{c.kind} proposal model written to {train_proposal(c)}")


@hydra.main(version_base="1.3", config_path=CONFIGS, config_name="train_distance")
def train_distance_app(cfg: DictConfig) -> None:
    """Train the temporal-distance head on the order of frames in play logs: the label-free planning energy."""
    from vjepa_ac.training.distance import train_distance

    c: DistanceTrainConfig = _plain(cfg, DistanceTrainConfig)
    print(f"temporal-distance head written to {train_distance(c)}")


@hydra.main(version_base="1.3", config_path=CONFIGS, config_name="eval")
def eval_app(cfg: DictConfig) -> None:
    """Closed-loop evaluation of a policy on seeded episodes: results.json, episodes.csv, videos."""
    from vjepa_ac.eval.evaluate import evaluate, raise_on_crashes
    from vjepa_ac.eval.table import format_cell

    c: EvalConfig = _plain(cfg, EvalConfig)
    s = evaluate(c)
    print(f"{c.out}: {s['task']} {c.policy}{'/' + c.world_model + '/' + c.planner if c.policy == 'planner' else ''}: "
          f"{s['successes']}/{s['episodes']} = {format_cell(s)} per action; diverged {s['diverged']}, errors {s['errors']}")
    raise_on_crashes({c.out: s}, c.max_error_rate)


@hydra.main(version_base="1.3", config_path=CONFIGS, config_name="table")
def table_app(cfg: DictConfig) -> None:
    """The zero-shot table: every task x {default model with CEM, with MPPI, oracle, random, expert}."""
    from vjepa_ac.eval.table import crashed_cells, run_table

    c: TableConfig = _plain(cfg, TableConfig)
    print(run_table(c))
    print(f"\nwritten to {c.out}/table.md; videos in {c.out}/<task>/<policy>/videos/")
    crashed_cells(c)


@hydra.main(version_base="1.3", config_path=CONFIGS, config_name="tradeoff")
def tradeoff_app(cfg: DictConfig) -> None:
    """Success against planning time per action over CEM budgets, as a PNG plot and a CSV."""
    from vjepa_ac.eval.tradeoff import crashed_points, run_tradeoff

    c: TradeoffConfig = _plain(cfg, TradeoffConfig)
    path, text = run_tradeoff(c)
    print(text, end="")
    print(f"plot written to {path}")
    crashed_points(c)


@hydra.main(version_base="1.3", config_path=CONFIGS, config_name="viz")
def viz_app(cfg: DictConfig) -> None:
    """Show a recorded trajectory log in Rerun: frames, end-effector path, states and actions."""
    from vjepa_ac.viz import record_log_episode

    c: VizConfig = _plain(cfg, VizConfig)
    path = record_log_episode(c.dataset, c.episode, c.out, c.mapping, c.decoder, c.encoder, c.predictor, c.ahead)
    print(f"recording written to {path} (open it with `rerun {path}`)" if path else "sent to the Rerun viewer")


@hydra.main(version_base="1.3", config_path=CONFIGS, config_name="export")
def export_app(cfg: DictConfig) -> None:
    """Write a predictor in the V-JEPA 2-AC release layout, for the official code."""
    from vjepa_ac.models.predictor import export_predictor, load_predictor

    c: ExportConfig = _plain(cfg, ExportConfig)
    print(f"predictor {c.predictor} written to {export_predictor(load_predictor(c.predictor), c.out)} (release layout)")


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


COMMANDS = {"collect": collect_app, "pretrain": pretrain_app, "encode": encode_app, "train": train_app, "train-decoder": train_decoder_app,
            "train-head": train_head_app, "train-proposal": train_proposal_app, "train-distance": train_distance_app,
            "eval": eval_app, "table": table_app, "tradeoff": tradeoff_app, "viz": viz_app, "export": export_app, "merge-results": merge_main}


def main() -> None:
    """Dispatch to the command's Hydra app."""
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print("usage: vjepa-ac <command> [key=value ...]\ncommands: " + ", ".join(COMMANDS) + "\n`vjepa-ac <command> --cfg job` prints a command's config.")
        sys.exit(0 if len(sys.argv) >= 2 else 2)
    cmd = sys.argv.pop(1)
    if cmd not in COMMANDS:
        print(f"vjepa-ac: unknown command {cmd!r}; commands: {', '.join(COMMANDS)}", file=sys.stderr)
        sys.exit(2)
    sys.argv[0] = f"vjepa-ac {cmd}"
    COMMANDS[cmd]()


if __name__ == "__main__":
    main()
