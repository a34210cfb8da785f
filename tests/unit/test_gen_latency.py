"""Latency histogram -> summary: bucket maths mirror the C side; percentiles from counts."""
import pytest

from pktlab.gen import latency
from pktlab.gen.latency import bucket_bounds, bucket_index, summarize


def test_buckets_are_contiguous_and_cover_the_range():
    hi_prev = 0
    for i in range(latency.BUCKETS):
        lo, hi = bucket_bounds(i)
        assert lo == hi_prev and hi > lo
        hi_prev = hi
    assert hi_prev == 1 << latency.MAX_BITS


@pytest.mark.parametrize("v", [0, 1, 127, 128, 129, 255, 256, 1000, 12345, 2**33 + 7, 2**40 - 1])
def test_index_and_bounds_agree(v):
    lo, hi = bucket_bounds(bucket_index(v))
    assert lo <= v < hi
    assert hi - lo <= max(1, lo // 64)  # relative width <= 1/64


def test_out_of_range_values_are_clamped():
    assert bucket_index(-5) == 0
    assert bucket_index(2**50) == latency.BUCKETS - 1


def test_constants_match_the_c_side():
    lib = pytest.importorskip("pktlab._pktgen").lib
    assert (lib.PG_LAT_SUB_BITS, lib.PG_LAT_MAX_BITS, lib.PG_LAT_BUCKETS) == \
        (latency.SUB_BITS, latency.MAX_BITS, latency.BUCKETS)


def test_percentiles_from_a_known_histogram():
    # 1 GHz TSC: 1 cycle = 1 ns. 90 frames at 100, 9 at 1000, 1 at 5000 cycles.
    vals = [100] * 90 + [1000] * 9 + [5000]
    counts = {}
    for v in vals:
        counts[bucket_index(v)] = counts.get(bucket_index(v), 0) + 1
    s, hist = summarize(counts.items(), len(vals), sum(vals), 100, 5000, 1e9)
    assert s.min_ns == 100 and s.max_ns == 5000
    assert s.avg_ns == pytest.approx(sum(vals) / 100)
    # the highest value of the bucket holding the rank: below 128 cycles a bucket is one cycle wide
    assert s.p50_ns == 101
    lo, hi = bucket_bounds(bucket_index(1000))
    assert lo < s.p99_ns <= hi  # rank 99 is in the 1000-cycle bucket: its upper bound
    assert s.min_ns <= s.p50_ns <= s.p99_ns <= s.max_ns
    assert [n for _, n in hist] == [90, 9, 1]
    assert [u for u, _ in hist] == [bucket_bounds(bucket_index(v))[1] for v in (100, 1000, 5000)]


def test_scaled_by_tsc_frequency():
    s, hist = summarize([(bucket_index(2600), 4)], 4, 4 * 2600, 2600, 2600, 2.6e9)
    assert (s.min_ns, s.avg_ns, s.p50_ns, s.p99_ns, s.max_ns) == pytest.approx((1000,) * 5)


def test_empty():
    assert summarize([], 0, 0, 0, 0, 1e9) == (None, ())


def test_the_generators_summary_and_the_analysis_agree():
    """Before: the generator took its percentiles one way (bucket upper bound - 1 cycle) and
    the analysis another (HdrHistogram at the upper bound): p50 100 vs 101 ns here."""
    from pktlab.analysis.latency import trial_percentiles
    from pktlab.results.stats import TrialStats

    vals = [100] * 50 + [700] * 40 + [3000] * 9 + [90000]
    counts = {}
    for v in vals:
        counts[bucket_index(v)] = counts.get(bucket_index(v), 0) + 1
    s, hist = summarize(counts.items(), len(vals), sum(vals), 100, 90000, 2.6e9)
    stats = TrialStats(None, 1.0, 1.0, 100, 100, 0, 0, 0, latency=s, latency_histogram=hist)
    p = trial_percentiles(stats)
    assert (p.p50_ns, p.p99_ns, p.min_ns, p.max_ns) == (s.p50_ns, s.p99_ns, s.min_ns, s.max_ns)
