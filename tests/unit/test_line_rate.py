"""Line rate = link speed x generator ports sending, from the scenario to the result
files and every table and search that uses it (chart: test_chart.py; lab NICs:
test_lab_line_rate.py)."""
from __future__ import annotations

import json

import pytest

from pktlab import cli, datapaths
from pktlab import scenario as scenario_mod
from pktlab.results.stats import TrialStats
from pktlab.measure import Session, max_load, run_method
from pktlab.results import load_result, load_results, write_result
from pktlab.runner import Runner
from pktlab.units import LineRate
from tests.conftest import REPO, SMOKE
from tests.unit.test_analysis_compare import result

EXAMPLES = REPO / "results" / "example"
# the example results as pktlab wrote them before it recorded a line rate
BEFORE = REPO / "tests" / "data" / "example-before-line-rate"


def scenario(tmp_path, **edits):
    text = SMOKE.read_text()
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    f = tmp_path / "s.toml"
    f.write_text(text)
    return scenario_mod.load(f)


SPEED = {'direction = "bidirectional"': 'direction = "bidirectional"\nlink_speed = "25G"'}
UNI = {'direction = "bidirectional"': 'direction = "unidirectional"'}


def old_file(tmp_path, name, rx_mpps, direction="bidirectional"):
    """A result file as pktlab wrote it before it recorded the line rate."""
    r = result(name, rx_mpps)
    d = r.to_dict()
    d.pop("line_rate", None)
    d["scenario"]["traffic"] = {"frame_size": 64, "direction": direction}
    f = tmp_path / f"{name}.json"
    f.write_text(json.dumps(d))
    return str(f)


def test_compare_and_report_judge_a_bidirectional_rate_against_both_ports(tmp_path, capsys):
    """The smoke chart's bug: 10.55 Mpps summed over both directions is 35 % of two
    ports' line rate, not 71 % of one."""
    both = old_file(tmp_path, "ovs-dpdk", 10.55)
    one = old_file(tmp_path, "one-way", 10.55, "unidirectional")
    assert cli.main(["compare", both, one]) == 0
    rows = {}
    for line in capsys.readouterr().out.splitlines():
        if line.strip():
            rows.setdefault(line.split()[0], line)  # the rate table comes first
    assert "35.4 %" in rows["ovs-dpdk"] and "70.9 %" not in rows["ovs-dpdk"]
    assert "29.76 Mpps (2 × 10 GbE)" in rows["ovs-dpdk"]
    assert "70.9 %" in rows["one-way"] and "14.88 Mpps (10 GbE)" in rows["one-way"]
    out = tmp_path / "r.html"
    assert cli.main(["report", both, "-o", str(out)]) == 0
    html = out.read_text()
    assert "<td>35.4 %</td>" in html and "2 × 10 GbE" in html and "% of line rate" in html


