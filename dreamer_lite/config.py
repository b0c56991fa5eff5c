"""Configuration: one dataclass, three presets.

Every number the agent uses lives in :class:`Config`, with a one-line comment per field.
Presets:

* ``smoke``: seconds on a laptop; used by the tests and by CI.
* ``cpu``: the default; 28k env steps in about 1.5 hours on two CPU cores with bfloat16 instructions
  (the appendix's cpu-v run), about 4.5 hours on two without them (cpu-v-seed1).
* ``gpu``: the paper's sizes (conv depth 48, GRU 600, 32 x 32 latents, batch 16 x 50).

``make_config("cpu", batch_size=8)`` builds a preset and overrides fields. Unknown keys and bad
values raise :class:`ConfigError` with a message that names the key and says what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import json
import re
from dataclasses import dataclass


class ConfigError(ValueError):
    """A configuration key or value that cannot be used."""


@dataclass(frozen=True)
class Config:
    # --- environment (chapter 1) ---
    env_id: str = "highway-fast-v0"  # the highway-env task
    frame_width: int = 128  # pixels along the road (multiple of 16)
    frame_height: int = 32  # pixels across the road (multiple of 16)
    scaling: float = 1.6  # pixels per metre
    centering_x: float = 0.3  # where the ego sits along the frame width (fraction)
    gray_weights: tuple = (0.0, 0.0, 1.0)  # RGB -> grey weights: the blue channel (cars 255)
    supersample: int = 4  # render k times larger, then average k x k blocks (solid car bodies)
    speedometer: bool = True  # draw the ego's speed as a bar on the frame's bottom row

    # --- networks (chapter 2) ---
    cnn_depth: int = 16  # channels of the first conv layer; doubles at each of 4 layers
    encoder_frames: int = 1  # frames the encoder sees: 1, or 2 (the previous frame beside the current)
    mlp_units: int = 200  # width of the reward, continue, actor and critic MLPs
    mlp_layers: int = 2  # hidden layers of those MLPs
    precision: str = "float32"  # "mixed_bfloat16": matmuls, convs in bfloat16; "auto": where hardware has it

    # --- latent state (chapters 3-4) ---
    deter: int = 200  # size of the GRU state h
    hidden: int = 200  # width of the dense layers inside the RSSM
    stoch: int = 32  # number of independent categorical latents
    classes: int = 16  # classes per categorical latent
    unimix: float = 0.01  # DreamerV3 option: mix this much uniform into latent categoricals

    # --- world-model loss (chapters 5-6) ---
    kl_alpha: float = 0.8  # KL balancing: share of the KL gradient that trains the prior
    kl_scale: float = 0.1  # weight of the KL term
    free_nats: float = 1.0  # KL below this (per step, summed over latents) is not penalised
    continue_scale: float = 5.0  # weight of the continuation (discount) loss
    reward_scale: float = 1.0  # weight of the reward loss (DreamerV2's loss_scales.reward)
    prior_heads: float = 0.0  # weight of the reward and continue losses on prior features (not DreamerV2)
    overshoot: int = 1  # steps the prior predicts ahead in the KL term; > 1: latent overshooting (not DreamerV2)
    model_lr: float = 3e-4  # Adam learning rate of the world model

    # --- behaviour (chapters 7-8) ---
    horizon: int = 15  # imagination steps
    gamma: float = 0.99  # discount per step (DreamerV2: 0.99 by default, 0.999 on Atari)
    lambda_: float = 0.95  # lambda of the lambda-return
    actor_entropy: float = 3e-3  # entropy bonus of the actor
    actor_grad_rho: float = 1.0  # 1 = REINFORCE, 0 = straight-through dynamics gradients
    actor_unimix: float = 0.01  # DreamerV3 option: uniform mix in the policy
    return_norm: bool = True  # DreamerV3 option: scale advantages by the 5-95% return range
    replay_critic: float = 0.0  # DreamerV3 option: weight of a critic loss on real replay returns
    slow_critic_every: int = 100  # copy the critic into the slow critic every N updates
    actor_lr: float = 4e-5  # Adam learning rate of the actor
    critic_lr: float = 1e-4  # Adam learning rate of the critic
    adam_eps: float = 1e-5  # Adam epsilon for all three optimisers
    grad_clip: float = 100.0  # global gradient-norm clip for all three optimisers

    # --- training loop (chapter 9) ---
    batch_size: int = 16  # sequences per update
    seq_len: int = 32  # steps per sequence
    train_every: int = 5  # env steps between updates
    prefill: int = 2500  # random-policy env steps before the first update
    pretrain: int = 1000  # world-model-only updates on the prefill data before the first update
    total_steps: int = 20_000  # env steps of the whole run
    explore_epsilon: float = 0.0  # chance of a uniformly random action while collecting
    crash_share: float = 0.0  # share of each batch's sequences drawn to hold a crash (prioritize_ends)
    eval_every: int = 2500  # env steps between evaluations
    eval_episodes: int = 5  # episodes per evaluation (policy mode, held-out seeds)
    log_every: int = 500  # env steps between metric rows
    checkpoint_every: int = 2500  # env steps between checkpoints
    seed: int = 0  # seeds everything random: weights, latents, exploration, replay, episodes

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def __post_init__(self):
        _validate(self)


# What chapter 9's cpu runs taught about driving highway-fast-v0 (cpu-i, cpu-l): see PRESETS.
DRIVING = dict(explore_epsilon=0.1, gamma=0.985, actor_entropy=0.01)

PRESETS: dict[str, dict] = {
    "smoke": dict(
        cnn_depth=4, mlp_units=32, mlp_layers=1, deter=32, hidden=32, stoch=4, classes=4,
        horizon=5, batch_size=4, seq_len=8, train_every=4, prefill=60, total_steps=300,
        eval_every=150, eval_episodes=1, log_every=60, checkpoint_every=150, model_lr=3e-3,
        pretrain=0,
    ),
    # The defaults above, plus what chapter 9's runs found this small agent needs (cpu-l):
    # random actions in the replay, a lower price of a crash, and an entropy bonus that keeps
    # the lane change to the left above the policy's uniform-mix floor. bfloat16 arithmetic
    # makes an update about 1.2x faster on a CPU with AVX512-BF16 and several times slower on one
    # without, so "auto" takes it only where the hardware has it (python -m dreamer_lite.bench).
    # A recurrent state and RSSM layers of 400 units, not 200: on two seeds (cpu-v, cpu-v-seed1
    # against cpu-m, cpu-m-seed1-28k, on the same 200 fresh episodes) it returned 0.47 and 0.90
    # more and crashed no more often, at 0.88x the env steps/s.
    "cpu": dict(**DRIVING, deter=400, hidden=400, total_steps=28_000, precision="auto"),
    # The paper's sizes with the same driving settings: they belong to the task (what the replay
    # holds, the price of a crash in a 30-step episode, the entropy bonus on advantages scaled
    # by the return range), not to the network's size. "auto" computes in bfloat16 on an A100,
    # L4 or H100, in float32 on a T4 (no bfloat16 path). Its learning at this size is untested.
    # Replay sampling stays uniform (crash_share 0): a uniform batch already holds a crash in
    # about 4 of 16 sequences, and cpu-n's reserved crash sequences made a slower driver.
    "gpu": dict(
        **DRIVING,
        cnn_depth=48, mlp_units=400, mlp_layers=4, deter=600, hidden=600, stoch=32, classes=32,
        batch_size=16, seq_len=50, train_every=5, prefill=5000, total_steps=200_000,
        eval_every=5000, eval_episodes=10, checkpoint_every=5000, log_every=1000, model_lr=2e-4,
        precision="auto",
    ),
}

_FIELDS = {f.name: f for f in dataclasses.fields(Config)}
PRECISIONS = ("float32", "mixed_bfloat16", "auto")


def make_config(preset: str = "cpu", **overrides) -> Config:
    """Build a preset and apply ``overrides``; unknown presets or keys raise ConfigError."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    for key in overrides:
        check_key(key)
    return Config(**{**PRESETS[preset], **overrides})


