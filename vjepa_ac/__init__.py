"""vjepa-ac: plan robot actions with an action-conditioned V-JEPA world model.

What a notebook or script needs is importable from here (`from vjepa_ac import load_encoder, Agent, ...`). Names are
resolved on first use, so `import vjepa_ac` (and the `vjepa-ac` command) stays quick. The jobs' entry functions keep
their modules' names (`from vjepa_ac.evaluate import evaluate`, `.train`, `.pretrain`, `.collect`): a package
attribute of a submodule's name is rebound to the submodule when it is first imported.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    # the world model
    "load_encoder": "vjepa_ac.encoder",
    "FrozenEncoder": "vjepa_ac.encoder",
    "load_predictor": "vjepa_ac.predictor",
    "save_predictor": "vjepa_ac.predictor",
    "ACPredictor": "vjepa_ac.predictor",
    "PredictorConfig": "vjepa_ac.predictor",
    "LatentWorldModel": "vjepa_ac.world_model",
    "SimWorldModel": "vjepa_ac.world_model",
    "OracleWorldModel": "vjepa_ac.world_model",
    "EnergyConfig": "vjepa_ac.energy",
    "load_head": "vjepa_ac.goal_head",
    "GoalHead": "vjepa_ac.goal_head",
    "build_world_model": "vjepa_ac.ladder",
    # what the model believes, in pictures
    "load_decoder": "vjepa_ac.decoder",
    "PatchDecoder": "vjepa_ac.decoder",
    "episode_pictures": "vjepa_ac.decoder",
    # acting and evaluating
    "Agent": "vjepa_ac.agent",
    "AgentConfig": "vjepa_ac.agent",
    "EnvConfig": "vjepa_ac.environment",
    "make_env": "vjepa_ac.environment",
    "EvalConfig": "vjepa_ac.evaluate",
    "TableConfig": "vjepa_ac.table",
    "run_table": "vjepa_ac.table",
    # data and training
    "open_log": "vjepa_ac.data.reader",
    "load_mapping": "vjepa_ac.data.mapping",
    "ClipDataset": "vjepa_ac.data.clips",
    "CollectConfig": "vjepa_ac.collect",
    "EncodeConfig": "vjepa_ac.features",
    "encode_dataset": "vjepa_ac.features",
    "TrainConfig": "vjepa_ac.train",
    "PretrainConfig": "vjepa_ac.pretrain",
    "DecoderTrainConfig": "vjepa_ac.train_decoder",
    "HeadTrainConfig": "vjepa_ac.train_head",
    "KeyMapping": "vjepa_ac.data.mapping",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vjepa_ac' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
