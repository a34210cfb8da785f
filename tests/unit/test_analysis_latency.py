import pytest

from pktlab.analysis import (decode_histogram, encode_histogram, histogram_from_buckets, merge,
                             percentiles, trial_percentiles)
from pktlab.results.stats import LatencySummary, TrialStats

# 1000 frames: 500 at <= 1 us, 400 at <= 2 us, 90 at <= 5 us, 9 at <= 20 us, 1 at <= 1 ms
BUCKETS = ((1000.0, 500), (2000.0, 400), (5000.0, 90), (20000.0, 9), (1_000_000.0, 1))


def close(value, expected):
    """HdrHistogram keeps 3 significant figures: within 0.1 %, never below."""
    return expected <= value <= expected * 1.001


def test_percentiles_from_known_buckets():
    p = percentiles(histogram_from_buckets(BUCKETS))
    assert p.count == 1000
    assert close(p.min_ns, 999) or close(p.min_ns, 1000)
    assert close(p.p50_ns, 1000)  # rank 500 is the last frame of the first bucket
    assert close(p.p90_ns, 2000)  # rank 900
    assert close(p.p99_ns, 5000)  # rank 990
    assert close(p.p999_ns, 20000)  # rank 999
    assert close(p.max_ns, 1_000_000)
    assert p.values_ns == (p.min_ns, p.p50_ns, p.p90_ns, p.p99_ns, p.p999_ns, p.max_ns)


def test_trial_percentiles_clamp_to_the_exact_min_and_max():
    s = TrialStats(1e6, 1.0, 1.0, 1000, 1000, 0, 0, 0,
                   latency=LatencySummary(640.0, 1700.0, 1000.0, 5000.0, 700_000.0),
                   latency_histogram=BUCKETS)
    p = trial_percentiles(s)
    assert (p.min_ns, p.max_ns) == (640.0, 700_000.0)
    assert close(p.p50_ns, 1000) and p.p999_ns <= 700_000.0
    assert trial_percentiles(TrialStats(1e6, 1.0, 1.0, 10, 0, 10, 0, 0)) is None


def test_encode_decode_round_trip():
    h = histogram_from_buckets(BUCKETS)
    text = encode_histogram(h)
    assert isinstance(text, str) and text.startswith("HISTF")  # HdrHistogram's V2 base64 form
    back = decode_histogram(text)
    assert back.get_total_count() == 1000
    assert percentiles(back) == percentiles(h)
    assert decode_histogram(text.encode()).get_total_count() == 1000
    with pytest.raises(ValueError, match="not an encoded HdrHistogram"):
        decode_histogram("not a histogram")


def test_merge_adds_counts():
    h = merge([histogram_from_buckets(BUCKETS), None, histogram_from_buckets(((3000.0, 1000),))])
    p = percentiles(h)
    assert p.count == 2000 and close(p.p50_ns, 3000)  # rank 1000: 900 frames <= 2 us, then 3 us
    assert merge([None]) is None and percentiles(None) is None


@pytest.mark.parametrize("bad", [((-1.0, 1),), ((1000.0, -1),), ((float("nan"), 1),),
                                 ((1000.0, 1.5),)])
def test_bad_buckets(bad):
    with pytest.raises(ValueError, match="latency bucket 0"):
        histogram_from_buckets(bad)
