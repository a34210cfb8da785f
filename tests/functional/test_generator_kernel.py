"""The generator's kernel backend on a real veth pair between two namespaces.

The pair is built and removed with the host steps (AddNetns, AddVethPair)
through Applied and a journal, under a fresh tag per test, so nothing is
shared and nothing is left. Both kernel modes: AF_PACKET rings and AF_XDP
sockets. What the generator counts is checked against the kernel's own
counters (IFLA_STATS64) and against frames captured with a plain AF_PACKET
socket; after close, SIGINT or SIGKILL no XDP program stays on an interface.
"""
from __future__ import annotations

import errno
import ipaddress
import os
import signal
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyroute2 import IPRoute, netns

from pktlab import journal
from pktlab.context import RunContext
from pktlab.errors import GeneratorError
from pktlab.gen import GenConfig, GeneratorProcess, StreamSpec, build_frame
from pktlab.gen.template import STAMP_MAGIC, unpack_stamp
from pktlab.host import names
from pktlab.host.links import AddVethPair
from pktlab.host.netcounters import LinkCounters
from pktlab.host.netns import AddNetns, delete_links_inside
from pktlab.plan import Applied

pytestmark = pytest.mark.root

CORE = max(os.sched_getaffinity(0))
MODES = ("afpacket", "afxdp")
ETH_P_ALL = 0x0003
SO_RCVBUFFORCE = 33


@pytest.fixture
def tag():
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces, veths and packet sockets (CI runs as root)")
    t = names.new_tag()
    yield t
    _sweep(t)
    assert _leftovers(t) == []


def _sweep(tag):
    """Whatever a failed test left under its tag."""
    for ns in netns.listnetns():
        if ns.startswith(names.netns_prefix(tag)):
            delete_links_inside(ns)
            netns.remove(ns)


def _leftovers(tag) -> list[str]:
    ns = [n for n in netns.listnetns() if n.startswith(names.netns_prefix(tag))]
    with IPRoute() as ipr:
        links = [l.get("IFLA_IFNAME") for l in ipr.get_links()
                 if l.get("IFLA_IFNAME", "").startswith(names.link_prefix(tag))]
    return ns + links


@dataclass(frozen=True)
class Pair:
    """a0 in namespace na <-> b0 in namespace nb."""

    a0: str
    b0: str
    na: str
    nb: str

    @property
    def ports(self) -> tuple[str, str]:
        return (f"{self.a0}@{self.na}", f"{self.b0}@{self.nb}")

    def counters(self) -> LinkCounters:
        return LinkCounters([(self.a0, self.na), (self.b0, self.nb)])


@contextmanager
def veth_pair(state_dir, tag):
    """The pair as a run builds it (IPv6 off, up, carrier), undone on the way out."""
    L, N = (lambda s: names.link_name(tag, s)), (lambda s: names.netns_name(tag, s))
    pair = Pair(L("a0"), L("b0"), N("a"), N("b"))
    with Applied(journal.Journal.create(state_dir, "kgen"), RunContext(state_dir, "kgen")) as a:
        a.apply_all([AddNetns(pair.na), AddNetns(pair.nb), AddVethPair(pair.a0, pair.b0, pair.na, pair.nb)])
        yield pair
    assert a.undo_errors == []
    assert journal.pending(state_dir) == []


def config(ports, streams, mode, **kw) -> GenConfig:
    return GenConfig(eal_args=(), ports=tuple(ports), streams=tuple(streams), core=CORE, backend="kernel",
                     kernel_mode=mode, **kw)


def both_ways(pair: Pair, mode: str, flows: int = 1) -> GenConfig:
    f = build_frame(64)
    return config(pair.ports, (StreamSpec(0, 1, f, flows=flows), StreamSpec(1, 0, f, flows=flows)), mode)


def xdp_programs(pair: Pair) -> dict[str, int]:
    """{ifname: XDP program id} for every end of the pair that has one."""
    out = {}
    for ifname, ns in ((pair.a0, pair.na), (pair.b0, pair.nb)):
        with IPRoute(netns=ns, flags=0) as ipr:
            link = ipr.link("get", ifname=ifname)[0]
        prog = link.get_nested("IFLA_XDP", "IFLA_XDP_PROG_ID")
        if prog:
            out[ifname] = prog
    return out


