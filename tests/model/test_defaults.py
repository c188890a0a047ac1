"""The world model that ships inside the package loads offline and runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

import torch

from vjepa_ac.models.encoder import default_encoder_dir, load_encoder
from vjepa_ac import load_predictor


def test_default_encoder_loads_offline_and_encodes_a_camera_frame():
    enc = load_encoder("default")
    z = enc.encode(torch.randint(0, 256, (1, 2, 3, 128, 128), dtype=torch.uint8))
    assert z.shape == (1, 2, enc.num_patches, enc.dim) and torch.isfinite(z).all()
    assert not any(p.requires_grad for p in enc.parameters())
    recipe = json.loads((default_encoder_dir() / "training.json").read_text())
    arch = recipe["config"]["arch"]  # the recipe describes the weights that load
    assert (enc.dim, enc.num_patches) == (arch["hidden_size"], (arch["crop_size"] // arch["patch_size"]) ** 2)


def test_default_predictor_matches_the_default_encoder_and_rolls_out():
    enc, pred = load_encoder("default"), load_predictor("default")
    assert (pred.cfg.tokens, pred.cfg.embed_dim) == (enc.num_patches, enc.dim)
    z0 = enc.encode(torch.zeros(3, 1, 3, 128, 128, dtype=torch.uint8))[:, 0]
    out = pred.rollout(z0, torch.zeros(3, 7), torch.zeros(3, 2, 7))
    assert out.shape == (3, 2, enc.num_patches, enc.dim) and torch.isfinite(out).all()


def test_an_evaluation_renders_the_view_the_default_encoder_was_trained_on():
    """The default eval settings pass the view check (`prepare_env`) without any camera option: the env renders the
    encoder's own view."""
    from vjepa_ac.environment import env_camera, prepare_env
    from vjepa_ac.eval.config import EvalConfig
    from vjepa_ac.models.encoder import trained_camera

    cfg = EvalConfig()
    prepare_env(cfg.env, cfg.encoder, plans_on_tokens=True)
    assert trained_camera("default") == env_camera(cfg.env) == cfg.env.camera
    env = json.loads((default_encoder_dir() / "training.json").read_text())["env"]
    assert env["image_height"] == cfg.env.image_height


def test_the_default_decoder_reads_the_default_encoder_and_draws_its_frames():
    from vjepa_ac.models.decoder import load_decoder, psnr, to_float

    enc = load_encoder("default")
    dec = load_decoder("default", encoder=enc)  # refuses another encoder's decoder
    assert dec.meta["encoder"] == enc.identity() and dec.meta["val_psnr"] > 25  # its held-out fidelity, from training
    frame = np.zeros((1, 128, 128, 3), np.uint8)
    frame[:, 64:] = (120, 80, 50)  # a table-coloured lower half
    pic = dec.images(enc.embed_images(frame))
    assert pic.shape == (1, 128, 128, 3) and float(psnr(to_float(pic), to_float(frame))) > 12


@pytest.mark.slow
def test_each_robot_plans_with_its_own_default_unless_one_is_named():
    """`world_model=default` is the default of the env's robot (its predictor and head); `default-panda` and
    `default-jaco` name one explicitly, on any env (the Panda's on the Jaco: zero-shot across embodiments)."""
    import gymnasium as gym

    import envs  # noqa: F401
    from vjepa_ac.models.weights import weights_dir
    from vjepa_ac.planning.energy import EnergyConfig
    from vjepa_ac.planning.ladder import build_world_model
    from vjepa_ac.planning.truth import OracleConfig

    def parts(world_model, env):
        m = build_world_model(world_model, "default", EnergyConfig(), OracleConfig(), "cpu", env=env)
        return m.predictor.state_dict()["predictor_embed.weight"], m.head.meta["dataset"]

    jaco_dir, panda_dir = weights_dir("default-jaco", "predictor"), weights_dir("default-panda", "predictor")
    assert jaco_dir.parent.name == "jaco" and panda_dir == weights_dir("default", "predictor")
    jaco_env = gym.make("vjepa_ac/JacoReachSite-v0", render_goal=False)
    panda_env = gym.make("vjepa_ac/PandaReach-v0")
    jaco, panda = load_predictor("default-jaco"), load_predictor("default")
    w, data = parts("default", jaco_env)
    assert torch.equal(w, jaco.state_dict()["predictor_embed.weight"]) and "jaco" in data
    w, data = parts("default-panda", jaco_env)
    assert torch.equal(w, panda.state_dict()["predictor_embed.weight"]) and "jaco" not in data
    w, data = parts("default", panda_env)
    assert torch.equal(w, panda.state_dict()["predictor_embed.weight"]) and "jaco" not in data
    assert not torch.equal(jaco.state_dict()["predictor_embed.weight"], panda.state_dict()["predictor_embed.weight"])


