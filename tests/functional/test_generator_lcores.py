"""The DPDK generator on two lcores (cores 0 and 1): two poll loops, each on its
own queue pair of every port.

net_ring0 is a loopback with 16 queue pairs (TX queue i is RX queue i), so
loop i gets back exactly what it sent: the loops' shares are seen apart
(GeneratorProcess.loops) and add up to the trial. net_pcap with one tx_pcap
file per TX queue shows which loop put which flow on the wire. net_af_packet
on a veth pair hashes flows over its RX queues, so frames cross loops.
"""
import ipaddress
import os
import signal
import threading
import time

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap

from pktlab.errors import GeneratorError
from pktlab.gen import GenConfig, GeneratorProcess, StreamSpec, build_frame
from pktlab.gen.template import unpack_stamp
from tests.functional.test_generator_ring import assert_gone, serving

pytestmark = pytest.mark.root

LCORES = (0, 1)


@pytest.fixture(autouse=True)
def two_cores():
    if os.geteuid() != 0:
        pytest.skip("needs root: DPDK EAL in the worker")
    if not set(LCORES) <= os.sched_getaffinity(0):
        pytest.skip(f"needs cores {LCORES}")


def config(tag, ports, streams):
    return GenConfig(eal_args=("--no-huge", "-m", "256", "--no-shconf", "--no-pci", "--no-telemetry",
                               f"--file-prefix=pktlab-test-{tag}-{os.getpid()}"),
                     ports=ports, streams=streams, core=LCORES[0], lcores=LCORES)


def one_trial(tmp_path, cfg, rate, duration):
    """A worker for one trial: its stats and its loops' shares; nothing left after."""
    with GeneratorProcess(cfg, tmp_path / "generator.log") as gen:
        gen.wait_ready(60)
        s = gen.trial(rate, duration)
        loops = gen.loops
    assert_gone(gen)
    return s, loops


@pytest.fixture(scope="module")
def ring(tmp_path_factory):
    """net_ring0 looped onto itself, one stream of 4 flows out and back in."""
    if os.geteuid() != 0 or not set(LCORES) <= os.sched_getaffinity(0):
        pytest.skip(f"needs root and cores {LCORES}")
    cfg = config("lc-ring", ("net_ring0",), (StreamSpec(0, 0, build_frame(64), flows=4, vary="both"),))
    yield from serving(cfg, tmp_path_factory.mktemp("gen") / "generator.log")


@pytest.mark.parametrize("rate", [100_000, 1_000_000, 10_000_000])
def test_paced_two_loops_lose_nothing_and_split_the_rate(ring, rate):
    s = ring.trial(rate, 1.0)
    assert (s.lost, s.duplicates, s.reordered, s.tx_dropped, s.interrupted) == (0, 0, 0, 0, False)
    assert s.rx_packets == s.tx_packets and abs(s.tx_packets - rate) <= 1
    assert s.elapsed_s == pytest.approx(1.0, abs=0.01)
    assert s.tx_pps == pytest.approx(rate, rel=0.005)
    # both loops sent half (the window splits exactly) and got their own back
    a, b = ring.loops
    assert (a.lcore, b.lcore) == LCORES
    assert a.tx_packets + b.tx_packets == s.tx_packets and abs(a.tx_packets - b.tx_packets) <= 1
    assert (a.rx_packets, b.rx_packets) == (a.tx_packets, b.tx_packets)
    assert a.tx_pps == pytest.approx(rate / 2, rel=0.005) and b.tx_pps == pytest.approx(rate / 2, rel=0.005)
    (p,) = s.ports
    assert (p.tx_packets, p.rx_packets, p.rx_foreign) == (s.tx_packets, s.rx_packets, 0)
    # the loops' histograms are merged: every frame received is in it once
    assert sum(n for _, n in s.latency_histogram) == s.rx_packets
    assert 0 <= s.latency.min_ns <= s.latency.p50_ns <= s.latency.max_ns


def test_max_rate_two_loops(ring):
    s = ring.trial(None, 0.5)
    assert s.rx_packets == s.tx_packets > 0 and s.lost == 0
    assert all(lp.tx_packets > 0 for lp in ring.loops)
    assert sum(lp.tx_packets for lp in ring.loops) == s.tx_packets


