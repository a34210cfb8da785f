"""What a result keeps of a soak: one long trial at a fixed rate, counted per interval.

The intervals themselves are JSON lines in a file next to the result (written
as the soak runs, one line per interval, so a soak of days keeps no list in
memory and a Ctrl-C or a crash keeps every interval measured); the result holds
the record below, which names that file and sums it up.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

from .fields import ResultError, build, get

# interval line keys: counts (integers) and latency [ns] (numbers or null)
INTERVAL_COUNTS = ("n", "tx", "rx", "lost", "duplicates", "reordered", "tx_dropped", "lat_count", "ipdv_pairs")
INTERVAL_NS = ("lat_min_ns", "lat_avg_ns", "lat_p50_ns", "lat_p99_ns", "lat_max_ns", "ipdv_abs_mean_ns",
               "ipdv_max_ns")


@dataclass(frozen=True)
class SoakInterval:
    """One interval of a soak. lost is frames sent minus frames received in the
    interval: a frame in flight across a boundary counts in the interval it
    arrives in, so an interval may show a few frames of either sign."""

    n: int  # 0, 1, ...
    t_start_s: float  # [s] from the start of the transmit window
    t_end_s: float  # [s]
    tx: int
    rx: int
    lost: int
    duplicates: int = 0
    reordered: int = 0
    tx_dropped: int = 0
    lat_count: int = 0
    lat_min_ns: float | None = None
    lat_avg_ns: float | None = None
    lat_p50_ns: float | None = None
    lat_p99_ns: float | None = None
    lat_max_ns: float | None = None
    ipdv_pairs: int = 0
    ipdv_abs_mean_ns: float | None = None  # mean |IPDV| [ns]
    ipdv_max_ns: float | None = None  # largest |IPDV| [ns]
    rss_kb: int | None = None  # pktlab's resident memory when the interval came in [kB]
    worker_rss_kb: int | None = None  # the generator worker's [kB]

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict, where: str) -> "SoakInterval":
        kw = {k: get(d, k, int, where, required=k in ("n", "tx", "rx", "lost")) for k in INTERVAL_COUNTS}
        kw.update({k: get(d, k, float, where, nullable=True, required=False) for k in INTERVAL_NS})
        kw.update({k: get(d, k, int, where, nullable=True, required=False) for k in ("rss_kb", "worker_rss_kb")})
        kw.update({k: get(d, k, float, where) for k in ("t_start_s", "t_end_s")})
        return build(cls, where, **{k: v for k, v in kw.items() if v is not None})


@dataclass(frozen=True)
class SoakRecord:
    """A soak as the result keeps it; intervals_file is next to the result file."""

    rate_pps: float  # [pps] the load's
    duration_s: float  # [s] as asked
    interval_s: float  # [s]
    intervals_file: str  # JSON lines, one SoakInterval each, in the result's directory
    n_intervals: int
    trial: int | None  # the soak's trial in the result; None: interrupted before its totals came
    interrupted: bool = False  # Ctrl-C or SIGTERM: everything measured until then is kept
    sums_match: bool | None = None  # the intervals add up to the trial's tx, rx and lost exactly
    lossy_intervals: int = 0  # intervals with lost > 0
    worst_interval_lost: int = 0
    skipped_snapshots: int = 0  # read too late (their counts are in the next interval)
    rss_start_kb: int | None = None  # pktlab's resident memory at the first and the last interval [kB]
    rss_end_kb: int | None = None
    worker_rss_start_kb: int | None = None  # the generator worker's [kB]
    worker_rss_end_kb: int | None = None

    def __post_init__(self):
        if not self.intervals_file or "/" in self.intervals_file:
            raise ValueError(f"SoakRecord.intervals_file = {self.intervals_file!r}: a file name next to the result")
        if self.interval_s <= 0 or self.n_intervals < 0:
            raise ValueError("SoakRecord: interval_s must be > 0 and n_intervals >= 0")

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict, where: str = "soak") -> "SoakRecord":
        if not isinstance(d, dict):
            raise ResultError(None, where, f"expected an object, got {type(d).__name__}")
        kw = {"rate_pps": get(d, "rate_pps", float, where), "duration_s": get(d, "duration_s", float, where),
              "interval_s": get(d, "interval_s", float, where),
              "intervals_file": get(d, "intervals_file", str, where),
              "n_intervals": get(d, "n_intervals", int, where),
              "trial": get(d, "trial", int, where, nullable=True)}
        for k in ("interrupted", "sums_match"):
            v = get(d, k, bool, where, nullable=True, required=False)
            if v is not None:
                kw[k] = v
        for k in ("lossy_intervals", "worst_interval_lost", "skipped_snapshots"):
            kw[k] = get(d, k, int, where, required=False) or 0
        for k in ("rss_start_kb", "rss_end_kb", "worker_rss_start_kb", "worker_rss_end_kb"):
            kw[k] = get(d, k, int, where, nullable=True, required=False)
        return build(cls, where, **kw)


def load_intervals(path) -> list[SoakInterval]:
    """A soak's intervals file; a ResultError names the file, the line and the key. A last
    line cut short (the process was killed while writing it) is dropped."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ResultError(path, None, f"cannot read: {e.strerror or e}") from None
    out = []
    for i, line in enumerate(lines):
        try:
            d = json.loads(line)
        except ValueError as e:
            if i == len(lines) - 1:
                break
            raise ResultError(path, f"line {i + 1}", f"not JSON: {e}") from None
        try:
            out.append(SoakInterval.from_dict(d, f"line {i + 1}"))
        except ResultError as e:
            raise ResultError(path, e.key, e.reason) from None
    return out
