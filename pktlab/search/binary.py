"""The classic RFC 2544 binary search, to compare what MLRsearch saves.

One independent search per goal, as a tester without MLRsearch runs NDR and then
PDR: first a trial at the maximum load (it passes: done); otherwise halve the
interval [lower, upper] at its arithmetic midpoint, every trial a full-length one
(the goal's final_trial_duration), until (upper - lower) / upper <= precision (the
goal's relative_width unless given). A load passes when its one trial's loss
ratio is at most the goal's; exceed_ratio and duration_sum do not apply (one trial
decides, as in RFC 2544). Trials go through the same TrialMeasurer as MLRsearch's,
so generator-limited trials are flagged and fail the same way, and the outcome is
a SearchOutcome (method "binary", trial phase = goal name).
"""
from __future__ import annotations

import time
from typing import Iterable

from .goals import DEFAULT_MIN_LOAD_PPS, GoalOutcome, SearchGoal, SearchOutcome, check_search_args
from .measurer import GENERATOR_TOLERANCE, TrialFn, TrialMeasurer, limited_at


def binary_search(trial: TrialFn, goals: Iterable[SearchGoal], max_load_pps: float,
                  min_load_pps: float = DEFAULT_MIN_LOAD_PPS, progress=None, *,
                  precision: float | None = None, tolerance: float = GENERATOR_TOLERANCE,
                  refused_as_loss: bool = True) -> SearchOutcome:
    """Bisect for each goal in turn; arguments as run_search(). precision: the relative
    width [1] to stop at, for every goal (default: each goal's relative_width)."""
    goals = check_search_args(goals, max_load_pps, min_load_pps)
    if precision is not None and not 0.0 < precision < 1.0:
        raise ValueError(f"binary_search: precision = {precision!r}: must be > 0 and < 1")
    measurer = TrialMeasurer(trial, tolerance=tolerance, refused_as_loss=refused_as_loss,
                             max_goal_loss_ratio=max(g.loss_ratio for g in goals),
                             progress=progress)
    started = time.monotonic()
    outcomes = tuple(_bisect(measurer, g, float(max_load_pps), float(min_load_pps),
                             g.relative_width if precision is None else precision)
                     for g in goals)
    return SearchOutcome(method="binary", goals=outcomes, trials=tuple(measurer.trials),
                         max_load_pps=float(max_load_pps), min_load_pps=float(min_load_pps),
                         wall_s=time.monotonic() - started)


def _bisect(measurer: TrialMeasurer, goal: SearchGoal, max_load: float, min_load: float,
            width: float) -> GoalOutcome:
    measurer.phase, measurer.progress_goal = goal.name, goal
    duration = goal.final_trial_duration
    passed: dict[float, float] = {}  # load [pps] -> loss ratio of its trial

    def passes(load: float) -> bool:
        ratio = measurer.measure(duration, load).loss_ratio
        if ratio <= goal.loss_ratio:
            passed[load] = ratio
            return True
        return False

    lower, upper = None, max_load
    if passes(max_load):
        lower, upper = max_load, None
    else:
        while (upper - (lower or min_load)) > width * upper:
            mid = ((lower or min_load) + upper) / 2.0
            if passes(mid):
                lower = mid
            else:
                upper = mid
        if lower is None:  # never passed: the minimum has to prove itself
            if passes(min_load):
                lower = min_load
            else:
                upper = min_load
    ct = None if lower is None else lower * (1.0 - passed[lower])
    return GoalOutcome(goal=goal, lower_bound_pps=lower, upper_bound_pps=upper,
                       conditional_throughput_pps=ct,
                       limited_by_generator=limited_at(measurer.trials, upper, goal.name))
