"""Units and line-rate arithmetic (pktlab.units): link speeds, frame and bit rates, and
which modules may load matplotlib."""
from __future__ import annotations

import subprocess
import sys

import pytest

from pktlab.units import (LINK_SPEEDS_GBPS, LineRate, l1_bps, l2_bps, line_rate_pps, link_name,
                          parse_link_speed)
from tests.conftest import REPO


def test_line_rate_of_one_link():
    assert int(line_rate_pps(10e9, 64)) == 14_880_952
    assert int(line_rate_pps(10e9, 1518)) == 812_743
    assert line_rate_pps(100e9, 64) == pytest.approx(148.81e6, rel=1e-4)
    with pytest.raises(ValueError):
        line_rate_pps(10e9, 0)


def test_line_rate_is_link_speed_times_ports_sending():
    both = LineRate(10e9, 2)
    assert both.pps(64) == pytest.approx(2 * 14_880_952.38)
    # OVS-DPDK's 10.55 Mpps, summed over both directions, is 35 % of line rate, not 71 %
    assert both.share(10.55e6, 64) == pytest.approx(0.3545, abs=5e-4)
    assert LineRate(10e9, 1).share(10.55e6, 64) == pytest.approx(0.709, abs=5e-4)
    assert LineRate(25e9, 2).pps(64) == pytest.approx(74.40e6, rel=1e-3)
    assert both.describe() == "2 × 10 GbE" and both.basis() == "aggregate of 2 ports"
    assert LineRate(25e9, 1).describe() == "25 GbE" and LineRate(25e9, 1).basis() == "one direction"
    # L1 and L2 bit rates are of the same aggregate: L1 over the capacity is the share
    assert l1_bps(10.55e6, 64) / both.bps == pytest.approx(both.share(10.55e6, 64))
    assert l1_bps(1e6, 64) == 84 * 8e6 and l2_bps(1e6, 64) == 64 * 8e6
    for bad in ((0, 2), (10e9, 0), (10e9, True), ("10G", 1)):
        with pytest.raises(ValueError, match="LineRate"):
            LineRate(*bad)


@pytest.mark.parametrize("gbps", LINK_SPEEDS_GBPS)
def test_every_ethernet_speed_parses(gbps):
    assert parse_link_speed(f"{gbps}G") == gbps * 1e9
    assert link_name(gbps * 1e9) == f"{gbps} GbE"


@pytest.mark.parametrize("text", ["12G", "10", "10 Gbit", "2.5G", "", "G", "-10G"])
def test_other_speeds_are_refused_with_the_known_ones(text):
    with pytest.raises(ValueError, match=r"not an Ethernet link speed .*1G, 10G, 25G, 40G, 50G, 100G, 200G, 400G"):
        parse_link_speed(text)


def test_measuring_and_results_load_no_plotting():
    """Measurement must not depend on presentation: importing measure, results, search
    (and the analysis numbers) leaves matplotlib unloaded; the charts load it."""
    code = ("import sys, pktlab.measure, pktlab.results, pktlab.search, pktlab.runner, "
            "pktlab.analysis.compare, pktlab.analysis.export\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))\n"
            "import pktlab.analysis.charts\n"
            "print('matplotlib' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.splitlines() == ["[]", "True"]


def test_results_and_analysis_load_no_generator():
    """Results store what the generator measured without importing it (before: results.py
    imported pktlab.gen.stats, and with it the generator package)."""
    code = ("import sys, pktlab.results, pktlab.analysis.compare, pktlab.analysis.export, pktlab.analysis.latency\n"
            "print(sorted(m for m in sys.modules if m.startswith('pktlab.gen')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.splitlines() == ["[]"]
