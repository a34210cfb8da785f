"""What the methods need of the generator, on real worker processes:

- on net_ring (DPDK, no hugepages; a port whose TX ring is its RX ring): a latency
  stream keeps its own rate beside the load and is counted apart; exact burst
  lengths; interval snapshots that add up to the trial exactly; IPDV on every
  consecutive pair of a lossless run.
- on a Linux bridge in namespaces whose egress port b1 has a tbf qdisc of known
  size (the buffer): RFC 2544 back-to-back finds that size.
"""
from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
from types import SimpleNamespace

import pytest

from pktlab import journal
from pktlab.context import RunContext
from pktlab.gen import GenConfig, GeneratorProcess, StreamSpec, build_frame
from pktlab.host import names
from pktlab.host.links import AddBridge, AddVethPair, SetMaster
from pktlab.host.netns import AddNetns
from pktlab.measure import Session
from pktlab.methods.back_to_back import run_back_to_back
from pktlab.plan import Applied
from pktlab.units import LineRate

from .test_generator_kernel import _leftovers, _sweep
from .test_generator_ring import eal, serving

pytestmark = pytest.mark.root

CORE = max(os.sched_getaffinity(0))


@pytest.fixture(scope="module")
def ring(tmp_path_factory):
    """net_ring0 looped onto itself: a load stream of 16 flows and a latency stream."""
    if os.geteuid() != 0:
        pytest.skip("needs root: DPDK EAL in the worker")
    f = build_frame(64)
    cfg = GenConfig(eal_args=eal("methods"), ports=("net_ring0",),
                    streams=(StreamSpec(0, 0, f, flows=16, vary="both"), StreamSpec(0, 0, f, fixed_pps=5000.0)),
                    core=CORE)
    yield from serving(cfg, tmp_path_factory.mktemp("gen") / "generator.log")


def test_latency_stream_keeps_its_rate_and_is_counted_apart(ring):
    for load in (200_000, None):  # paced, and as fast as the generator goes
        s = ring.trial(load, 2.0)
        ls = s.latency_stream
        assert s.latency_source == "latency-stream"
        assert ls.tx_packets == 10_000, load  # 5000 pps x 2 s, exactly: a paced window
        assert ls.rx_packets == ls.tx_packets and ls.lost == 0
        if load:
            assert s.tx_packets == 400_000  # the load's own, without the latency stream's
        else:
            assert s.tx_packets > 10 * ls.tx_packets
        assert s.rx_packets == s.tx_packets and s.lost == 0
        # the latency reported is the latency stream's frames only; the load's is kept beside
        assert sum(n for _, n in s.latency_histogram) == ls.rx_packets
        assert s.load_latency is not None and s.load_latency.ipdv_pairs > ls.rx_packets


def test_a_burst_is_exactly_the_frames_asked(ring):
    for n in (1, 31, 32, 33, 12_345):
        s = ring.trial(None, 5.0, frames=n)
        assert (s.tx_packets, s.rx_packets, s.lost, s.tx_dropped) == (n, n, 0, 0)
        assert s.elapsed_s < 1.0  # the window ended with the last frame, not at the 5 s cap


def test_intervals_add_up_to_the_trial_exactly(ring):
    got = []
    s = ring.trial(100_000, 2.0, drain_s=0.2, interval_s=0.25, on_interval=got.append)
    assert [i["n"] for i in got] == list(range(len(got)))
    assert len(got) in (9, 10) and got[-1]["final"] and not any(i["final"] for i in got[:-1])  # 8 boundaries + the end (+ one if the drain outlasts 0.25 s)
    for key, total in (("tx", s.tx_packets), ("rx", s.rx_packets), ("lost", s.lost),
                       ("duplicates", s.duplicates)):
        assert sum(i[key] for i in got) == total, key
    assert sum(i["lat_count"] for i in got) == s.latency_stream.rx_packets  # the latency stream's
    for i in got[:-1]:
        assert i["t_end_s"] - i["t_start_s"] == pytest.approx(0.25, abs=0.01)
        assert i["tx"] == pytest.approx(25_000, abs=200)
        assert 0 < i["lat_min_ns"] <= i["lat_p50_ns"] <= i["lat_p99_ns"] <= i["lat_max_ns"]
    # the next trial starts its own intervals
    again = []
    ring.trial(50_000, 0.5, interval_s=0.25, on_interval=again.append)
    assert [i["n"] for i in again] == [0, 1, 2] and sum(i["tx"] for i in again) == 25_000


