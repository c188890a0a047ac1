"""Rerun recordings hold what a user needs to see, checked by reading the .rrd files back with Rerun's reader."""

from __future__ import annotations

from collections import Counter

from vjepa_ac.collect import EnvConfig
from vjepa_ac.data.reader import open_log
from vjepa_ac.eval.evaluate import evaluate
from vjepa_ac.eval.config import EvalConfig
from vjepa_ac.viz import energy_colours, implied_paths, record_log_episode


def rows_by_entity(path) -> tuple[Counter, dict]:
    from rerun.chunk import RrdReader

    rows, timelines = Counter(), {}
    for c in RrdReader(path).stream():
        rows[c.entity_path] += c.num_rows
        timelines.setdefault(c.entity_path, set()).update(c.timeline_names)
    return rows, timelines


def test_an_eval_recording_shows_frames_candidates_energies_and_imagination(tmp_path):
    steps, iters = 3, 2
    cfg = EvalConfig(env=EnvConfig(image_height=64, image_width=64, max_episode_steps=steps), episodes=2, workers=1,
                     out=str(tmp_path / "eval"), videos=0, rerun=str(tmp_path / "rrd"), rerun_episodes=1, progress=False)
    cfg.agent.cem.samples, cfg.agent.cem.iterations, cfg.agent.cem.elites = 8, iters, 2
    evaluate(cfg)
    files = sorted((tmp_path / "rrd").glob("*.rrd"))
    assert [f.name for f in files] == ["episode_0000.rrd"], "only the asked-for episodes are recorded, no temp files left"
    rows, timelines = rows_by_entity(files[0])
    assert rows["/camera"] == steps + 1 and rows["/goal"] == steps
    for e in ("/world/plan/candidates", "/world/plan/elites", "/world/plan/chosen", "/energy/plan", "/energy/frame", "/distance/goal", "/pca/imagined"):
        assert rows[e] == steps, e
    assert rows["/pca/real"] == steps + 1 and rows["/world/ee"] == steps + 1
    assert rows["/energy/iteration"] == steps * iters and "iteration" in timelines["/energy/iteration"]
    assert rows["/world/table"] == 1 and rows["/world/goal"] == 1


def test_viz_shows_a_recorded_trajectory(small_collection, tmp_path):
    log = open_log(small_collection.out)
    path = record_log_episode(small_collection.out, 1, str(tmp_path))
    rows, _ = rows_by_entity(path)
    n = log.episodes[1].length
    assert rows["/camera"] == n and rows["/state/0"] == n and rows["/action/6"] == n and rows["/world/ee_path"] == n - 1
    import pytest

    with pytest.raises(IndexError, match="out of range"):
        record_log_episode(small_collection.out, 99, str(tmp_path))


def test_candidate_paths_follow_the_actions_and_colours_rank_the_energy():
    import numpy as np

    paths = implied_paths(np.array([0.5, 0.0, 0.2]), np.array([[[0.05, 0, 0, 0, 0, 0, 1], [0, 0.05, 0, 0, 0, 0, 1]]]))
    np.testing.assert_allclose(paths[0], [[0.5, 0, 0.2], [0.55, 0, 0.2], [0.55, 0.05, 0.2]])
    c = energy_colours(np.array([0.0, 1.0, np.nan]))
    assert c[0, 2] == 255 and c[1, 0] == 255 and tuple(c[2]) == (128, 128, 128)


def test_with_a_decoder_the_recording_shows_imagined_frames_in_pictures(tmp_path):
    steps, elites = 2, 3
    cfg = EvalConfig(env=EnvConfig(image_height=64, image_width=64, max_episode_steps=steps), episodes=1, workers=1,
                     out=str(tmp_path / "eval"), videos=0, rerun=str(tmp_path / "rrd"), rerun_episodes=1, progress=False, decoder="default")
    cfg.agent.cem.samples, cfg.agent.cem.iterations, cfg.agent.cem.elites = 8, 1, elites
    evaluate(cfg)
    rows, _ = rows_by_entity(tmp_path / "rrd" / "episode_0000.rrd")
    assert rows["/decoded/imagined"] == steps and rows["/decoded/elites"] == steps
    assert rows["/decoded/real"] == steps + 1 and rows["/decoded/goal"] == 1


