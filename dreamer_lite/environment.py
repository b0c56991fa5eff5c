"""The road from pixels: ``highway-fast-v0`` as one-channel frames.

The frame (defaults of :class:`~dreamer_lite.config.Config`): 128 x 32 pixels (W x H), 4096
pixels, the same budget as Atari's 64 x 64, at 1.6 pixels per metre, the ego at 30% of the width.

* Along the road the frame shows 128 / 1.6 = 80 m: 0.7 * 80 = 56 m ahead of the ego (about two
  seconds at 30 m/s, four car lengths more than the 40 m a driver needs to react) and 24 m behind.
* Across the road it shows 32 / 1.6 = 20 m, +-10 m around the ego. The road is 3 lanes of 4 m,
  so the far lane's cars (centred 8 m away, 1 m half-width) stay fully in view from any lane.
* A car is 5 m x 2 m, about 8 x 3 px (24 pixels). How those pixels look decides whether the
  world model learns to draw cars (chapter 10):

  - highway-env draws the other cars light blue, RGB about (100, 200, 255), with a dark outline,
    on a grey road (100, 100, 100). We keep the **blue channel** (``gray_weights = (0, 0, 1)``):
    car bodies are 255, the road 100, the ego car 0.
  - Rendered directly at 1.6 px/m, the outline takes 75% of a car: one 6-pixel row of body
    inside a ring of grey 60. We **supersample**: highway-env renders at ``supersample = 4``
    times the size (512 x 128 at 6.4 px/m) and :func:`downsample` averages each 4 x 4 block.
    The outline shrinks to a blend at the edge and a car becomes a solid bright block.

* The ego's speed is not in a single frame: only the lane marks and the other cars move, and at
  one frame per second the dashed marks alias. With ``speedometer = True`` the frame's bottom
  row (off the road: the far lane's cars end 9 m from the ego, the row is 9.4-10 m away) is a
  dashboard bar, as in Gym's CarRacing: :func:`draw_speedometer` (chapter 9 shows why it is needed).

Frames come channel-last, ``(H, W, 1)`` uint8, one frame per step (the RSSM carries history,
so no frame stack). ``terminated`` (a crash) and ``truncated`` (the 30 s time limit) stay
distinct: only ``terminated`` ends the value of the future.

The blank-frame trap: with ``SDL_VIDEODRIVER=dummy`` highway-env's viewer is disabled and every
observation is silently all zeros. :class:`PixelHighway` refuses such frames with
:class:`BlankFrameError`, which names the cause and the fix.
"""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np

from .quiet import silenced_stderr

# pygame's SDL installs its own SIGTERM handler, which swallows `kill PID`, `docker stop` and
# schedulers' stop signals; with this set before pygame starts, SIGTERM stops the process again.
os.environ.setdefault("SDL_NO_SIGNAL_HANDLERS", "1")

ACTION_NAMES = ("LANE_LEFT", "IDLE", "LANE_RIGHT", "FASTER", "SLOWER")
LANE_HALF_WIDTH = 2.0  # metres: cars whose centres are closer than this across the road share a lane
NUM_ACTIONS = len(ACTION_NAMES)
DRAW_OFFSET_PX = (-1.5, -1.0)  # where highway-env draws a car, relative to its true centre


class BlankFrameError(RuntimeError):
    """The renderer returned an all-zero frame."""


class UnknownEnvError(ValueError):
    """An environment id that gymnasium does not know."""


def blank_frame_message() -> str:
    driver = os.environ.get("SDL_VIDEODRIVER")
    cause = (f"SDL_VIDEODRIVER is set to {driver!r}, which disables highway-env's viewer"
             if driver == "dummy" else
             "highway-env's viewer is disabled (SDL_VIDEODRIVER=dummy is the usual cause)")
    return (f"highway-env returned an all-black frame: {cause}. Fix: unset SDL_VIDEODRIVER "
            "(`unset SDL_VIDEODRIVER` in the shell, or `os.environ.pop('SDL_VIDEODRIVER', None)` "
            "before importing highway_env); SDL then picks an offscreen driver by itself.")