def test_ipdv_pairs_every_consecutive_frame_of_a_lossless_run(tmp_path):
    """One stream, one loop, no loss, no reordering: frames 0..N-1 give N-1 pairs."""
    if os.geteuid() != 0:
        pytest.skip("needs root: DPDK EAL in the worker")
    cfg = GenConfig(eal_args=eal("ipdv"), ports=("net_ring0",), streams=(StreamSpec(0, 0, build_frame(64)),),
                    core=CORE)
    for gen in serving(cfg, tmp_path / "generator.log"):
        s = gen.trial(50_000, 1.0)
    lat = s.latency
    assert s.lost == 0 and s.reordered == 0 and s.latency_source == "load"
    assert lat.ipdv_pairs == s.rx_packets - 1
    assert abs(lat.ipdv_mean_ns) <= lat.ipdv_max_ns
    assert 0 <= lat.ipdv_p50_ns <= lat.ipdv_p99_ns <= lat.ipdv_max_ns
    # |d(n+1) - d(n)| can never exceed the spread of the delays themselves
    assert lat.ipdv_max_ns <= lat.max_ns - lat.min_ns + 1
    assert sum(n for _, n in s.ipdv_histogram) == lat.ipdv_pairs


# -- back-to-back against a buffer of known size ---------------------------------

TBF_RATE_BIT = 480_000  # 1000 frames/s of 64 B (tbf counts skb->len: 60 B on a veth)
TBF_BURST_B = 1_500  # the bucket: 25 frames go straight through
BUFFER_FRAMES = 400  # the queue: tbf's limit, in 60 B frames


@pytest.fixture
def tag():
    if os.geteuid() != 0:
        pytest.skip("needs root to create namespaces, veths, a bridge and a qdisc (CI runs as root)")
    t = names.new_tag()
    yield t
    _sweep(t)
    assert _leftovers(t) == []


@contextmanager
def shaped_bridge(state_dir, tag):
    """ns a: a0 <-> a1 [bridge, ns sw] b1 <-> b0 :ns b, with a tbf on b1's egress: a burst
    from a0 to b0 fits while the bucket and the queue hold it, and no longer."""
    L, N = (lambda s: names.link_name(tag, s)), (lambda s: names.netns_name(tag, s))
    na, nb, sw = N("a"), N("b"), N("sw")
    with Applied(journal.Journal.create(state_dir, "b2b"), RunContext(state_dir, "b2b")) as a:
        a.apply_all([AddNetns(na), AddNetns(nb), AddNetns(sw),
                     AddVethPair(L("a0"), L("a1"), na, sw, promisc=True),
                     AddVethPair(L("b0"), L("b1"), nb, sw, promisc=True),
                     AddBridge(L("br"), sw), SetMaster(L("a1"), L("br"), sw), SetMaster(L("b1"), L("br"), sw)])
        # the qdisc goes with the namespace's interfaces when the steps are undone
        subprocess.run(["ip", "netns", "exec", sw, "tc", "qdisc", "add", "dev", L("b1"), "root", "tbf",
                        "rate", f"{TBF_RATE_BIT}bit", "burst", str(TBF_BURST_B), "limit",
                        str(BUFFER_FRAMES * 60)], check=True, capture_output=True)
        yield (f"{L('a0')}@{na}", f"{L('b0')}@{nb}")
    assert a.undo_errors == [] and journal.pending(state_dir) == []


