"""Result.search is a frozen, validated record: read by attribute, checked on load."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from pktlab.results import Result, ResultError, SearchRecord, load_result
from tests.unit.test_line_rate import NoCounters

DATA = Path(__file__).resolve().parents[1] / "data"
BEFORE = DATA / "policed-ndr-search-before-records.json"  # written by pktlab before the record existed


def test_a_search_result_written_before_the_record_loads_and_round_trips():
    r = load_result(BEFORE)
    s = r.search
    assert isinstance(s, SearchRecord) and s.method == "mlrsearch"
    assert s.ndr_pps == s.goal("NDR").lower_bound_pps > 0 and s.pdr_pps >= s.ndr_pps
    assert s.n_trials == len(s.trials) > 0 and s.confirm_trial == len(r.trials) - 1
    assert s.probe_of(s.trial_offset).index == 0 and s.probe_of(s.confirm_trial) is None
    assert s.ndr_confirmed is None and s.caveats == ()  # not recorded then
    again = Result.from_dict(json.loads(json.dumps(r.to_dict())))
    assert again.search == s


@pytest.mark.parametrize("edit,key,reason", [
    (lambda s: s.update(method="guess"), "search", "method"),
    (lambda s: s["goals"][0].pop("lower_bound_pps"), "search.goals[0].lower_bound_pps", "missing"),
    (lambda s: s["goals"][0]["goal"].update(relative_width="wide"), "search.goals[0].goal.relative_width",
     "expected a number"),
    (lambda s: s["trials"][1].update(index=7), "search", "indices"),
    (lambda s: s.update(confirm_trial=999), None, "confirm_trial = 999"),
    (lambda s: s.update(trial_offset=50), None, "the result has"),
])
def test_a_broken_search_names_its_key(edit, key, reason):
    d = json.loads(BEFORE.read_text())
    edit(d["search"])
    with pytest.raises(ResultError) as e:
        Result.from_dict(copy.deepcopy(d))
    if key:
        assert e.value.key == key, str(e.value)
    assert reason in str(e.value)


def test_a_result_takes_a_record_not_a_dict():
    r = load_result(BEFORE)
    with pytest.raises(ValueError, match="SearchRecord"):
        Result(**{**r.__dict__, "search": r.search.to_dict()})


class LossyGen:
    """A device that loses a frame at every rate: no load meets NDR (nor the 0.5 % PDR at low rates)."""

    def __init__(self, lost_share):
        self.lost_share, self.rates = lost_share, []

    def trial(self, rate, duration, drain):
        from pktlab.results.stats import TrialStats

        self.rates.append(rate)
        tx = round(rate * duration)
        lost = max(1, round(tx * self.lost_share))
        return TrialStats(rate, duration, duration, tx, tx - lost, lost, 0, 0)


def test_a_search_without_an_ndr_is_recorded_not_a_crash(tmp_path):
    """Before: `ndr / 1e6` on None raised a TypeError and the run lost its trials."""
    from pktlab import scenario
    from pktlab.measure import Session, run_method
    from pktlab.units import LineRate

    f = tmp_path / "s.toml"
    f.write_text('[scenario]\nname = "s"\n[cpu]\ngenerator = 0\n[method]\nkind = "mlrsearch"\n'
                 'goals = "quick"\nmin_rate = 100000\nmax_rate = 1000000\n[[datapath]]\nkind = "veth"\n')
    sc = scenario.load(f)
    said, gen = [], LossyGen(0.5)
    session = Session(gen, NoCounters(), 0.0, out=said.append)
    record = run_method(session, sc, LineRate(10e9, 2, "test"))
    assert record.ndr_pps is None and record.pdr_pps is None
    assert record.confirm_trial is None and record.ndr_confirmed is None
    assert any("NDR none (even the lowest load lost frames)" in line for line in said), said
    assert len(session.trials) == record.n_trials > 0  # every probe kept, no confirmation trial
    assert record.caveats and "1 s trials" in record.caveats[0]
