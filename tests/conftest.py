import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if os.environ.get("SDL_VIDEODRIVER") == "dummy":  # it blanks every highway-env frame
    del os.environ["SDL_VIDEODRIVER"]


@pytest.fixture
def random_batch():
    """A factory of replay-style batches: random frames, one-hot actions and rewards, the given
    terminals (none by default), and is_first on the first step of every sequence."""
    import numpy as np

    from dreamer_lite.environment import NUM_ACTIONS
    from dreamer_lite.replay import Batch

    def make(config, batch: int = 2, steps: int = 4, terminal=None):
        rng = np.random.default_rng(0)
        shape = (batch, steps, config.frame_height, config.frame_width, 1)
        return Batch(rng.integers(0, 255, shape).astype(np.uint8),
                     np.eye(NUM_ACTIONS, dtype=np.float32)[rng.integers(0, NUM_ACTIONS, (batch, steps))],
                     rng.normal(size=(batch, steps)).astype(np.float32),
                     np.zeros((batch, steps), np.float32) if terminal is None else terminal,
                     np.eye(1, steps, dtype=np.float32).repeat(batch, 0))
    return make