def test_the_ur5e_plans_with_its_own_predictor_energy_and_policy_on_the_shared_encoder():
    """OGBench's UR5e (`vjepa_ac/OGBenchCube-v0`, robot_type ur5e_sim): `default` names its own predictor, temporal
    distance, readout head and goal-conditioned policy, trained on its oracle's logs without labels, on the frozen
    encoder every robot shares; its readout weighs no yaw (unreadable in OGBench's 128-px view)."""
    from vjepa_ac.models.distance import load_distance
    from vjepa_ac.models.goal_head import load_head
    from vjepa_ac.models.proposals import load_proposal
    from vjepa_ac.models.weights import weights_dir

    for part in ("predictor", "distance", "head", "policy"):
        assert weights_dir("default", part, "ur5e_sim").parent.name == "ur5e", part
    assert weights_dir("default", "encoder", "ur5e_sim") == weights_dir("default-panda", "encoder")
    enc = load_encoder("default")
    head = load_head(weights_dir("default-ur5e", "head"), enc)
    assert head.cfg.names[5] == "yaw" and head.cfg.weights[5] == 0.0 and "environment_state" not in json.dumps(head.meta)
    distance = load_distance(weights_dir("default-ur5e", "distance"), enc)
    assert distance.meta["labels"].startswith("none")
    policy = load_proposal("default", enc, "policy", robot="ur5e_sim")
    assert "ogb_cube" in policy.meta["dataset"] and "ogb_cube" not in load_proposal("default", enc, "policy").meta["dataset"]
    ur5e, panda = load_predictor("default-ur5e"), load_predictor("default")
    assert not torch.equal(ur5e.state_dict()["predictor_embed.weight"], panda.state_dict()["predictor_embed.weight"])


def test_pusht_plans_with_its_own_predictor_energy_and_policy_on_the_shared_encoder():
    """Push-T's disc (`vjepa_ac/PushT-v0`, robot_type pusht_sim): `default` names its own predictor, temporal distance,
    readout head and goal-conditioned policy, trained on logs of the benchmark's collection policy without labels;
    its readout weighs the disc's position only (it has no height, turn or gripper)."""
    from vjepa_ac.models.distance import load_distance
    from vjepa_ac.models.goal_head import load_head
    from vjepa_ac.models.proposals import load_proposal
    from vjepa_ac.models.weights import weights_dir

    for part in ("predictor", "distance", "head", "policy"):
        assert weights_dir("default", part, "pusht_sim").parent.name == "pusht", part
    assert weights_dir("default", "encoder", "pusht_sim") == weights_dir("default-panda", "encoder")
    enc = load_encoder("default")
    head = load_head(weights_dir("default-pusht", "head"), enc)
    assert head.cfg.weights[:2] == [1.0, 1.0] and not any(head.cfg.weights[2:]) and "environment_state" not in json.dumps(head.meta)
    assert load_distance(weights_dir("default-pusht", "distance"), enc).meta["labels"].startswith("none")
    assert "pusht" in load_proposal("default", enc, "policy", robot="pusht_sim").meta["dataset"]
    pusht, panda = load_predictor("default-pusht"), load_predictor("default")
    assert not torch.equal(pusht.state_dict()["predictor_embed.weight"], panda.state_dict()["predictor_embed.weight"])
