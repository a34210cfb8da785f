"""What a result keeps of an RFC 2544 back-to-back test (section 26.4).

Each repeat is a binary search of the burst length: bursts of exactly N frames
sent with minimum gaps (as fast as the generator sends them, or at max_rate),
N raised after a burst that came back whole and lowered after one that lost a
frame. The back-to-back value is the average over the repeats of the longest
burst taken without loss, in frames and in the time it lasts at the reference
rate (line rate at the frame size, or max_rate). Trials are the result's own.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from .fields import ResultError, build, get


@dataclass(frozen=True)
class BurstSearch:
    """One repeat: the longest burst without loss and the shortest with loss found."""

    longest_ok: int  # [frames] 0: even min_burst lost frames
    shortest_lost: int | None  # [frames] None: max_burst came back whole (the path may take more)
    trials: tuple[int, ...]  # the result's trials of this search, in order

    def __post_init__(self):
        object.__setattr__(self, "trials", tuple(self.trials))
        if self.longest_ok < 0 or (self.shortest_lost is not None and self.shortest_lost <= self.longest_ok):
            raise ValueError(f"BurstSearch: longest_ok {self.longest_ok} must be >= 0 and below "
                             f"shortest_lost {self.shortest_lost}")

    def to_dict(self) -> dict:
        return {"longest_ok": self.longest_ok, "shortest_lost": self.shortest_lost, "trials": list(self.trials)}

    @classmethod
    def from_dict(cls, d: dict, where: str) -> "BurstSearch":
        trials = get(d, "trials", list, where)
        for i in range(len(trials)):
            get(trials, i, int, f"{where}.trials")
        return build(cls, where, longest_ok=get(d, "longest_ok", int, where),
                     shortest_lost=get(d, "shortest_lost", int, where, nullable=True), trials=tuple(trials))


@dataclass(frozen=True)
class BackToBackRecord:
    """RFC 2544 back-to-back: repeats of a burst-length search and their average."""

    reference_pps: float  # [pps] line rate at the frame size, or max_rate: what "time" is at
    offered_pps: float | None  # [pps] rate of the bursts; None: as fast as the generator sends
    min_burst: int  # [frames]
    max_burst: int  # [frames]
    searches: tuple[BurstSearch, ...]
    achieved_pps: float | None = None  # [pps] mean transmit rate of the bursts taken whole
    caveats: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "searches", tuple(self.searches))
        object.__setattr__(self, "caveats", tuple(self.caveats))
        if not self.searches:
            raise ValueError("BackToBackRecord.searches: at least one repeat")
        if not 1 <= self.min_burst < self.max_burst:
            raise ValueError(f"BackToBackRecord: bursts must be 1 <= min ({self.min_burst}) < max ({self.max_burst})")
        if not self.reference_pps > 0:
            raise ValueError("BackToBackRecord.reference_pps: must be > 0")

    @property
    def frames(self) -> float:
        """The back-to-back value: mean longest burst without loss [frames]."""
        return statistics.fmean(s.longest_ok for s in self.searches)

    @property
    def frames_stdev(self) -> float:
        xs = [s.longest_ok for s in self.searches]
        return statistics.stdev(xs) if len(xs) > 1 else 0.0

    @property
    def seconds(self) -> float:
        """What the mean burst lasts at the reference rate [s]: RFC 2544's buffer time."""
        return self.frames / self.reference_pps

    @property
    def at_max(self) -> bool:
        """Every repeat took the longest burst tried: the path's buffer may be larger."""
        return all(s.shortest_lost is None for s in self.searches)

    def check_trials(self, n_result_trials: int) -> None:
        for s in self.searches:
            for i in s.trials:
                if not 0 <= i < n_result_trials:
                    raise ValueError(f"BackToBackRecord: trial {i} but the result has {n_result_trials}")

    def to_dict(self) -> dict:
        return {"reference_pps": self.reference_pps, "offered_pps": self.offered_pps,
                "min_burst": self.min_burst, "max_burst": self.max_burst,
                "frames": self.frames, "frames_stdev": self.frames_stdev, "seconds": self.seconds,
                "at_max": self.at_max, "achieved_pps": self.achieved_pps,
                "searches": [s.to_dict() for s in self.searches], "caveats": list(self.caveats)}

    @classmethod
    def from_dict(cls, d: dict, where: str = "back_to_back") -> "BackToBackRecord":
        if not isinstance(d, dict):
            raise ResultError(None, where, f"expected an object, got {type(d).__name__}")
        searches = get(d, "searches", list, where)
        caveats = get(d, "caveats", list, where, required=False) or []
        for i in range(len(caveats)):
            get(caveats, i, str, f"{where}.caveats")
        return build(cls, where, reference_pps=get(d, "reference_pps", float, where),
                     offered_pps=get(d, "offered_pps", float, where, nullable=True),
                     min_burst=get(d, "min_burst", int, where), max_burst=get(d, "max_burst", int, where),
                     searches=tuple(BurstSearch.from_dict(get(searches, i, dict, f"{where}.searches"),
                                                          f"{where}.searches[{i}]") for i in range(len(searches))),
                     achieved_pps=get(d, "achieved_pps", float, where, nullable=True, required=False),
                     caveats=tuple(caveats))