def check_key(key: str) -> None:
    """Refuse an unknown config key, suggesting the closest known one."""
    if key not in _FIELDS:
        close = difflib.get_close_matches(key, _FIELDS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(f"unknown config key {key!r}{hint}; `--help` lists every key")


# Keys a resumed run may not change: they set the shape of a weight, or what the frames in its
# replay show.
FIXED_ON_RESUME = frozenset({
    "env_id", "frame_width", "frame_height", "scaling", "centering_x", "gray_weights", "supersample",
    "speedometer", "cnn_depth", "encoder_frames", "mlp_units", "mlp_layers", "deter", "hidden",
    "stoch", "classes"})


def resume_config(saved: Config, overrides: dict) -> tuple[Config, dict]:
    """The saved config of a run with ``overrides`` applied, and the changes {key: [old, new]}.

    Keys in FIXED_ON_RESUME are refused: the checkpoint's weights or the replay's frames would
    not fit the new value.
    """
    changes = {key: [getattr(saved, key), value] for key, value in overrides.items()
               if getattr(saved, key) != value}
    fixed = sorted(set(changes) & FIXED_ON_RESUME)
    if fixed:
        raise ConfigError(f"--resume cannot change {', '.join(fixed)}: the run's weights or frames "
                          "depend on it. Start a new --logdir to train with another value.")
    return dataclasses.replace(saved, **overrides), changes


def config_help(preset: str = "cpu") -> str:
    """Every config key, grouped as in :class:`Config`, with its value in ``preset`` and its
    one-line comment (for ``--help``)."""
    values = make_config(preset).to_dict()
    lines = []
    for line in inspect.getsource(Config).splitlines():
        group = re.match(r"\s*# --- (.+) ---", line)
        key = re.match(r"\s*(\w+): [^=]+= .*?#\s*(.*)", line)
        if group:
            lines.append(f"  {group.group(1)}:")
        elif key and key.group(1) in values:
            setting = f"{key.group(1)}={values[key.group(1)]}".replace(" ", "")
            lines.append(f"    {setting:<28} {key.group(2)}")
    return "\n".join(lines)


def parse_override(text: str) -> tuple[str, object]:
    """Parse one ``key=value`` command-line override into a typed (key, value) pair."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form key=value (e.g. batch_size=8)")
    key, raw = text.split("=", 1)
    check_key(key)
    kind = type(_FIELDS[key].default)
    try:
        if kind is bool:
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return key, raw.lower() in ("true", "1")
        if kind is tuple:
            return key, tuple(float(v) for v in raw.strip("()").split(","))
        return key, kind(raw)
    except ValueError:
        raise ConfigError(f"config key {key!r} needs a {kind.__name__}, got {raw!r}") from None


def load_config(path) -> Config:
    """Read a config saved by :meth:`Config.to_json` (``config.json`` in every run folder).

    A key missing from an older file takes today's default, so when a default changes, the
    committed run folders get the value they ran with written into their config.json."""
    with open(path) as f:
        values = json.load(f)
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"{path}: unknown config key(s) {unknown}")
    values["gray_weights"] = tuple(values["gray_weights"])
    return Config(**values)


def _validate(config: Config) -> None:
    """Refuse values that cannot work, naming the key and the allowed range."""
    problems = []
    for name, f in _FIELDS.items():
        value = getattr(config, name)
        kind = type(f.default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            object.__setattr__(config, name, float(value))
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            problems.append(f"{name} must be a {kind.__name__}, got {value!r}")
    if problems:
        raise ConfigError("; ".join(problems))

    def need(ok, message):
        if not ok:
            problems.append(message)

    positive_ints = ["frame_width", "frame_height", "cnn_depth", "mlp_units", "mlp_layers",
                     "deter", "hidden", "stoch", "classes", "horizon", "slow_critic_every",
                     "batch_size", "seq_len", "train_every", "total_steps", "eval_every",
                     "eval_episodes", "log_every", "checkpoint_every", "supersample"]
    for name in positive_ints:
        need(getattr(config, name) >= 1, f"{name} must be >= 1, got {getattr(config, name)}")
    for name in ("frame_width", "frame_height"):
        need(getattr(config, name) % 16 == 0,
             f"{name} must be a multiple of 16 (four stride-2 convs), got {getattr(config, name)}")
    need(config.encoder_frames in (1, 2),
         f"encoder_frames must be 1 or 2, got {config.encoder_frames}")
    need(config.classes >= 2, f"classes must be >= 2, got {config.classes}")
    need(config.seq_len >= 2, f"seq_len must be >= 2, got {config.seq_len}")
    need(1 <= config.overshoot < config.seq_len,
         f"overshoot must be at least 1 and less than seq_len ({config.seq_len}), got {config.overshoot}")
    for name in ("kl_alpha", "gamma", "lambda_", "actor_grad_rho", "centering_x",
                 "explore_epsilon", "crash_share"):
        need(0.0 <= getattr(config, name) <= 1.0,
             f"{name} must be in [0, 1], got {getattr(config, name)}")
    for name in ("unimix", "actor_unimix"):
        need(0.0 <= getattr(config, name) < 1.0,
             f"{name} must be in [0, 1), got {getattr(config, name)}")
    for name in ("scaling", "model_lr", "actor_lr", "critic_lr", "adam_eps", "grad_clip"):
        need(getattr(config, name) > 0, f"{name} must be > 0, got {getattr(config, name)}")
    for name in ("kl_scale", "free_nats", "continue_scale", "reward_scale", "prior_heads",
                 "replay_critic", "actor_entropy", "prefill", "pretrain"):
        need(getattr(config, name) >= 0, f"{name} must be >= 0, got {getattr(config, name)}")
    need(config.precision in PRECISIONS,
         f"precision must be one of {PRECISIONS}, got {config.precision!r}")
    need(len(config.gray_weights) == 3, f"gray_weights needs 3 numbers, got {config.gray_weights}")
    need(config.prefill >= config.seq_len,
         f"prefill ({config.prefill}) must be at least seq_len ({config.seq_len}) so the first "
         "update has a whole sequence to sample")
    if problems:
        raise ConfigError("; ".join(problems))
