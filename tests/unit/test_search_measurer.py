import pytest

from pktlab.results.stats import TrialStats
from pktlab.search import SearchError, TrialMeasurer, to_measurement


def stats(tx, lost=0, elapsed=1.0, tx_dropped=0, rate=1e6):
    return TrialStats(offered_pps=rate, duration_s=1.0, elapsed_s=elapsed, tx_packets=tx,
                      rx_packets=tx - lost, lost=lost, duplicates=0, reordered=0,
                      tx_dropped=tx_dropped)


def test_within_tolerance_is_a_device_result():
    # 0.4 % short of 1 Mpps: the generator's pacing, not a limit; loss is the device's alone
    m, limited = to_measurement(stats(996_000, lost=0), 1e6, 1.0)
    assert not limited
    assert (m.offered_count, m.loss_count, m.intended_count) == (996_000, 0, 996_000)
    assert m.loss_ratio == 0.0
    m, _ = to_measurement(stats(1_000_000, lost=2_000), 1e6, 1.0)
    assert m.loss_ratio == 0.002


def test_rate_is_over_the_measured_window():
    # 999 000 frames in 0.999 s is 1 Mpps: not limited, even though fewer than intended
    _, limited = to_measurement(stats(999_000, elapsed=0.999), 1e6, 1.0)
    assert not limited
    # the same count over a 1.01 s window is 1 % short
    _, limited = to_measurement(stats(999_000, elapsed=1.01), 1e6, 1.0)
    assert limited


def test_generator_limited_shortfall_counts_as_loss():
    m, limited = to_measurement(stats(900_000, lost=0), 1e6, 1.0, max_goal_loss_ratio=0.005)
    assert limited
    assert m.intended_count == 1_000_000 and m.unsent_count == 100_000
    assert m.loss_ratio == pytest.approx(0.1)
    # MLRsearch's next-load hint is what the generator could send
    assert m.relative_forwarding_rate == pytest.approx(900_000)


def test_generator_limited_fails_every_goal_even_a_lax_one():
    # 1 % short, no device loss, but a goal accepts 5 % loss: padded just past 5 %
    m, limited = to_measurement(stats(990_000), 1e6, 1.0, max_goal_loss_ratio=0.05)
    assert limited and 0.05 < m.loss_ratio < 0.0501
    # nothing sent at all
    m, limited = to_measurement(stats(0), 1e6, 1.0, max_goal_loss_ratio=0.05)
    assert limited and m.loss_ratio == 1.0


def test_refused_frames_are_device_loss_by_default():
    # vhost-user: the ring was full, 1 % refused; offered and lost, not generator-limited
    s = stats(990_000, lost=10, tx_dropped=10_000)
    m, limited = to_measurement(s, 1e6, 1.0)
    assert not limited
    assert (m.offered_count, m.loss_count) == (1_000_000, 10_010)
    # a physical NIC's own queue: the tester's problem, so a generator-limited trial
    m, limited = to_measurement(s, 1e6, 1.0, refused_as_loss=False)
    assert limited and m.offered_count == 990_000


def test_durations_count_as_intended():
    m, _ = to_measurement(stats(1_000_000, elapsed=0.9999), 1e6, 1.0)
    assert m.duration_with_overheads == 1.0 and m.offered_duration == 0.9999


def test_measurer_keeps_trials_and_checks_the_callable():
    calls = []

    def trial(rate, duration):
        calls.append((rate, duration))
        return stats(round(rate * duration), rate=rate)

    m = TrialMeasurer(trial)
    r = m.measure(2.0, 5e5)
    assert r.loss_ratio == 0.0 and calls == [(5e5, 2.0)]
    (t,) = m.trials
    assert (t.index, t.phase, t.intended_load_pps, t.intended_duration_s) == (0, "search", 5e5, 2.0)
    assert t.wall_s >= 0 and t.achieved_pps == pytest.approx(1e6)  # stats() says 1 s elapsed

    with pytest.raises(SearchError, match="returned dict, not TrialStats"):
        TrialMeasurer(lambda r, d: {}).measure(1.0, 1e6)
    with pytest.raises(TypeError):
        TrialMeasurer(None)
    with pytest.raises(ValueError, match="tolerance"):
        TrialMeasurer(trial, tolerance=1.5)
