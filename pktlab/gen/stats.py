"""The records a generator trial fills: they live with the results that store them
(pktlab.results.stats), so results never import the generator."""
from ..results.stats import LatencySummary, LoopStats, PortStats, StreamCounts, TrialStats

__all__ = ["LatencySummary", "LoopStats", "PortStats", "StreamCounts", "TrialStats"]
