import pytest

from pktlab.chart import LINE_RATE_10G_64B_PPS, bars_64b, line_rate_pps, plot_results
from pktlab.errors import PktlabError
from pktlab.gen.stats import TrialStats
from pktlab.results import SCHEMA_VERSION, Provenance, Result, Trial

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def result(datapath, *rx_mpps, frame_size=64, status="ok", reason=None,
           utc_time="2025-11-21T09:00:00Z"):
    # one trial per rate, each 1 s long so rx_packets == rx_pps
    trials = tuple(Trial(TrialStats(None, 1.0, 1.0, int(m * 1e6) + 10, int(m * 1e6), 10, 0, 0),
                         {"vhu0": {"rx_packets": int(m * 1e6)}}, "ovsdb:Interface.statistics")
                   for m in rx_mpps)
    prov = Provenance("lab1", "6.18.0", "AMD EPYC 9454P 48-Core Processor",
                      {"generator": [0], "ovs_pmd": [1]}, 1, "22.11.11", "3.1.0", "0.1.0",
                      "0123456789abcdef0123456789abcdef01234567", utc_time)
    return Result(SCHEMA_VERSION, {"name": "loopback"}, datapath, frame_size, 1, prov, trials,
                  status, reason)


def test_line_rate():
    assert int(LINE_RATE_10G_64B_PPS) == 14_880_952
    assert int(line_rate_pps(10e9, 1518)) == 812_743
    assert line_rate_pps(100e9, 64) == pytest.approx(148.81e6, rel=1e-4)
    with pytest.raises(ValueError):
        line_rate_pps(10e9, 0)


def test_bars_pick_best_64b_per_datapath():
    results = [
        result("ovs-dpdk-vhost", 11.2, 11.7),
        result("kernel-veth", 0.78),
        result("ovs-dpdk-vhost", 12.1, 9.0, frame_size=128),  # other size: ignored
        result("ovs-dpdk-vhost", 10.9, 11.5, utc_time="2025-11-21T10:00:00Z"),
        result("testpmd-only", 20.0, frame_size=128),  # no 64 B result at all: no slot
    ]
    bars = bars_64b(results)
    assert [(dp, round(m, 3), note) for dp, m, note in bars] == [
        ("ovs-dpdk-vhost", 11.7, "best of 2 runs"),
        ("kernel-veth", 0.78, ""),
    ]


def test_bars_not_run_is_an_empty_slot():
    bars = bars_64b([
        result("ovs-kernel", status="not-run", reason="no openvswitch kernel module"),
        result("pvp", status="failed", reason="guest did not boot"),
        result("ovs-afxdp", 0.43),
        result("ovs-afxdp", status="failed", reason="veth has no combined channels"),
    ])
    assert bars == [("ovs-kernel", None, "not run: no openvswitch kernel module"),
                    ("pvp", None, "failed: guest did not boot"),
                    ("ovs-afxdp", pytest.approx(0.43), "")]


def test_plot_writes_png(tmp_path):
    results = [
        result("kernel-veth", 0.78),
        result("kernel-bridge", 0.48),
        result("ovs-afxdp", 0.43),
        result("ovs-dpdk-vhost", 11.2, 11.7),
        result("ovs-dpdk-vhost", 12.1, utc_time="2025-11-22T08:00:00Z"),
        result("ovs-dpdk-vhost", 13.0, frame_size=128),
        result("ovs-kernel", status="not-run",
               reason="no openvswitch kernel module on this host"),
    ]
    out = plot_results(results, tmp_path / "charts" / "64b.png")
    data = out.read_bytes()
    assert out == tmp_path / "charts" / "64b.png"
    assert data.startswith(PNG_SIGNATURE) and len(data) > 20_000


def test_plot_needs_64b_results(tmp_path):
    with pytest.raises(PktlabError, match="no 64-byte results"):
        plot_results([result("ovs-dpdk-vhost", 5.0, frame_size=128)], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_speedup_names_the_fastest_path_against_the_baseline():
    from pktlab.chart import speedup

    bars = [("linux-bridge", 0.4, ""), ("ovs-afxdp", 0.5, ""), ("ovs-dpdk", 12.0, ""), ("ovs-kernel", None, "not run")]
    fastest, times = speedup(bars, "linux-bridge")
    assert fastest == "ovs-dpdk" and times == pytest.approx(30.0)
    assert speedup(bars, "ovs-kernel") is None  # a path that did not run is no baseline
    assert speedup(bars, "absent") is None


def test_lab_comparison_bars_are_the_ndr_of_each_path(tmp_path):
    """lab-compare-64b: three searched paths; each bar is its NDR, not its best (lossy) trial,
    and a path that could not run keeps its labelled slot."""
    import dataclasses

    def searched(name, best_mpps, ndr_mpps):
        goals = [{"goal": {"name": "NDR"}, "lower_bound_pps": ndr_mpps * 1e6},
                 {"goal": {"name": "PDR"}, "lower_bound_pps": ndr_mpps * 1.1e6}]
        return dataclasses.replace(result(name, best_mpps), search={"goals": goals})

    results = [result("OVS kernel", status="not-run", reason="no openvswitch module"),
               searched("OVS-DPDK", 12.0, 9.5), searched("SR-IOV VF", 14.9, 14.2)]
    assert bars_64b(results) == [("OVS kernel", None, "not run: no openvswitch module"),
                                 ("OVS-DPDK", 9.5, "NDR"), ("SR-IOV VF", 14.2, "NDR")]
    png = plot_results(results, tmp_path / "lab.png")
    assert png.read_bytes().startswith(PNG_SIGNATURE)
