"""A soak's intervals, read back from the JSON lines file next to its result, as the
columns its timeline chart draws (charts.soak_figure). Pure: no plotting here."""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from pktlab.errors import PktlabError
from pktlab.results import Result, SoakInterval, load_intervals


class Timeline(NamedTuple):
    t_s: list[float]  # interval ends [s]
    lost: list[int]  # frames lost per interval
    p50_us: list[float | None]  # latency per interval [us]
    p99_us: list[float | None]
    max_us: list[float | None]
    rss_mb: list[float | None]  # pktlab's resident memory [MB]
    worker_rss_mb: list[float | None]


def soak_intervals(result: Result, directory) -> list[SoakInterval]:
    """The intervals of result's soak, from its intervals file in directory (where the
    result file is)."""
    if result.soak is None:
        raise PktlabError(f"{result.name}/{result.datapath}: not a soak")
    return load_intervals(Path(directory) / result.soak.intervals_file)


def timeline(intervals: list[SoakInterval]) -> Timeline:
    def us(v):
        return None if v is None else v / 1e3

    def mb(v):
        return None if v is None else v / 1024

    return Timeline([i.t_end_s for i in intervals], [i.lost for i in intervals],
                    [us(i.lat_p50_ns) for i in intervals], [us(i.lat_p99_ns) for i in intervals],
                    [us(i.lat_max_ns) for i in intervals], [mb(i.rss_kb) for i in intervals],
                    [mb(i.worker_rss_kb) for i in intervals])