def test_results_written_before_line_rate_still_load_and_compare(capsys):
    results = load_results([BEFORE])
    assert len(results) == 6 and all(r.line_rate == LineRate(10e9, 2, r.line_rate.source) for r in results)
    assert all(r.line_rate.source.startswith("assumed") for r in results)
    assert cli.main(["compare", str(BEFORE)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("ovs-dpdk-vhostuser"))
    assert "56.3 %" in row  # 16.743 Mpps of 2 x 14.88, where it said 112.5 % of one port


def test_a_result_records_its_line_rate_and_reads_it_back(tmp_path):
    import dataclasses

    r = dataclasses.replace(result("sriov", 20.0), line_rate=LineRate(25e9, 2, "NIC speed (sysfs)"))
    f = write_result(r, tmp_path)
    assert json.loads(f.read_text())["line_rate"] == {
        "link_speed_bps": 25e9, "sending_ports": 2, "link_speed_source": "NIC speed (sysfs)"}
    assert load_result(f).line_rate == LineRate(25e9, 2, "NIC speed (sysfs)")
    d = json.loads(f.read_text())
    d["line_rate"]["sending_ports"] = 0
    f.write_text(json.dumps(d))
    with pytest.raises(Exception, match=r": line_rate: LineRate.ports = 0"):
        load_result(f)


def test_the_runner_records_the_scenarios_link_speed_and_ports(tmp_path):
    for edits, line in (({}, LineRate(10e9, 2, "traffic.link_speed unset: 10G")),
                        (SPEED, LineRate(25e9, 2, "traffic.link_speed")),
                        (UNI, LineRate(10e9, 1, "traffic.link_speed unset: 10G"))):
        runner = Runner(scenario(tmp_path, **edits), tmp_path / "out", tmp_path / "state")
        (p,) = runner.paths
        r = runner._result(p, (), "not-run", "only the record is tested", {})
        assert r.line_rate == line
        assert load_result(write_result(r, tmp_path / "out")).line_rate == line


@pytest.mark.parametrize("link, gbps", [('"10G"', 10), ('"25G"', 25), ('"100G"', 100), ('"400G"', 400)])
def test_link_speeds_a_scenario_may_name(tmp_path, link, gbps):
    sc = scenario(tmp_path, **{'direction = "bidirectional"': f'direction = "bidirectional"\nlink_speed = {link}'})
    assert sc.traffic.link_bps == gbps * 1e9
    assert scenario(tmp_path).traffic.link_bps == 10e9  # unset: 10G


@pytest.mark.parametrize("value, reason", [
    ('"12G"', "'12G' is not an Ethernet link speed pktlab knows (one of 1G, 10G, 25G, 40G, 50G, 100G, 200G, 400G)"),
    ('"fast"', "'fast' is not an Ethernet link speed"),
    ("10", "must be a string, not int 10"),
])
def test_a_bad_link_speed_is_refused_with_file_key_and_reason(tmp_path, capsys, value, reason):
    f = tmp_path / "bad.toml"
    f.write_text(SMOKE.read_text().replace('direction = "bidirectional"',
                                           f'direction = "bidirectional"\nlink_speed = {value}', 1))
    state = tmp_path / "state"
    assert cli.main(["--state-dir", str(state), "run", "--dry-run", str(f)]) == 2
    err = capsys.readouterr().err
    assert f"{f}: traffic.link_speed: {reason}" in err
    assert not state.exists()  # refused at load, before anything else


class FakeGen:
    """A device that loses nothing at any rate; remembers the rates asked for."""

    def __init__(self):
        self.rates = []

    def trial(self, rate, duration, drain):
        self.rates.append(rate)
        tx = round(rate * duration)
        return TrialStats(rate, duration, duration, tx, tx, 0, 0, 0)


class NoCounters:
    source, live = "none", True

    def snapshot(self):
        return {}

    def settled(self):
        return {}


@pytest.mark.parametrize("edits, mpps", [({}, 29.762), (SPEED, 74.405), (UNI, 14.881),
                                         ({'direction = "bidirectional"':
                                           'direction = "bidirectional"\nlink_speed = "100G"'}, 297.619)])
def test_the_search_starts_at_the_paths_line_rate(tmp_path, edits, mpps):
    sc = scenario(tmp_path, **edits, **{'kind = "fixed-rate"': 'kind = "mlrsearch"\ngoals = "quick"'})
    line = datapaths.build(sc, sc.datapaths[0], tmp_path, "r").line_rate()
    assert max_load(sc, line) == pytest.approx(mpps * 1e6, rel=1e-5)
    gen, said = FakeGen(), []
    record = run_method(Session(gen, NoCounters(), 0.0, out=said.append), sc, line)
    assert f"from {mpps:.3f} Mpps (line rate, {line.describe()})" in said[0]
    assert gen.rates[0] == pytest.approx(mpps * 1e6, rel=1e-5)  # MLRsearch tries the maximum first
    assert record.max_load_pps == pytest.approx(mpps * 1e6, rel=1e-5)
    # the scenario's own max_rate still wins
    capped = scenario(tmp_path, **edits, **{'kind = "fixed-rate"': 'kind = "mlrsearch"\nmax_rate = 1e6'})
    assert max_load(capped, line) == 1e6


def test_the_shipped_example_results_record_their_line_rate(capsys):
    results = load_results([EXAMPLES])
    assert len(results) == 6 and all(r.line_rate == LineRate(10e9, 2, r.line_rate.source) for r in results)
    assert not any(r.line_rate.source.startswith("assumed") for r in results)
    assert cli.main(["compare", str(EXAMPLES)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("ovs-dpdk-vhostuser"))
    assert "2 × 10 GbE" in row and "%" in row
