"""Search goals (what an NDR/PDR search looks for) and goal outcomes (what it found).

A goal is MLRsearch's Search Goal with a name: the loss ratio a trial may show and
still count as good, how long the deciding trials are, how many trial seconds it
takes to classify a load, and how narrow the final interval must be. Three named
presets cover the usual methodologies (see goals_for()); each gives an NDR goal
(zero loss) and a PDR goal (a small loss ratio), found together in one search.

Loads are what the generator takes: aggregate frames/s over all its streams [pps].
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

import MLRsearch

from pktlab.results.search import Bounds

if TYPE_CHECKING:
    from .measurer import SearchTrial

PRESETS = ("rfc2544", "tst009", "quick")
DEFAULT_PDR_LOSS_RATIO = 0.005  # FD.io CSIT's PDR: at most 0.5 % of offered frames lost
DEFAULT_MIN_LOAD_PPS = 10_000.0  # [pps] lowest load a search tries; MLRsearch's own is 9001


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class SearchGoal:
    """One conditional throughput to find; maps 1:1 onto MLRsearch.SearchGoal.

    A trial is *good* for the goal when its loss ratio (frames lost / frames
    offered, see measurer.py for what counts) is at most loss_ratio. A load is a
    *lower bound* when bad full-length trials take at most exceed_ratio of the
    trial seconds measured there (at least duration_sum of them); otherwise it is an
    *upper bound*. The search ends when the highest lower bound under the lowest
    upper bound is within relative_width of it: (upper - lower) / upper <= width.
    """

    name: str  # how reports and results name it: "NDR", "PDR"
    loss_ratio: float = 0.0  # [1] highest trial loss ratio of a good trial; 0 = no loss at all
    exceed_ratio: float = 0.0  # [1] share of the duration sum bad trials may take at a lower bound
    relative_width: float = 0.005  # [1] final (upper - lower) / upper at most this
    initial_trial_duration: float = 1.0  # [s] shortest trials, in the coarse early phases
    final_trial_duration: float = 60.0  # [s] trials that decide the result
    duration_sum: float = 60.0  # [s] full-length trial seconds that classify a load
    preceding_targets: int = 2  # coarser, shorter intermediate targets before the final one
    expansion_coefficient: int = 2  # external search widens the interval by this (log space)

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the goal, the field, its value and the rule."""
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"SearchGoal.name = {self.name!r}: must be a non-empty string")

        def bad(fld: str, rule: str):
            return ValueError(f"SearchGoal {self.name}: {fld} = {getattr(self, fld)!r}: {rule}")

        for fld in ("loss_ratio", "exceed_ratio", "relative_width", "initial_trial_duration",
                    "final_trial_duration", "duration_sum"):
            if not _is_number(getattr(self, fld)):
                raise bad(fld, "must be a finite number")
        for fld in ("preceding_targets", "expansion_coefficient"):
            v = getattr(self, fld)
            if not isinstance(v, int) or isinstance(v, bool):
                raise bad(fld, "must be an integer")
        if not 0.0 <= self.loss_ratio < 1.0:
            raise bad("loss_ratio", "must be >= 0 and < 1 (a fraction, 0.005 is 0.5 %)")
        if not 0.0 <= self.exceed_ratio < 1.0:
            raise bad("exceed_ratio", "must be >= 0 and < 1")
        if not 0.0 < self.relative_width < 1.0:
            raise bad("relative_width", "must be > 0 and < 1 (a fraction, 0.005 is 0.5 %)")
        if not self.initial_trial_duration > 0.0:
            raise bad("initial_trial_duration", "must be > 0 seconds")
        if self.final_trial_duration < self.initial_trial_duration:
            raise bad("final_trial_duration",
                      f"must be >= initial_trial_duration ({self.initial_trial_duration} s)")
        if self.duration_sum < self.final_trial_duration:
            raise bad("duration_sum",
                      f"must be >= final_trial_duration ({self.final_trial_duration} s)")
        if self.preceding_targets < 0:
            raise bad("preceding_targets", "must be >= 0")
        if self.preceding_targets == 0 and self.initial_trial_duration < self.duration_sum:
            raise bad("preceding_targets", "must be >= 1 when initial_trial_duration is "
                      f"shorter than duration_sum ({self.duration_sum} s)")
        if self.expansion_coefficient < 2:
            raise bad("expansion_coefficient", "must be >= 2")

    @property
    def trials_per_load(self) -> int:
        """Full-length trials it may take to classify one load (TST009's r)."""
        return math.ceil(self.duration_sum / self.final_trial_duration - 1e-9)

    def to_mlrsearch(self) -> MLRsearch.SearchGoal:
        """The MLRsearch goal. fail_fast is off: a device that fails even at the
        minimum load gives a goal outcome without a lower bound, not an exception."""
        return MLRsearch.SearchGoal(
            loss_ratio=self.loss_ratio, exceed_ratio=self.exceed_ratio,
            relative_width=self.relative_width,
            initial_trial_duration=self.initial_trial_duration,
            final_trial_duration=self.final_trial_duration, duration_sum=self.duration_sum,
            preceding_targets=self.preceding_targets,
            expansion_coefficient=self.expansion_coefficient, fail_fast=False)

    def to_dict(self) -> dict:
        return {"name": self.name, "loss_ratio": self.loss_ratio,
                "exceed_ratio": self.exceed_ratio, "relative_width": self.relative_width,
                "initial_trial_duration": self.initial_trial_duration,
                "final_trial_duration": self.final_trial_duration,
                "duration_sum": self.duration_sum, "preceding_targets": self.preceding_targets,
                "expansion_coefficient": self.expansion_coefficient}

    @classmethod
    def from_dict(cls, d: dict) -> "SearchGoal":
        return cls(**d)


