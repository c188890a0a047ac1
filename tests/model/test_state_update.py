"""How a robot's state follows from its action, as the key mapping says: V-JEPA 2-AC's pose deltas, additive (joint
positions and velocities), or a state head learned with the predictor; so robots other than a 7-D end-effector arm plan."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

import vjepa_ac.training.predictor as tr
from vjepa_ac.data.mapping import KeyMapping
from vjepa_ac.models.predictor import ACPredictor, PredictorConfig, export_predictor, load_predictor


def _model(**kw) -> ACPredictor:
    return ACPredictor(PredictorConfig(embed_dim=16, hidden=16, depth=1, heads=2, grid=2, **kw)).eval()


def test_pose_delta_is_v_jepa_2_acs_integration_and_refuses_other_widths():
    m = _model()
    s, a = torch.tensor([[0.4, 0.0, 0.2, 0.0, 0.0, 0.1, 0.0]]), torch.tensor([[0.05, -0.02, 0.0, 0.0, 0.0, 0.2, 1.0]])
    torch.testing.assert_close(m.next_state(s, a), torch.tensor([[0.45, -0.02, 0.2, 0.0, 0.0, 0.3, 1.0]]))
    m9 = _model(state_dim=9, action_dim=9)
    with pytest.raises(ValueError, match="additive or learned"):
        m9.rollout(torch.zeros(1, 4, 16), torch.zeros(1, 9), torch.zeros(1, 2, 9))


def test_additive_states_move_by_step_times_action_along_a_rollout():
    m = _model(state_dim=9, action_dim=9, state_update="additive", state_step=0.1)
    s0, a = torch.zeros(2, 9), torch.ones(2, 3, 9)
    s1 = m.next_state(s0, a[:, 0])
    torch.testing.assert_close(s1, torch.full((2, 9), 0.1))
    assert m.rollout(torch.zeros(2, 4, 16), s0, a).shape == (2, 3, 4, 16)
    with pytest.raises(ValueError, match="action_dim must equal state_dim"):
        PredictorConfig(state_dim=9, action_dim=7, state_update="additive")
    with pytest.raises(ValueError, match="state_update must be one of"):
        PredictorConfig(state_update="joints")


def test_the_mapping_names_a_bad_state_update():
    with pytest.raises(ValueError, match="mapping state_update must be one of"):
        KeyMapping(state_update="velocity")
    with pytest.raises(ValueError, match="mapping state_update=additive"):
        KeyMapping(state_dim=9, action_dim=7, state_update="additive")


def _mapping(tmp_path, update: str, step: float = 1.0) -> str:
    text = Path(__file__).resolve().parents[2].joinpath("vjepa_ac/configs/data/panda_sim.yaml").read_text()
    path = tmp_path / f"{update}.yaml"
    path.write_text(text + f"\nstate_update: {update}\nstate_step: {step}\n")
    return str(path)


def _cfg(small_collection, features, out, mapping, **kw) -> tr.TrainConfig:
    return tr.TrainConfig(dataset=small_collection.out, features=features, out=str(out), frames=4, auto_steps=2, batch_size=8,
                          warmup=2, checkpoint_every=50, val_every=50, device="cpu", seed=1, mapping=mapping,
                          predictor=PredictorConfig(hidden=32, depth=1, heads=2), **kw)


def test_a_learned_state_head_trains_with_the_predictor_and_beats_nothing_moves(small_collection, features, tmp_path):
    out = tr.train(_cfg(small_collection, features, tmp_path / "learned", _mapping(tmp_path, "learned"), steps=150, lr=3e-3))
    model = load_predictor(out)
    assert model.cfg.state_update == "learned" and hasattr(model, "state_head")
    rows = list(csv.DictReader(open(Path(out).parent / "log.csv")))
    assert float(rows[-1]["state"]) < 0.5 * float(rows[0]["state"]), "the state loss falls"
    data = tr.Episodes(_cfg(small_collection, features, tmp_path / "x", _mapping(tmp_path, "learned"), steps=1))
    s, a = torch.cat([x[:-1] for x in data.state]), torch.cat([x[:-1] for x in data.action])
    nxt = torch.cat([x[1:] for x in data.state])
    with torch.no_grad():
        learned = (model.next_state(s, a) - nxt).abs().mean()
    assert learned < 0.8 * (s - nxt).abs().mean(), "the learned next state beats 'nothing moves' on its data"
    with pytest.raises(ValueError, match="no equivalent in the V-JEPA 2-AC release"):
        export_predictor(model, tmp_path / "learned.pt")


def test_the_mapping_decides_the_state_update_and_fine_tuning_keeps_it(small_collection, features, tmp_path):
    out = tr.train(_cfg(small_collection, features, tmp_path / "add", _mapping(tmp_path, "additive", 0.5), steps=2))
    assert (load_predictor(out).cfg.state_update, load_predictor(out).cfg.state_step) == ("additive", 0.5)
    with pytest.raises(ValueError, match="integrates states by state_update=additive"):
        tr.train(_cfg(small_collection, features, tmp_path / "ft", "panda_sim", steps=2, init=str(out)))
    bad = _cfg(small_collection, features, tmp_path / "bad", "panda_sim", steps=2)
    bad.predictor.state_update = "learned"
    with pytest.raises(ValueError, match="set it in the mapping"):
        tr.train(bad)
