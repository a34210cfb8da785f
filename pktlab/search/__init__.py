"""NDR/PDR search: FD.io CSIT's MLRsearch over pktlab trials, and a classic binary search.

Three layers, as in MLRsearch: the manager (the runner: what to search for, from
the scenario), the controller (MLRsearch, or binary.py) and the measurer
(measurer.py: one generator trial per call).

    goals = goals_for("rfc2544")                    # NDR and PDR, 60 s final trials
    top = units.LineRate(25e9, 2).pps(64)           # line rate (pktlab.units): 2 ports of 25 GbE
    with ProgressLine() as progress:
        outcome = run_search(gen.trial, goals, max_load_pps=top, progress=progress)
    outcome.ndr_pps, outcome.pdr_pps, outcome.n_trials, outcome.total_trial_seconds
"""
from __future__ import annotations

import logging
import time
from typing import Iterable

from MLRsearch import Config, MultipleLossRatioSearch

from .binary import binary_search
from .goals import (DEFAULT_MIN_LOAD_PPS, DEFAULT_PDR_LOSS_RATIO, PRESETS, GoalOutcome,
                    SearchGoal, SearchOutcome, check_search_args, deciding_trials_caveat, goals_for)
from .measurer import (GENERATOR_TOLERANCE, SearchError, SearchInterrupted, SearchTrial,
                       TrialFn, TrialMeasurer, limited_at, to_measurement)
from .progress import ProgressEvent, ProgressLine, format_event

log = logging.getLogger(__name__)


def run_search(trial: TrialFn, goals: Iterable[SearchGoal], max_load_pps: float,
               min_load_pps: float = DEFAULT_MIN_LOAD_PPS, progress=None, *,
               warmup_s: float = 0.0, tolerance: float = GENERATOR_TOLERANCE,
               refused_as_loss: bool = True, max_search_s: float | None = None) -> SearchOutcome:
    """Find every goal's bounds in one MLRsearch run of trials.

    trial(rate_pps, duration_s) -> TrialStats runs one trial (the runner passes the
    generator's bound method, with its drain time fixed). max_load_pps is the
    highest load tried, and the first (line rate, or the generator's proven
    maximum); min_load_pps the lowest. progress: a hook called with a
    ProgressEvent around each trial, e.g. ProgressLine(). warmup_s: one trial at
    max load first, kept (phase "warmup") but not shown to the search. tolerance
    and refused_as_loss: see measurer.py. max_search_s: give up (SearchError) when
    the search runs longer [s]; by default 50 x the longest duration sum x goals,
    at least an hour.

    Raises SearchError (with the trials so far) if the search cannot finish,
    SearchInterrupted if the generator reported an interrupted trial; the trial
    callable's own errors propagate as they are.
    """
    goals = check_search_args(goals, max_load_pps, min_load_pps)
    if max_search_s is None:
        max_search_s = max(3600.0, 50.0 * max(g.duration_sum for g in goals) * len(goals))
    measurer = TrialMeasurer(trial, tolerance=tolerance, refused_as_loss=refused_as_loss,
                             max_goal_loss_ratio=max(g.loss_ratio for g in goals),
                             progress=progress, progress_goal=goals[0])
    config = Config()
    config.goals = [g.to_mlrsearch() for g in goals]
    config.max_load = max(1e12, 2.0 * max_load_pps)  # setters check against each other
    config.min_load = float(min_load_pps)
    config.max_load = float(max_load_pps)
    config.warmup_duration = None  # done here, so that the warmup trial is kept and labelled
    config.search_duration_max = float(max_search_s)

    started = time.monotonic()
    if warmup_s:
        measurer.phase = "warmup"
        measurer.measure(float(warmup_s), float(max_load_pps))
        measurer.phase = "search"
    try:
        found = MultipleLossRatioSearch(config).search(measurer, debug=log.debug)
    except SearchError:
        raise
    except RuntimeError as e:  # MLRsearch: "takes too long", or an internal check
        raise SearchError(f"MLRsearch: {e}", measurer.trials) from e
    wall = time.monotonic() - started

    trials = tuple(measurer.trials)
    outcomes = []
    for goal, mgoal in zip(goals, config.goals):
        res = found[mgoal]
        lo, hi = res.relevant_lower_bound, res.relevant_upper_bound
        ct = res.conditional_throughput
        outcomes.append(GoalOutcome(
            goal=goal, lower_bound_pps=None if lo is None else float(lo),
            upper_bound_pps=None if hi is None else float(hi),
            conditional_throughput_pps=None if ct is None else float(ct),
            limited_by_generator=limited_at(trials, None if hi is None else float(hi)),
            raw=res))
    return SearchOutcome(method="mlrsearch", goals=tuple(outcomes), trials=trials,
                         max_load_pps=float(max_load_pps), min_load_pps=float(min_load_pps),
                         wall_s=wall)


__all__ = ["DEFAULT_MIN_LOAD_PPS", "DEFAULT_PDR_LOSS_RATIO", "GENERATOR_TOLERANCE", "PRESETS",
           "GoalOutcome", "ProgressEvent", "ProgressLine", "SearchError", "SearchGoal",
           "SearchInterrupted", "SearchOutcome", "SearchTrial", "TrialMeasurer", "binary_search",
           "check_search_args", "format_event", "goals_for", "limited_at", "run_search",
           "to_measurement"]
