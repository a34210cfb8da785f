"""Latency percentiles from a trial's stored histogram, via pktlab.hdr (HdrHistogram),
the engine the generator's own summary uses too: (upper bound [ns], frames) per
bucket, percentiles the highest value of their bucket, clamped to the exact min/max.

encode_histogram()/decode_histogram() use HdrHistogram's compressed base64 form
("HISTFAAA..."), readable by every HdrHistogram implementation, so a histogram can
be stored in a result or merged across trials and runs later.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Iterable

from hdrh.histogram import HdrHistogram

from pktlab.results.stats import TrialStats
from pktlab.hdr import histogram_from_buckets, new_histogram, value_at  # noqa: F401  (re-exported)

PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9))


@dataclass(frozen=True)
class LatencyPercentiles:
    """One-way latency of a set of frames [ns]."""

    count: int  # frames measured
    min_ns: float
    p50_ns: float
    p90_ns: float
    p99_ns: float
    p999_ns: float
    max_ns: float
    # jitter: |IPDV| (RFC 3393/5481, consecutive frames) as the trial's LatencySummary has it;
    # None for results written before pktlab kept IPDV
    ipdv_p50_ns: float | None = None
    ipdv_p99_ns: float | None = None
    ipdv_max_ns: float | None = None

    LABELS = ("min", "p50", "p90", "p99", "p99.9", "max")
    IPDV_LABELS = ("IPDV p50", "IPDV p99", "IPDV max")

    @property
    def ipdv_ns(self) -> tuple[float | None, ...]:
        """In IPDV_LABELS order."""
        return (self.ipdv_p50_ns, self.ipdv_p99_ns, self.ipdv_max_ns)

    @property
    def values_ns(self) -> tuple[float, ...]:
        """In LABELS order."""
        return (self.min_ns, self.p50_ns, self.p90_ns, self.p99_ns, self.p999_ns, self.max_ns)

    def to_dict(self) -> dict:
        return {"count": self.count, "min_ns": self.min_ns, "p50_ns": self.p50_ns,
                "p90_ns": self.p90_ns, "p99_ns": self.p99_ns, "p999_ns": self.p999_ns,
                "max_ns": self.max_ns, "ipdv_p50_ns": self.ipdv_p50_ns, "ipdv_p99_ns": self.ipdv_p99_ns,
                "ipdv_max_ns": self.ipdv_max_ns}


def trial_histogram(stats: TrialStats) -> HdrHistogram | None:
    """The trial's latency as an HdrHistogram, None when it measured none."""
    if not stats.latency_histogram:
        return None
    return histogram_from_buckets(stats.latency_histogram)


def merge(histograms: Iterable[HdrHistogram | None]) -> HdrHistogram | None:
    """One histogram of all the given ones (None ones skipped), None if there are none."""
    out = None
    for h in histograms:
        if h is None:
            continue
        if out is None:
            out = new_histogram()
        out.add(h)
    return out


def percentiles(hist: HdrHistogram | None, exact_min_ns: float | None = None,
                exact_max_ns: float | None = None) -> LatencyPercentiles | None:
    """min, p50, p90, p99, p99.9, max of hist [ns]; None if it is empty.

    exact_min_ns/exact_max_ns: the exact extremes when known (the generator keeps
    them); they replace the histogram's and bound every percentile."""
    if hist is None or hist.get_total_count() == 0:
        return None
    lo = float(hist.get_min_value()) if exact_min_ns is None else float(exact_min_ns)
    hi = max(float(hist.get_max_value()) if exact_max_ns is None else float(exact_max_ns), lo)
    p = {name: value_at(hist, q, lo, hi) for name, q in PERCENTILES}
    return LatencyPercentiles(count=int(hist.get_total_count()), min_ns=lo, p50_ns=p["p50"],
                              p90_ns=p["p90"], p99_ns=p["p99"], p999_ns=p["p99.9"], max_ns=hi)


def trial_percentiles(stats: TrialStats) -> LatencyPercentiles | None:
    """Percentiles of one trial, clamped to its exact min and max when it kept them."""
    summary = stats.latency
    p = percentiles(trial_histogram(stats),
                    None if summary is None else summary.min_ns,
                    None if summary is None else summary.max_ns)
    if p is None or summary is None:
        return p
    return dataclasses.replace(p, ipdv_p50_ns=summary.ipdv_p50_ns, ipdv_p99_ns=summary.ipdv_p99_ns,
                               ipdv_max_ns=summary.ipdv_max_ns)


def encode_histogram(hist: HdrHistogram) -> str:
    """HdrHistogram's compressed base64 encoding, as text (JSON-able)."""
    blob = hist.encode()
    return blob.decode("ascii") if isinstance(blob, bytes) else blob


def decode_histogram(text: str | bytes) -> HdrHistogram:
    """The histogram encode_histogram() wrote; ValueError if text is not one."""
    try:
        return HdrHistogram.decode(text.encode("ascii") if isinstance(text, str) else text)
    except Exception as e:  # hdrh raises TypeError, zlib.error or its own cookie errors
        raise ValueError(f"not an encoded HdrHistogram: {e}") from None
