"""A privileged scripted driver: a baseline that reads the simulator instead of the pixels.

    policy = ScriptedPolicy(env)      # env from environment.make_env
    policy.reset(); action = policy(frame)   # the frame is ignored

It drives by a few rules on what a driver would see through the windscreen and the mirrors,
read exactly from ``env.unwrapped``: for its own lane and each neighbouring lane, the gap to the
car ahead and its speed, the gap to the car behind and its speed (:func:`lane_views`), and its own
speed. Gaps are bumper to bumper, in metres along the lane. The rules (:func:`choose_action`), in
order, with ``v`` the ego's speed and ``u`` the speed of the car ahead:

1. **Brake or escape** when the gap ahead is shorter than ``safe_gap(v, u) = headway * v +
   closing_time * max(0, v - u)`` metres: move to a neighbouring lane that is open (room ahead
   for that gap with the shorter ``escape_headway``, room behind for the car there to keep its
   distance: :func:`is_open`), preferring the right one; with neither open, SLOWER.
2. **Keep right**: move right when the right lane is open and gives at least as much room ahead
   as the own lane (room counts up to ``free_gap``: a longer gap is as good as an empty lane).
3. **Overtake**: when the gap ahead is shorter than ``free_gap`` and the left lane is open with
   at least ``overtake_margin`` metres more room, move left.
4. **Speed up** when the gap would still be safe at 5 m/s more (and the ego is below 30 m/s);
   otherwise IDLE.

While a lane change is under way (the lane the ego is in is not yet the lane it steers to), both
lanes count as its own, the tighter gap of the two deciding, and it starts no new lane change.

The thresholds (:class:`Rules`) were tuned on training-range seeds 10,000,000-10,000,039, never
on evaluation seeds; the tuning record and the evaluation commands are in
``book/results/baselines/COMMAND`` (``python -m dreamer_lite.evaluate --policy scripted`` runs the evaluation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

LANE_LEFT, IDLE, LANE_RIGHT, FASTER, SLOWER = range(5)  # environment.ACTION_NAMES
SPEED_STEP = 5.0  # m/s between the target speeds 20, 25, 30
TOP_SPEED = 30.0  # m/s, the highest target speed
NO_CAR = 1e3  # metres: the gap reported when no car is in range


class LaneView(NamedTuple):
    """What the ego knows about one lane: bumper-to-bumper gaps (m) and speeds (m/s)."""

    ahead_gap: float = NO_CAR
    ahead_speed: float = TOP_SPEED
    behind_gap: float = NO_CAR
    behind_speed: float = 0.0


@dataclass(frozen=True)
class Rules:
    """The driver's thresholds (seconds and metres)."""

    headway: float = 0.3  # s of own speed to keep to the car ahead
    closing_time: float = 3.0  # s of closing speed to add to that gap
    rear_headway: float = 0.5  # s of the rear car's speed it needs behind the ego after a lane change
    escape_headway: float = 0.25  # s: the shorter headway accepted ahead when escaping a closing gap
    free_gap: float = 60.0  # m: a gap at least this long counts as an empty lane
    overtake_margin: float = 10.0  # m of extra room that makes a lane change to the left worth it


def safe_gap(speed: float, ahead_speed: float, rules: Rules) -> float:
    """Metres to keep to a car ahead: ``headway * v + closing_time * max(0, v - u)``."""
    return rules.headway * speed + rules.closing_time * max(0.0, speed - ahead_speed)


def is_open(view: LaneView, speed: float, rules: Rules, escaping: bool = False) -> bool:
    """Whether the ego can move into this lane: a safe gap ahead (with ``escape_headway`` in
    place of ``headway`` when ``escaping``) and room for the car behind to keep its distance."""
    headway = rules.escape_headway if escaping else rules.headway
    room_ahead = headway * speed + rules.closing_time * max(0.0, speed - view.ahead_speed)
    room_behind = rules.rear_headway * view.behind_speed + rules.closing_time * max(
        0.0, view.behind_speed - speed)
    return view.ahead_gap >= room_ahead and view.behind_gap >= room_behind


