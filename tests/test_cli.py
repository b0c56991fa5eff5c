"""The commands as a user meets them, in real processes: signals at each phase, kills inside a
file write, one-line errors with the right exit codes, a fast --help, reproducible seeds."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dreamer_lite.config import make_config
from dreamer_lite.runs import RunLock
from dreamer_lite.train import updates_due

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
SMOKE = ["--preset", "smoke", "--set", "pretrain=30", "total_steps=330", "eval_every=150",
         "checkpoint_every=100", "log_every=30"]


def command(module, *args):
    return [sys.executable, "-m", f"dreamer_lite.{module}", *map(str, args)]


def run(module, *args, timeout=600):
    return subprocess.run(command(module, *args), capture_output=True, text=True, env=ENV, timeout=timeout)


def episode_names(logdir):
    return {p.name for p in (logdir / "episodes").glob("*.npz")}


def signal_when(args, marker, signum, timeout=300):
    """Start a trainer, send ``signum`` when a stdout line contains ``marker``; returns
    (exit code, stdout)."""
    process = subprocess.Popen(command("train", *args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=ENV)
    lines, deadline = [], time.time() + timeout
    for line in process.stdout:
        lines.append(line)
        if marker in line:
            process.send_signal(signum)
            break
        assert time.time() < deadline, "".join(lines)
    lines.extend(process.stdout)
    return process.wait(timeout=60), "".join(lines)


def test_sigterm_and_sigint_at_every_phase_then_resume_finishes(tmp_path):
    """Prefill (TERM), pretraining (INT), training (TERM), evaluation (INT): each stop writes a
    checkpoint, prints the resume command and exits 128 + signal; resuming loses no finished
    episode, continues pretraining where it stopped and makes no update twice."""
    logdir = tmp_path / "run"
    resume = ["--logdir", logdir, "--resume"]
    stops = [([*SMOKE, "--logdir", logdir], "prefill:", signal.SIGTERM),
             (resume, "pretraining the world model", signal.SIGINT),
             (resume, "steps/s", signal.SIGTERM),
             (resume, "evaluating:", signal.SIGINT)]
    kept = set()
    for args, marker, signum in stops:
        code, output = signal_when(args, marker, signum)
        assert code == 128 + signum, output
        assert "resume with:" in output and f"--logdir {logdir} --resume" in output, output
        assert "Traceback" not in output, output
        assert kept <= episode_names(logdir)
        kept = episode_names(logdir)
        progress = json.loads((logdir / "progress.json").read_text())
        if marker == "pretraining the world model":
            assert progress["pretrain_updates"] < 30, progress
    result = run("train", *resume)
    assert result.returncode == 0, result.stdout + result.stderr
    assert kept <= episode_names(logdir)
    progress = json.loads((logdir / "progress.json").read_text())
    config = make_config("smoke", pretrain=30, total_steps=330)
    assert progress["updates"] == updates_due(330, config) and progress["pretrain_updates"] == 30
    for name in ("metrics.csv", "eval.csv"):
        steps = [int(line.split(",")[0]) for line in (logdir / name).read_text().splitlines()[1:]]
        assert steps == sorted(set(steps)), (name, steps)
    assert "finished: 330 env steps" in result.stdout and "checkpoint:" in result.stdout
    starts = [json.loads(line) for line in (logdir / "starts.jsonl").read_text().splitlines()]
    assert len(starts) == 5 and all(s["version"] and "git_commit" in s for s in starts)


def test_pretraining_is_checkpointed_and_resumes_where_it_stopped(tmp_path):
    logdir = tmp_path / "run"
    args = ["--preset", "smoke", "--logdir", logdir, "--set", "pretrain=450", "total_steps=100"]
    code, output = signal_when(args, "pretrain 300/450", signal.SIGTERM)
    assert code == 143, output
    done = json.loads((logdir / "progress.json").read_text())["pretrain_updates"]
    assert 300 <= done < 450
    code, output = signal_when(["--logdir", logdir, "--resume"], "pretrain 450/450", signal.SIGTERM)
    assert f"pretraining resumes at {done}/450" in output, output


# A trainer whose episode writes stop between the finished temporary file and its rename.
SLOW_WRITE = """
import os, sys, time
real_replace = os.replace
def replace(source, target):
    if "episodes" in str(target) and "000002" in str(target):
        open(sys.argv[-1] + ".written", "w").close()
        time.sleep(600)
    real_replace(source, target)
