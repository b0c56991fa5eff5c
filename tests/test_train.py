"""End to end at smoke size: train, evaluate, checkpoint, resume (also after SIGKILL), CLI errors."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from dreamer_lite.agent import Agent
from dreamer_lite.config import make_config
from dreamer_lite.environment import NUM_ACTIONS
from dreamer_lite.evaluate import evaluate_command as evaluate_main
from dreamer_lite.runs import CheckpointError, load_checkpoint, save_checkpoint
from dreamer_lite.train import _log_row, accumulate, updates_due

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def run_train(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "dreamer_lite.train", *args], capture_output=True,
                          text=True, env=ENV, timeout=timeout)


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("runs") / "smoke"
    result = run_train("--preset", "smoke", "--logdir", str(logdir))
    assert result.returncode == 0, result.stderr[-3000:]
    return logdir, result.stdout


def test_smoke_run_writes_everything(smoke_run):
    logdir, stdout = smoke_run
    for name in ("config.json", "checkpoint.npz", "metrics.csv", "eval.csv", "progress.json"):
        assert (logdir / name).exists(), name
    assert list((logdir / "tb").iterdir())
    assert "steps/s" in stdout and "ETA" in stdout and "eval at step" in stdout


def test_metrics_have_the_expected_columns_and_show_learning(smoke_run):
    logdir, _ = smoke_run
    rows = read_csv(logdir / "metrics.csv")
    for column in ("env_step", "updates", "wall_s", "train/return", "wm/image_mse", "wm/image_nll",
                   "wm/kl", "wm/reward_nll", "wm/continue_nll", "wm/grad_norm/encoder",
                   "actor/actor_entropy", "critic/loss", "imagine/return"):
        assert column in rows[0], column
    first, last = float(rows[0]["wm/image_mse"]), float(rows[-1]["wm/image_mse"])
    assert last < 0.6 * first, f"image MSE {first:.4f} -> {last:.4f}: the world model did not learn"
    evals = read_csv(logdir / "eval.csv")
    for column in ("mean_return", "stderr_return", "crash_rate", "mean_speed", "car_error_ratio"):
        assert column in evals[0], column


def test_crash_metrics_are_averaged_over_crash_steps_not_updates():
    """Three updates: a batch without a crash (its *_crash mean is 0 by convention), one with 3
    crash steps at P(continue) 0.2, one with 1 crash step at 0.6. The row's crash mean is over the
    4 crash steps, (3 * 0.2 + 0.6) / 4 = 0.3, not (0 + 0.2 + 0.6) / 3; other metrics are plain means."""
    sums = {}
    for crash_steps, prob, loss in ((0, 0.0, 1.0), (3, 0.2, 2.0), (1, 0.6, 6.0)):
        accumulate(sums, {"wm/crash_steps": crash_steps, "wm/continue_prob_crash": prob, "wm/loss": loss})

    class Agent:  # what _log_row reads of the agent
        updates = type("Counter", (), {"numpy": lambda self: 3})()

    row = _log_row(100, Agent(), time.time(), sums, recent=[])
    assert row["wm/continue_prob_crash"] == pytest.approx(0.3)
    assert row["wm/loss"] == pytest.approx(3.0) and row["wm/crash_steps"] == pytest.approx(4 / 3)
    quiet = {}
    accumulate(quiet, {"wm/crash_steps": 0, "wm/continue_prob_crash": 0.0, "wm/loss": 1.0})
    assert np.isnan(_log_row(100, Agent(), time.time(), quiet, recent=[])["wm/continue_prob_crash"])


def test_evaluate_cli_on_the_checkpoint(smoke_run, tmp_path):
    logdir, _ = smoke_run
    out = tmp_path / "eval.json"
    result = evaluate_main(["--logdir", str(logdir), "--episodes", "2", "--seed", "7", "--json", str(out),
                            "--media", str(tmp_path / "media")])
    for name in ("rollout.gif", "dream.gif", "grid.png"):
        assert (tmp_path / "media" / name).stat().st_size > 1000, name
    saved = json.loads(out.read_text())
    for key in ("mean_return", "stderr_return", "crash_rate", "mean_speed", "episodes"):
        assert key in saved and saved[key] == result[key]
    assert saved["episodes"] == 2


def test_evaluate_cli_repeats_itself(smoke_run):
    """The posterior's latents are sampled; seeding TensorFlow makes a second run give the same
    numbers (without the seed, returns differ from run to run)."""
    logdir, _ = smoke_run
    first, second = (evaluate_main(["--logdir", str(logdir), "--episodes", "3", "--seed", "11"])
                     for _ in range(2))
    assert first == second


def test_evaluate_baseline_slower_never_crashes(tmp_path):
    result = evaluate_main(["--policy", "slower", "--episodes", "2", "--seed", "1000"])
    assert result["crash_rate"] == 0.0 and result["mean_return"] > 18
    assert 19.0 < result["mean_speed"] < 22.0


def test_resume_continues_from_checkpoint(smoke_run):
    logdir, _ = smoke_run
    before = json.loads((logdir / "progress.json").read_text())
    result = run_train("--logdir", str(logdir), "--resume", "--set", "total_steps=360")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resumed:" in result.stdout
    after = json.loads((logdir / "progress.json").read_text())
    assert after["env_steps"] >= 360 and after["updates"] > before["updates"]
    assert after["updates"] == updates_due(after["env_steps"], make_config("smoke"))  # none made twice
    for name in ("eval.csv", "metrics.csv"):  # what was done before the checkpoint is not redone
        steps = [int(row["env_step"]) for row in read_csv(logdir / name)]
        assert steps == sorted(set(steps)), (name, steps)
    assert int(read_csv(logdir / "metrics.csv")[-1]["env_step"]) >= 360


def test_sigkill_then_resume_keeps_every_finished_episode(tmp_path):
    logdir = tmp_path / "killed"
    command = [sys.executable, "-m", "dreamer_lite.train", "--preset", "smoke", "--logdir", str(logdir),
               "--set", "total_steps=900", "checkpoint_every=200", "eval_every=1000", "pretrain=15"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    deadline = time.time() + 300
    while time.time() < deadline:
        progress = logdir / "progress.json"
        if progress.exists() and json.loads(progress.read_text())["updates"] > 0:
            break
        time.sleep(0.5)
    checkpointed = json.loads(progress.read_text())
    while time.time() < deadline and _episode_steps(logdir) < checkpointed["env_steps"] + 30:
        time.sleep(0.2)  # let it collect (and learn on) episodes the checkpoint does not hold
    process.send_signal(signal.SIGKILL)
    process.wait()
    episodes_before = sorted(p.name for p in (logdir / "episodes").glob("*.npz"))
    assert episodes_before and not list((logdir / "episodes").glob(".*.tmp"))
    checkpointed = json.loads(progress.read_text())
    replay_steps = _episode_steps(logdir)
    # smoke preset: prefill 60, train_every 4 -> an update at steps 60, 64, 68, ...
    owed = (replay_steps // 4 - 59 // 4) - checkpointed["updates"]
    assert owed > 0, (replay_steps, checkpointed)  # the kill did lose updates
    result = run_train("--logdir", str(logdir), "--resume", "--set", "total_steps=400")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"caught up {owed} updates" in result.stdout, result.stdout
    assert json.loads(progress.read_text())["updates"] == 400 // 4 - 59 // 4
    episodes_after = {p.name for p in (logdir / "episodes").glob("*.npz")}
    assert set(episodes_before) <= episodes_after
    assert f"resumed: {len(episodes_before)} episodes" in result.stdout
    assert "pretrain" not in result.stdout  # the 15 pretraining updates were done and checkpointed


def _episode_steps(logdir):
    """Env steps in a run's finished episodes (files are named <index>-<steps>.npz)."""
    return sum(int(p.stem.split("-")[1]) for p in (logdir / "episodes").glob("*.npz") if ".tmp" not in p.name)


