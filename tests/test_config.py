"""Config presets, overrides and the errors for bad keys and values."""

import json
from pathlib import Path

import pytest

from dreamer_lite.config import ConfigError, PRESETS, load_config, make_config, parse_override, resume_config


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_survive_the_run_folder_round_trip(preset, tmp_path):
    config = make_config(preset)
    (tmp_path / "config.json").write_text(config.to_json())
    assert load_config(tmp_path / "config.json") == config


def test_gpu_preset_has_paper_sizes():
    config = make_config("gpu")
    assert (config.cnn_depth, config.deter, config.stoch, config.classes) == (48, 600, 32, 32)
    assert (config.batch_size, config.seq_len) == (16, 50)


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match="batchsize"):
        make_config("cpu", batchsize=8)


def test_unknown_preset_is_named():
    with pytest.raises(ConfigError, match="tpu"):
        make_config("tpu")


@pytest.mark.parametrize("key, value, words", [
    ("kl_alpha", 1.5, "kl_alpha must be in"),
    ("frame_width", 100, "multiple of 16"),
    ("batch_size", 0, "batch_size must be >= 1"),
    ("batch_size", 2.5, "batch_size must be a int"),
    ("prefill", 4, "prefill"),
])
def test_bad_values_are_refused(key, value, words):
    with pytest.raises(ConfigError, match=words):
        make_config("cpu", **{key: value})


def test_parse_override_types():
    assert parse_override("batch_size=8") == ("batch_size", 8)
    assert parse_override("model_lr=1e-3") == ("model_lr", 1e-3)
    assert parse_override("return_norm=false") == ("return_norm", False)
    assert parse_override("gray_weights=0.5,0.5,0") == ("gray_weights", (0.5, 0.5, 0.0))
    with pytest.raises(ConfigError, match="needs a int"):
        parse_override("batch_size=big")
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("batch_size")


def test_cpu_preset_is_the_committed_best_run():
    """The README's main command trains what book/results/cpu-v holds ("auto" chose bfloat16 on
    its machine), and cpu-v-seed1 with seed 1 and precision=float32 set on the command line; cpu-l,
    the book's final agent, is the same in float32 with a recurrent state of 200 units."""
    results = Path(__file__).parents[1] / "book/results"

    def record(name):  # a committed run's config, with today's new keys
        return json.loads(load_config(results / name / "config.json").to_json())

    preset = json.loads(make_config("cpu").to_json())
    assert record("cpu-v") == {**preset, "precision": "mixed_bfloat16"}
    assert record("cpu-v-seed1") == {**preset, "precision": "float32", "seed": 1}
    final = record("cpu-l")
    assert (final.pop("precision"), final.pop("deter"), final.pop("hidden")) == ("float32", 200, 200)
    assert (preset.pop("precision"), preset.pop("deter"), preset.pop("hidden")) == ("auto", 400, 400)
    assert preset == final


def test_resume_config_allows_schedule_keys_and_refuses_shape_keys():
    saved = make_config("cpu")
    config, changes = resume_config(saved, {"total_steps": 40_000, "batch_size": 16})
    assert config.total_steps == 40_000 and changes == {"total_steps": [28_000, 40_000]}
    with pytest.raises(ConfigError, match="deter, stoch"):
        resume_config(saved, {"stoch": 8, "deter": 100})
    assert resume_config(saved, {"deter": saved.deter})[1] == {}  # same value: no change