def observation_config(config) -> dict:
    """The highway-env ``observation`` dict: frames rendered ``supersample`` times larger."""
    k = config.supersample
    return {
        "type": "GrayscaleObservation",
        "observation_shape": (k * config.frame_width, k * config.frame_height),  # (W, H)
        "stack_size": 1,
        "weights": list(config.gray_weights),
        "scaling": k * config.scaling,
        "centering_position": [config.centering_x, 0.5],
    }


def downsample(rendered: np.ndarray, k: int) -> np.ndarray:
    """Average ``k x k`` blocks: ``frame[i, j] = mean(rendered[k i : k i + k, k j : k j + k])``.

    ``rendered`` is ``(k H, k W)`` uint8; the result is ``(H, W)`` uint8, rounded.
    """
    height, width = rendered.shape[0] // k, rendered.shape[1] // k
    blocks = rendered.reshape(height, k, width, k).astype(np.float32)
    return np.round(blocks.mean(axis=(1, 3))).astype(np.uint8)


SPEEDOMETER_RANGE = (15.0, 35.0)  # m/s at the bar's left and right ends


def draw_speedometer(frame: np.ndarray, speed: float) -> np.ndarray:
    """Overwrite the bottom row of ``frame`` (H, W) uint8 with a bar of length
    ``L = W (speed - v_min) / (v_max - v_min)`` pixels (clipped to [0, W]): pixels left of
    ``floor(L)`` are 255, the next one ``255 (L - floor(L))`` (rounded), the rest 0."""
    width = frame.shape[1]
    low, high = SPEEDOMETER_RANGE
    length = float(np.clip(width * (speed - low) / (high - low), 0.0, width))
    row = np.clip(length - np.arange(width), 0.0, 1.0)  # 1 under the bar, the fraction at its end
    frame = frame.copy()
    frame[-1] = np.round(255 * row).astype(np.uint8)
    return frame


class PixelHighway(gym.Wrapper):
    """highway-env with ``(H, W, 1)`` uint8 frames, blank frames refused, speed in ``info``;
    with ``speedometer`` the bottom row shows the ego's speed (:func:`draw_speedometer`)."""

    def __init__(self, env: gym.Env, supersample: int = 1, speedometer: bool = False):
        super().__init__(env)
        self.supersample, self.speedometer = supersample, speedometer
        height = env.observation_space.shape[2] // supersample
        width = env.observation_space.shape[1] // supersample
        self.observation_space = gym.spaces.Box(0, 255, (height, width, 1), np.uint8)

    def _frame(self, obs: np.ndarray, speed: float) -> np.ndarray:
        rendered = obs[-1].T  # highway-env's (W, H) -> (H, W)
        frame = downsample(rendered, self.supersample)  # (H, W)
        if not frame.any():
            raise BlankFrameError(blank_frame_message())
        if self.speedometer:
            frame = draw_speedometer(frame, speed)
        return frame[:, :, None]  # (H, W, 1)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return self._frame(obs, info["speed"]), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(int(action))
        return self._frame(obs, info["speed"]), float(reward), bool(terminated), bool(truncated), info


def render_with(env: PixelHighway, vehicles) -> np.ndarray:
    """The current state rendered again as a ``(H, W, 1)`` frame of ``env`` (supersampled, with
    the speedometer when ``env`` draws one), with only ``vehicles`` on the road; the road's
    vehicles are put back afterwards. ``render_with(env, [env.unwrapped.vehicle])`` is the frame
    without the other cars."""
    base = env.unwrapped
    everyone = base.road.vehicles
    base.road.vehicles = list(vehicles)
    try:
        return env._frame(base.observation_type.observe(), base.vehicle.speed)
    finally:
        base.road.vehicles = everyone