def test_back_to_back_finds_the_buffer_of_known_size(tmp_path, state_dir, tag):
    with shaped_bridge(state_dir, tag) as ports:
        cfg = GenConfig(eal_args=(), ports=ports, streams=(StreamSpec(0, 1, build_frame(64)),), core=CORE,
                        backend="kernel", kernel_mode="afxdp")
        with GeneratorProcess(cfg, tmp_path / "gen.log") as gen:
            gen.wait_ready(30)
            lines = []
            session = Session(gen, _NoCounters(), drain_s=0.6, out=lines.append)
            method = SimpleNamespace(max_rate=0.0, max_burst=2000, min_burst=1, repeats=3, precision=0.0)
            rec = run_back_to_back(session, SimpleNamespace(method=method, traffic=SimpleNamespace(frame_size=64)),
                                   LineRate(10e9, 1, "test"))
    # what the path holds: the bucket's frames, the queue's, and what tbf sends while the
    # burst arrives (1000 frames/s for the ~ms a burst lasts)
    lo, hi = BUFFER_FRAMES, BUFFER_FRAMES + TBF_BURST_B // 60 + 20
    for s in rec.searches:
        assert lo <= s.longest_ok <= hi, (s, lines)
        assert s.shortest_lost == s.longest_ok + 1  # exact: no precision asked
    assert lo <= rec.frames <= hi and rec.seconds == pytest.approx(rec.frames / LineRate(10e9, 1, "").pps(64))
    assert not rec.at_max and len(session.trials) == sum(len(s.trials) for s in rec.searches)
    for s in rec.searches:  # each bound is a burst of that length that went out whole
        bursts = {session.trials[i].stats.tx_packets: session.trials[i].stats.lost for i in s.trials}
        assert bursts[s.longest_ok] == 0 and bursts[s.shortest_lost] > 0 and bursts[2000] > 0
    print("\n".join(lines))


class _NoCounters:
    """The test's own path has no DUT counters worth a wait."""

    live, source = True, ""

    def snapshot(self):
        return {}

    def settled(self):
        return {}


def test_two_loops_intervals_and_latency_stream_add_up(tmp_path):
    """Two poll loops (cores 0 and 1): each loop snapshots its own counters; the
    intervals merge them boundary by boundary and still add up to the trial,
    latency stream apart."""
    lcores = (0, 1)
    if os.geteuid() != 0 or not set(lcores) <= os.sched_getaffinity(0):
        pytest.skip(f"needs root and cores {lcores}")
    f = build_frame(64)
    cfg = GenConfig(eal_args=eal("methods-2l"), ports=("net_ring0",), core=lcores[0], lcores=lcores,
                    streams=(StreamSpec(0, 0, f, flows=4, vary="both"), StreamSpec(0, 0, f, flows=2, fixed_pps=2000.0)))
    got = []
    for gen in serving(cfg, tmp_path / "generator.log"):
        s = gen.trial(100_000, 1.0, interval_s=0.25, on_interval=got.append)
        loops = gen.loops
    # each loop sends its share of both (a loop whose core is busy elsewhere may fall short:
    # the per-loop shares are test_generator_lcores'; here what counts is that nothing is lost)
    assert len(loops) == 2 and all(0 < lp.tx_packets <= 51_000 for lp in loops)
    assert s.tx_packets <= 100_000 and 0 < s.latency_stream.tx_packets <= 2000 and s.lost == 0
    assert got[-1]["final"] and [i["n"] for i in got] == list(range(len(got)))
    for key, total in (("tx", s.tx_packets), ("rx", s.rx_packets), ("lost", s.lost)):
        assert sum(i[key] for i in got) == total, key
    assert sum(i["lat_count"] for i in got) == s.latency_stream.rx_packets
