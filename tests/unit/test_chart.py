import dataclasses

import pytest

from tests.search_records import searched as search_record
from pktlab.analysis.charts import bars_64b, figure_64b, plot_results
from pktlab.errors import PktlabError
from pktlab.results.stats import TrialStats
from pktlab.results import SCHEMA_VERSION, Provenance, Result, Trial
from pktlab.units import LineRate

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def result(datapath, *rx_mpps, frame_size=64, status="ok", reason=None,
           utc_time="2025-11-21T09:00:00Z", line=None):
    # one trial per rate, each 1 s long so rx_packets == rx_pps
    trials = tuple(Trial(TrialStats(None, 1.0, 1.0, int(m * 1e6) + 10, int(m * 1e6), 10, 0, 0),
                         {"vhu0": {"rx_packets": int(m * 1e6)}}, "ovsdb:Interface.statistics")
                   for m in rx_mpps)
    prov = Provenance("lab1", "6.18.0", "AMD EPYC 9454P 48-Core Processor",
                      {"generator": [0], "ovs_pmd": [1]}, 1, "22.11.11", "3.1.0", "0.1.0",
                      "0123456789abcdef0123456789abcdef01234567", utc_time)
    return Result(SCHEMA_VERSION, {"name": "loopback"}, datapath, frame_size, 1, prov, trials,
                  status, reason, line_rate=line)


def reference(fig):
    """(Mpps of the line-rate line drawn across the chart, its label) of a 64 B chart."""
    ax = fig.axes[0]
    (line,) = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    (text,) = [t.get_text() for t in ax.texts if t.get_text().startswith("line rate @")]
    return line.get_ydata()[0], text


def bar_texts(fig):
    return [t.get_text() for t in fig.axes[0].texts if "\nof " in t.get_text()]


def test_the_share_of_a_bidirectional_rate_is_of_both_ports():
    """10.55 Mpps summed over both directions of two 10 GbE ports: 35 % of 2 x 14.88 Mpps."""
    fig = figure_64b([result("ovs-dpdk", 10.55, line=LineRate(10e9, 2, "traffic.link_speed"))])
    mpps, text = reference(fig)
    assert mpps == pytest.approx(29.762, abs=1e-3)
    assert text == "line rate @ 64 B, 2 × 10 GbE (aggregate of 2 ports): 29.76 Mpps"
    assert bar_texts(fig) == ["35%\nof 2 × 10 GbE"]
    assert "aggregate of 2 ports" in fig.axes[0].get_ylabel()
    uni = figure_64b([result("ovs-dpdk", 10.55, line=LineRate(10e9, 1))])
    assert reference(uni)[0] == pytest.approx(14.881, abs=1e-3)
    assert bar_texts(uni) == ["71%\nof 10 GbE"] and "one direction" in uni.axes[0].get_ylabel()


@pytest.mark.parametrize("gbps, line_mpps", [(25, 2 * 37.202), (100, 2 * 148.810)])
def test_the_reference_line_follows_the_link_speed(gbps, line_mpps):
    fig = figure_64b([result("sriov", 20.0, line=LineRate(gbps * 1e9, 2))])
    mpps, text = reference(fig)
    assert mpps == pytest.approx(line_mpps, abs=1e-3)
    assert f"2 × {gbps} GbE" in text
    assert fig.axes[0].get_ylim()[1] == pytest.approx(mpps * 1.2)  # the line sets the scale


def test_paths_on_different_line_rates_each_get_their_own_mark():
    fig = figure_64b([result("a", 10.0, line=LineRate(10e9, 2)), result("b", 10.0, line=LineRate(25e9, 1))])
    ax = fig.axes[0]
    assert not [t for t in ax.texts if t.get_text().startswith("line rate @")]  # no one line for both
    assert [t.get_text() for t in ax.texts if t.get_text().startswith("line rate")] == \
        ["line rate 29.76", "line rate 37.20"]
    marks = sorted(round(seg[0][1], 2) for c in ax.collections for seg in c.get_segments())
    assert marks == [29.76, 37.2]
    assert bar_texts(fig) == ["34%\nof 2 × 10 GbE", "27%\nof 25 GbE"]


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
    from pktlab.analysis.charts import speedup

    bars = [("linux-bridge", 0.4, ""), ("ovs-afxdp", 0.5, ""), ("ovs-dpdk", 12.0, ""), ("ovs-kernel", None, "not run")]
    fastest, times = speedup(bars, "linux-bridge")
    assert fastest == "ovs-dpdk" and times == pytest.approx(30.0)
    assert speedup(bars, "ovs-kernel") is None  # a path that did not run is no baseline
    assert speedup(bars, "absent") is None


def test_lab_comparison_bars_are_the_ndr_of_each_path(tmp_path):
    """lab-compare-64b: three searched paths; each bar is its NDR, not its best (lossy) trial,
    and a path that could not run keeps its labelled slot."""
    def searched(name, best_mpps, ndr_mpps):
        return dataclasses.replace(result(name, best_mpps), search=search_record(ndr_mpps * 1e6, ndr_mpps * 1.1e6))

    results = [result("OVS kernel", status="not-run", reason="no openvswitch module"),
               searched("OVS-DPDK", 12.0, 9.5), searched("SR-IOV VF", 14.9, 14.2)]
    assert bars_64b(results) == [("OVS kernel", None, "not run: no openvswitch module"),
                                 ("OVS-DPDK", 9.5, "NDR"), ("SR-IOV VF", 14.2, "NDR")]
    png = plot_results(results, tmp_path / "lab.png")
    assert png.read_bytes().startswith(PNG_SIGNATURE)
