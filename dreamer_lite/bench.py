"""Benchmark: the update step against the machine's own peak and against another revision.

    python -m dreamer_lite.bench --preset cpu
    python -m dreamer_lite.bench --preset cpu --compare e4eda8a --json bench.json
    python -m dreamer_lite.bench --preset cpu --compare e4eda8a --set precision=float32
    python -m dreamer_lite.bench --preset gpu --quick          # the GPU check (experiments/gpu_bench.sh)

Everything is measured in one process, so every number can be read against the others:

* the machine's peak: GFLOP/s of a plain float32 and bfloat16 matmul at a few sizes;
* the work of one ``pretrain_step`` (world model only) and one ``train_step`` (world model,
  imagination, actor and critic): the FLOPs of every matmul and convolution in the traced graph,
  forward and backward (:func:`dense_flops`), and the GFLOP/s each achieves as a share of the peak;
  also the ops of one ``train_step`` (:func:`kernel_count`), the floor of its time on a GPU;
* median wall time after warm-up of a raw ``highway-fast-v0`` step (highway-env with our
  observation config), a wrapped step (our frame pipeline), an acting step (``agent.act``), a
  replay sample, a world-model update (``pretrain_step``), a behaviour update (``behaviour_step``:
  it also runs the posterior forward, since it has no world-model update to take it from) and a
  full ``train_step``;
* the training phase's env steps per second that these imply at the preset's ``train_every``,

      steps/s = train_every / (train_every * (wrapped step + act) + replay sample + train_step),

  next to the rate of a short real loop of collect -> record -> update, as in train.py.

``--compare REV`` checks REV out in a temporary ``git worktree`` and imports its package under
another name beside this tree's, so both run in this process on this machine. Every measurement
alternates between the two (one call of one, one call of the other), and the speed-up of each
row is the median of those paired ratios: a speed claim is always a ratio measured in one run.
From the other revision it uses only what exists since e4eda8a: ``make_config``, ``Agent``
(``pretrain_step``, ``train_step``, ``behaviour_step``, ``act``, ``initial_policy_state``),
``make_env``, ``NUM_ACTIONS``, ``Replay`` and ``EpisodeRecorder``. ``--set KEY=VALUE`` changes
this tree's config only (e.g. ``precision=float32``), to measure one lever at a time.

TensorFlow is imported inside the functions that use it, so that ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

# How many timed calls each measurement makes (after two warm-up calls), per preset: updates,
# acting and env steps, and chunks of the real training loop (``chunk`` updates each).
REPEATS = {
    "smoke": dict(updates=3, steps=10, loop_chunks=2, chunk=2),
    "cpu": dict(updates=10, steps=40, loop_chunks=5, chunk=3),
    "gpu": dict(updates=10, steps=40, loop_chunks=5, chunk=3),
}
QUICK = dict(updates=5, steps=20, loop_chunks=3, chunk=3)  # --quick: one short GPU check
MATMUL_SIZES = {"CPU": (512, 1024, 2048), "GPU": (1024, 4096, 8192)}
DENSE_OPS = ("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Conv2D",
             "Conv2DBackpropInput", "Conv2DBackpropFilter")
LOOP_OPS = ("While", "StatelessWhile")


# --- counting operations ------------------------------------------------------------------
def op_flops(op) -> int:
    """FLOPs of one matmul or 2-D convolution op (0 for any other op); a multiply-add is 2.

        MatMul (M, K) x (K, N):                     2 M N K
        Conv2D, input x (N, H, W, Cin), kernel (kh, kw, Cin, Cout), output y:
            forward (y = conv(x)):                  2 |y| kh kw Cin
            gradient w.r.t. x or the kernel:        2 |dy| kh kw Cin   (the same multiply-adds)

    ``Conv2DBackpropInput`` is also the forward pass of a transposed convolution; its "dy" is
    then the transposed convolution's input. Shapes must be fully known.
    """
    if op.type in DENSE_OPS and not all(t.shape.is_fully_defined() for t in [*op.inputs, *op.outputs]):
        raise ValueError(f"{op.name} ({op.type}) has shapes unknown at trace time")
    if op.type == "MatMul":
        a = op.inputs[0].shape
        inner = a[0] if op.get_attr("transpose_a") else a[1]
        return 2 * int(np.prod(op.outputs[0].shape)) * inner
    if op.type.startswith("BatchMatMul"):
        a = op.inputs[0].shape
        inner = a[-2] if op.get_attr("adj_x") else a[-1]
        return 2 * int(np.prod(op.outputs[0].shape)) * inner
    if op.type == "Conv2D":
        kh, kw, cin, _ = op.inputs[1].shape
        return 2 * int(np.prod(op.outputs[0].shape)) * kh * kw * cin
    if op.type == "Conv2DBackpropInput":  # inputs: input_sizes, kernel, dy
        kh, kw, cin, _ = op.inputs[1].shape
        return 2 * int(np.prod(op.inputs[2].shape)) * kh * kw * cin
    if op.type == "Conv2DBackpropFilter":  # inputs: x, filter_sizes, dy; output: the kernel
        kh, kw, cin, _ = op.outputs[0].shape
        return 2 * int(np.prod(op.inputs[2].shape)) * kh * kw * cin
    return 0


def graph_ops(graph):
    """Every op of a traced graph (``concrete_function.graph``) and of the functions it calls
    (a nested ``tf.function``; both branches of a ``tf.cond``, an upper bound).

    Loops count by their trip count: the RSSM's ``observe`` and ``imagine`` are Python loops,
    unrolled when traced, so every step is its own ops. A ``tf.while_loop`` would hide its trip
    count from a static count, so a graph with one is refused.
    """
    for op in graph.get_operations():
        if op.type in LOOP_OPS:
            raise ValueError(f"{op.name} is a tf.while_loop: a static count cannot know its trip count")
        yield op
        for attr in ("f", "then_branch", "else_branch", "branches"):
            try:
                value = op.get_attr(attr)
            except ValueError:
                continue
            for function in value if isinstance(value, list) else [value]:
                yield from graph_ops(graph._get_function(function.name).graph)


def dense_flops(graph) -> int:
    """FLOPs of all matmuls and convolutions in a traced graph (:func:`op_flops`)."""
    return sum(op_flops(op) for op in graph_ops(graph))


def kernel_count(graph) -> int:
    """Ops that run a kernel at every call: all but constants, placeholders and no-ops. On a
    GPU each is at least one kernel launch (some microseconds), however small its tensors."""
    return sum(op.type not in ("Const", "Placeholder", "NoOp") for op in graph_ops(graph))


def matmul_peak(dtype, sizes, repeats: int = 10) -> dict:
    """GFLOP/s of an (n, n) x (n, n) matmul (2 n^3 FLOPs): the fastest of ``repeats`` timed
    calls, since a peak is the best the machine does (on a shared machine, the least disturbed)."""
    import tensorflow as tf

    matmul = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))  # fetch a scalar, not n^2
    peak = {}
    for n in sizes:
        a, b = (tf.cast(tf.random.normal([n, n]), dtype) for _ in range(2))
        matmul(a, b).numpy()  # warm-up (trace)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            matmul(a, b).numpy()
            times.append(time.perf_counter() - start)
        peak[n] = 2 * n**3 / min(times) / 1e9
    return peak


# --- one revision under test --------------------------------------------------------------
def import_package(tree: Path, name: str) -> SimpleNamespace:
    """The modules of ``tree/dreamer_lite``, imported as the package ``name``. The package's
    modules import each other relatively, so a copy under another name runs its own code."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, tree / "dreamer_lite" / "__init__.py",
            submodule_search_locations=[str(tree / "dreamer_lite")])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    modules = ("config", "agent", "environment", "replay")
    return SimpleNamespace(**{m: importlib.import_module(f"{name}.{m}") for m in modules})


