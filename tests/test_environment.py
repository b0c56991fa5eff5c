"""Real highway-fast-v0 frames: shape, not blank, cars visible; the blank-frame trap; bad ids."""

import os
import subprocess
import sys

import numpy as np
import pytest

from dreamer_lite.config import make_config
from dreamer_lite.environment import (BlankFrameError, car_ahead, downsample, gap_ahead, make_env,
                                      other_car_mask)


@pytest.fixture(scope="module")
def env():
    return make_env(make_config("cpu"))


def test_frames_are_channel_last_uint8_and_not_blank(env):
    config = make_config("cpu")
    frame, info = env.reset(seed=1)
    assert frame.shape == (config.frame_height, config.frame_width, 1) and frame.dtype == np.uint8
    assert frame.any() and len(np.unique(frame)) > 3


def test_frames_contain_the_other_cars(env):
    """Pixels under the simulator's car mask differ from the empty road; each car is >= 20 px."""
    frame, _ = env.reset(seed=2)
    road = np.bincount(frame.ravel()).argmax()  # the commonest grey is the road
    car_pixels, not_road = 0, 0
    for step in range(10):
        frame, *_ = env.step(1)
        mask = other_car_mask(env)
        car_pixels += mask.sum()
        not_road += (frame[..., 0][mask] != road).sum()
    assert car_pixels > 100
    assert not_road / car_pixels > 0.6  # the mask lands on drawn cars
    vehicle = env.unwrapped.road.vehicles[1]
    scaling = make_config("cpu").scaling
    assert vehicle.LENGTH * scaling * vehicle.WIDTH * scaling >= 20


def test_downsample_averages_blocks_by_hand():
    rendered = np.array([[0, 4, 10, 10],
                         [8, 13, 10, 10]], np.uint8)  # (2 H, 2 W) with k = 2
    np.testing.assert_array_equal(downsample(rendered, 2), [[6, 10]])  # (0+4+8+13)/4 = 6.25 -> 6
    np.testing.assert_array_equal(downsample(rendered, 1), rendered)


def test_supersampled_cars_are_bright_blocks():
    """With supersampling and the blue channel, car bodies fill their pixels: under the mask
    the frame is far brighter than the road, and rendering at 1x would show them dimmer."""
    contrast = {}
    for k in (1, 4):
        env = make_env(make_config("cpu", supersample=k))
        frame, _ = env.reset(seed=5)
        road = np.bincount(frame.ravel()).argmax()
        values = []
        for _ in range(5):
            frame, *_ = env.step(1)
            values.extend(frame[..., 0][other_car_mask(env)].astype(float) - road)
        contrast[k] = np.mean(values)
    assert contrast[4] > 80 and contrast[4] > contrast[1] + 20, contrast


def test_gap_ahead_by_hand(env):
    """Cars placed by hand: only the nearest one ahead in the ego's lane counts."""
    env.reset(seed=4)
    road = env.unwrapped.road
    ego, *others = road.vehicles[:5]
    ego.position = np.array([100.0, 4.0])
    for other, position in zip(others, [(130.0, 4.5), (115.0, 8.0), (90.0, 4.0), (160.0, 4.0)]):
        other.position = np.array(position)  # ahead in lane, next lane, behind, further ahead
    road.vehicles = [ego, *others]
    assert gap_ahead(env) == 30.0 and car_ahead(env) is others[0]
    assert gap_ahead(env, max_ahead=20.0) is None and car_ahead(env, max_ahead=20.0) is None


def test_view_shows_at_least_40_metres_ahead():
    config = make_config("cpu")
    assert (1 - config.centering_x) * config.frame_width / config.scaling >= 40


def test_terminated_and_truncated_are_distinct(env):
    env.reset(seed=3)
    done, steps = False, 0
    while not done:  # SLOWER never crashes: the episode ends by the time limit
        _, _, terminated, truncated, info = env.step(4)
        done, steps = terminated or truncated, steps + 1
    assert truncated and not terminated and not info["crashed"] and steps == 30


def test_blank_frames_raise_a_clear_error_under_sdl_dummy():
    code = ("from dreamer_lite.config import make_config\n"
            "from dreamer_lite.environment import make_env\n"
            "make_env(make_config('cpu')).reset(seed=0)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "SDL_VIDEODRIVER": "dummy", "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode != 0
    assert "BlankFrameError" in result.stderr and "unset SDL_VIDEODRIVER" in result.stderr


def test_blank_frame_error_is_raised_for_an_all_zero_observation(env):
    with pytest.raises(BlankFrameError, match="SDL_VIDEODRIVER"):
        env._frame(np.zeros(env.unwrapped.observation_space.shape, np.uint8), speed=25.0)


def test_unknown_env_id_is_named():
    with pytest.raises(ValueError, match="highway-fats-v0"):
        make_env(make_config("cpu", env_id="highway-fats-v0"))


def test_speedometer_bar_by_hand():
    """W = 8, range 15-35 m/s: 25 m/s -> L = 4 px; 26.25 m/s -> L = 4.5 (half-lit 5th pixel)."""
    from dreamer_lite.environment import draw_speedometer
    frame = np.full((4, 8), 100, np.uint8)
    np.testing.assert_array_equal(draw_speedometer(frame, 25.0)[-1], [255] * 4 + [0] * 4)
    np.testing.assert_array_equal(draw_speedometer(frame, 26.25)[-1], [255] * 4 + [128] + [0] * 3)
    np.testing.assert_array_equal(draw_speedometer(frame, 50.0)[-1], [255] * 8)  # clipped
    np.testing.assert_array_equal(draw_speedometer(frame, 10.0)[-1], [0] * 8)
    np.testing.assert_array_equal(draw_speedometer(frame, 25.0)[:-1], frame[:-1])  # the road is kept
    assert frame[-1, 0] == 100  # the input is not modified


def test_speedometer_frame_shows_the_simulator_speed():
    config = make_config("cpu", speedometer=True)
    env = make_env(config)
    frame, info = env.reset(seed=3)
    for action in (3, 3, 4):  # FASTER, FASTER, SLOWER
        frame, _, _, _, info = env.step(action)
        lit = frame[-1, :, 0].astype(float).sum() / 255  # bar length in pixels
        expected = config.frame_width * (info["speed"] - 15.0) / 20.0
        assert abs(lit - expected) < 0.01, (lit, expected)
    assert not other_car_mask(env)[-1].any()


def test_render_with_every_vehicle_is_the_frame_and_without_others_loses_only_cars():
    from dreamer_lite.environment import render_with
    env = make_env(make_config("cpu"))
    frame, _ = env.reset(seed=1000)
    for _ in range(3):
        frame, _, _, _, _ = env.step(1)
    np.testing.assert_array_equal(render_with(env, env.unwrapped.road.vehicles), frame)
    alone = render_with(env, [env.unwrapped.vehicle])
    changed = (alone != frame)[..., 0]  # the pixels the other cars change
    assert changed.any() and (changed & other_car_mask(env)).sum() >= 0.5 * changed.sum()
    np.testing.assert_array_equal(alone[-1], frame[-1])  # the speedometer stays
