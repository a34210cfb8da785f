"""SearchRecords for tests of what reads results (compare, charts, export)."""
from __future__ import annotations

from pktlab.results import GoalRecord, GoalSpec, ProbeRecord, SearchRecord


def goal(name: str, lower_pps: float | None, upper_pps: float | None = None, loss_ratio: float = 0.0) -> GoalRecord:
    spec = GoalSpec(name, loss_ratio, 0.0, 0.02, 0.5, 1.0, 1.0)
    return GoalRecord(spec, lower_pps, upper_pps if upper_pps is not None or lower_pps is None else lower_pps * 1.02)


def searched(ndr_pps: float | None, pdr_pps: float | None = None, n_trials: int = 1,
             limited: tuple[int, ...] = ()) -> SearchRecord:
    """A search of n_trials probes (result trials 0..n-1) that found ndr_pps and pdr_pps."""
    pdr_pps = pdr_pps if pdr_pps is not None else (None if ndr_pps is None else ndr_pps * 1.1)
    probes = [ProbeRecord(i, "search", 1e6, 1.0, i in limited, 0.0) for i in range(n_trials)]
    return SearchRecord("mlrsearch", (goal("NDR", ndr_pps), goal("PDR", pdr_pps, loss_ratio=0.005)),
                        tuple(probes), 3e7, 1e4, 9.5)