class Subject:
    """One revision's agent, environments and replay at one preset, and the calls to time.

    Three environments: one stepped raw (highway-env with our observation config, without our
    wrapper), one stepped through our frame pipeline, and one that the agent drives and records
    into replay. Timed env steps take random actions; a finished episode restarts inside the
    next call (about one call in twenty, which the median leaves out).
    """

    def __init__(self, label: str, package: SimpleNamespace, config, episodes: Path,
                 workdir: Path, batches: list, seed: int = 0):
        import tensorflow as tf

        self.label, self.package, self.config = label, package, config
        self.num_actions = package.environment.NUM_ACTIONS
        tf.random.set_seed(seed)
        self.agent = package.agent.Agent(self.config, self.num_actions)
        self.raw_env = package.environment.make_env(self.config).env
        self.wrapped_env = package.environment.make_env(self.config)
        self.env = package.environment.make_env(self.config)
        shutil.copytree(episodes, workdir)
        self.replay = package.replay.Replay(workdir, self.config.seq_len, self.num_actions, seed=seed)
        self.batches = itertools.cycle(batches)  # the updates' batches, the same for every subject
        self.rng = np.random.default_rng(seed)
        self.greedy = tf.constant(False)
        self.seeds = iter(range(20_000_000 + 1000 * seed, 21_000_000))
        self.done = {"raw": True, "wrapped": True}
        self._start_episode()

    def random_step(self, which: str) -> None:
        """One random-action step of the raw or the wrapped environment."""
        env = self.raw_env if which == "raw" else self.wrapped_env
        if self.done[which]:
            env.reset(seed=next(self.seeds))
        _, _, terminated, truncated, _ = env.step(int(self.rng.integers(self.num_actions)))
        self.done[which] = terminated or truncated

    def act(self) -> int:
        """One ``agent.act`` on the latest frame of the driven env; returns the action index."""
        import tensorflow as tf

        action, self.state = self.agent.act(self.state, self.prev_action, self.prev_frame[None],
                                            self.frame[None], tf.constant([self.is_first], tf.float32),
                                            self.greedy)
        self.prev_frame = self.frame
        index = int(np.argmax(action.numpy()[0]))
        self.prev_action = tf.one_hot([index], self.num_actions)
        self.is_first = False
        return index

    def sample(self):
        return self.replay.sample(self.config.batch_size)

    def update(self, kind: str, batch=None) -> None:
        """One ``pretrain_step`` / ``behaviour_step`` / ``train_step`` on ``batch`` (by default
        the next of the fixed batches), its metrics fetched."""
        metrics = getattr(self.agent, kind)(next(self.batches) if batch is None else batch)
        for value in metrics.values():
            value.numpy()

    def collect_and_train(self, updates: int) -> int:
        """The training phase of train.py: ``train_every`` env steps acting with the agent
        (finished episodes saved to replay), then one ``train_step``; returns env steps made."""
        for _ in range(updates):
            for _ in range(self.config.train_every):
                self._record_step(self.act())
            self.update("train_step", self.sample())
        return updates * self.config.train_every

    def traced_graph(self, kind: str):
        """The graph of ``pretrain_step`` or ``train_step`` as traced for the fixed batches."""
        batch = next(self.batches)
        return getattr(self.agent, kind).get_concrete_function(batch).graph

    def _start_episode(self) -> None:
        self.frame, _ = self.env.reset(seed=next(self.seeds))
        self.prev_frame = self.frame
        self.episode = self.package.replay.EpisodeRecorder(self.frame)
        self.state, self.prev_action = self.agent.initial_policy_state()
        self.is_first = True

    def _record_step(self, action: int) -> None:
        self.frame, reward, terminated, truncated, _ = self.env.step(action)
        self.episode.add(action, self.frame, reward, terminated)
        if terminated or truncated:
            self.replay.add(self.episode.arrays())
            self._start_episode()