os.replace = replace
from dreamer_lite.train import main
main(sys.argv[1:-1])
"""


def test_kill_inside_an_episode_write_then_resume(tmp_path):
    logdir = tmp_path / "run"
    marker = tmp_path / "marker"
    process = subprocess.Popen([sys.executable, "-c", SLOW_WRITE, "--preset", "smoke", "--logdir", str(logdir),
                                "--set", "total_steps=150", str(marker)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    deadline = time.time() + 300
    while not Path(f"{marker}.written").exists():
        assert time.time() < deadline and process.poll() is None
        time.sleep(0.2)
    process.kill()
    process.wait()
    leftovers = list((logdir / "episodes").glob(".*.tmp"))
    assert len(leftovers) == 1  # the complete, never renamed file of episode 2
    partial = tmp_path / "partial"
    partial.write_bytes(leftovers[0].read_bytes()[:100])
    (logdir / "episodes" / ".000003-17.npz.tmp").write_bytes(partial.read_bytes())  # cut short
    result = run("train", "--logdir", logdir, "--resume")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "removed .000002" in result.stdout and "removed .000003-17" in result.stdout
    names = sorted(episode_names(logdir))
    assert [int(n.split("-")[0]) for n in names] == list(range(len(names)))  # no gap, no duplicate
    assert not list((logdir / "episodes").glob(".*"))


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("runs") / "small"
    result = run("train", "--preset", "smoke", "--logdir", logdir, "--set", "total_steps=90", "eval_every=90")
    assert result.returncode == 0, result.stdout + result.stderr
    return logdir


def copy_run(source, target):
    subprocess.run(["cp", "-r", str(source), str(target)], check=True)
    return target


def assert_one_line_error(result, code, words):
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert words in result.stderr, result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) <= 3, result.stderr


@pytest.mark.parametrize("args, code, words", [
    (["--preset", "smoke", "--set", "batchsize=3"], 2, "unknown config key 'batchsize'"),
    (["--preset", "smoke", "--set", "gamma=2"], 2, "gamma must be in [0, 1]"),
    (["--preset", "tpu"], 2, "invalid choice: 'tpu'"),
    (["--preset", "smoke", "--set", "env_id=highway-fats-v0"], 1, "unknown environment id"),
])
def test_bad_new_runs(tmp_path, args, code, words):
    result = run("train", *args, "--logdir", tmp_path / "new")
    assert_one_line_error(result, code, words)


def test_empty_logdir_and_logdir_under_a_file(tmp_path):
    assert_one_line_error(run("train", "--preset", "smoke", "--logdir", ""), 2, "--logdir must name a folder")
    (tmp_path / "file").write_text("x")
    assert_one_line_error(run("train", "--preset", "smoke", "--logdir", tmp_path / "file" / "run"), 1,
                          "Check that the folder exists and is writable")


def test_a_run_folder_is_not_overwritten_or_resumed_with_other_shapes(small_run, tmp_path):
    assert_one_line_error(run("train", "--preset", "smoke", "--logdir", small_run), 1, "pass --resume")
    config_before = (small_run / "config.json").read_text()
    assert_one_line_error(run("train", "--logdir", small_run, "--resume", "--set", "cnn_depth=8"), 2,
                          "--resume cannot change cnn_depth")
    assert_one_line_error(run("train", "--logdir", small_run, "--resume", "--preset", "gpu"), 2,
                          "--preset has no effect with --resume")
    assert (small_run / "config.json").read_text() == config_before
    assert_one_line_error(run("train", "--logdir", tmp_path / "nothing", "--resume"), 1, "not found")


@pytest.mark.parametrize("damage, words", [
    (lambda run: (run / "checkpoint.npz").write_bytes((run / "checkpoint.npz").read_bytes()[:1000]), "unreadable"),
    (lambda run: sorted((run / "episodes").glob("*.npz"))[0].write_bytes(b"cut"), "episode file"),
    (lambda run: (run / "config.json").write_text(""), "empty or not valid JSON"),
    (lambda run: (run / "progress.json").write_text(""), "empty or not valid JSON"),
])
def test_damaged_run_folders_are_named(small_run, tmp_path, damage, words):
    logdir = copy_run(small_run, tmp_path / "copy")
    damage(logdir)
    before = {p.name: p.stat().st_mtime for p in logdir.iterdir()}
    assert_one_line_error(run("train", "--logdir", logdir, "--resume", "--set", "total_steps=120"), 1, words)
    assert {p.name: p.stat().st_mtime for p in logdir.iterdir() if p.name != "lock"} == \
        {k: v for k, v in before.items() if k != "lock"}  # nothing written


def test_exported_folder_is_refused_and_export_needs_another_folder(small_run, tmp_path):
    out = tmp_path / "exported"
    assert run("export", "--logdir", small_run, "--out", out).returncode == 0
    (out / "episodes").mkdir()
    assert_one_line_error(run("train", "--logdir", out, "--resume"), 1, "weights-only checkpoint")
    assert_one_line_error(run("export", "--logdir", small_run, "--out", small_run), 2, "--out must differ")


def test_a_second_trainer_is_refused(small_run):
    lock = RunLock(small_run)
    try:
        result = run("train", "--logdir", small_run, "--resume", "--set", "total_steps=120")
    finally:
        lock.release()
    assert_one_line_error(result, 1, "in use by another trainer (pid")


@pytest.mark.parametrize("args, code, words", [
    (["--policy", "slower", "--episodes", "0"], 2, "--episodes must be at least 1"),
    (["--policy", "slower", "--json", "/no/such/folder/e.json"], 2, "does not exist or is not writable"),
    (["--policy", "slower", "--media", "/tmp/media"], 2, "--media draws the agent's dream"),
    (["--logdir", "/no/such/run"], 1, "not found"),
])
def test_bad_evaluations(args, code, words):
    assert_one_line_error(run("evaluate", *args), code, words)


def test_evaluate_console_script_exits_0_and_prints_progress():
    """A console script runs ``sys.exit(main())``: main must return None on success."""
    result = subprocess.run([sys.executable, "-c", "import sys; from dreamer_lite.evaluate import main; "
                             "sys.exit(main(['--policy', 'slower', '--episodes', '2', '--seed', '5']))"],
                            capture_output=True, text=True, env=ENV, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["episodes"] == 2
    assert "episode 2/2" in result.stderr


def test_help_is_fast_and_lists_the_config_keys():
    times = []
    for _ in range(3):
        start = time.time()
        result = run("train", "--help")
        times.append(time.time() - start)
    assert result.returncode == 0 and result.stderr == ""
    assert "world-model loss (chapters 5-6):" in result.stdout and "kl_scale=0.1" in result.stdout
    assert min(times) < 1.0, times
    assert run("train", "--version").stdout.startswith("dreamer_lite ")


def test_start_up_is_quiet(small_run, tmp_path):
    logdir = copy_run(small_run, tmp_path / "copy")
    result = run("train", "--logdir", logdir, "--resume", "--set", "total_steps=100")
    assert result.returncode == 0
    for noise in ("cuInit", "XDG_RUNTIME_DIR", "oneDNN", "absl"):
        assert noise not in result.stdout + result.stderr, noise


def test_same_seed_same_first_updates_other_seed_others(tmp_path):
    losses = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        result = run("train", "--preset", "smoke", "--logdir", tmp_path / name, "--set", f"seed={seed}",
                     "total_steps=130", "log_every=65", "eval_every=1000")
        assert result.returncode == 0, result.stderr
        rows = (tmp_path / name / "metrics.csv").read_text().splitlines()
        header = rows[0].split(",")
        losses[name] = np.array([float(row.split(",")[header.index("wm/loss")]) for row in rows[1:]])
    np.testing.assert_allclose(losses["a"], losses["b"], rtol=0, atol=1e-3)
    assert np.abs(losses["a"] - losses["c"]).max() > 0.1, (losses["a"], losses["c"])  # ~3800 each
