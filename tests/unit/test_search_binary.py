"""The classic binary search on the same fake device, and what MLRsearch saves."""
import pytest

from pktlab.search import binary_search, goals_for, run_search

from .test_search_mlr import MAX_LOAD, Dut, assert_within_width


def test_binary_finds_the_same_ndr_within_its_precision_at_higher_cost():
    goals = goals_for("rfc2544")
    dut = Dut()
    b = binary_search(dut, goals, MAX_LOAD)
    assert b.method == "binary"
    assert_within_width(b.goal("NDR"), dut.ndr)
    assert_within_width(b.goal("PDR"), dut.pdr(0.005))
    m = run_search(Dut(), goals, MAX_LOAD)
    w = goals[0].relative_width
    assert abs(b.ndr_pps - m.ndr_pps) <= w * dut.ndr
    # every trial full length, one search per goal, in order
    assert all(t.intended_duration_s == 60.0 for t in b.trials)
    phases = [t.phase for t in b.trials]
    assert phases == ["NDR"] * phases.count("NDR") + ["PDR"] * phases.count("PDR")
    assert b.n_trials == len(dut.calls)
    assert b.total_trial_seconds == 60.0 * b.n_trials
    # the point of MLRsearch: the same answers for much less trial time
    assert m.total_trial_seconds < b.total_trial_seconds / 3


def test_precision_override():
    coarse = binary_search(Dut(), goals_for("rfc2544")[:1], MAX_LOAD, precision=0.05)
    fine = binary_search(Dut(), goals_for("rfc2544")[:1], MAX_LOAD)
    g = coarse.goal("NDR")
    assert g.upper_bound_pps - g.lower_bound_pps <= 0.05 * g.upper_bound_pps
    assert coarse.n_trials < fine.n_trials
    with pytest.raises(ValueError, match="precision = 0"):
        binary_search(Dut(), goals_for("quick"), MAX_LOAD, precision=0)


def test_binary_max_load_passes():
    out = binary_search(Dut(ndr=20e6), goals_for("quick"), MAX_LOAD)
    g = out.goal("NDR")
    assert (g.lower_bound_pps, g.upper_bound_pps) == (MAX_LOAD, None)
    assert out.n_trials == 2  # one per goal


def test_binary_min_load_fails():
    out = binary_search(Dut(ndr=1000.0), goals_for("quick")[:1], MAX_LOAD, min_load_pps=10_000)
    g = out.goal("NDR")
    assert (g.lower_bound_pps, g.upper_bound_pps) == (None, 10_000)
    assert out.trials[-1].intended_load_pps == 10_000


def test_binary_generator_limited():
    out = binary_search(Dut(gen_cap=2e6), goals_for("quick"), MAX_LOAD)
    assert [g.goal.name for g in out.goals] == ["NDR", "PDR"]
    for g in out.goals:
        assert g.lower_bound_pps <= 2e6 / 0.995 < g.upper_bound_pps
        assert g.limited_by_generator