def random_episodes(package: SimpleNamespace, config, directory: Path, min_steps: int) -> None:
    """Random-policy episodes (at least ``min_steps`` env steps) saved as replay files."""
    env = package.environment.make_env(config)
    replay = package.replay.Replay(directory, config.seq_len, package.environment.NUM_ACTIONS)
    rng = np.random.default_rng(0)
    while replay.env_steps < min_steps:
        frame, _ = env.reset(seed=30_000_000 + replay.num_episodes)
        episode = package.replay.EpisodeRecorder(frame)
        done = False
        while not done:
            action = int(rng.integers(package.environment.NUM_ACTIONS))
            frame, reward, terminated, truncated, _ = env.step(action)
            episode.add(action, frame, reward, terminated)
            done = terminated or truncated
        replay.add(episode.arrays())


# --- measuring, alternating between subjects ----------------------------------------------
START = time.perf_counter()


def progress(text: str) -> None:
    """A progress line on stderr (the table goes to stdout)."""
    print(f"[bench {time.perf_counter() - START:5.0f} s] {text}", file=sys.stderr, flush=True)


def time_alternating(subjects: list, call, repeats: int, warmup: int) -> list[list[float]]:
    """Seconds of ``call(subject)``, alternating subjects call by call: times[i][r]."""
    for _ in range(warmup):
        for subject in subjects:
            call(subject)
    times = [[] for _ in subjects]
    for _ in range(repeats):
        for i, subject in enumerate(subjects):
            start = time.perf_counter()
            call(subject)
            times[i].append(time.perf_counter() - start)
    return times


