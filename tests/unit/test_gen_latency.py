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
    assert s.p50_ns == 100  # exact: below 128 cycles a bucket is one cycle wide
    lo, hi = bucket_bounds(bucket_index(1000))
    assert lo <= s.p99_ns < hi  # rank 99 is in the 1000-cycle bucket
    assert s.min_ns <= s.p50_ns <= s.p99_ns <= s.max_ns
    assert [n for _, n in hist] == [90, 9, 1]
    assert [u for u, _ in hist] == [bucket_bounds(bucket_index(v))[1] for v in (100, 1000, 5000)]


def test_scaled_by_tsc_frequency():
    s, hist = summarize([(bucket_index(2600), 4)], 4, 4 * 2600, 2600, 2600, 2.6e9)
    assert (s.min_ns, s.avg_ns, s.p50_ns, s.p99_ns, s.max_ns) == pytest.approx((1000,) * 5)


def test_empty():
    assert summarize([], 0, 0, 0, 0, 1e9) == (None, ())
