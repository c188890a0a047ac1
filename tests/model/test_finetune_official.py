"""Fine-tuning V-JEPA 2-AC as released: an official-layout encoder (.pt) and predictor (vjepa2-ac-vitg.pt layout),
encoded on the fly, the first blocks frozen, activations recomputed, a flat schedule; exported back to the release layout."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from transformers import VJEPA2Config, VJEPA2Model

import vjepa_ac.models.encoder as encoder_module
import vjepa_ac.models.predictor as predictor_module
import vjepa_ac.training.predictor as tr
from vjepa_ac.models.encoder import hf_to_original
from vjepa_ac.models.predictor import ACPredictor, PredictorConfig, export_predictor, load_predictor
from vjepa_ac.training.schedule import learning_rate


@pytest.fixture
def official(tmp_path, monkeypatch):
    """A tiny encoder in the original release layout (256-px frames, 16-px patches: 256 tokens, as ViT-g) and a
    predictor for it written by `export_predictor` in the vjepa2-ac-vitg.pt layout."""
    monkeypatch.setitem(encoder_module.HEADS_BY_WIDTH, 48, 2)  # the release files do not store heads; ViT-g's are in the tables
    monkeypatch.setitem(predictor_module.HEADS_BY_WIDTH, 32, 2)
    torch.manual_seed(0)
    enc = VJEPA2Model(VJEPA2Config(hidden_size=48, num_attention_heads=2, num_hidden_layers=1, crop_size=256, patch_size=16, tubelet_size=2))
    state = hf_to_original(enc.state_dict())
    torch.save({"encoder": state, "target_encoder": state}, tmp_path / "vitg.pt")
    pred = ACPredictor(PredictorConfig(embed_dim=48, hidden=32, depth=3, heads=2, grid=16))
    export_predictor(pred, tmp_path / "vjepa2-ac-vitg.pt")
    return tmp_path / "vitg.pt", tmp_path / "vjepa2-ac-vitg.pt"


def test_the_official_predictor_fine_tunes_from_release_files(small_collection, official, tmp_path):
    enc_path, pred_path = official
    cfg = tr.TrainConfig(dataset=small_collection.out, encoder=str(enc_path), init=str(pred_path), out=str(tmp_path / "ft"),
                         freeze_layers=2, activation_checkpointing=True, schedule="constant", frames=3, batch_size=2, steps=3,
                         warmup=1, lr=1e-3, val_every=3, checkpoint_every=3, device="cpu")
    out = tr.train(cfg)
    before = load_predictor(pred_path).state_dict()
    after = load_file(str(out / "model.safetensors"))
    for k, v in before.items():
        frozen = k.split(".")[0] in ("predictor_embed", "action_encoder", "state_encoder") or k.startswith(("predictor_blocks.0.", "predictor_blocks.1."))
        assert torch.equal(v, after[k]) == frozen, f"{k}: {'changed though frozen' if frozen else 'did not train'}"
    export_predictor(load_predictor(out), tmp_path / "tuned.pt")  # back to the release layout
    tuned = load_predictor(tmp_path / "tuned.pt")
    for k, v in after.items():
        torch.testing.assert_close(tuned.state_dict()[k], v, atol=0, rtol=0)


def test_activation_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    model = ACPredictor(PredictorConfig(embed_dim=16, hidden=16, depth=2, heads=2, grid=2)).train()
    z, s, a = torch.randn(2, 3, 4, 16), torch.randn(2, 3, 7), torch.randn(2, 3, 7)

    def grads(checkpointing: bool) -> dict:
        model.zero_grad()
        model.activation_checkpointing = checkpointing
        model(z, s, a).square().mean().backward()
        return {k: p.grad.clone() for k, p in model.named_parameters()}

    plain, recomputed = grads(False), grads(True)
    for k in plain:
        torch.testing.assert_close(plain[k], recomputed[k], atol=1e-6, rtol=1e-5)


def test_schedules_warm_up_then_decay_or_hold():
    lr = {s: [learning_rate(s, t, 1.0, 0.1, 2, 10) for t in range(11)] for s in ("cosine", "linear", "constant")}
    for s in lr:
        assert lr[s][:2] == [0.5, 1.0], s
    assert lr["constant"][10] == 1.0 and lr["linear"][10] == pytest.approx(0.1) and lr["cosine"][10] == pytest.approx(0.1)
    assert lr["linear"][6] == pytest.approx(0.55)
    with pytest.raises(ValueError, match="schedule"):
        tr.check_config(tr.TrainConfig(features="x", schedule="step"))


def test_freezing_more_blocks_than_there_are_is_refused(small_collection, features, tmp_path):
    with pytest.raises(ValueError, match="freeze_layers=9 but the predictor has 2 blocks"):
        tr.train(tr.TrainConfig(dataset=small_collection.out, features=features, out=str(tmp_path / "x"), freeze_layers=9, steps=1,
                                device="cpu", predictor=PredictorConfig(hidden=16, depth=2, heads=2)))
