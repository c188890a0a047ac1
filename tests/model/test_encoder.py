"""Encoders load from both official formats with exact parity, refuse bad files, and encode frames as V-JEPA 2-AC does."""

from __future__ import annotations

import pytest
import torch
from transformers import VJEPA2Config, VJEPA2Model

from vjepa_ac.models.encoder import (
    FrozenEncoder, Preprocess, hf_to_original, load_encoder, load_original_encoder, original_to_hf, save_encoder,
)


def tiny(seed: int = 0) -> VJEPA2Model:
    torch.manual_seed(seed)
    cfg = VJEPA2Config(hidden_size=64, num_attention_heads=4, num_hidden_layers=2, crop_size=32, patch_size=8,
                       tubelet_size=2, frames_per_clip=4, pred_hidden_size=32, pred_num_attention_heads=4, pred_num_hidden_layers=1)
    return VJEPA2Model(cfg).eval()


@pytest.fixture
def video():
    return torch.randint(0, 256, (2, 3, 3, 40, 48), dtype=torch.uint8)  # [B, T, 3, H, W]


def test_hf_format_round_trip_is_exact(tmp_path, video):
    model = tiny()
    ref = FrozenEncoder(model, Preprocess(crop_size=32))
    save_encoder(model, Preprocess(crop_size=32), tmp_path / "enc")
    loaded = load_encoder(tmp_path / "enc")
    assert (tmp_path / "enc/model.safetensors").exists()
    torch.testing.assert_close(loaded.encode(video), ref.encode(video), atol=1e-5, rtol=0)
    assert loaded.identity() == ref.identity()


def test_original_release_format_round_trip_is_exact(tmp_path, video):
    model = tiny(1)
    ref = FrozenEncoder(model, Preprocess(crop_size=32))
    state = hf_to_original(model.state_dict())
    assert any(k.startswith("module.backbone.blocks.0.attn.qkv") for k in state)  # the release's naming
    torch.save({"encoder": state, "target_encoder": state, "epoch": 10}, tmp_path / "vitl.pt")
    loaded = load_original_encoder(tmp_path / "vitl.pt", crop_size=32, num_heads=4)
    torch.testing.assert_close(loaded.encode(video), ref.encode(video), atol=1e-5, rtol=0)
    assert loaded.config.num_hidden_layers == 2 and loaded.config.tubelet_size == 2


def test_a_shape_mismatch_names_the_key_and_both_shapes(tmp_path):
    state = hf_to_original(tiny().state_dict())
    state["module.backbone.blocks.1.mlp.fc2.weight"] = torch.zeros(64, 100)
    torch.save({"target_encoder": state}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=r"encoder\.layer\.1\.mlp\.fc2\.weight.*\(64, 100\).*\(64, 256\)"):
        load_original_encoder(tmp_path / "bad.pt", crop_size=32, num_heads=4)


def test_a_missing_key_is_named(tmp_path):
    state = hf_to_original(tiny().state_dict())
    del state["module.backbone.norm.weight"]
    torch.save({"encoder": state}, tmp_path / "m.pt")
    with pytest.raises(KeyError, match="encoder.layernorm.weight"):
        load_original_encoder(tmp_path / "m.pt", crop_size=32, num_heads=4)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch EVIL_RAN",))


def test_a_pickle_that_would_run_code_is_refused_unexecuted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"encoder": _Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="weights-only"):
        load_original_encoder(tmp_path / "evil.pt")
    assert not (tmp_path / "EVIL_RAN").exists()


def test_a_truncated_checkpoint_is_refused(tmp_path):
    torch.save({"encoder": hf_to_original(tiny().state_dict())}, tmp_path / "full.pt")
    data = (tmp_path / "full.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.pt"):
        load_original_encoder(tmp_path / "cut.pt")


def test_every_frame_is_its_own_tubelet(video):
    enc = FrozenEncoder(tiny(), Preprocess(crop_size=32))
    z = enc.encode(video)
    assert z.shape == (2, 3, 16, 64)  # [B, T, N=(32/8)^2, D]
    one = video[:, 1:2].expand(-1, 2, -1, -1, -1)  # frame 1 repeated as a 2-frame clip
    torch.testing.assert_close(enc.encode_clip(one)[:, 0], z[:, 1], atol=1e-5, rtol=0)
    assert not z.requires_grad and not enc.training


