"""The one percentile engine: HdrHistogram over latency buckets [ns].

A trial's latency is kept as (upper bound of the bucket [ns], frames) per non-empty
bucket. Each bucket is recorded at its upper bound, so a percentile is the highest
value of the bucket holding that rank, never an optimistic one (HdrHistogram's
convention), clamped into the exact min and max when they are known. The
generator's summary (gen.latency) and the analysis (analysis.latency) both take
their percentiles from here, so they cannot disagree.
"""
from __future__ import annotations

import math
from typing import Iterable

from hdrh.histogram import HdrHistogram

LOWEST_NS = 1  # [ns] resolution floor
HIGHEST_NS = 60_000_000_000  # [ns] 60 s: anything slower is recorded as 60 s
SIGNIFICANT_FIGURES = 3  # 0.1 %, finer than the generator's own 1/64 buckets


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_NS, HIGHEST_NS, SIGNIFICANT_FIGURES)


def histogram_from_buckets(buckets: Iterable[tuple[float, int]], into: HdrHistogram | None = None) -> HdrHistogram:
    """An HdrHistogram [ns] holding each (upper bound [ns], frames) bucket at its upper bound.

    into: reset and refill that one (from new_histogram) instead of making one. A caller
    doing this per interval must: hdrh's histogram refers to itself (hist.encoder.histogram),
    so a dropped one, with its 221 kB counts array, waits for the cyclic garbage collector,
    and a soak's worker piled up ~26 MB of them between collections."""
    if into is None:
        hist = new_histogram()
    else:
        hist = into
        hist.reset()
    for i, (upper_ns, frames) in enumerate(buckets):
        if not (isinstance(upper_ns, (int, float)) and math.isfinite(upper_ns) and upper_ns >= 0):
            raise ValueError(f"latency bucket {i}: upper bound {upper_ns!r} is not a latency in ns")
        if not isinstance(frames, int) or isinstance(frames, bool) or frames < 0:
            raise ValueError(f"latency bucket {i}: count {frames!r} is not a frame count")
        if frames:
            hist.record_value(min(max(LOWEST_NS, round(upper_ns)), HIGHEST_NS), frames)
    return hist


def value_at(hist: HdrHistogram, percentile: float, lo_ns: float, hi_ns: float) -> float:
    """The value [ns] at `percentile` (0-100), clamped into the exact [lo_ns, hi_ns]."""
    return min(max(float(hist.get_value_at_percentile(percentile)), lo_ns), max(hi_ns, lo_ns))
