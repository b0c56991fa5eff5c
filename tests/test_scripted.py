"""The privileged scripted driver: its rules on hand-made situations, its reading of the
simulator on a road where we place the cars, and whole episodes against always-SLOWER."""

import pytest

from dreamer_lite.config import make_config
from dreamer_lite.environment import make_env
from dreamer_lite.evaluate import FixedPolicy, evaluate
from dreamer_lite.scripted import (FASTER, IDLE, LANE_LEFT, LANE_RIGHT, SLOWER, LaneView, Rules,
                                   ScriptedPolicy, choose_action, is_open, lane_views, safe_gap)

RULES = Rules()
EMPTY = LaneView()  # no car ahead or behind in range
CLOSE = LaneView(ahead_gap=8.0, ahead_speed=20.0)  # a slower car 8 m ahead
ALONGSIDE = LaneView(ahead_gap=-2.0, ahead_speed=25.0, behind_gap=-3.0, behind_speed=25.0)

def test_safe_gap_by_hand():
    # headway 0.6 s at 25 m/s is 15 m; closing at 5 m/s for closing_time 2 s adds 10 m
    assert safe_gap(25.0, 20.0, Rules(headway=0.6, closing_time=2.0)) == pytest.approx(25.0)
    assert safe_gap(25.0, 30.0, Rules(headway=0.6, closing_time=2.0)) == pytest.approx(15.0)

def test_brakes_when_a_car_is_close_ahead_and_both_lanes_are_blocked():
    assert choose_action(25.0, CLOSE, left=ALONGSIDE, right=ALONGSIDE) == SLOWER
    assert choose_action(25.0, CLOSE, left=None, right=ALONGSIDE) == SLOWER  # left edge of the road

def test_escapes_to_a_free_lane_right_first():
    assert choose_action(25.0, CLOSE, left=EMPTY, right=None) == LANE_LEFT
    assert choose_action(25.0, CLOSE, left=EMPTY, right=EMPTY) == LANE_RIGHT

def test_does_not_cut_in_front_of_a_faster_car_behind():
    fast_behind = LaneView(behind_gap=10.0, behind_speed=30.0)  # closing at 5 m/s from 10 m
    assert not is_open(fast_behind, 25.0, RULES)
    assert choose_action(25.0, CLOSE, left=fast_behind, right=None) == SLOWER

def test_keeps_right_on_an_empty_road():
    assert choose_action(25.0, EMPTY, left=None, right=EMPTY) == LANE_RIGHT

def test_speeds_up_in_the_right_lane_and_holds_top_speed():
    assert choose_action(25.0, EMPTY, left=EMPTY, right=None) == FASTER
    assert choose_action(30.0, EMPTY, left=EMPTY, right=None) == IDLE

def test_does_not_speed_up_into_a_gap_that_would_be_too_short():
    own = LaneView(ahead_gap=20.0, ahead_speed=25.0)  # safe at 25 m/s (15 m), not at 30 (18 + 10)
    assert choose_action(25.0, own, left=None, right=None) == IDLE

def test_overtakes_on_the_left_when_the_own_lane_is_slow():
    own = LaneView(ahead_gap=30.0, ahead_speed=22.0)  # safe, but shorter than free_gap
    assert choose_action(25.0, own, left=EMPTY, right=None) == LANE_LEFT
    nearly_as_slow = LaneView(ahead_gap=35.0, ahead_speed=22.0)  # less than overtake_margin more room
    assert choose_action(25.0, own, left=nearly_as_slow, right=None) != LANE_LEFT

def test_no_new_lane_change_while_changing_lanes():
    assert choose_action(25.0, EMPTY, left=None, right=EMPTY, changing_lane=True) == FASTER
    assert choose_action(25.0, CLOSE, left=EMPTY, right=EMPTY, changing_lane=True) == SLOWER

@pytest.fixture(scope="module")
def env():
    return make_env(make_config("cpu"))

def place(env, ego_lane: int, ego_speed: float, others):
    """Put the ego in ``ego_lane`` at x = 200 m and the other cars at (lane, dx, speed) relative
    to it; every other vehicle is taken off the road."""
    env.reset(seed=10_000_000)
    base = env.unwrapped
    road, ego = base.road, base.vehicle
    vehicles = [v for v in road.vehicles if v is not ego][:len(others)]
    lane_index = lambda lane: ("0", "1", lane)
    ego.position = road.network.get_lane(lane_index(ego_lane)).position(200.0, 0.0)
    ego.lane_index = ego.target_lane_index = lane_index(ego_lane)
    ego.speed = ego_speed
    for vehicle, (lane, dx, speed) in zip(vehicles, others):
        vehicle.position = road.network.get_lane(lane_index(lane)).position(200.0 + dx, 0.0)
        vehicle.lane_index = vehicle.target_lane_index = lane_index(lane)
        vehicle.speed = speed
    road.vehicles = [ego, *vehicles]
    return ScriptedPolicy(env)

def test_lane_views_read_bumper_to_bumper_gaps_from_the_simulator(env):
    place(env, 1, 25.0, [(1, 20.0, 22.0), (0, -12.0, 27.0)])
    views = lane_views(env.unwrapped, range(3))
    assert views[1].ahead_gap == pytest.approx(15.0) and views[1].ahead_speed == pytest.approx(22.0)
    assert views[0].behind_gap == pytest.approx(7.0) and views[0].behind_speed == pytest.approx(27.0)
    assert views[2] == LaneView()

def test_policy_on_placed_cars(env):
    # a slow car 10 m ahead, cars alongside on both sides: brake
    assert place(env, 1, 25.0, [(1, 15.0, 20.0), (0, 0.0, 25.0), (2, 1.0, 25.0)])(None) == SLOWER
    # the same, but the left lane is free: change lanes to the left
    assert place(env, 1, 25.0, [(1, 15.0, 20.0), (2, 1.0, 25.0)])(None) == LANE_LEFT
    # nobody near, in the middle lane: keep right
    assert place(env, 1, 25.0, [(0, 80.0, 25.0)])(None) == LANE_RIGHT

def test_beats_always_slower_on_training_seeds(env):
    seeds = range(10_000_100, 10_000_104)
    scripted = evaluate(env, ScriptedPolicy(env), seeds)
    slower = evaluate(env, FixedPolicy(4), seeds)
    assert scripted["crash_rate"] == 0.0
    assert scripted["mean_return"] > slower["mean_return"] + 1.0
    assert scripted["mean_speed"] > slower["mean_speed"] + 1.0