def test_uint8_and_unit_float_frames_encode_alike(video):
    enc = FrozenEncoder(tiny(), Preprocess(crop_size=32, mode="resize"))
    torch.testing.assert_close(enc.encode(video), enc.encode(video.float() / 255), atol=1e-5, rtol=0)


def test_key_mapping_is_a_bijection():
    state = tiny().state_dict()
    back = original_to_hf(hf_to_original(state))
    enc = {k: v for k, v in state.items() if k.startswith("encoder.")}
    assert back.keys() == enc.keys() and all(torch.equal(back[k], enc[k]) for k in enc)


def test_feature_cache_is_keyed_by_encoder_identity_and_resumes(small_collection, tmp_path):
    from vjepa_ac.training.features import EncodeConfig, FeatureCache, encode_dataset

    enc = FrozenEncoder(tiny(), Preprocess(crop_size=32, mode="resize"))
    cfg = EncodeConfig(dataset=small_collection.out, out=str(tmp_path), dtype="float32", episodes_per_shard=2)
    root = encode_dataset(cfg, enc)
    cache = FeatureCache(root, enc)
    from vjepa_ac.data.reader import open_log

    log = open_log(small_collection.out)
    frames = torch.from_numpy(log.frames(2, "observation.images.front")).permute(0, 3, 1, 2)[None]
    torch.testing.assert_close(cache[2], enc.encode(frames)[0], atol=1e-5, rtol=0)
    other = FrozenEncoder(tiny(seed=3), Preprocess(crop_size=32, mode="resize"))
    with pytest.raises(ValueError, match="holds features of encoder"):
        FeatureCache(root, other)
    assert encode_dataset(cfg, other) != root  # another encoder, another folder
    shard = root / "shard-00001.safetensors"
    shard.unlink()  # as if killed before the last shard
    encode_dataset(cfg, enc)
    torch.testing.assert_close(FeatureCache(root, enc)[2], cache[2])


def test_a_cache_under_looks_encodes_each_episode_as_seen_under_its_own_draw(small_collection, tmp_path):
    from vjepa_ac.data.looks import apply_look, episode_look
    from vjepa_ac.data.reader import open_log
    from vjepa_ac.training.features import EncodeConfig, FeatureCache, encode_dataset

    enc = FrozenEncoder(tiny(), Preprocess(crop_size=32, mode="resize"))
    plain = EncodeConfig(dataset=small_collection.out, out=str(tmp_path / "plain"), dtype="float32")
    looked = EncodeConfig(dataset=small_collection.out, out=str(tmp_path / "look"), dtype="float32", look_seed=5, look_share=1.0)
    root = encode_dataset(looked, enc)
    assert FeatureCache(root).meta["look_seed"] == 5
    frames = open_log(small_collection.out).frames(1, "observation.images.front")  # uint8 [T, H, W, 3]
    seen = torch.from_numpy(apply_look(frames, episode_look(5, 1, 1.0))).permute(0, 3, 1, 2)[None]
    torch.testing.assert_close(FeatureCache(root)[1], enc.encode(seen)[0], atol=1e-5, rtol=0)
    assert not torch.allclose(FeatureCache(encode_dataset(plain, enc))[1], FeatureCache(root)[1], atol=1e-3)
    with pytest.raises(ValueError, match="written for other settings"):  # looks never mix into a plain cache
        encode_dataset(EncodeConfig(dataset=small_collection.out, out=str(tmp_path / "plain"), dtype="float32", look_seed=5), enc)
    with pytest.raises(ValueError, match="look_share"):
        encode_dataset(EncodeConfig(dataset=small_collection.out, out=str(tmp_path / "bad"), look_seed=1, look_share=2.0), enc)
    with pytest.raises(ValueError, match="look_factors"):
        encode_dataset(EncodeConfig(dataset=small_collection.out, out=str(tmp_path / "bad"), look_seed=1, look_factors=["blur"]), enc)
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ValueError, match="written for other settings"):  # a warp-only cache is not the full-look one
        encode_dataset(EncodeConfig(dataset=small_collection.out, out=str(tmp_path / "look"), dtype="float32", look_seed=5,
                                    look_share=1.0, look_factors=["view"]), enc)