def measure(subjects: list, repeats: dict) -> list[dict]:
    """Every timing, FLOP count and rate of the module docstring, one dict per subject."""
    steps, updates, chunk = repeats["steps"], repeats["updates"], repeats["chunk"]
    timed = {  # name: (call, timed calls, warm-up calls)
        "raw_env_step": (lambda s: s.random_step("raw"), steps, 2),
        "wrapped_env_step": (lambda s: s.random_step("wrapped"), steps, 2),
        "act": (lambda s: s.act(), steps, 2),
        "replay_sample": (lambda s: s.sample(), steps, 2),
        "world_model_update": (lambda s: s.update("pretrain_step"), updates, 2),
        "behaviour_update": (lambda s: s.update("behaviour_step"), updates, 2),
        "train_step": (lambda s: s.update("train_step"), updates, 2),
        "training_loop": (lambda s: s.collect_and_train(chunk), repeats["loop_chunks"], 0),
    }
    results = [{"label": s.label, "times_s": {}} for s in subjects]
    for name, (call, n, warmup) in timed.items():
        progress(f"timing {name}")
        for result, times in zip(results, time_alternating(subjects, call, n, warmup)):
            result["times_s"][name] = times
    for result, subject in zip(results, subjects):
        times = result["times_s"]
        median = {name: float(np.median(t)) for name, t in times.items()}
        every = subject.config.train_every
        cycle = every * (median["wrapped_env_step"] + median["act"]) + median["replay_sample"] \
            + median["train_step"]
        graphs = {kind: subject.traced_graph(kind) for kind in ("pretrain_step", "train_step")}
        gflop = {kind: dense_flops(graph) / 1e9 for kind, graph in graphs.items()}
        result.update(
            median_s=median, gflop=gflop, train_every=every,
            kernels={kind: kernel_count(graph) for kind, graph in graphs.items()},
            achieved_gflop_per_s={"pretrain_step": gflop["pretrain_step"] / median["world_model_update"],
                                  "train_step": gflop["train_step"] / median["train_step"]},
            implied_env_steps_per_s=every / cycle,
            measured_env_steps_per_s=len(times["training_loop"]) * chunk * every
            / sum(times["training_loop"]),
        )
    return results


