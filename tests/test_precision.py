"""Mixed precision (``precision = "mixed_bfloat16"``): the same float32 variables, so the
committed checkpoints load, float32 outputs, and the same answers as float32 up to bfloat16
rounding."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from dreamer_lite.agent import Agent
from dreamer_lite.environment import NUM_ACTIONS, make_env
from dreamer_lite.config import make_config
from dreamer_lite.evaluate import episode_batch, load_agent
from dreamer_lite.networks import cpu_has_bfloat16, resolve_precision
from dreamer_lite.rssm import features
from dreamer_lite.runs import load_checkpoint
from dreamer_lite.train import settle_precision

RUN = Path(__file__).parents[1] / "book/results/cpu-l"


def real_frames(config, steps=12):
    env = make_env(config)
    frame, _ = env.reset(seed=123)
    frames, actions = [frame], []
    for _ in range(steps):
        frame, *_ = env.step(1)
        frames.append(frame), actions.append(1)
    return episode_batch({"frames": np.stack(frames), "actions": np.array(actions)})


def test_committed_checkpoint_runs_in_bfloat16_like_float32():
    reference, config = load_agent(RUN)  # float32, as the run trained
    mixed = Agent(dataclasses.replace(config, precision="mixed_bfloat16"), NUM_ACTIONS)
    load_checkpoint(mixed, RUN / "checkpoint.npz")
    assert {v.dtype for v in mixed.world_model.weights + mixed.actor_critic.weights} == {"float32"}
    batch = real_frames(config)
    outputs = []
    for agent in (reference, mixed):
        tf.random.set_seed(0)
        wm = agent.world_model
        recon = wm.reconstruct(batch.image, batch.action, batch.is_first)  # (1, T, H, W, 1)
        post, _ = wm.observe(batch.image, batch.action, batch.is_first)
        probs = tf.nn.softmax(agent.actor_critic.policy(features(post)).logits)  # (1, T, A)
        assert recon.dtype == probs.dtype == post.deter.dtype == tf.float32
        outputs.append((recon.numpy(), probs.numpy()))
    (recon32, probs32), (recon16, probs16) = outputs
    # The latents are samples: with the same seed they agree where the probabilities barely
    # differ, so compare means over the frames and steps.
    assert np.abs(recon16 - recon32).mean() < 0.01  # pixels in [0, 1]
    assert np.abs(probs16 - probs32).mean() < 0.05


def test_bfloat16_flags_are_read_from_the_cpus_flags_line():
    avx2 = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2 fma\n"
    assert not cpu_has_bfloat16(avx2)
    assert cpu_has_bfloat16(avx2.replace("fma", "fma avx512f avx512_bf16"))
    assert cpu_has_bfloat16(avx2.replace("fma", "fma amx_bf16 amx_tile"))
    assert not cpu_has_bfloat16(avx2.replace("AMD EPYC", "avx512_bf16"))  # only the flags line counts


def test_auto_precision_is_bfloat16_only_with_bfloat16_hardware():
    """On a CPU-only machine, "auto" is mixed_bfloat16 exactly when /proc/cpuinfo names
    avx512_bf16 or amx_bf16; a run's config.json then records what it chose, and its layers use it."""
    cpuinfo = Path("/proc/cpuinfo")
    if tf.config.list_physical_devices("GPU") or not cpuinfo.exists():
        pytest.skip("reads a Linux CPU's flags")
    words = cpuinfo.read_text().split()
    expected = "mixed_bfloat16" if "avx512_bf16" in words or "amx_bf16" in words else "float32"
    assert resolve_precision("auto") == expected
    assert [resolve_precision(p) for p in ("float32", "mixed_bfloat16")] == ["float32", "mixed_bfloat16"]
    lines = []
    config = settle_precision(make_config("smoke", precision="auto"), lines.append)
    assert config.precision == expected
    assert len(lines) == 1 and lines[0].startswith(f"precision auto -> {expected}: ")
    fixed = make_config("smoke", precision="float32")
    assert settle_precision(fixed, lines.append) is fixed and len(lines) == 1
    agent = Agent(make_config("smoke", precision="auto"), NUM_ACTIONS)
    assert agent.world_model.encoder.convs[0].dtype_policy.name == expected