def room(view: LaneView, rules: Rules) -> float:
    """Room ahead in a lane, counted up to ``free_gap``."""
    return min(view.ahead_gap, rules.free_gap)


def choose_action(speed: float, own: LaneView, left: LaneView | None, right: LaneView | None,
                  changing_lane: bool = False, rules: Rules = Rules()) -> int:
    """The rules of the module docstring. ``left``/``right`` are None where there is no lane
    (or while ``changing_lane``, when no new lane change is started)."""
    if changing_lane:
        left = right = None
    if own.ahead_gap < safe_gap(speed, own.ahead_speed, rules):  # 1. brake or escape
        if right is not None and is_open(right, speed, rules, escaping=True):
            return LANE_RIGHT
        if left is not None and is_open(left, speed, rules, escaping=True):
            return LANE_LEFT
        return SLOWER
    if right is not None and is_open(right, speed, rules) and room(right, rules) >= room(own, rules):
        return LANE_RIGHT  # 2. keep right
    if (left is not None and own.ahead_gap < rules.free_gap and is_open(left, speed, rules)
            and room(left, rules) >= room(own, rules) + rules.overtake_margin):
        return LANE_LEFT  # 3. overtake
    faster = min(speed + SPEED_STEP, TOP_SPEED)
    if speed < TOP_SPEED - 1.0 and own.ahead_gap >= safe_gap(faster, own.ahead_speed, rules):
        return FASTER  # 4. speed up
    return IDLE


def lane_views(base_env, lane_ids) -> dict[int, LaneView]:
    """{lane id: LaneView} for the ego of ``base_env`` (an unwrapped highway-env), read from the
    simulator: the nearest car ahead and behind in each lane, projected onto that lane."""
    ego, road = base_env.vehicle, base_env.road
    start, end, _ = ego.lane_index
    views = {}
    for lane_id in lane_ids:
        lane_index = (start, end, lane_id)
        lane = road.network.get_lane(lane_index)
        ahead, behind = road.neighbour_vehicles(ego, lane_index)
        own_s = lane.local_coordinates(ego.position)[0]
        view = LaneView()
        if ahead is not None:
            gap = lane.local_coordinates(ahead.position)[0] - own_s - (ahead.LENGTH + ego.LENGTH) / 2
            view = view._replace(ahead_gap=gap, ahead_speed=float(ahead.speed))
        if behind is not None:
            gap = own_s - lane.local_coordinates(behind.position)[0] - (behind.LENGTH + ego.LENGTH) / 2
            view = view._replace(behind_gap=gap, behind_speed=float(behind.speed))
        views[lane_id] = view
    return views


def _worse(a: LaneView, b: LaneView) -> LaneView:
    """The tighter of two views of the lanes the ego straddles (shorter gaps, their speeds)."""
    ahead = a if a.ahead_gap <= b.ahead_gap else b
    behind = a if a.behind_gap <= b.behind_gap else b
    return LaneView(ahead.ahead_gap, ahead.ahead_speed, behind.behind_gap, behind.behind_speed)


class ScriptedPolicy:
    """The scripted driver as a policy (the interface of ``evaluate.FixedPolicy``)."""

    def __init__(self, env, rules: Rules = Rules()):
        self.env, self.rules = env, rules

    def reset(self) -> None:
        pass

    def __call__(self, frame=None) -> int:
        base = self.env.unwrapped
        ego = base.vehicle
        lane, target = ego.lane_index[2], ego.target_lane_index[2]
        lanes = len(base.road.network.graph[ego.lane_index[0]][ego.lane_index[1]])
        views = lane_views(base, range(lanes))
        own = _worse(views[lane], views[target])  # while changing lanes, both lanes count
        left = views.get(target - 1) if target > 0 else None
        right = views.get(target + 1) if target < lanes - 1 else None
        return choose_action(float(ego.speed), own, left, right, changing_lane=lane != target,
                             rules=self.rules)
