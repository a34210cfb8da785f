"""The measurer: one pktlab trial per MLRsearch trial, every trial kept.

MLRsearch asks `measure(intended_duration, intended_load)`; TrialMeasurer runs the
trial callable the runner gives it (the generator's bound `trial(rate_pps,
duration_s)`: the search never lives inside the generator), turns the TrialStats
into a MeasurementResult and keeps a SearchTrial for the analyst.

What the search is told (to_measurement):

* offered = frames the generator put on the wire, tx_packets, plus by default the
  frames the TX queue refused (tx_dropped). With vhost-user the TX queue is the
  virtio ring the switch drains: a refusal is the device under test not keeping
  up, so it is counted as offered and lost (refused_as_loss=True). On a physical
  NIC the queue is the tester's own; pass refused_as_loss=False there.
* lost = frames sent and never received (duplicates do not make up for a loss).
* Generator-limited trial: the rate the generator achieved, offered / measured
  transmit window, falls short of the intended load by more than `tolerance`
  (0.5 %). Its loss count says nothing about the device at the intended load, so
  it is not a device result: the shortfall goes to MLRsearch as unsent frames
  (intended_count = intended load x window), which MLRsearch counts in the loss
  ratio -- the MLRsearch draft's advice to "turn any big difference between the
  intended load and the offered load into increased Trial Loss Ratio" -- and,
  when the shortfall alone would not fail every goal, loss is added until the loss
  ratio exceeds the highest goal loss ratio. Every goal therefore sees the load
  as bad and the search backs off to loads the generator can drive, while the
  forwarding rate MLRsearch uses as its next hint stays close to what the
  generator could send. The SearchTrial is flagged generator_limited, and a goal
  whose upper bound rests on such a trial says limited_by_generator.
* Durations: duration_with_overheads is the intended duration, so a 60 s trial
  counts as exactly 60 s toward a goal's duration sum (the measured window, a
  few microseconds short or the drain time long, would add or drop a trial).
"""
from __future__ import annotations

import math
import time
from typing import Callable, Iterable

from MLRsearch import AbstractMeasurer, MeasurementResult

from pktlab.errors import PktlabError
from pktlab.results.stats import TrialStats

from .progress import ProgressEvent, running_bounds
from .trial import SearchTrial

GENERATOR_TOLERANCE = TrialStats.GENERATOR_TOLERANCE  # [1] one rule for results and the search

TrialFn = Callable[[float, float], TrialStats]  # (rate [pps], duration [s]) -> stats


class SearchError(PktlabError):
    """A search that could not finish; trials holds what it measured until then."""

    def __init__(self, reason: str, trials=()):
        self.reason, self.trials = reason, tuple(trials)
        super().__init__(f"search: {reason} (after {len(self.trials)} trials)")


class SearchInterrupted(SearchError):
    """The generator reported an interrupted trial (a signal): the search stops."""


def to_measurement(stats: TrialStats, intended_load: float, intended_duration: float,
                   tolerance: float = GENERATOR_TOLERANCE, refused_as_loss: bool = True,
                   max_goal_loss_ratio: float = 0.0) -> tuple[MeasurementResult, bool]:
    """(what MLRsearch is told, generator-limited?) for one trial; see the module doc."""
    refused = stats.tx_dropped if refused_as_loss else 0
    offered = stats.tx_packets + refused
    loss = stats.lost + refused
    window = stats.elapsed_s if stats.elapsed_s > 0 else intended_duration
    limited = offered / window < intended_load * (1.0 - tolerance)
    kw = dict(intended_duration=intended_duration, intended_load=intended_load,
              offered_count=offered, offered_duration=window,
              duration_with_overheads=intended_duration)
    if not limited:
        return MeasurementResult(loss_count=loss, **kw), False
    intended_count = max(offered, math.ceil(intended_load * window))
    unsent = intended_count - offered
    # bad frames must exceed max_goal_loss_ratio x intended_count: fail every goal
    need = math.floor(max_goal_loss_ratio * intended_count) + 1 - unsent
    loss = min(offered, max(loss, need))
    return MeasurementResult(loss_count=loss, intended_count=intended_count, **kw), True


class TrialMeasurer(AbstractMeasurer):
    """MLRsearch's measurer over a pktlab trial callable; keeps every trial.

    Everything but duration and load is fixed here, at construction. phase is the
    label the next trials get ("search" by default); progress, if given, is called
    with a ProgressEvent before and after each trial (see progress.py).
    """

    def __init__(self, trial: TrialFn, *, tolerance: float = GENERATOR_TOLERANCE,
                 refused_as_loss: bool = True, max_goal_loss_ratio: float = 0.0,
                 progress=None, progress_goal=None, clock=time.monotonic):
        if not callable(trial):
            raise TypeError(f"TrialMeasurer: trial = {trial!r} is not callable")
        if not 0.0 <= tolerance < 1.0:
            raise ValueError(f"TrialMeasurer: tolerance = {tolerance!r}: must be >= 0 and < 1")
        if not 0.0 <= max_goal_loss_ratio < 1.0:
            raise ValueError(f"TrialMeasurer: max_goal_loss_ratio = {max_goal_loss_ratio!r}: "
                             "must be >= 0 and < 1")
        self._trial, self._clock = trial, clock
        self.tolerance, self.refused_as_loss = tolerance, refused_as_loss
        self.max_goal_loss_ratio = max_goal_loss_ratio
        self.progress, self.progress_goal = progress, progress_goal
        self.phase = "search"
        self.trials: list[SearchTrial] = []
        self.started = clock()

    def measure(self, intended_duration: float, intended_load: float) -> MeasurementResult:
        duration, load = float(intended_duration), float(intended_load)
        self._notify("start", load, duration, None)
        t0 = self._clock()
        stats = self._trial(load, duration)
        wall = self._clock() - t0
        if not isinstance(stats, TrialStats):
            raise SearchError(f"trial({load!r}, {duration!r}) returned {type(stats).__name__}, "
                              "not TrialStats", self.trials)
        result, limited = to_measurement(stats, load, duration, self.tolerance,
                                         self.refused_as_loss, self.max_goal_loss_ratio)
        kept = SearchTrial(index=len(self.trials), phase=self.phase, intended_load_pps=load,
                           intended_duration_s=duration, stats=stats, generator_limited=limited,
                           loss_ratio=result.loss_ratio, wall_s=wall)
        self.trials.append(kept)
        self._notify("done", load, duration, kept)
        if stats.interrupted:
            raise SearchInterrupted(f"trial {kept.index} at {load:.0f} pps was interrupted",
                                    self.trials)
        return result

    def _notify(self, state: str, load: float, duration: float, kept) -> None:
        if self.progress is None:
            return
        goal = self.progress_goal
        lo, hi = running_bounds([t for t in self.trials if t.phase == self.phase],
                                goal.loss_ratio if goal is not None else 0.0)
        self.progress(ProgressEvent(
            state=state, phase=self.phase, goal=goal.name if goal is not None else "",
            load_pps=load, duration_s=duration, lower_pps=lo, upper_pps=hi,
            n_trials=len(self.trials), elapsed_s=self._clock() - self.started, trial=kept))


def limited_at(trials: Iterable[SearchTrial], load: float | None, phase: str | None = None) -> bool:
    """Whether a generator-limited trial was measured at load (an upper bound)."""
    return load is not None and any(
        t.generator_limited and t.intended_load_pps == load and t.phase != "warmup"
        and (phase is None or t.phase == phase) for t in trials)
