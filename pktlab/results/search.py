"""What a result keeps of an NDR/PDR search: frozen, validated records.

The JSON is the one SearchOutcome.to_dict() writes, plus what the run adds around
the search (the trial offset, the confirmation trial, latency trials, caveats).
Indices point into the result's own trials: search trial i is result trial
trial_offset + i. Results keep raw counts in their trials; these records say what
each trial was for and what the search concluded.
"""
from __future__ import annotations

from dataclasses import dataclass

from .fields import ResultError, build, get

METHODS = ("mlrsearch", "binary")


@dataclass(frozen=True)
class GoalSpec:
    """What a goal asked for (MLRsearch's Search Goal with a name)."""

    name: str  # "NDR", "PDR"
    loss_ratio: float  # [1] highest loss ratio of a good trial
    exceed_ratio: float  # [1] share of bad trial seconds a lower bound may have
    relative_width: float  # [1] final (upper - lower) / upper
    initial_trial_duration: float  # [s]
    final_trial_duration: float  # [s] the deciding trials
    duration_sum: float  # [s] full-length trial seconds that classify a load
    preceding_targets: int = 2
    expansion_coefficient: int = 2

    def __post_init__(self):
        if not self.name:
            raise ValueError("GoalSpec.name: must not be empty")
        for k in ("loss_ratio", "exceed_ratio", "relative_width"):
            if not 0.0 <= getattr(self, k) < 1.0:
                raise ValueError(f"GoalSpec {self.name}: {k} = {getattr(self, k)!r}: must be >= 0 and < 1")
        if not 0 < self.initial_trial_duration <= self.final_trial_duration <= self.duration_sum:
            raise ValueError(f"GoalSpec {self.name}: durations must be 0 < initial <= final <= sum")

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in _GOAL_FLOATS + ("name", "preceding_targets", "expansion_coefficient")}

    @classmethod
    def from_dict(cls, d: dict, where: str) -> "GoalSpec":
        kw = {k: get(d, k, float, where) for k in _GOAL_FLOATS}
        for k in ("preceding_targets", "expansion_coefficient"):
            v = get(d, k, int, where, required=False)
            if v is not None:
                kw[k] = v
        return build(cls, where, name=get(d, "name", str, where), **kw)


_GOAL_FLOATS = ("loss_ratio", "exceed_ratio", "relative_width", "initial_trial_duration",
                "final_trial_duration", "duration_sum")


@dataclass(frozen=True)
class GoalRecord:
    """What the search found for one goal. lower_bound_pps is the NDR/PDR (an offered
    rate); None bounds are irregular outcomes (even the minimum load failed / the
    maximum load passed); limited_by_generator: the upper bound came from a trial the
    generator could not send at its rate, so the DUT may do better."""

    goal: GoalSpec
    lower_bound_pps: float | None  # [pps]
    upper_bound_pps: float | None  # [pps]
    conditional_throughput_pps: float | None = None  # [pps]
    limited_by_generator: bool = False

    def __post_init__(self):
        lo, up = self.lower_bound_pps, self.upper_bound_pps
        if lo is not None and up is not None and lo > up:
            raise ValueError(f"GoalRecord {self.goal.name}: lower bound {lo} above upper bound {up}")

    def to_dict(self) -> dict:
        return {"goal": self.goal.to_dict(), "lower_bound_pps": self.lower_bound_pps,
                "upper_bound_pps": self.upper_bound_pps,
                "conditional_throughput_pps": self.conditional_throughput_pps,
                "limited_by_generator": self.limited_by_generator}

    @classmethod
    def from_dict(cls, d: dict, where: str) -> "GoalRecord":
        return build(cls, where, goal=GoalSpec.from_dict(get(d, "goal", dict, where), f"{where}.goal"),
                     **{k: get(d, k, float, where, nullable=True, required=k != "conditional_throughput_pps")
                        for k in ("lower_bound_pps", "upper_bound_pps", "conditional_throughput_pps")},
                     limited_by_generator=bool(get(d, "limited_by_generator", bool, where, required=False)))


@dataclass(frozen=True)
class ProbeRecord:
    """One trial the search ran, in the order run (its counts are the result's trial)."""

    index: int  # position in the search
    phase: str  # "warmup", "search" (MLRsearch) or the goal a binary search was after
    intended_load_pps: float  # [pps] aggregate, as asked
    intended_duration_s: float  # [s] as asked
    generator_limited: bool
    loss_ratio: float  # [1] as the search saw it
    wall_s: float = 0.0  # [s]

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("index", "phase", "intended_load_pps", "intended_duration_s",
                                              "generator_limited", "loss_ratio", "wall_s")}

    @classmethod
    def from_dict(cls, d: dict, where: str) -> "ProbeRecord":
        return build(cls, where, index=get(d, "index", int, where), phase=get(d, "phase", str, where),
                     intended_load_pps=get(d, "intended_load_pps", float, where),
                     intended_duration_s=get(d, "intended_duration_s", float, where),
                     generator_limited=get(d, "generator_limited", bool, where),
                     loss_ratio=get(d, "loss_ratio", float, where),
                     wall_s=get(d, "wall_s", float, where, required=False) or 0.0)


@dataclass(frozen=True)
class LatencyRecord:
    """A latency trial at a fraction of the NDR: its result trial, percentiles and HDR histogram."""

    fraction_of_ndr: float  # [1]
    trial: int  # index into the result's trials
    percentiles_ns: dict | None  # LatencyPercentiles.to_dict(), None without stamped frames
    hdr: str | None  # base64 HDR histogram (analysis.latency.encode_histogram)

    def to_dict(self) -> dict:
        return {"fraction_of_ndr": self.fraction_of_ndr, "trial": self.trial,
                "percentiles_ns": None if self.percentiles_ns is None else dict(self.percentiles_ns),
                "hdr": self.hdr}

    @classmethod
    def from_dict(cls, d: dict, where: str) -> "LatencyRecord":
        return build(cls, where, fraction_of_ndr=get(d, "fraction_of_ndr", float, where),
                     trial=get(d, "trial", int, where),
                     percentiles_ns=get(d, "percentiles_ns", dict, where, nullable=True),
                     hdr=get(d, "hdr", str, where, nullable=True))