def test_sigint_stops_both_loops(tmp_path):
    cfg = config("lc-sigint", ("net_ring0",), (StreamSpec(0, 0, build_frame(64), flows=2),))
    gen = GeneratorProcess(cfg, tmp_path / "gen.log")
    try:
        gen.start()
        gen.wait_ready(60)
        threading.Timer(0.5, os.kill, (gen.pid, signal.SIGINT)).start()
        t0 = time.monotonic()
        s = gen.trial(1_000_000, 30.0)
        assert time.monotonic() - t0 < 10
        assert s.interrupted and 0.2 < s.elapsed_s < 10
        # both stopped early, each having sent its share until then
        assert all(0 < lp.tx_packets < 15_000_000 and lp.elapsed_s < 10 for lp in gen.loops)
        assert gen._proc.wait(timeout=10) == 0
        assert "caught signal 2" in (tmp_path / "gen.log").read_text()
    finally:
        gen.close()
    assert_gone(gen)


def test_two_ports_two_streams_two_loops(tmp_path):
    """Sub-streams of two streams (stamp ids 0..3) are told apart and summed per stream."""
    f = build_frame(128)
    cfg = config("lc-ring2", ("net_ring0", "net_ring1"),
                 (StreamSpec(0, 0, f, flows=2), StreamSpec(1, 1, f, flows=3, vary="src_port")))
    s, loops = one_trial(tmp_path, cfg, 200_000, 0.5)
    assert s.lost == 0 and s.rx_packets == s.tx_packets == 100_000
    a, b = s.ports
    assert a.tx_packets == pytest.approx(b.tx_packets, rel=0.01)
    assert (a.rx_packets, b.rx_packets, a.rx_foreign, b.rx_foreign) == (a.tx_packets, b.tx_packets, 0, 0)
    assert [lp.tx_packets for lp in loops] == [50_000, 50_000]


def test_flows_are_partitioned_over_the_loops(tmp_path):
    """flows=4, two loops: loop 0 sends flows 0 and 2 on TX queue 0, loop 1 flows 1
    and 3 on queue 1, each as its own sub-stream (stamp stream id 0 and 1) with
    dense sequence numbers; every flow gets a quarter of the frames."""
    q0, q1 = tmp_path / "q0.pcap", tmp_path / "q1.pcap"
    template = build_frame(64)
    cfg = config("lc-pcap", (f"net_pcap0,tx_pcap={q0},tx_pcap={q1}",),
                 (StreamSpec(0, None, template, flows=4, vary="both"),))
    s, _ = one_trial(tmp_path, cfg, 20_000, 0.2)
    assert s.tx_packets == 4000
    base = Ether(template)
    ip0, port0 = ipaddress.ip_address(base[IP].src), base[UDP].sport
    for loop, pcap in enumerate((q0, q1)):
        frames = [bytes(p) for p in rdpcap(str(pcap))]
        assert len(frames) == 2000
        pkts = [Ether(f) for f in frames]
        # this loop's flows in turn (address and port step together), each a quarter of the trial
        flows = [loop + 2 * (k % 2) for k in range(len(frames))]
        assert [(p[IP].src, p[UDP].sport) for p in pkts] == [(str(ip0 + f), port0 + f) for f in flows]
        stamps = [unpack_stamp(f) for f in frames]
        assert {st[2] for st in stamps} == {loop}  # stream 0 * 2 loops + loop
        assert [st[3] for st in stamps] == list(range(len(frames)))