# --- the table ----------------------------------------------------------------------------
TIME_ROWS = [("raw_env_step", "raw env step"), ("wrapped_env_step", "wrapped env step"),
             ("act", "agent.act"), ("replay_sample", "replay sample"),
             ("world_model_update", "world-model update (pretrain_step)"),
             ("behaviour_update", "behaviour update (behaviour_step)"),
             ("train_step", "train_step")]


def speedups(reference: dict, candidate: dict) -> dict:
    """How many times faster ``candidate`` is than ``reference``, per row, as [median, 25th,
    75th percentile]: of the paired time ratios reference_r / candidate_r for timed rows (the
    two calls of pair r ran back to back), of the real loop's chunks for the measured rate (per
    env step: a chunk holds ``chunk * train_every`` env steps, so the chunk-time ratio is scaled by
    candidate train_every / reference train_every); a plain ratio (three equal numbers) for the
    FLOPs (fewer is faster) and the implied rate."""
    ratios = {name: np.divide(reference["times_s"][name], times) for name, times in candidate["times_s"].items()}
    ratios["measured_env_steps_per_s"] = (ratios.pop("training_loop") * candidate["train_every"]
                                          / reference["train_every"])
    ratios = {name: list(np.percentile(ratio, [50, 25, 75])) for name, ratio in ratios.items()}
    plain = {f"gflop_{k}": reference["gflop"][k] / candidate["gflop"][k] for k in reference["gflop"]}
    rate = "implied_env_steps_per_s"
    plain[rate] = candidate[rate] / reference[rate]
    ratios.update({name: [value] * 3 for name, value in plain.items()})
    return ratios


def number(value: float) -> str:
    """Three or four significant digits without an exponent: 1234, 70.1, 2.35, 0.0312."""
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}" if value >= 0.001 else f"{value:.1e}"


def speedup_text(median: float, low: float, high: float) -> str:
    """'2.10x (1.95-2.24)': the median and, where there is one, the interquartile range."""
    return f"{median:.2f}x" + (f" ({low:.2f}-{high:.2f})" if high > low else "")


def table(report: dict) -> str:
    """The report as a text table: one column per revision, and the speed-up with --compare."""
    runs, ratio = report["runs"], report.get("speedup", {})
    peak = {dtype: max(report["peak"][dtype].values()) for dtype in ("float32", "bfloat16")}
    rows = [["", *[r["label"] for r in runs], *(["speed-up"] if ratio else [])]]

    def add(text, cells, key=None):
        rows.append([text, *cells, *([speedup_text(*ratio[key]) if key else ""] if ratio else [])])

    sizes = ", ".join(str(n) for n in report["peak"]["float32"])
    add(f"matmul peak float32, GFLOP/s (n = {sizes})", [f"{peak['float32']:.0f}"] * len(runs))
    add("matmul peak bfloat16, GFLOP/s", [f"{peak['bfloat16']:.0f}"] * len(runs))
    for kind in ("pretrain_step", "train_step"):
        add(f"GFLOP per {kind} (matmuls + convs)", [number(r["gflop"][kind]) for r in runs],
            f"gflop_{kind}")
    add("ops (kernels) per train_step", [str(r["kernels"]["train_step"]) for r in runs])
    for name, text in TIME_ROWS:
        add(f"{text}, ms", [number(1000 * r["median_s"][name]) for r in runs], name)
    for kind in ("pretrain_step", "train_step"):
        add(f"{kind}: GFLOP/s, % of float32 / bfloat16 peak",
            [f"{number(a)}, {100 * a / peak['float32']:.0f}% / {100 * a / peak['bfloat16']:.0f}%"
             for a in (r["achieved_gflop_per_s"][kind] for r in runs)])
    every = " / ".join(str(r["train_every"]) for r in runs)
    add(f"training env steps/s implied (train_every {every})",
        [number(r["implied_env_steps_per_s"]) for r in runs], "implied_env_steps_per_s")
    add("training env steps/s measured (real loop)",
        [number(r["measured_env_steps_per_s"]) for r in runs], "measured_env_steps_per_s")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths))) for row in rows]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


