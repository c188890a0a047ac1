"""Frame looks: one log seen under other views, lights and colours, drawn per episode, never at the held-out values."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest

from vjepa_ac.data.looks import HELD_OUT_BRIGHTNESS, FrameLook, apply_look, draw_frame_look, episode_look


def scene(t: int = 3) -> np.ndarray:
    """A red square on a dark floor: uint8 [T, 32, 32, 3]."""
    f = np.full((t, 32, 32, 3), 40, np.uint8)
    f[:, 12:20, 12:20] = (200, 30, 30)
    return f


def test_the_identity_look_changes_nothing_and_a_look_changes_every_frame_alike():
    f = scene()
    assert np.array_equal(apply_look(f, FrameLook()), f)
    out = apply_look(f, FrameLook(turn_deg=8.0, brightness=0.8, hue_deg=60.0, saturation=1.2))
    assert out.shape == f.shape and out.dtype == np.uint8
    assert not np.array_equal(out[0], f[0]) and np.array_equal(out[0], out[2])


def test_a_shift_moves_the_image_and_brightness_scales_it():
    f = scene(1)
    moved = apply_look(f, FrameLook(shift=(0.25, 0.0)))  # each output pixel shows the one 4 px (0.25 of 16) right of it
    assert moved[0, 16, 9, 0] > 150 and moved[0, 16, 19, 0] < 100  # the square at columns 12-19 now at 8-15
    dim = apply_look(f, FrameLook(brightness=0.5))
    assert abs(int(dim[0, 16, 16, 0]) - 100) <= 1 and abs(int(dim[0, 0, 0, 0]) - 20) <= 1


def test_draws_repeat_per_episode_and_leave_out_the_tested_light_and_green():
    assert episode_look(3, 7) == episode_look(3, 7) and episode_look(3, 7) != episode_look(3, 8)
    rng = np.random.default_rng(0)
    looks = [draw_frame_look(rng, 1.0) for _ in range(400)]
    assert not any(HELD_OUT_BRIGHTNESS[0] <= look.brightness <= HELD_OUT_BRIGHTNESS[1] for look in looks)
    hues = []
    for look in looks:
        r, g, b = apply_look(scene(1), FrameLook(hue_deg=look.hue_deg))[0, 16, 16] / 255.0
        hues.append(colorsys.rgb_to_hsv(r, g, b)[0] * 360)
    assert not any(80 <= h <= 160 for h in hues)  # a red cube never turns green
    assert max(hues) - min(hues) > 180  # but it takes many other colours
    none = draw_frame_look(rng, 0.0)
    assert none == FrameLook()
    with pytest.raises(ValueError, match="look_share"):
        draw_frame_look(rng, 1.5)


def test_a_warp_only_look_is_the_full_draw_without_its_colours():
    full, warp = episode_look(4, 2, 1.0), episode_look(4, 2, 1.0, ["view"])
    assert (warp.turn_deg, warp.zoom, warp.shift, warp.tilt) == (full.turn_deg, full.zoom, full.shift, full.tilt)
    assert warp.turn_deg != 0.0 and (warp.brightness, warp.hue_deg, warp.saturation) == (1.0, 0.0, 1.0)
    colours = episode_look(4, 2, 1.0, ["hue", "brightness"])
    assert (colours.hue_deg, colours.brightness) == (full.hue_deg, full.brightness) and colours.zoom == 1.0
    f = scene(1)
    mean = apply_look(f, warp).reshape(-1, 3).mean(0)
    assert abs(mean - f.reshape(-1, 3).mean(0)).max() < 12  # the floor keeps its colour: only the view moved
    for bad in (["view", "blur"], []):
        with pytest.raises(ValueError, match="look_factors"):
            episode_look(4, 2, 1.0, bad)


def test_bad_frames_are_refused_with_what_was_expected():
    with pytest.raises(ValueError, match=r"uint8 \[T, H, W, 3\]"):
        apply_look(np.zeros((2, 8, 8, 3), np.float32), FrameLook())
