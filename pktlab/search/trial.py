"""One trial a search ran: what it asked for, what the generator measured, and how
the search judged it."""
from __future__ import annotations

from dataclasses import dataclass

from pktlab.results.stats import TrialStats


@dataclass(frozen=True)
class SearchTrial:
    """One trial the search ran, in the order run."""

    index: int  # 0-based position in the search
    phase: str  # "warmup", "search" (MLRsearch) or the goal a binary search was after
    intended_load_pps: float  # [pps] aggregate over all streams, as asked
    intended_duration_s: float  # [s] as asked
    stats: TrialStats  # what the generator measured
    generator_limited: bool  # achieved rate short of intended by more than the tolerance
    loss_ratio: float  # [1] as the search saw it (incl. refused and, if limited, unsent)
    wall_s: float = 0.0  # [s] the trial call took, drain and overheads included

    @property
    def achieved_pps(self) -> float:
        """Frames sent over the measured transmit window [pps]."""
        return self.stats.tx_pps

    def to_dict(self, with_stats: bool = False) -> dict:
        """JSON-able; without stats by default, as the result stores them as its trials."""
        d = {"index": self.index, "phase": self.phase,
             "intended_load_pps": self.intended_load_pps,
             "intended_duration_s": self.intended_duration_s,
             "generator_limited": self.generator_limited, "loss_ratio": self.loss_ratio,
             "wall_s": self.wall_s}
        if with_stats:
            d["stats"] = self.stats.to_dict()
        return d