def goals_for(name: str, pdr_loss_ratio: float = DEFAULT_PDR_LOSS_RATIO,
              final_duration: float | None = None,
              relative_width: float | None = None) -> tuple[SearchGoal, SearchGoal]:
    """(NDR goal, PDR goal) of a named preset; both are found in one search.

    rfc2544 -- RFC 2544 section 26.1 throughput, as the MLRsearch draft's "RFC2544
        goal": one 60 s trial decides a load (duration sum = final trial duration
        = 60 s, exceed ratio 0), so a single lossy full-length trial makes a load an
        upper bound. NDR is RFC 2544 throughput (zero loss); PDR applies the same
        trial rules with loss ratio pdr_loss_ratio. Width 0.5 %.

    tst009 -- ETSI GS NFV-TST 009 section 12.3.3 "binary search with loss
        verification": a lossy trial is repeated, and the load passes if the repeat
        is clean. MLRsearch expresses it as the draft's "TST009 goal": final trial
        60 s, duration sum 120 s (two trials: TST009's r = 2), exceed ratio 0.5 (one
        of the two may be bad). A clean first trial already decides (a second bad one
        would still fit in the exceed ratio); a lossy first trial forces the second;
        a third is never needed. Only TST009's z = infinity is expressible (every
        lossy trial is verified, however many frames it lost): MLRsearch has no
        loss-count threshold that skips verification. The bisection itself is
        MLRsearch's (logarithmic, with shorter preceding trials), which reaches the
        same bounds as TST009's binary search in less time. Width 0.5 %.

    quick -- CI smoke: 0.5 s trials, then 1 s deciding trials, one trial decides
        (exceed ratio 0), width 2 %. Fast, coarse; not a publishable number.

    pdr_loss_ratio: the PDR goal's loss ratio [1], > 0 and < 1 (0.005 = 0.5 %).
    final_duration: overrides the deciding trial duration [s]; the duration sum
        keeps its multiple of it (1x, or 2x for tst009) and shorter initial trials
        are capped at it.
    relative_width: overrides the preset's final width [1]. The NDR is the interval's
        lower bound, so it may sit up to this far below the true rate.
    """
    if name not in PRESETS:
        raise ValueError(f"goals: unknown preset {name!r} (known: {', '.join(PRESETS)})")
    if not _is_number(pdr_loss_ratio) or not 0.0 < pdr_loss_ratio < 1.0:
        raise ValueError(f"goals: pdr_loss_ratio = {pdr_loss_ratio!r}: must be > 0 and < 1 "
                         "(a fraction, 0.005 is 0.5 %; 0 would make PDR the NDR)")
    if final_duration is not None and (not _is_number(final_duration) or final_duration <= 0):
        raise ValueError(f"goals: final_duration = {final_duration!r}: must be > 0 seconds")
    # (initial [s], final [s], duration sum / final, exceed ratio, width, preceding targets)
    initial, final, sum_factor, exceed, width, preceding = {
        "rfc2544": (1.0, 60.0, 1, 0.0, 0.005, 2),
        "tst009": (1.0, 60.0, 2, 0.5, 0.005, 2),
        "quick": (0.5, 1.0, 1, 0.0, 0.02, 1),
    }[name]
    if final_duration is not None:
        final = float(final_duration)
        initial = min(initial, final)
    if relative_width is not None:
        width = float(relative_width)
    common = dict(exceed_ratio=exceed, relative_width=width, initial_trial_duration=initial,
                  final_trial_duration=final, duration_sum=final * sum_factor,
                  preceding_targets=preceding)
    return (SearchGoal("NDR", loss_ratio=0.0, **common),
            SearchGoal("PDR", loss_ratio=float(pdr_loss_ratio), **common))


def deciding_trials_caveat(goal: SearchGoal) -> str | None:
    """What a bound found with this goal's deciding trials does not promise, or None
    for RFC 2544's 60 s trials. A load passes on trials of final_trial_duration: loss
    that comes less often than that (sporadic drops, periodic housekeeping on the
    DUT) can pass unseen, so the same rate may lose frames in a longer run."""
    d = goal.final_trial_duration
    if d >= 60.0:
        return None
    return (f"{goal.name} decided by {d:g} s trials: loss rarer than about once in {d:g} s can go "
            f"unseen, so a longer run at this rate may lose frames; RFC 2544 asks for 60 s trials "
            f"and the interval's width ({goal.relative_width:.1%}) bounds how far below the true rate it may be")


