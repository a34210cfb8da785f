"""Latency histogram (TSC cycles, log-linear) -> summary and buckets in ns.

Mirrors pg_lat_bucket() in csrc/pg_stream.h: values below 2^SUB_BITS have a
bucket each; above, every power of two is split in 2^(SUB_BITS-1) buckets,
so a bucket is at most 1/64 of its value wide.
"""
from __future__ import annotations

from typing import Iterable

from .stats import LatencySummary

SUB_BITS = 7  # PG_LAT_SUB_BITS
MAX_BITS = 40  # PG_LAT_MAX_BITS
BUCKETS = 2240  # PG_LAT_BUCKETS
_HALF = SUB_BITS - 1


def bucket_index(cycles: int) -> int:
    """The bucket of a latency [cycles], as the C side computes it."""
    v = min(max(cycles, 0), (1 << MAX_BITS) - 1)
    if v < (1 << SUB_BITS):
        return v
    b = v.bit_length() - 1 - _HALF
    return (b << _HALF) + (v >> b)


def bucket_bounds(index: int) -> tuple[int, int]:
    """[low, high) of a bucket [cycles]."""
    if not 0 <= index < BUCKETS:
        raise ValueError(f"bucket index {index} not in 0..{BUCKETS - 1}")
    b = max(0, (index >> _HALF) - 1)
    sub = index - (b << _HALF)
    return sub << b, (sub + 1) << b


def summarize(buckets: Iterable[tuple[int, int]], count: int, total: int, lo: int, hi: int,
              tsc_hz: float, hdr=None) -> tuple[LatencySummary | None, tuple[tuple[float, int], ...]]:
    """Summary and (upper bound [ns], frames) per non-empty bucket, ascending.

    buckets: (index, frames) pairs; count/total/lo/hi: exact frame count, sum,
    min and max [cycles] as the C side kept them. Percentiles are the highest
    value of the bucket holding that rank (HdrHistogram's convention), clamped
    to the exact min and max. None if nothing was received. hdr: a histogram
    (pktlab.hdr.new_histogram) to refill rather than make one per call."""
    from ..hdr import histogram_from_buckets, value_at

    nonempty = sorted((i, n) for i, n in buckets if n > 0)
    if count <= 0 or not nonempty:
        return None, ()
    ns = 1e9 / float(tsc_hz)
    hist = tuple((bucket_bounds(i)[1] * ns, n) for i, n in nonempty)
    hdr = histogram_from_buckets(hist, hdr)  # the one percentile engine (pktlab.hdr), as analysis reads them
    summary = LatencySummary(min_ns=lo * ns, avg_ns=total / count * ns, p50_ns=value_at(hdr, 50, lo * ns, hi * ns),
                             p99_ns=value_at(hdr, 99, lo * ns, hi * ns), max_ns=hi * ns)
    return summary, hist


def ipdv_fields(buckets: Iterable[tuple[int, int]], pairs: int, signed_sum: int, max_abs: int,
                tsc_hz: float) -> tuple[dict, tuple[tuple[float, int], ...]]:
    """LatencySummary's IPDV fields and (upper bound [ns], pairs) per non-empty |IPDV|
    bucket, from the C side's |IPDV| histogram, pair count, signed sum and largest
    |IPDV| [cycles]. Percentiles as for latency: the highest value of the bucket,
    clamped to the exact largest |IPDV|. ({}, ()) without pairs."""
    from ..hdr import histogram_from_buckets, value_at

    nonempty = sorted((i, n) for i, n in buckets if n > 0)
    if pairs <= 0 or not nonempty:
        return {}, ()
    ns = 1e9 / float(tsc_hz)
    hist = tuple((bucket_bounds(i)[1] * ns, n) for i, n in nonempty)
    hdr = histogram_from_buckets(hist)
    top = max_abs * ns
    return {"ipdv_pairs": pairs, "ipdv_mean_ns": signed_sum / pairs * ns,
            "ipdv_p50_ns": value_at(hdr, 50, 0.0, top), "ipdv_p99_ns": value_at(hdr, 99, 0.0, top),
            "ipdv_max_ns": top}, hist
