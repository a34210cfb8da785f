import dataclasses
from dataclasses import dataclass

import pytest

from matplotlib.figure import Figure

from tests.search_records import searched
from pktlab.analysis import (compare, format_comparison, frame_size_figure, judge,
                             latency_figure, save_figure, search_of)
from pktlab.results.stats import LatencySummary, TrialStats
from pktlab.results import SCHEMA_VERSION, Provenance, Result, Trial
from pktlab.units import LineRate

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BUCKETS = ((1000.0, 500), (2000.0, 400), (5000.0, 90), (20000.0, 9), (1_000_000.0, 1))


def stats(rx_mpps, lost=0, offered=None, latency=True):
    """A 1 s trial receiving rx_mpps (so rx_packets == rx_pps)."""
    rx = int(rx_mpps * 1e6)
    return TrialStats(offered, 1.0, 1.0, rx + lost, rx, lost, 0, 0,
                      latency=LatencySummary(900.0, 1500.0, 1000.0, 5000.0, 900_000.0)
                      if latency else None,
                      latency_histogram=BUCKETS if latency else ())


def provenance(host="lab1", commit="0123456789abcdef0123456789abcdef01234567",
               utc_time="2025-11-21T09:00:00Z"):
    return Provenance(host, "6.18.0", "AMD EPYC 9454P 48-Core Processor",
                      {"generator": [0], "ovs_pmd": [1]}, 1, "22.11.11", "3.1.0", "0.1.0",
                      commit, utc_time)


def result(datapath, *trials_mpps, frame_size=64, status="ok", reason=None, host="lab1",
           commit="0123456789abcdef0123456789abcdef01234567", utc_time="2025-11-21T09:00:00Z",
           ndr=None, name="loopback"):
    trials = tuple(
        Trial(m if isinstance(m, TrialStats) else stats(m),
              {"vhu0": {"rx_packets": 100, "tx_packets": 90, "rx_dropped": 1},
               "vhu1": {"rx_packets": 90, "tx_packets": 100, "tx_dropped": 2}},
              "ovsdb:Interface.statistics")
        for m in trials_mpps)
    kw = dict(schema_version=SCHEMA_VERSION,
              scenario={"name": name, "method": {"kind": "fixed-rate"}},
              datapath=datapath, frame_size=frame_size, flows=1,
              provenance=provenance(host, commit, utc_time), trials=trials, status=status,
              reason=reason)
    if ndr is None:
        return Result(**kw)
    return Result(**kw, search=searched(ndr, ndr * 1.1, len(trials), limited=(0,)))


def test_64b_rates_gbps_and_line_rate():
    c = compare([result("ovs-dpdk-vhost", 11.2, 11.7), result("veth", 0.78),
                 result("ovs-dpdk-vhost", 10.0, utc_time="2025-11-21T10:00:00Z")])
    dpdk, veth = c.at(64)
    assert (dpdk.datapath, dpdk.n_runs) == ("ovs-dpdk-vhost", 2)
    assert dpdk.mpps == pytest.approx(11.7)
    assert dpdk.gbps_l1 == pytest.approx(11.7e6 * 84 * 8 / 1e9)  # 64 B + 20 B preamble/IFG
    assert dpdk.gbps_l2 == pytest.approx(11.7e6 * 64 * 8 / 1e9)
    # a result that does not record its line rate was bidirectional at 10 GbE (as pktlab sent)
    assert (dpdk.line.link_bps, dpdk.line.ports) == (10e9, 2)
    assert dpdk.line_rate_share == pytest.approx(11.7e6 / (2 * 14_880_952.38), rel=1e-6)
    assert veth.mpps == pytest.approx(0.78)


def test_the_share_of_line_rate_is_of_the_ports_sending():
    """OVS-DPDK's 10.55 Mpps summed over both directions: 35 % of two ports' line rate, not
    71 % of one; L1/L2 Gbps are the same aggregate; each row says its basis."""
    both = dataclasses.replace(result("ovs-dpdk", 10.55), line_rate=LineRate(10e9, 2, "traffic.link_speed"))
    one = dataclasses.replace(result("uni", 10.55), line_rate=LineRate(10e9, 1, "traffic.link_speed"))
    fast = dataclasses.replace(result("sriov", 10.55), line_rate=LineRate(25e9, 2, "NIC speed (sysfs)"))
    c = compare([both, one, fast])
    assert [round(r.line_rate_share * 100, 1) for r in c.at(64)] == [35.4, 70.9, 14.2]
    assert c.rate("ovs-dpdk", 64).gbps_l1 / 20 == pytest.approx(c.rate("ovs-dpdk", 64).line_rate_share)
    text = format_comparison(c)
    row = next(line for line in text.splitlines() if line.startswith("ovs-dpdk"))
    assert row.split() == ["ovs-dpdk", "10.550", "7.09", "5.40", "29.76", "Mpps", "(2", "×", "10",
                           "GbE)", "35.4", "%", "-", "-", "1"]
    assert "14.88 Mpps (10 GbE)" in text and "74.40 Mpps (2 × 25 GbE)" in text
    assert "summed over the ports sending" in text


