"""What the experiments share: driving a recorded episode and writing result tables."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from dreamer_lite.environment import ACTION_NAMES, LANE_HALF_WIDTH, car_ahead


def lead_car(env) -> tuple[float, float] | None:
    """(gap in metres between centres, speed) of the nearest car ahead in the ego's lane."""
    car = car_ahead(env, max_ahead=np.inf)
    if car is None:
        return None
    return float(car.position[0] - env.unwrapped.vehicle.position[0]), float(car.speed)


def crash_kind(env) -> str:
    ego = env.unwrapped.vehicle
    others = [car for car in env.unwrapped.road.vehicles if car is not ego and car.crashed]
    if not others:
        return "off road"
    dx, dy = min((car.position - ego.position for car in others), key=lambda d: abs(d[0]))
    if abs(dy) >= LANE_HALF_WIDTH:
        return "side"
    return "rear-end" if dx > 0 else "from behind"


def drive(env, policy, seed: int) -> dict:
    """One greedy episode with frames, actions and per-step lane, speed and lead car."""
    frame, _ = env.reset(seed=seed)
    policy.reset()
    frames, steps, done = [frame], [], False
    while not done:
        action = policy(frame)
        step = {"action": ACTION_NAMES[action], "lane": int(env.unwrapped.vehicle.lane_index[2]),
                "speed": round(float(env.unwrapped.vehicle.speed), 1), "lead": lead_car(env)}
        frame, _, terminated, truncated, info = env.step(action)
        frames.append(frame)
        steps.append(step | {"action_index": action})
        done = terminated or truncated
    return {"seed": seed, "frames": np.stack(frames), "steps": steps,
            "actions": np.array([s["action_index"] for s in steps]),
            "crashed": bool(info["crashed"]), "kind": crash_kind(env) if info["crashed"] else None}


def write_csv(path: Path, rows: list[dict], settings: str) -> None:
    """One row per evaluation, plus the command-line settings in every row."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) + ["settings"])
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "settings": settings})


def write_result(probe: str, name: str, result: dict) -> Path:
    """Write ``result`` to experiments/results/PROBE/NAME.json; returns the path."""
    out = Path(__file__).parent / "results" / probe / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return out
