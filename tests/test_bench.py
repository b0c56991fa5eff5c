"""The benchmark: its FLOP count against hand-counted ops, and its report at smoke size."""

import json

import numpy as np
import pytest
import tensorflow as tf

from dreamer_lite import bench


def test_dense_flops_counts_matmuls_by_loop_steps_and_convolutions_with_their_gradients():
    m, k, n = 3, 4, 5
    x = tf.random.normal([2, 8, 6, 3])  # (N, H, W, Cin)
    kernel = tf.Variable(tf.random.normal([3, 3, 3, 7]))  # (kh, kw, Cin, Cout)

    @tf.function
    def step(a, b):
        for _ in range(3):  # a Python loop: three matmuls in the traced graph
            a = tf.matmul(a, b) @ tf.transpose(b)  # (m, k) x (k, n), then (m, n) x (n, k)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(tf.nn.conv2d(x, kernel, strides=2, padding="SAME"))  # of (2, 4, 3, 7)
        return a, tape.gradient(y, [x, kernel])

    graph = step.get_concrete_function(tf.zeros([m, k]), tf.zeros([k, n])).graph
    matmuls = 3 * 2 * (2 * m * n * k)  # each (m, k) x (k, n) and back: 2 m n k multiply-adds
    conv = 2 * (2 * 4 * 3 * 7) * (3 * 3 * 3)  # per output value, kh kw Cin multiply-adds
    assert bench.dense_flops(graph) == matmuls + 3 * conv  # forward, d/dx, d/dkernel


def test_dense_flops_counts_inside_nested_functions():
    inner = tf.function(lambda a: a @ a)

    @tf.function
    def outer(a):
        return inner(a) + inner(2 * a)

    graph = outer.get_concrete_function(tf.zeros([6, 6])).graph
    assert bench.dense_flops(graph) == 2 * (2 * 6 * 6 * 6)


def test_dense_flops_refuses_a_while_loop():
    @tf.function
    def loop(a):
        return tf.while_loop(lambda i, a: i < 3, lambda i, a: (i + 1, a @ a), (0, a))[1]

    with pytest.raises(ValueError, match="trip count"):
        bench.dense_flops(loop.get_concrete_function(tf.zeros([2, 2])).graph)


def test_speedups_are_medians_of_paired_ratios():
    reference = {"times_s": {"train_step": [2.0, 3.0, 4.0], "training_loop": [6.0, 6.0]},
                 "gflop": {"train_step": 120.0}, "implied_env_steps_per_s": 4.0, "train_every": 5}
    candidate = {"times_s": {"train_step": [1.0, 1.0, 4.0], "training_loop": [3.0, 2.0]},
                 "gflop": {"train_step": 60.0}, "implied_env_steps_per_s": 9.0, "train_every": 5}
    ratios = bench.speedups(reference, candidate)
    assert ratios["train_step"][0] == pytest.approx(2.0)  # median of 2, 3, 1
    assert ratios["measured_env_steps_per_s"][0] == pytest.approx(2.5)  # median of 2, 3
    assert ratios["gflop_train_step"] == [2.0] * 3
    assert ratios["implied_env_steps_per_s"] == [2.25] * 3


def test_measured_rate_counts_env_steps_when_train_every_differs():
    # A chunk of 3 updates holds 15 env steps at train_every 5 and 12 at train_every 4: chunks of
    # 6 s and 5 s are 2.5 and 2.4 env steps/s, so the candidate runs at 0.96 of the reference.
    reference = {"times_s": {"training_loop": [6.0]}, "gflop": {}, "implied_env_steps_per_s": 1.0,
                 "train_every": 5}
    candidate = {"times_s": {"training_loop": [5.0]}, "gflop": {}, "implied_env_steps_per_s": 1.0,
                 "train_every": 4}
    assert bench.speedups(reference, candidate)["measured_env_steps_per_s"] == pytest.approx([0.96] * 3)


def test_import_package_runs_a_copy_under_another_name():
    import dreamer_lite.agent

    root = bench.Path(bench.__file__).resolve().parent.parent
    copy = bench.import_package(root, "dreamer_lite_copy")
    assert copy.agent.Agent is not dreamer_lite.agent.Agent
    assert copy.agent.Agent.__module__ == "dreamer_lite_copy.agent"
    assert copy.agent.WorldModel.__module__ == "dreamer_lite_copy.world_model"


def test_bench_report_at_smoke_size(tmp_path, capsys):
    report = bench.main(["--preset", "smoke", "--repeats", "2", "--json", str(tmp_path / "b.json")])
    assert json.loads((tmp_path / "b.json").read_text())["preset"] == "smoke"
    assert "train_step" in capsys.readouterr().out
    (run,) = report["runs"]
    for name, times in run["times_s"].items():
        assert len(times) > 0 and min(times) > 0, name
    assert run["gflop"]["train_step"] > run["gflop"]["pretrain_step"] > 0
    median = {name: np.median(times) for name, times in run["times_s"].items()}
    assert run["achieved_gflop_per_s"]["train_step"] == pytest.approx(
        run["gflop"]["train_step"] / median["train_step"])
    every = run["train_every"]
    cycle = every * (median["wrapped_env_step"] + median["act"]) + median["replay_sample"] + median["train_step"]
    assert run["implied_env_steps_per_s"] == pytest.approx(every / cycle)
    assert run["measured_env_steps_per_s"] > 0
    assert min(report["peak"]["float32"].values()) > 0 and min(report["peak"]["bfloat16"].values()) > 0