def test_corrupt_and_mismatched_checkpoints_are_named(tmp_path):
    config = make_config("smoke")
    agent = Agent(config, NUM_ACTIONS)
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="unreadable"):
        load_checkpoint(agent, path)
    save_checkpoint(Agent(make_config("smoke", deter=48), NUM_ACTIONS), path)
    before = [w.numpy().copy() for w in agent.world_model.weights]
    with pytest.raises(CheckpointError, match="another config"):
        load_checkpoint(agent, path)
    for old, new in zip(before, agent.world_model.weights):  # nothing assigned before the check
        np.testing.assert_array_equal(old, new.numpy())


def test_checkpoint_round_trip_restores_weights(tmp_path):
    config = make_config("smoke")
    first, second = Agent(config, NUM_ACTIONS), Agent(config, NUM_ACTIONS)
    save_checkpoint(first, tmp_path / "c.npz")
    load_checkpoint(second, tmp_path / "c.npz")
    for a, b in zip(first.world_model.weights, second.world_model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_weights_only_export_is_smaller_and_drives_the_same(smoke_run, tmp_path):
    """export: a run folder with a weights-only checkpoint that evaluate loads and acts the same."""
    from dreamer_lite.evaluate import load_agent
    from dreamer_lite.export import export_run

    logdir, _ = smoke_run
    path = export_run(logdir, tmp_path / "exported")
    assert path.stat().st_size < 0.5 * (logdir / "checkpoint.npz").stat().st_size
    (original, _), (exported, _) = load_agent(logdir), load_agent(tmp_path / "exported")
    for a, b in zip(original.actor_critic.weights + original.world_model.weights,
                    exported.actor_critic.weights + exported.world_model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for name in ("eval.csv", "starts.jsonl"):  # the record: evaluations, and who started the run how
        assert (tmp_path / "exported" / name).read_text() == (logdir / name).read_text()


def test_behaviour_step_leaves_the_world_model_alone(random_batch):
    config = make_config("smoke", batch_size=2, seq_len=4)
    agent = Agent(config, NUM_ACTIONS)
    batch = random_batch(config)
    model_before = [w.numpy().copy() for w in agent.world_model.weights]
    actor_before = [w.numpy().copy() for w in agent.actor_critic.actor.weights]
    agent.behaviour_step(batch)
    for before, after in zip(model_before, agent.world_model.weights):
        np.testing.assert_array_equal(before, after.numpy())
    assert any(not np.array_equal(b, a.numpy()) for b, a in zip(actor_before, agent.actor_critic.actor.weights))


def test_gpu_preset_trains_at_smoke_size(random_batch):
    """The paper-sized networks of the gpu preset, one update on a tiny batch: finite and learning."""
    import tensorflow as tf

    config = make_config("gpu", batch_size=2, seq_len=4, horizon=3)
    agent = Agent(config, NUM_ACTIONS)
    batch = random_batch(config)
    first = agent.train_step(batch)
    for _ in range(3):
        last = agent.train_step(batch)
    assert all(np.isfinite(float(v)) for v in last.values())
    assert float(last["wm/image_mse"]) < float(first["wm/image_mse"])
    assert agent.world_model.rssm.deter_size == 600 and int(agent.updates.numpy()) == 4
    assert tf.reduce_all(tf.math.is_finite(agent.actor_critic.actor.out.kernel))


def test_updates_due_counts_by_hand():
    """One update at every env step that is a multiple of train_every and >= prefill."""
    cpu = make_config("cpu")  # prefill 2500, train_every 5
    assert [updates_due(s, cpu) for s in (0, 2499, 2500, 2504, 2505, 20_000)] == [0, 0, 1, 1, 2, 3501]
    odd = make_config("smoke", prefill=62, train_every=4)  # first update at step 64
    counted = [sum(1 for t in range(1, s + 1) if t >= 62 and t % 4 == 0) for s in range(0, 120)]
    assert [updates_due(s, odd) for s in range(0, 120)] == counted


def test_explore_epsilon_takes_uniform_actions_and_feeds_them_back():
    """epsilon = 1: every action uniform at random (counts within 4 binomial standard deviations
    of n / 5; with epsilon 0 this untrained agent's greedy choices fail that check), and the
    action actually taken is the one the RSSM sees as a_{t-1} on the next step."""
    from dreamer_lite.evaluate import AgentPolicy
    config = make_config("smoke")
    agent = Agent(config, NUM_ACTIONS)
    frame = np.random.default_rng(0).integers(0, 255, (config.frame_height, config.frame_width, 1), np.uint8)
    explorer = AgentPolicy(agent, greedy=True, epsilon=1.0, seed=3)
    explorer.reset()
    counts = np.zeros(NUM_ACTIONS)
    n = 1000
    for _ in range(n):
        index = explorer(frame)
        counts[index] += 1
        assert np.argmax(explorer.prev_action[0]) == index
    sd = np.sqrt(n * 0.2 * 0.8)
    assert np.all(np.abs(counts - n / 5) < 4 * sd), counts


def test_replay_critic_pulls_the_critic_towards_real_returns(random_batch):
    """Real rewards of 1 per step are worth about 1 / (1 - gamma) = 10; the untrained dream pays
    about 0. Only the critic that also learns from replay (replay_critic) should move towards 10."""
    import tensorflow as tf

    from dreamer_lite.rssm import features

    mean_values = {}
    for beta in (0.0, 1.0):
        tf.keras.utils.set_random_seed(0)
        config = make_config("smoke", batch_size=2, seq_len=8, gamma=0.9, critic_lr=3e-3, replay_critic=beta)
        agent = Agent(config, NUM_ACTIONS)
        batch = random_batch(config, steps=8)._replace(reward=np.ones((2, 8), np.float32))
        for _ in range(30):
            metrics = agent.behaviour_step(batch)
        assert ("critic/replay_loss" in metrics) == (beta > 0)
        wm = agent.world_model
        post, _ = wm.observe(batch.image, batch.action, batch.is_first)
        mean_values[beta] = float(tf.reduce_mean(agent.actor_critic.value(features(post))))
    assert mean_values[1.0] > mean_values[0.0] + 1.0, mean_values
    assert float(metrics["critic/replay_return"]) > 2.0, float(metrics["critic/replay_return"])