def test_viz_with_a_decoder_shows_real_against_imagined_frames(small_collection, tmp_path):
    """64-px frames of the test collection, the shipped encoder, predictor and decoder: 1 to 3 steps ahead."""
    log = open_log(small_collection.out)
    path = record_log_episode(small_collection.out, 0, str(tmp_path), decoder="default", ahead=3)
    rows, _ = rows_by_entity(path)
    n = log.episodes[0].length
    assert rows["/camera"] == n and rows["/decoded/real"] == n
    assert [rows[f"/decoded/ahead_{k}"] for k in (1, 2, 3)] == [n - 1, n - 2, n - 3]
    import pytest

    with pytest.raises(ValueError, match="ahead must be >= 1"):
        record_log_episode(small_collection.out, 0, str(tmp_path), decoder="default", ahead=0)


def test_eval_refuses_a_decoder_without_a_recording_or_without_a_learned_model(tmp_path):
    import pytest

    with pytest.raises(ValueError, match="rerun=DIR"):
        evaluate(EvalConfig(out=str(tmp_path / "a"), decoder="default", episodes=1))
    with pytest.raises(ValueError, match="imagines none"):
        evaluate(EvalConfig(out=str(tmp_path / "b"), decoder="default", rerun=str(tmp_path / "r"), world_model="oracle", episodes=1))
    with pytest.raises(FileNotFoundError, match="not a decoder folder"):
        evaluate(EvalConfig(out=str(tmp_path / "c"), decoder=str(tmp_path / "none"), rerun=str(tmp_path / "r"), episodes=1))
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()


def test_the_decoder_is_loaded_once_for_every_recorded_episode(tmp_path, monkeypatch):
    import vjepa_ac.models.decoder as decoder_module

    calls = []
    real = decoder_module.load_decoder
    monkeypatch.setattr(decoder_module, "load_decoder", lambda *a, **k: calls.append(a) or real(*a, **k))
    cfg = EvalConfig(env=EnvConfig(image_height=64, image_width=64, max_episode_steps=1), episodes=3, workers=1,
                     out=str(tmp_path / "eval"), videos=0, rerun=str(tmp_path / "rrd"), rerun_episodes=3, progress=False,
                     decoder="default")
    cfg.agent.cem.samples, cfg.agent.cem.iterations, cfg.agent.cem.elites = 4, 1, 2
    evaluate(cfg)
    assert len(list((tmp_path / "rrd").glob("*.rrd"))) == 3 and len(calls) == 1


def test_a_recorded_episode_that_crashes_gives_the_planner_its_settings_back(tmp_path):
    import pytest

    from vjepa_ac.eval.pool import build
    from vjepa_ac.eval.episode import run_episode
    from vjepa_ac.eval.config import check_settings

    cfg = EvalConfig(env=EnvConfig(image_height=64, image_width=64, max_episode_steps=3), episodes=1, workers=1,
                     out=str(tmp_path / "eval"), videos=0, rerun=str(tmp_path / "rrd"), rerun_episodes=1, progress=False)
    cfg.agent.cem.samples, cfg.agent.cem.iterations, cfg.agent.cem.elites = 4, 1, 2
    check_settings(cfg)
    built = build(cfg)
    env, agent = built["env"], built["agent"]
    assert agent.keep_samples is False and agent.cfg.cem.keep_samples is False

    def broken_step(action):
        raise RuntimeError("the env broke mid-episode")

    env.step = broken_step
    with pytest.raises(RuntimeError, match="broke mid-episode"):
        run_episode(cfg, 0, env, agent)
    assert agent.keep_samples is False, "the next episode (not recorded) keeps no samples"
    assert agent.cfg.cem.keep_samples is False and agent.cfg.mppi.keep_samples is False, "the settings themselves are never changed"


def test_a_recording_with_latent_sub_goals_shows_each_proposed_sub_goal(tmp_path):
    steps = 2
    cfg = EvalConfig(env=EnvConfig(id="vjepa_ac/PandaGrasp-v0", image_height=64, image_width=64, max_episode_steps=steps),
                     episodes=1, workers=1, out=str(tmp_path / "eval"), videos=0, rerun=str(tmp_path / "rrd"), rerun_episodes=1,
                     progress=False, decoder="default")
    cfg.agent.use_subgoals, cfg.agent.latent_subgoals = False, "default"
    cfg.agent.cem.samples, cfg.agent.cem.iterations, cfg.agent.cem.elites = 4, 1, 2
    evaluate(cfg)
    rows, _ = rows_by_entity(tmp_path / "rrd" / "episode_0000.rrd")
    assert rows["/pca/subgoal"] == steps and rows["/decoded/subgoal"] == steps
