"""The action-conditioned predictor: block-causal, cached rollouts equal full recomputation, shapes checked."""

from __future__ import annotations

import pytest
import torch

from vjepa_ac.models.predictor import ACPredictor, PredictorConfig, integrate_state

CFG = PredictorConfig(embed_dim=24, hidden=48, depth=2, heads=4, grid=3)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return ACPredictor(CFG).eval()


def _inputs(b=2, t=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, t, 9, 24, generator=g), torch.randn(b, t, 7, generator=g), torch.randn(b, t, 7, generator=g)


def test_a_step_never_sees_the_future(model):
    z, s, a = _inputs()
    out = model(z, s, a)
    z2, s2, a2 = z.clone(), s.clone(), a.clone()
    z2[:, 2:] += 1.0
    s2[:, 2:] -= 1.0
    a2[:, 3] *= -1
    out2 = model(z2, s2, a2)
    torch.testing.assert_close(out2[:, :2], out[:, :2], atol=1e-6, rtol=0)
    assert not torch.allclose(out2[:, 2:], out[:, 2:])


def test_actions_and_states_change_the_prediction(model):
    z, s, a = _inputs()
    assert not torch.allclose(model(z, s, a), model(z, s, a + 0.5))
    assert not torch.allclose(model(z, s, a), model(z, s + 0.5, a))


def test_cached_rollout_equals_recomputing_the_past(model):
    z, s, a = _inputs(b=3, t=5)
    with torch.no_grad():
        fast = model.rollout(z[:, 0], s[:, 0], a, use_cache=True)
        slow = model.rollout(z[:, 0], s[:, 0], a, use_cache=False)
    assert fast.shape == (3, 5, 9, 24)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=0)


def test_rollout_step_one_is_the_teacher_forced_prediction(model):
    z, s, a = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(model.rollout(z[:, 0], s[:, 0], a[:, :1])[:, 0], model(z[:, :1], s[:, :1], a[:, :1])[:, 0], atol=1e-5, rtol=0)


def test_state_integration_adds_the_pose_delta_and_maps_the_gripper_command():
    s = torch.tensor([[0.4, 0.0, 0.2, 0.0, 0.0, 0.1, 0.0]])
    a = torch.tensor([[0.05, -0.02, 0.0, 0.0, 0.0, 0.2, 1.0]])
    torch.testing.assert_close(integrate_state(s, a), torch.tensor([[0.45, -0.02, 0.2, 0.0, 0.0, 0.3, 1.0]]))


def test_wrong_shapes_are_named(model):
    z, s, a = _inputs()
    with pytest.raises(ValueError, match=r"z must be \[B, T, 9, 24\]"):
        model(z[..., :5], s, a)
    with pytest.raises(ValueError, match="state must be"):
        model(z, s[..., :6], a)


def test_official_release_layout_loads_with_parity(model, tmp_path):
    from vjepa_ac.models.predictor import load_official_predictor

    state = {"module." + k: v for k, v in model.state_dict().items()}  # the release wraps keys in DDP's module.
    state["module.extrinsics_encoder.weight"] = torch.zeros(48, 6)  # present in the release, unused without extrinsics
    state["module.extrinsics_encoder.bias"] = torch.zeros(48)
    torch.save({"predictor": state, "encoder": {}, "epoch": 315}, tmp_path / "vjepa2-ac-vitg.pt")
    loaded = load_official_predictor(tmp_path / "vjepa2-ac-vitg.pt", grid=3, heads=4)
    z, s, a = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(loaded(z, s, a), model(z, s, a), atol=1e-5, rtol=0)
    assert loaded.cfg == CFG


def test_official_layout_shape_mismatch_names_the_key(model, tmp_path):
    from vjepa_ac.models.predictor import load_official_predictor

    state = dict(model.state_dict())
    state["predictor_blocks.1.attn.qkv.weight"] = torch.zeros(10, 48)
    torch.save({"predictor": state}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=r"predictor_blocks\.1\.attn\.qkv\.weight.*\(10, 48\).*\(144, 48\)"):
        load_official_predictor(tmp_path / "bad.pt", grid=3, heads=4)


# The official VisionTransformerPredictorAC's state dict (facebookresearch/vjepa2, src/models/ac_predictor.py): keys
# per block, and the outer layers, extrinsics encoder included (it exists even when extrinsics are not used).
OFFICIAL_BLOCK = ["norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2"]
OFFICIAL_OUTER = ["predictor_embed", "action_encoder", "state_encoder", "extrinsics_encoder", "predictor_norm", "predictor_proj"]


def test_export_writes_the_release_layout_and_loads_back(model, tmp_path):
    import shutil
    import subprocess

    from vjepa_ac.models.predictor import export_predictor, load_predictor, save_predictor

    path = export_predictor(model, tmp_path / "out" / "finetuned.pt")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)  # weights only: no code, no config
    assert list(ckpt) == ["predictor"]
    names = {f"module.{n}.{p}" for n in OFFICIAL_OUTER for p in ("weight", "bias")}
    names |= {f"module.predictor_blocks.{i}.{n}.{p}" for i in range(CFG.depth) for n in OFFICIAL_BLOCK for p in ("weight", "bias")}
    assert set(ckpt["predictor"]) == names  # what the official module's load_state_dict(strict=True) expects
    assert ckpt["predictor"]["module.extrinsics_encoder.weight"].shape == (CFG.hidden, CFG.action_dim - 1)
    back = load_predictor(path, grid=3, heads=4)
    z, s, a = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(back(z, s, a), model(z, s, a), atol=0, rtol=0)
    # the command line does the same from a folder of ours
    save_predictor(model, tmp_path / "ours")
    exe = shutil.which("vjepa-ac")
    if exe:
        r = subprocess.run([exe, "export", f"predictor={tmp_path / 'ours'}", f"out={tmp_path / 'cli.pt'}"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        again = torch.load(tmp_path / "cli.pt", weights_only=True)["predictor"]
        for k, v in ckpt["predictor"].items():
            torch.testing.assert_close(again[k], v, atol=0, rtol=0)
