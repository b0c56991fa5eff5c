"""Evaluate the privileged scripted driver (dreamer_lite/scripted.py) like any baseline.

    python experiments/scripted_eval.py --episodes 200 --seed 3000 --json book/results/baselines/scripted_200ep_seed3000.json

Episode i uses env seed ``seed + i`` in the ``cpu`` preset's environment, through
``dreamer_lite.evaluate.evaluate``, so the numbers compare with every agent's and baseline's
evaluation on the same seeds. Prints (and with ``--json`` writes) the keys of
``python -m dreamer_lite.evaluate --policy slower``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dreamer_lite.config import make_config
from dreamer_lite.environment import make_env
from dreamer_lite.evaluate import evaluate
from dreamer_lite.scripted import ScriptedPolicy


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1000, help="env seed of the first episode")
    parser.add_argument("--json", help="write the result to this file")
    args = parser.parse_args(argv)
    env = make_env(make_config("cpu"))
    result = evaluate(env, ScriptedPolicy(env), range(args.seed, args.seed + args.episodes))
    result.update(policy="scripted", seed=args.seed, logdir=None)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