def check_env_id(env_id: str) -> None:
    """Raise UnknownEnvError, naming the registered highway-env ids, if gymnasium lacks ``env_id``."""
    import highway_env  # noqa: F401  (registers the highway-env ids with gymnasium)

    if env_id not in gym.registry:
        known = [name for name in gym.registry if name.startswith(("highway", "merge", "roundabout"))]
        raise UnknownEnvError(
            f"unknown environment id {env_id!r}. dreamer_lite drives highway-env tasks; "
            f"registered ones include {sorted(known)[:8]}. Set env_id=highway-fast-v0 (the default).")


def make_env(config) -> PixelHighway:
    """Make ``config.env_id`` with our observation; a bad id raises UnknownEnvError, which says so."""
    check_env_id(config.env_id)
    with silenced_stderr():  # SDL's "XDG_RUNTIME_DIR is invalid" on machines without a desktop
        env = gym.make(config.env_id, config={"observation": observation_config(config)})
    return PixelHighway(env, config.supersample, config.speedometer)


def other_car_mask(env: PixelHighway) -> np.ndarray:
    """Boolean ``(H, W)`` mask of the *other* cars, from the simulator's vehicle positions.

    A pixel centre (col + 1/2, row + 1/2) of the returned frame maps to the world point
    ``x = x_ego + (col + 1/2 - cx * W - dx) / s``, ``y = y_ego + (row + 1/2 - H / 2 - dy) / s``
    (highway-env centres its view on the ego; ``s`` is pixels per metre). The pixel is a car
    pixel when that point lies in a vehicle's length x width rectangle, rotated by its heading.
    ``(dx, dy) = DRAW_OFFSET_PX / supersample`` is where highway-env's whole-pixel rounding puts
    the drawn box (fitted on 150 frames rendered at 1.6 px/m: intersection-over-union 0.81 with
    the drawn car pixels; with 4x supersampling, 0.71 with the pixels brighter than 140).
    The image itself is never looked at.
    """
    base, k = env.unwrapped, env.supersample
    obs_type = base.observation_type
    width, height = obs_type.shape[1] // k, obs_type.shape[2] // k
    scaling = obs_type.viewer.config["scaling"] / k  # pixels of the returned frame per metre
    centre_x, centre_y = obs_type.viewer.config["centering_position"]
    offset_x, offset_y = DRAW_OFFSET_PX[0] / k, DRAW_OFFSET_PX[1] / k
    ego = base.vehicle
    cols = (np.arange(width) + 0.5 - centre_x * width - offset_x) / scaling + ego.position[0]
    rows = (np.arange(height) + 0.5 - centre_y * height - offset_y) / scaling + ego.position[1]
    world_x, world_y = np.meshgrid(cols, rows)  # (H, W) each
    mask = np.zeros((height, width), bool)
    for vehicle in base.road.vehicles:
        if vehicle is ego:
            continue
        dx, dy = world_x - vehicle.position[0], world_y - vehicle.position[1]
        cos, sin = np.cos(vehicle.heading), np.sin(vehicle.heading)
        along, across = dx * cos + dy * sin, -dx * sin + dy * cos
        mask |= (np.abs(along) <= vehicle.LENGTH / 2) & (np.abs(across) <= vehicle.WIDTH / 2)
    if env.speedometer:
        mask[-1] = False  # the bar hides that row
    return mask


def car_ahead(env: PixelHighway, max_ahead: float = 50.0):
    """The nearest other car ahead in the ego's lane (|dy| < LANE_HALF_WIDTH, 0 < dx <
    ``max_ahead``, centre to centre), from the simulator; None when there is none."""
    base = env.unwrapped
    ego = base.vehicle
    ahead = [v for v in base.road.vehicles
             if v is not ego and abs(v.position[1] - ego.position[1]) < LANE_HALF_WIDTH
             and 0.0 < v.position[0] - ego.position[0] < max_ahead]
    return min(ahead, key=lambda v: v.position[0], default=None)


def gap_ahead(env: PixelHighway, max_ahead: float = 50.0) -> float | None:
    """Metres from the ego's centre to the centre of :func:`car_ahead`; None when there is none."""
    car = car_ahead(env, max_ahead)
    return None if car is None else float(car.position[0] - env.unwrapped.vehicle.position[0])
