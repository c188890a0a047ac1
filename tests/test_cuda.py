"""On a GPU (skipped without one): the whole loop on `device=cuda`, bf16 where it pays. Run on a machine with CUDA:
`pytest tests/test_cuda.py`. Tolerances: bf16 keeps 8 bits of mantissa, so cached and recomputed rollouts agree to
about 3e-2 in layer-normed units (float32: 1e-4)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")


def test_cached_rollout_equals_recomputation_on_the_gpu_in_float32_and_bf16():
    from vjepa_ac.models.predictor import ACPredictor, PredictorConfig

    torch.manual_seed(0)
    model = ACPredictor(PredictorConfig(embed_dim=64, hidden=64, depth=2, heads=4, grid=4)).cuda().eval()
    z0, s0, a = torch.randn(8, 16, 64, device="cuda"), torch.randn(8, 7, device="cuda"), 0.1 * torch.randn(8, 4, 7, device="cuda")
    with torch.no_grad():
        torch.testing.assert_close(model.rollout(z0, s0, a), model.rollout(z0, s0, a, use_cache=False), atol=1e-4, rtol=1e-4)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            cached, full = model.rollout(z0, s0, a).float(), model.rollout(z0, s0, a, use_cache=False).float()
    assert float((cached - full).abs().max()) < 3e-2


def test_planners_are_deterministic_under_a_generator_on_the_gpu():
    from planners import CEMConfig, MPPIConfig, cem, mppi

    cost = lambda a: (a - 0.3).pow(2).sum((1, 2))  # noqa: E731
    lo, hi = -torch.ones(4), torch.ones(4)
    for plan, cfg in ((cem, CEMConfig(samples=64, iterations=4, elites=8)), (mppi, MPPIConfig(samples=64, iterations=4, elites=8))):
        runs = [plan(cost, 2, lo, hi, cfg=cfg, generator=torch.Generator("cuda").manual_seed(3), device="cuda").actions for _ in range(2)]
        assert runs[0].device.type == "cuda" and torch.equal(runs[0], runs[1])


def test_eval_runs_end_to_end_on_the_gpu(tmp_path):
    from vjepa_ac.environment import EnvConfig
    from vjepa_ac.eval.evaluate import evaluate
    from vjepa_ac.eval.config import EvalConfig

    cfg = EvalConfig(env=EnvConfig(image_height=64, image_width=64, max_episode_steps=3), episodes=2, workers=1, device="cuda", bf16=True,
                     out=str(tmp_path / "eval"), videos=0, progress=False)
    cfg.agent.cem.samples, cfg.agent.cem.iterations, cfg.agent.cem.elites = 16, 2, 4
    s = evaluate(cfg)
    assert s["episodes"] == 2 and s["errors"] == 0


def test_training_and_pretraining_run_end_to_end_on_the_gpu(small_collection, features, tmp_path):
    from vjepa_ac.models.predictor import PredictorConfig, load_predictor
    from vjepa_ac.training.pretrain import EncoderArch, PretrainConfig, pretrain
    from vjepa_ac.training.predictor import TrainConfig, train

    out = train(TrainConfig(dataset=small_collection.out, features=features, out=str(tmp_path / "pred"), steps=4, batch_size=2, frames=3,
                            warmup=1, device="cuda", bf16=True, predictor=PredictorConfig(hidden=32, depth=1, heads=2)))
    assert np.isfinite(sum(float(p.sum()) for p in load_predictor(out).parameters()))
    enc = pretrain(PretrainConfig(dataset=small_collection.out, out=str(tmp_path / "enc"), steps=3, batch_size=2, frames=2, warmup=1,
                                  device="cuda", bf16=True, arch=EncoderArch(hidden_size=32, layers=1, heads=2, crop_size=64,
                                                                             pred_hidden_size=16, pred_layers=1, pred_heads=2)))
    assert (enc / "model.safetensors").exists()