class Bounds:
    """What a search found, looked up by goal name: shared by the record a result keeps
    and the live outcome (pktlab.search.SearchOutcome). Needs .goals (each with
    .goal.name and .lower_bound_pps) and .trials."""

    goals: tuple
    trials: tuple

    @property
    def n_trials(self) -> int:
        return len(self.trials)

    def goal(self, name: str):
        return next((g for g in self.goals if g.goal.name == name), None)

    @property
    def ndr_pps(self) -> float | None:
        g = self.goal("NDR")
        return None if g is None else g.lower_bound_pps

    @property
    def pdr_pps(self) -> float | None:
        g = self.goal("PDR")
        return None if g is None else g.lower_bound_pps


@dataclass(frozen=True)
class SearchRecord(Bounds):
    """A finished search as a result keeps it."""

    method: str  # "mlrsearch" or "binary"
    goals: tuple[GoalRecord, ...]
    trials: tuple[ProbeRecord, ...]
    max_load_pps: float  # [pps]
    min_load_pps: float  # [pps]
    total_trial_seconds: float  # [s] sum of intended trial durations
    wall_s: float = 0.0  # [s]
    trial_offset: int = 0  # search trial i is result trial trial_offset + i
    confirm_trial: int | None = None  # the result trial at the NDR that carries the DUT's counters
    ndr_confirmed: bool | None = None  # that trial lost nothing (None: not recorded)
    latency: tuple[LatencyRecord, ...] = ()
    caveats: tuple[str, ...] = ()  # what the answer does not promise (short deciding trials)

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"SearchRecord.method = {self.method!r}: must be one of {', '.join(METHODS)}")
        if not 0 < self.min_load_pps < self.max_load_pps:
            raise ValueError(f"SearchRecord: loads must be 0 < min ({self.min_load_pps}) < max ({self.max_load_pps})")
        names = [g.goal.name for g in self.goals]
        if len(set(names)) != len(names):
            raise ValueError(f"SearchRecord.goals: names must be unique, got {names}")
        if [t.index for t in self.trials] != list(range(len(self.trials))):
            raise ValueError("SearchRecord.trials: indices must be 0, 1, ... in order")
        for k in ("goals", "trials", "latency", "caveats"):
            object.__setattr__(self, k, tuple(getattr(self, k)))

    def probe_of(self, result_trial: int) -> ProbeRecord | None:
        """The search trial that result trial result_trial was, if any."""
        i = result_trial - self.trial_offset
        return self.trials[i] if 0 <= i < len(self.trials) else None

    def check_trials(self, n_result_trials: int) -> None:
        """Every index points at one of the result's n_result_trials trials."""
        last = self.trial_offset + len(self.trials)
        if self.trial_offset < 0 or last > n_result_trials:
            raise ValueError(f"SearchRecord: trials {self.trial_offset}..{last - 1} but the result has "
                             f"{n_result_trials}")
        for what, i in [("confirm_trial", self.confirm_trial)] + [("latency.trial", t.trial) for t in self.latency]:
            if i is not None and not 0 <= i < n_result_trials:
                raise ValueError(f"SearchRecord.{what} = {i}: the result has {n_result_trials} trials")

    def to_dict(self) -> dict:
        d = {"method": self.method, "max_load_pps": self.max_load_pps, "min_load_pps": self.min_load_pps,
             "n_trials": self.n_trials, "total_trial_seconds": self.total_trial_seconds, "wall_s": self.wall_s,
             "goals": [g.to_dict() for g in self.goals], "trials": [t.to_dict() for t in self.trials],
             "trial_offset": self.trial_offset, "confirm_trial": self.confirm_trial,
             "latency": [t.to_dict() for t in self.latency], "caveats": list(self.caveats)}
        if self.ndr_confirmed is not None:
            d["ndr_confirmed"] = self.ndr_confirmed
        return d

    @classmethod
    def from_dict(cls, d: dict, where: str = "search") -> "SearchRecord":
        if not isinstance(d, dict):
            raise ResultError(None, where, f"expected an object, got {type(d).__name__}")

        def items(key, kind):
            return [kind.from_dict(get(v, i, dict, f"{where}.{key}"), f"{where}.{key}[{i}]")
                    for v in [get(d, key, list, where, required=key in ("goals", "trials")) or []]
                    for i in range(len(v))]

        caveats = get(d, "caveats", list, where, required=False) or []
        for i in range(len(caveats)):
            get(caveats, i, str, f"{where}.caveats")
        return build(cls, where, method=get(d, "method", str, where), goals=items("goals", GoalRecord),
                     trials=items("trials", ProbeRecord), max_load_pps=get(d, "max_load_pps", float, where),
                     min_load_pps=get(d, "min_load_pps", float, where),
                     total_trial_seconds=get(d, "total_trial_seconds", float, where),
                     wall_s=get(d, "wall_s", float, where, required=False) or 0.0,
                     trial_offset=get(d, "trial_offset", int, where, required=False) or 0,
                     confirm_trial=get(d, "confirm_trial", int, where, nullable=True, required=False),
                     ndr_confirmed=get(d, "ndr_confirmed", bool, where, required=False),
                     latency=items("latency", LatencyRecord), caveats=tuple(caveats))
