"""pktlab.hdr: a histogram refilled in place (a soak's percentiles, every interval) answers
as a fresh one and leaves nothing for the cyclic garbage collector; a fresh one does (hdrh's
histogram refers to itself, so a dropped one keeps its 221 kB of counts until a collection:
the soak worker's memory swung by ~25 MB with them)."""
import gc

from pktlab.gen.intervals import _Cum, interval_record
from pktlab.hdr import histogram_from_buckets, new_histogram, value_at

A = ((1000.0, 10), (2000.0, 80), (50_000.0, 10))
B = ((300.0, 5), (700.0, 5))


def test_a_refilled_histogram_answers_as_a_fresh_one():
    h = new_histogram()
    assert histogram_from_buckets(A, into=h) is h
    assert histogram_from_buckets(B, into=h) is h
    fresh = histogram_from_buckets(B)
    assert h.get_total_count() == 10  # nothing of A left
    for q in (0.0, 50.0, 99.0, 100.0):
        assert value_at(h, q, 0.0, 1e9) == value_at(fresh, q, 0.0, 1e9)


def test_refilling_leaves_no_garbage_cycles_where_new_ones_do():
    h = new_histogram()
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(20):
            histogram_from_buckets(A, into=h)
        refilled = gc.collect()
        for _ in range(20):
            histogram_from_buckets(A)
        fresh = gc.collect()
    finally:
        if enabled:
            gc.enable()
    assert refilled == 0 and fresh >= 20


def test_an_interval_from_a_refilled_histogram_is_the_same_interval():
    p, m = _Cum(2240), _Cum(2240)
    m.hist[300], m.hist[400], m.lat_count, m.lat_sum = 90, 10, 100, 100 * 320
    m.tx = m.unique = m.rx = 100
    m.tsc = 10**9
    h = new_histogram()
    histogram_from_buckets(A, into=h)  # last interval's counts, to be forgotten
    args = (3, 3, 0.0, 0.5, m, p, 250, 420, 0, 2.0e9, False)
    assert interval_record(*args, h) == interval_record(*args) and interval_record(*args)["lat_p99_ns"] > 0