# --- the command line ---------------------------------------------------------------------
def worktree(revision: str, directory: Path) -> Path:
    """Check ``revision`` out (detached) into ``directory`` with ``git worktree add``."""
    root = Path(__file__).resolve().parent.parent
    subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", "--quiet", str(directory),
                    revision], check=True)
    return directory


def machine() -> dict:
    import tensorflow as tf

    return {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
            "tensorflow": tf.__version__, "python": platform.python_version()}


def run(args) -> dict:
    """Build the subjects (this tree, and ``--compare``'s revision first), measure, report."""
    import tensorflow as tf  # here, not at the top: ``--help`` answers without loading TF

    repeats = QUICK if args.quick else REPEATS[args.preset]
    if args.repeats:
        repeats = {**repeats, "updates": args.repeats}
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="dreamer_bench_") as temp:
        temp = Path(temp)
        this = import_package(root, "dreamer_lite")
        overrides = dict(this.config.parse_override(text) for text in args.set)
        config = this.config.make_config(args.preset, **overrides)
        packages = [(" ".join(["this tree", *args.set]), this, config)]
        if args.compare:
            tree = worktree(args.compare, temp / "tree")
            other = import_package(tree, "dreamer_lite_compared")
            packages.insert(0, (args.compare, other, other.config.make_config(args.preset)))
        try:
            progress("random episodes for the replay")
            random_episodes(this, config, temp / "episodes", 4 * config.seq_len)
            replay = this.replay.Replay(temp / "episodes", config.seq_len, this.environment.NUM_ACTIONS)
            batches = [replay.sample(config.batch_size) for _ in range(4)]
            progress("building the agents")
            subjects = [Subject(label, package, package_config, temp / "episodes", temp / f"replay{i}",
                                batches)
                        for i, (label, package, package_config) in enumerate(packages)]
            report = {"preset": args.preset, "machine": machine(), "load_average_start": os.getloadavg(),
                      "repeats": repeats}
            progress("matmul peak")
            report["peak"] = {name: matmul_peak(dtype, MATMUL_SIZES[device])
                              for name, dtype in (("float32", tf.float32), ("bfloat16", tf.bfloat16))}
            report["runs"] = measure(subjects, repeats)
            report["load_average_end"] = os.getloadavg()
        finally:
            if args.compare:
                subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force",
                                str(temp / "tree")], check=False)
    for result in report["runs"]:
        result["achieved_fraction_of_peak"] = {
            dtype: {kind: gflops / max(report["peak"][dtype].values())
                    for kind, gflops in result["achieved_gflop_per_s"].items()}
            for dtype in ("float32", "bfloat16")}
    if args.compare:
        report["speedup"] = speedups(*report["runs"])
    return report


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="cpu", help="smoke | cpu (default) | gpu")
    parser.add_argument("--compare", metavar="REV", help="also measure git revision REV, alternating")
    parser.add_argument("--json", metavar="OUT", help="write the full report (every timing) here")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="override fields of this tree's config (not --compare's); the batch "
                             "shape must stay the same")
    parser.add_argument("--repeats", type=int, help="timed calls per update measurement")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a short GPU check)")
    args = parser.parse_args(argv)
    if args.preset not in REPEATS:
        parser.error(f"unknown preset {args.preset!r}; choose one of {sorted(REPEATS)}")
    report = run(args)
    print(f"preset {args.preset} | {report['machine']['processor']}, {report['machine']['cpus']} CPUs, "
          f"GPUs {report['machine']['gpus'] or 'none'} | TF {report['machine']['tensorflow']} | load "
          f"{report['load_average_start'][0]:.1f} -> {report['load_average_end'][0]:.1f}")
    print(table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
