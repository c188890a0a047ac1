"""vjepa-ac: plan robot actions with an action-conditioned V-JEPA world model.

What a notebook or script needs is importable from here (`from vjepa_ac import load_encoder, Agent, ...`). Names are
resolved on first use, so `import vjepa_ac` (and the `vjepa-ac` command) stays quick. The jobs' entry functions keep
their modules' names (`from vjepa_ac.eval.evaluate import evaluate`, `.train`, `.pretrain`, `.collect`): a package
attribute of a submodule's name is rebound to the submodule when it is first imported.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    # the world model
    "load_encoder": "vjepa_ac.models.encoder",
    "FrozenEncoder": "vjepa_ac.models.encoder",
    "load_predictor": "vjepa_ac.models.predictor",
    "save_predictor": "vjepa_ac.models.predictor",
    "ACPredictor": "vjepa_ac.models.predictor",
    "PredictorConfig": "vjepa_ac.models.predictor",
    "LatentWorldModel": "vjepa_ac.planning.world_model",
    "SimWorldModel": "vjepa_ac.planning.truth",
    "OracleWorldModel": "vjepa_ac.planning.truth",
    "EnergyConfig": "vjepa_ac.planning.energy",
    "load_head": "vjepa_ac.models.goal_head",
    "GoalHead": "vjepa_ac.models.goal_head",
    "build_world_model": "vjepa_ac.planning.ladder",
    # what the model believes, in pictures
    "load_decoder": "vjepa_ac.models.decoder",
    "PatchDecoder": "vjepa_ac.models.decoder",
    "episode_pictures": "vjepa_ac.models.decoder",
    # acting and evaluating
    "Agent": "vjepa_ac.planning.agent",
    "AgentConfig": "vjepa_ac.planning.agent",
    "EnvConfig": "vjepa_ac.environment",
    "make_env": "vjepa_ac.environment",
    "EvalConfig": "vjepa_ac.eval.config",
    "TableConfig": "vjepa_ac.eval.table",
    "run_table": "vjepa_ac.eval.table",
    # data and training
    "open_log": "vjepa_ac.data.reader",
    "load_mapping": "vjepa_ac.data.mapping",
    "ClipDataset": "vjepa_ac.data.clips",
    "CollectConfig": "vjepa_ac.collect",
    "EncodeConfig": "vjepa_ac.training.features",
    "encode_dataset": "vjepa_ac.training.features",
    "TrainConfig": "vjepa_ac.training.predictor",
    "PretrainConfig": "vjepa_ac.training.pretrain",
    "DecoderTrainConfig": "vjepa_ac.training.decoder",
    "HeadTrainConfig": "vjepa_ac.training.head",
    "KeyMapping": "vjepa_ac.data.mapping",
    "FrameLook": "vjepa_ac.data.looks",
    "apply_look": "vjepa_ac.data.looks",
    "episode_look": "vjepa_ac.data.looks",
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