def wait_no_xdp(pair: Pair, timeout: float = 5.0) -> dict[str, int]:
    """The kernel releases a bpf_link from a work queue after the last fd goes."""
    deadline = time.monotonic() + timeout
    while (progs := xdp_programs(pair)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return progs


def assert_gone(gen: GeneratorProcess):
    assert gen._proc.poll() is not None, "worker still running"
    assert not Path(f"/proc/{gen.pid}").exists()


def delta(before, after):
    return {i: {k: after[i][k] - before[i][k] for k in after[i]} for i in after}


def later(seconds, fn, *args):
    t = threading.Timer(seconds, fn, args)
    t.start()
    return t


# -- traffic ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_both_ways_without_loss_and_as_the_kernel_counted(tmp_path, state_dir, tag, mode):
    with veth_pair(state_dir, tag) as pair:
        counters = pair.counters()
        with GeneratorProcess(both_ways(pair, mode, flows=4), tmp_path / "gen.log") as gen:
            ports = gen.wait_ready(30)
            assert [p.name for p in ports] == list(pair.ports) and all(p.link_up for p in ports)
            assert gen.dpdk_version is None and gen.backend_info.startswith(f"kernel {mode}")
            before = counters.snapshot()
            s = gen.trial(50_000, 2.0)
            d = delta(before, counters.settled())
            if mode == "afxdp":
                assert set(xdp_programs(pair)) == {pair.a0, pair.b0}  # both ports receive
        assert_gone(gen)
        assert wait_no_xdp(pair) == {}, "XDP program left after close"

    assert (s.lost, s.duplicates, s.reordered, s.tx_dropped, s.interrupted) == (0, 0, 0, 0, False)
    assert abs(s.tx_packets - 100_000) <= 1 and s.rx_packets == s.tx_packets
    a, b = s.ports
    # streams take turns burst by burst: each direction carries half
    assert a.tx_packets == pytest.approx(b.tx_packets, rel=0.01)
    assert (a.rx_packets, b.rx_packets) == (b.tx_packets, a.tx_packets)
    assert a.rx_foreign == b.rx_foreign == 0
    # the kernel saw exactly the generator's frames on each end, nothing else
    # (the steps turned IPv6 off; no addresses, so no ARP)
    assert d[pair.a0]["tx_packets"] == a.tx_packets and d[pair.b0]["rx_packets"] == a.tx_packets
    assert d[pair.b0]["tx_packets"] == b.tx_packets and d[pair.a0]["rx_packets"] == b.tx_packets
    if mode == "afpacket":
        # veth's XDP (NAPI) receive path counts bytes after the Ethernet header: 46 per frame
        assert d[pair.b0]["rx_bytes"] == 60 * a.tx_packets
    assert all(d[i][k] == 0 for i in d for k in ("rx_dropped", "tx_dropped", "rx_errors", "tx_errors"))

    lat = s.latency
    assert 0 < lat.min_ns <= lat.p50_ns <= lat.p99_ns <= lat.max_ns
    assert lat.min_ns <= lat.avg_ns <= lat.max_ns
    # one veth hop, at 50 kpps: microseconds, not the 1 ms a block-based ring would add
    assert lat.p50_ns < 200_000
    assert sum(n for _, n in s.latency_histogram) == s.rx_packets


@pytest.mark.parametrize("mode", MODES)
def test_pacing_within_half_a_percent_and_the_maximum_rate(tmp_path, state_dir, tag, mode):
    with veth_pair(state_dir, tag) as pair:
        with GeneratorProcess(both_ways(pair, mode), tmp_path / "gen.log") as gen:
            gen.wait_ready(30)
            paced = {rate: gen.trial(rate, 1.0) for rate in (20_000, 200_000)}
            top = gen.trial(None, 1.0)
        assert_gone(gen)
    for rate, s in paced.items():
        assert s.elapsed_s == pytest.approx(1.0, abs=0.01)
        assert s.tx_pps == pytest.approx(rate, rel=0.005), rate
        assert s.lost == 0 and s.rx_packets == s.tx_packets
        assert s.rx_missed == 0 and all(p.rx_missed == 0 for p in s.ports)
    assert top.offered_pps is None and top.rx_packets > 0
    # at max rate, whatever the kernel dropped before the receive rings is part of the loss
    assert 0 <= top.rx_missed <= top.lost
    assert top.tx_pps > 100_000  # AF_PACKET ~0.5 Mpps, AF_XDP ~0.8 Mpps here, both ways together
    print(f"{mode}: max {top.tx_pps / 1e6:.3f} Mpps both ways, lost {top.lost}")


def test_tsc_frequency_is_calibrated_against_the_clock():
    """No EAL: latency in ns is only as right as pg_tsc_hz()."""
    from pktlab._pktgen import lib

    hz = lib.pg_tsc_hz()
    t0, c0 = time.monotonic(), lib.pg_rdtsc()
    time.sleep(0.5)
    t1, c1 = time.monotonic(), lib.pg_rdtsc()
    assert (c1 - c0) / (t1 - t0) == pytest.approx(hz, rel=2e-3)


@pytest.mark.parametrize("mode", MODES)
def test_flows_are_distinct_source_addresses_on_the_wire(tmp_path, state_dir, tag, mode):
    """TX only from a0 (no XDP program on b0, so a plain packet socket there sees everything)."""
    template, flows, rate, duration = build_frame(64), 8, 20_000, 0.2
    with veth_pair(state_dir, tag) as pair:
        sock = netns.create_socket(pair.nb, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
            sock.bind((pair.b0, ETH_P_ALL))
            cfg = config(pair.ports[:1], (StreamSpec(0, None, template, flows=flows),), mode)
            with GeneratorProcess(cfg, tmp_path / "gen.log") as gen:
                gen.wait_ready(30)
                s = gen.trial(rate, duration)
            frames = []
            sock.settimeout(0.5)
            while len(frames) < s.tx_packets:
                try:
                    frames.append(sock.recv(2048))
                except TimeoutError:
                    break
        finally:
            sock.close()
    assert s.tx_packets == int(rate * duration) and s.rx_packets == 0 and s.lost == 0
    ours = [f for f in frames if len(f) == 60 and unpack_stamp(f)[0] == STAMP_MAGIC]
    assert len(ours) == len(frames) == s.tx_packets
    src = [str(ipaddress.ip_address(f[26:30])) for f in ours]
    assert len(set(src)) == flows
    assert src[:flows] == [str(ipaddress.ip_address("198.18.0.1") + k) for k in range(flows)]
    assert [unpack_stamp(f)[3] for f in ours] == list(range(len(ours)))  # sequence numbers, in order


# -- failures and endings ----------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_an_interface_that_does_not_exist_is_named(tmp_path, tag, mode):
    missing = names.link_name(tag, "none")
    cfg = config((missing,), (StreamSpec(0, 0, build_frame(64)),), mode)
    with GeneratorProcess(cfg, tmp_path / "gen.log") as gen, pytest.raises(GeneratorError) as err:
        gen.wait_ready(30)
    assert f"no interface '{missing}'" in err.value.reason and err.value.status == -errno.ENODEV
    assert_gone(gen)

    ns = names.netns_name(tag, "none")
    cfg = config((f"lo@{ns}",), (StreamSpec(0, 0, build_frame(64)),), mode)
    with GeneratorProcess(cfg, tmp_path / "gen2.log") as gen, pytest.raises(GeneratorError) as err:
        gen.wait_ready(30)
    assert f"no network namespace '{ns}'" in err.value.reason and err.value.status == -errno.ENOENT
    assert ns not in netns.listnetns()  # looking did not create it


def test_bad_kernel_configs_are_refused_naming_the_field():
    f = build_frame(64)
    with pytest.raises(ValueError, match="GenConfig.eal_args"):
        GenConfig(("--no-huge",), ("veth0",), (StreamSpec(0, 0, f),), 0, backend="kernel")
    with pytest.raises(ValueError, match="GenConfig.ports.*contains '/'"):
        GenConfig((), ("veth0@a/b",), (StreamSpec(0, 0, f),), 0, backend="kernel")
    with pytest.raises(ValueError, match="GenConfig.ports.*twice"):
        GenConfig((), ("veth0@x", "veth0@x"), (StreamSpec(0, 0, f),), 0, backend="kernel")
    with pytest.raises(ValueError, match="GenConfig.kernel_mode"):
        GenConfig((), ("veth0",), (StreamSpec(0, 0, f),), 0, backend="kernel", kernel_mode="dpdk")
    with pytest.raises(ValueError, match="GenConfig.ring_size"):
        GenConfig((), ("veth0",), (StreamSpec(0, 0, f),), 0, backend="kernel", kernel_mode="afxdp", ring_size=1000)
    with pytest.raises(ValueError, match=r"GenConfig.streams\[0\].template.*afpacket"):
        GenConfig((), ("veth0",), (StreamSpec(0, 0, build_frame(9018)),), 0, backend="kernel", kernel_mode="afxdp")
    c = GenConfig((), ("veth0@x", "veth1"), (StreamSpec(0, 1, f),), 0, backend="kernel", kernel_mode="afpacket")
    assert c.kernel_ports == (("veth0", "x"), ("veth1", None)) and GenConfig.from_dict(c.to_dict()) == c


@pytest.mark.parametrize("mode", MODES)
def test_sigint_mid_trial_reports_interrupted_and_leaves_nothing(tmp_path, state_dir, tag, mode):
    with veth_pair(state_dir, tag) as pair:
        gen = GeneratorProcess(both_ways(pair, mode), tmp_path / "gen.log")
        try:
            gen.start()
            gen.wait_ready(30)
            later(0.5, os.kill, gen.pid, signal.SIGINT)
            t0 = time.monotonic()
            s = gen.trial(100_000, 30.0)
            assert time.monotonic() - t0 < 10
            assert s.interrupted and 0.2 < s.elapsed_s < 10 and s.tx_packets > 0
            assert gen._proc.wait(timeout=10) == 0  # it cleans up and exits on its own
            assert "caught signal 2" in (tmp_path / "gen.log").read_text()
        finally:
            gen.close()
        assert_gone(gen)
        assert wait_no_xdp(pair) == {}, "XDP program left after SIGINT"
        with IPRoute(netns=pair.nb, flags=0) as ipr:  # promiscuous went with the socket
            assert not ipr.link("get", ifname=pair.b0)[0]["flags"] & 0x100
    assert _leftovers(tag) == []


def test_sigkill_leaves_no_xdp_program(tmp_path, state_dir, tag):
    """The program hangs on a bpf_link that dies with the process: nothing to clean,
    even before the run's plan deletes the veth (which would take it along anyway)."""
    with veth_pair(state_dir, tag) as pair:
        gen = GeneratorProcess(both_ways(pair, "afxdp"), tmp_path / "gen.log")
        try:
            gen.start()
            gen.wait_ready(30)
            assert set(xdp_programs(pair)) == {pair.a0, pair.b0}
            later(0.5, os.kill, gen.pid, signal.SIGKILL)
            with pytest.raises(GeneratorError) as err:
                gen.trial(100_000, 30.0)
            assert err.value.status == -signal.SIGKILL
        finally:
            gen.close()
        assert_gone(gen)
        assert wait_no_xdp(pair) == {}, "XDP program left after SIGKILL"
    assert _leftovers(tag) == []


def test_a_busy_interface_fails_cleanly(tmp_path, state_dir, tag):
    """Two AF_XDP generators on one receive queue: the second is refused, names the port,
    and takes nothing from the first."""
    with veth_pair(state_dir, tag) as pair:
        with GeneratorProcess(both_ways(pair, "afxdp"), tmp_path / "one.log") as one:
            one.wait_ready(30)
            with GeneratorProcess(both_ways(pair, "afxdp"), tmp_path / "two.log") as two:
                with pytest.raises(GeneratorError) as err:
                    two.wait_ready(30)
            assert pair.a0 in err.value.reason and err.value.status in (-errno.EBUSY, -errno.EEXIST)
            s = one.trial(20_000, 0.5)
            assert s.lost == 0 and s.rx_packets == s.tx_packets == 10_000
        assert wait_no_xdp(pair) == {}



# -- several loops ------------------------------------------------------------------


LOOP_CORES = (0, 1)


def two_loops(pair: Pair, mode: str) -> GenConfig:
    f = build_frame(64)
    streams = (StreamSpec(0, 1, f, flows=16, vary="both"), StreamSpec(1, 0, f, flows=16, vary="both"))
    return GenConfig(eal_args=(), ports=pair.ports, streams=streams, core=LOOP_CORES[0], lcores=LOOP_CORES,
                     backend="kernel", kernel_mode=mode)


def test_afpacket_two_loops_split_the_rate_and_lose_nothing(tmp_path, state_dir, tag):
    """Two loops, each with its own TX rings and an RX ring per port in a fanout
    group: the kernel spreads the flows over the loops by hash, as RSS would, so
    a loop also gets the other's frames; the sub-streams add up to the streams."""
    if not set(LOOP_CORES) <= os.sched_getaffinity(0):
        pytest.skip(f"needs cores {LOOP_CORES}")
    with veth_pair(state_dir, tag) as pair:
        with GeneratorProcess(two_loops(pair, "afpacket"), tmp_path / "gen.log") as gen:
            gen.wait_ready(30)
            assert "fanout" in gen.backend_info
            s = gen.trial(100_000, 1.0)
            loops = gen.loops
        assert_gone(gen)
    assert (s.lost, s.duplicates, s.reordered, s.tx_dropped, s.interrupted) == (0, 0, 0, 0, False)
    assert abs(s.tx_packets - 100_000) <= 1 and s.rx_packets == s.tx_packets
    assert [lp.lcore for lp in loops] == list(LOOP_CORES)
    assert sum(lp.tx_packets for lp in loops) == s.tx_packets and abs(loops[0].tx_packets - loops[1].tx_packets) <= 2
    assert all(lp.tx_pps == pytest.approx(50_000, rel=0.005) for lp in loops)
    # which loop receives a flow is the kernel's hash: both get some, each frame counted once
    assert all(lp.rx_packets > 0 for lp in loops) and sum(lp.rx_packets for lp in loops) == s.rx_packets
    a, b = s.ports
    assert (a.rx_packets, b.rx_packets, a.rx_foreign, b.rx_foreign) == (b.tx_packets, a.tx_packets, 0, 0)


def test_afxdp_two_loops_on_a_one_queue_veth_are_refused_naming_the_port(tmp_path, state_dir, tag):
    """AF_XDP gives each loop a socket on a queue of its own; a veth has one unless made with more."""
    if not set(LOOP_CORES) <= os.sched_getaffinity(0):
        pytest.skip(f"needs cores {LOOP_CORES}")
    with veth_pair(state_dir, tag) as pair:
        with GeneratorProcess(two_loops(pair, "afxdp"), tmp_path / "gen.log") as gen, \
                pytest.raises(GeneratorError) as err:
            gen.wait_ready(30)
        assert_gone(gen)
        assert wait_no_xdp(pair) == {}
    assert f"port {pair.ports[0]}: 2 loops send on 2 queues, the device has 1" in err.value.reason
    assert "afpacket" in err.value.reason


@contextmanager
def two_queue_pair(state_dir, tag):
    """As veth_pair, but the veths have two queues each way (the host steps make
    one-queue pairs): ip link add ... numtxqueues 2 numrxqueues 2."""
    L, N = (lambda s: names.link_name(tag, s)), (lambda s: names.netns_name(tag, s))
    pair = Pair(L("a0"), L("b0"), N("a"), N("b"))
    queues = ("numtxqueues", "2", "numrxqueues", "2")
    with Applied(journal.Journal.create(state_dir, "kgen2q"), RunContext(state_dir, "kgen2q")) as a:
        a.apply_all([AddNetns(pair.na), AddNetns(pair.nb)])
        subprocess.run(["ip", "link", "add", pair.a0, *queues, "netns", pair.na, "type", "veth",
                        "peer", "name", pair.b0, *queues, "netns", pair.nb], check=True)
        for ifname, ns in ((pair.a0, pair.na), (pair.b0, pair.nb)):
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{ifname}.disable_ipv6=1"],
                           check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", ifname, "up"], check=True)
        yield pair
    assert a.undo_errors == []


def test_afxdp_two_loops_on_two_queue_veths(tmp_path, state_dir, tag):
    """Loop i sends from the socket on queue i; veth hands what its TX queue i
    sends to the peer's RX queue i, whose socket is loop i's: each loop gets its
    own frames back, none is lost, counted twice or taken by the other loop."""
    if not set(LOOP_CORES) <= os.sched_getaffinity(0):
        pytest.skip(f"needs cores {LOOP_CORES}")
    with two_queue_pair(state_dir, tag) as pair:
        with GeneratorProcess(two_loops(pair, "afxdp"), tmp_path / "gen.log") as gen:
            gen.wait_ready(30)
            assert "2 queues" in gen.backend_info
            s = gen.trial(100_000, 1.0)
            loops = gen.loops
            top = gen.trial(None, 0.5)
            top_loops = gen.loops
        assert_gone(gen)
        assert wait_no_xdp(pair) == {}
    assert (s.lost, s.duplicates, s.reordered, s.tx_dropped, s.interrupted) == (0, 0, 0, 0, False)
    assert abs(s.tx_packets - 100_000) <= 1 and s.rx_packets == s.tx_packets
    assert [lp.tx_packets for lp in loops] == [50_000, 50_000]
    assert [lp.rx_packets for lp in loops] == [lp.tx_packets for lp in loops]
    assert all(lp.tx_packets > 0 for lp in top_loops) and top.rx_packets > 0
    print(f"afxdp, 2 loops on 2-queue veths: max {top.tx_pps / 1e6:.3f} Mpps both ways, lost {top.lost}")