@pytest.mark.parametrize("order", ["sequential", "random"])
def test_flow_fields_are_partitioned_over_the_loops(tmp_path, order):
    """15 flows over a VLAN ID (3 values) and a source port (5), two loops: loop i
    sends the flows g with g % 2 == i, each field its first value + g % its count,
    in order or permuted; together every flow, each as often as any other."""
    from scapy.layers.l2 import Dot1Q

    q0, q1 = tmp_path / "q0.pcap", tmp_path / "q1.pcap"
    template = build_frame(128, vlan=100)
    fields = (("vlan", 3), ("src_port", 5))
    cfg = config("lc-fields", (f"net_pcap0,tx_pcap={q0},tx_pcap={q1}",),
                 (StreamSpec(0, None, template, flows=15, fields=fields, order=order),))
    one_trial(tmp_path, cfg, 20_000, 0.2)
    seen = []
    for loop, pcap in enumerate((q0, q1)):
        pkts = [Ether(bytes(p)) for p in rdpcap(str(pcap))]
        mine = list(range(loop, 15, 2))  # 8 flows for loop 0, 7 for loop 1
        assert len(pkts) >= 2 * len(mine)
        # each frame's flow from its port; its VLAN ID must be that flow's
        g = [[f for f in mine if 1024 + f % 5 == p[UDP].sport and 100 + f % 3 == p[Dot1Q].vlan] for p in pkts]
        assert all(len(x) == 1 for x in g), "a frame that is none of this loop's flows"
        g = [x[0] for x in g]
        rounds = [g[i:i + len(mine)] for i in range(0, len(g) - len(mine) + 1, len(mine))]
        assert all(sorted(r) == mine for r in rounds)  # every flow once per round
        assert (rounds[0] == mine) == (order == "sequential")
        seen += g
    assert set(seen) == set(range(15))


def test_uneven_flows_still_split_the_rate(tmp_path):
    """flows=3 over two loops: loop 0 sends flows 0 and 2, loop 1 flow 1, each half
    the rate; on the loopback each gets its own back and the counts add up."""
    cfg = config("lc-flows", ("net_ring0",), (StreamSpec(0, 0, build_frame(64), flows=3, vary="src_ip"),))
    s, loops = one_trial(tmp_path, cfg, 400_000, 0.5)
    assert (s.tx_packets, s.rx_packets, s.lost, s.reordered, s.duplicates) == (200_000, 200_000, 0, 0, 0)
    assert [(lp.tx_packets, lp.rx_packets) for lp in loops] == [(100_000, 100_000)] * 2


@pytest.fixture
def veth():
    """A veth pair in this namespace, for net_af_packet ports."""
    from pyroute2 import IPRoute

    a, b = f"pgl{os.getpid() % 100000}a", f"pgl{os.getpid() % 100000}b"
    with IPRoute() as ipr:
        ipr.link("add", ifname=a, kind="veth", peer=b)
        try:
            for name in (a, b):
                ipr.link("set", index=ipr.link_lookup(ifname=name)[0], state="up")
            yield a, b
        finally:
            ipr.link("del", index=ipr.link_lookup(ifname=a)[0])


def test_frames_received_by_the_other_loop_are_counted_once(tmp_path, veth):
    """net_af_packet with qpairs=2 on a veth pair: the kernel spreads the receive
    side over the two queues by flow hash (PACKET_FANOUT_HASH), as RSS would, so a
    loop also gets the other loop's frames. Sub-stream windows in both loops add
    up to the stream: nothing lost, duplicated or reordered."""
    a, b = veth
    cfg = config("lc-fanout", (f"net_af_packet0,iface={a},qpairs=2", f"net_af_packet1,iface={b},qpairs=2"),
                 (StreamSpec(0, 1, build_frame(64), flows=16, vary="both"),))
    s, loops = one_trial(tmp_path, cfg, 100_000, 0.5)
    assert (s.tx_packets, s.rx_packets, s.lost, s.duplicates, s.reordered) == (50_000, 50_000, 0, 0, 0)
    assert [lp.tx_packets for lp in loops] == [25_000, 25_000]
    # which loop receives a flow is the kernel's hash (seeded at boot): both get some
    assert all(lp.rx_packets > 0 for lp in loops) and sum(lp.rx_packets for lp in loops) == s.rx_packets
    assert s.ports[1].rx_packets - s.ports[1].rx_foreign == s.rx_packets


def test_a_device_with_too_few_queues_is_named(tmp_path):
    cfg = config("lc-fewq", (f"net_pcap0,tx_pcap={tmp_path / 'one.pcap'}",),
                 (StreamSpec(0, None, build_frame(64), flows=2),))
    gen = GeneratorProcess(cfg, tmp_path / "generator.log")
    with gen, pytest.raises(GeneratorError,
                            match="port net_pcap0: 2 loops need 2 RX and 2 TX queues, the device offers 1 RX and 1 TX"):
        gen.wait_ready(60)
    assert_gone(gen)
