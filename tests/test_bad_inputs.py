"""Bad and hostile input gets a clear error naming what is wrong, and never damages earlier output.
Each test here is a row of the bad-input table in docs/reliability.md (with the tests it points to elsewhere)."""

from __future__ import annotations

import errno
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import first_fast
import torch
from safetensors.torch import save_file

from vjepa_ac.models.predictor import ACPredictor, PredictorConfig
from vjepa_ac.training.pretrain import MaskSpec, PretrainConfig, check_pretrain_config
from vjepa_ac.training.predictor import TrainConfig, check_config, load_predictor, save_predictor

SMALL = PredictorConfig(embed_dim=16, hidden=32, depth=2, heads=2, grid=2)


@pytest.fixture
def predictor_dir(tmp_path) -> Path:
    torch.manual_seed(0)
    save_predictor(ACPredictor(SMALL), tmp_path / "pred")
    return tmp_path / "pred"


def test_a_predictor_folder_whose_config_is_another_architecture_names_the_key(predictor_dir):
    cfg = json.loads((predictor_dir / "config.json").read_text())
    cfg["predictor"]["depth"] = 3
    (predictor_dir / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(KeyError, match="missing key 'predictor_blocks.2"):
        load_predictor(predictor_dir)


def test_weights_of_the_wrong_dtype_or_with_nan_are_refused(predictor_dir):
    from safetensors.torch import load_file

    state = load_file(str(predictor_dir / "model.safetensors"))
    bad = dict(state, **{"predictor_proj.weight": state["predictor_proj.weight"].to(torch.int32)})
    save_file(bad, str(predictor_dir / "model.safetensors"))
    with pytest.raises(TypeError, match="predictor_proj.weight.*int32"):
        load_predictor(predictor_dir)
    nan = dict(state, **{"predictor_norm.weight": torch.full_like(state["predictor_norm.weight"], float("nan"))})
    save_file(nan, str(predictor_dir / "model.safetensors"))
    with pytest.raises(ValueError, match="predictor_norm.weight.*NaN"):
        load_predictor(predictor_dir)


def test_a_truncated_safetensors_file_is_refused(predictor_dir):
    p = predictor_dir / "model.safetensors"
    p.write_bytes(p.read_bytes()[:1000])
    with pytest.raises(Exception, match="(?i)header|incomplete|invalid|deserializ|too small|metadata"):
        load_predictor(predictor_dir)


@pytest.mark.parametrize("field,value", [("steps", 0), ("frames", 1), ("lr", 0.0), ("val_fraction", 1.0), ("batch_size", -2),
                                         ("change_weight", 1.5), ("change_weight", -0.1),
                                         ("error_weight", 1.5)])
def test_out_of_range_training_settings_are_named(field, value):
    with pytest.raises(ValueError, match=f"{field}="):
        check_config(TrainConfig(**{"features": "cache", field: value}))


@pytest.mark.parametrize("field,value", [("steps", 0), ("masks", []), ("crop_scale", (0.0, 1.0)), ("crop_scale", (0.9, 0.3)),
                                         ("crop_aspect", (2.0, 1.0)), ("masks[1]", MaskSpec(2, 1.5))])
def test_out_of_range_pretraining_settings_are_named(field, value):
    kw = {"masks": [MaskSpec(), value]} if field == "masks[1]" else {field: value}
    with pytest.raises(ValueError, match=re.escape(f"{field}=")):
        check_pretrain_config(PretrainConfig(**kw))


@pytest.mark.parametrize("args,expect", first_fast([
    (["eval", "episodes=0"], "episodes=0"),
    (["eval", "agent.horizon=0"], "agent.horizon=0"),
    (["eval", "planner=icem"], "planner must be"),
    (["eval", "episodes=many"], "episodes"),
    (["collect", "policy=teleop"], "policy must be"),
    (["train", "steps=0"], "steps=0"),
    (["pretrain", "crop_scale=[0.5,2.0]"], "crop_scale="),
]))
def test_out_of_range_or_ill_typed_command_settings_are_named(args, expect, tmp_path):
    r = subprocess.run([sys.executable, "-m", "vjepa_ac.cli", *args, f"out={tmp_path / 'o'}"], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and expect in r.stderr, r.stderr[-1500:]


def test_goal_images_of_the_wrong_type_or_shape_are_named():
    from vjepa_ac.models.encoder import load_encoder
    from vjepa_ac.planning.world_model import LatentWorldModel

    wm = LatentWorldModel(load_encoder("default"), load_predictor("default"))
    with pytest.raises(ValueError, match="uint8"):
        wm.goal(np.zeros((128, 128, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[B, H, W, 3\]"):
        wm.goal(np.zeros((128, 128), np.uint8))
    with pytest.raises(ValueError, match="goal image"):
        wm.goal(None)
    assert wm.goal(np.zeros((96, 160, 3), np.uint8)).z.shape == (64, 192), "any size is resized and cropped"


@pytest.mark.parametrize("code,words", [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "read-only")])
def test_a_full_disk_or_read_only_folder_is_named_and_earlier_output_stays(tmp_path, monkeypatch, code, words):
    from vjepa_ac.io import write_json

    target = tmp_path / "results.json"
    write_json(target, {"kept": True})

    def failing_write(self, data, *a, **kw):
        raise OSError(code, "simulated")

    monkeypatch.setattr(Path, "write_text", failing_write)
    with pytest.raises(OSError, match=f"{target}.*{words}"):
        write_json(target, {"kept": False})
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"kept": True}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"], "no temporary file is left behind"


def test_an_eval_into_a_read_only_folder_fails_clearly(tmp_path, monkeypatch):
    import tempfile

    from vjepa_ac.eval.evaluate import evaluate

    from vjepa_ac.eval.config import EvalConfig

    def read_only(*a, **kw):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(OSError, match="eval_config.json.*read-only"):
        evaluate(EvalConfig(world_model="oracle", episodes=1, out=str(tmp_path / "ro"), workers=1))


def test_inf_values_in_a_dataset_are_refused_with_file_and_frame(small_collection, tmp_path):
    import shutil

    import pyarrow.parquet as pq

    from vjepa_ac.data.reader import open_log

    root = tmp_path / "copy"
    shutil.copytree(small_collection.out, root)
    f = sorted((root / "data").rglob("*.parquet"))[0]
    t = pq.read_table(f)
    col = t.column("observation.state").to_pylist()
    col[2] = [float("inf")] * len(col[2])
    import pyarrow as pa

    t = t.set_column(t.schema.get_field_index("observation.state"), t.schema.field("observation.state"), pa.array(col, t.schema.field("observation.state").type))
    pq.write_table(t, f)
    log = open_log(root)
    with pytest.raises(ValueError, match=r"(?i)non-finite|nan|inf"):
        log.columns(0, ["observation.state"])