@dataclass(frozen=True)
class GoalOutcome:
    """What a search found for one goal.

    lower_bound_pps is the relevant lower bound: the highest intended load that met
    the goal below the lowest load that did not (upper_bound_pps). It is the NDR or
    PDR as RFC 2544 states throughput: an offered rate. conditional_throughput_pps is
    MLRsearch's forwarding-rate estimate at that load (lower bound x (1 - the loss
    ratio of its exceed-ratio quantile trial)); for a zero-loss goal both are equal.

    Irregular outcomes keep None: no lower bound means even the minimum load
    failed; no upper bound means the maximum load passed (the device was never
    saturated). limited_by_generator: the upper bound was set by a trial the
    generator could not send at the intended rate, so the device under test may do
    better than lower_bound_pps.
    """

    goal: SearchGoal
    lower_bound_pps: float | None  # [pps]
    upper_bound_pps: float | None  # [pps]
    conditional_throughput_pps: float | None  # [pps]
    limited_by_generator: bool = False
    raw: object = field(default=None, compare=False, repr=False)  # MLRsearch.GoalResult, if any

    @property
    def regular(self) -> bool:
        return self.lower_bound_pps is not None and self.upper_bound_pps is not None

    @property
    def relative_width(self) -> float | None:
        """(upper - lower) / upper as found [1]; None for an irregular outcome."""
        if not self.regular:
            return None
        return (self.upper_bound_pps - self.lower_bound_pps) / self.upper_bound_pps

    def to_dict(self) -> dict:
        return {"goal": self.goal.to_dict(), "lower_bound_pps": self.lower_bound_pps,
                "upper_bound_pps": self.upper_bound_pps,
                "conditional_throughput_pps": self.conditional_throughput_pps,
                "limited_by_generator": self.limited_by_generator}


@dataclass(frozen=True)
class SearchOutcome(Bounds):
    """A finished search: the outcome per goal and every trial it took to get there.

    Loads are aggregate [pps] as the generator takes them. ndr_pps / pdr_pps are the
    relevant lower bounds of the goals named "NDR" / "PDR" (None when the search had
    no such goal or the goal has no lower bound). The cost of the search is
    n_trials and total_trial_seconds (the sum of intended trial durations, warmup
    included); wall_s adds drain, generator and search overheads.
    """

    method: str  # "mlrsearch" or "binary"
    goals: tuple[GoalOutcome, ...]
    trials: tuple["SearchTrial", ...]
    max_load_pps: float  # [pps]
    min_load_pps: float  # [pps]
    wall_s: float = 0.0  # [s]


    @property
    def total_trial_seconds(self) -> float:
        return sum(t.intended_duration_s for t in self.trials)

    @property
    def n_generator_limited(self) -> int:
        return sum(t.generator_limited for t in self.trials)

    def to_dict(self, with_stats: bool = False) -> dict:
        """JSON-able. Trials without their stats by default: a Result stores those as its
        trials, in the same order (SearchTrial.index is the position in Result.trials)."""
        return {"method": self.method, "max_load_pps": self.max_load_pps,
                "min_load_pps": self.min_load_pps, "n_trials": self.n_trials,
                "total_trial_seconds": self.total_trial_seconds, "wall_s": self.wall_s,
                "goals": [g.to_dict() for g in self.goals],
                "trials": [t.to_dict(with_stats) for t in self.trials]}


def check_search_args(goals: Iterable[SearchGoal], max_load_pps: float,
                      min_load_pps: float) -> tuple[SearchGoal, ...]:
    """The goals as a tuple, or ValueError naming the argument at fault."""
    goals = tuple(goals)
    if not goals:
        raise ValueError("search: goals: needs at least one goal")
    for i, g in enumerate(goals):
        if not isinstance(g, SearchGoal):
            raise ValueError(f"search: goals[{i}] = {g!r}: not a SearchGoal")
    names = [g.name for g in goals]
    if len(set(names)) != len(names):
        raise ValueError(f"search: goals: names must be unique, got {names}")
    params = [g.to_mlrsearch() for g in goals]
    if len(set(params)) != len(params):
        raise ValueError("search: goals: two goals have the same parameters under different "
                         f"names ({names}); MLRsearch would merge them")
    for what, v in (("max_load_pps", max_load_pps), ("min_load_pps", min_load_pps)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"search: {what} = {v!r}: must be a positive number of pps")
    if min_load_pps >= max_load_pps:
        raise ValueError(f"search: min_load_pps = {min_load_pps!r}: must be below "
                         f"max_load_pps ({max_load_pps!r})")
    return goals