def test_not_run_path_keeps_its_reason():
    c = compare([result("ovs-kernel", status="not-run", reason="no openvswitch module")])
    (r,) = c.rates
    assert r.rx_pps is None and r.gbps_l1 is None and r.note == "not run: no openvswitch module"
    assert "not run: no openvswitch module" in format_comparison(c)


def test_rates_against_frame_size():
    c = compare([result("dp", 11.0), result("dp", 8.0, frame_size=128),
                 result("dp", 0.81, frame_size=1518), result("veth", 0.7, frame_size=128)])
    assert c.frame_sizes == [64, 128, 1518]
    assert [(r.frame_size, r.mpps) for r in c.rates if r.datapath == "dp"] == \
           [(64, pytest.approx(11.0)), (128, pytest.approx(8.0)), (1518, pytest.approx(0.81))]
    assert c.rate("veth", 64) is None
    text = format_comparison(c)
    assert "Received Mpps by frame size" in text and "1518 B" in text


def test_latency_prefers_the_best_lossless_trial():
    c = compare([result("dp", stats(12.0, lost=1000), stats(10.0, offered=10e6),
                        stats(11.0, latency=False))])
    (lat,) = c.latency
    assert lat.lossless and lat.rx_pps == pytest.approx(10e6) and lat.offered_pps == 10e6
    assert lat.percentiles.min_ns == 900.0 and lat.percentiles.max_ns == 900_000.0
    # only a lossy trial measured latency: shown, and marked
    c = compare([result("dp", stats(12.0, lost=1000))])
    assert not c.latency[0].lossless
    assert "dp *" in format_comparison(c)


@pytest.mark.parametrize("now, verdict", [(11.0, "improvement"), (9.0, "regression"),
                                          (10.1, "ok"), (10.5, "ok"), (9.5, "ok")])
def test_verdicts_at_5_percent(now, verdict):
    c = compare([result("dp", now)], baseline=[result("dp", 10.0)], tolerance=0.05)
    (v,) = c.verdicts
    assert (v.datapath, v.frame_size, v.metric, v.verdict) == ("dp", 64, "rx", verdict)
    assert v.change == pytest.approx(now / 10.0 - 1)
    assert c.verdict("dp") == v


def test_verdicts_per_path_and_unmatched():
    base = [result("a", 10.0), result("b", 10.0), result("c", 5.0)]
    now = [result("a", 11.0), result("b", 9.0), result("d", 1.0),
           result("c", status="failed", reason="PMD died")]
    c = compare(now, baseline=base)
    assert {v.datapath: v.verdict for v in c.verdicts} == {"a": "improvement", "b": "regression"}
    assert "d @ 64 B: not in the baseline" in c.unmatched
    assert "c @ 64 B: no measured rate in these results" in c.unmatched
    text = format_comparison(c)
    assert "+10.0 %" in text and "-10.0 %" in text and "regression" in text


def test_ndr_is_the_metric_when_both_sides_searched():
    c = compare([result("dp", 11.0, ndr=9.0e6)], baseline=[result("dp", 10.0, ndr=10.0e6)])
    (v,) = c.verdicts
    assert (v.metric, v.verdict) == ("NDR", "regression")  # rx +10 %, but NDR -10 %
    assert c.rates[0].ndr_pps == 9.0e6 and c.rates[0].pdr_pps == pytest.approx(9.9e6)
    assert search_of(result("dp", 1.0)) is None


def test_judge_edges_and_bad_tolerance():
    assert judge(100.0, 105.0, 0.05) == (pytest.approx(0.05), "ok")
    assert judge(100.0, 95.0, 0.05)[1] == "ok"
    assert judge(100.0, 100.0, 0.0)[1] == "ok"
    with pytest.raises(ValueError, match="tolerance = 5"):
        compare([], tolerance=5)


def test_charts(tmp_path):
    c = compare([result("dp", 11.0), result("dp", 8.0, frame_size=128), result("veth", 0.7)])
    for fig in (frame_size_figure(c), latency_figure(c), latency_figure(compare([]))):
        assert isinstance(fig, Figure)
    path = save_figure(frame_size_figure(c), tmp_path / "sub" / "sizes.png")
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    # the line-rate curve is drawn and the path lines carry their names
    ax = frame_size_figure(c).axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["line rate, 2 × 10 GbE", "dp", "veth"]
    assert latency_figure(c).axes[0].get_yscale() == "log"
