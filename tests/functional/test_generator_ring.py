"""The generator on net_ring: a virtual port whose TX ring is its RX ring.

Real worker process, real DPDK, no hugepages: no loss at a fixed rate, sane
latency, pacing within 0.5 %, and the maximum rate.
"""
import os
from pathlib import Path

import pytest

from pktlab.gen import GenConfig, GeneratorProcess, StreamSpec, build_frame
from pktlab.gen.generator import runtime_dir

pytestmark = pytest.mark.root

CORE = max(os.sched_getaffinity(0))


def eal(tag):
    return ("--no-huge", "-m", "256", "--no-shconf", "--no-pci", "--no-telemetry",
            f"--file-prefix=pktlab-test-{tag}-{os.getpid()}")


def assert_gone(gen: GeneratorProcess):
    assert gen._proc.poll() is not None, "worker still running"
    assert not Path(f"/proc/{gen.pid}").exists()
    assert not runtime_dir(gen.config).exists(), f"{runtime_dir(gen.config)} left behind"


def serving(cfg: GenConfig, log: Path):
    """A ready worker for a fixture to yield from; nothing of it is left after."""
    gen = GeneratorProcess(cfg, log)
    try:
        gen.start()
        gen.wait_ready(60)
        yield gen
    finally:
        gen.close()
    assert_gone(gen)


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    """One port looped onto itself; one stream out of it and back in, 16 flows."""
    if os.geteuid() != 0:
        pytest.skip("needs root: DPDK EAL in the worker")
    cfg = GenConfig(eal_args=eal("ring"), ports=("net_ring0",),
                    streams=(StreamSpec(0, 0, build_frame(64), flows=16, vary="both"),), core=CORE)
    yield from serving(cfg, tmp_path_factory.mktemp("gen") / "generator.log")


def test_ready_reports_the_port(loop):
    (port,) = loop.ports
    assert (port.name, port.port_id, port.link_up) == ("net_ring0", 0, True)
    assert loop.dpdk_version.startswith("DPDK ") and loop.tsc_hz > 0
    assert loop.link_up() == [True]


def test_net_ring_is_a_loopback_without_loss(loop):
    s = loop.trial(100_000, 1.0)
    assert s.tx_packets > 0 and s.rx_packets == s.tx_packets
    assert (s.lost, s.duplicates, s.reordered, s.tx_dropped, s.interrupted) == (0, 0, 0, 0, False)
    assert abs(s.tx_packets - 100_000) <= 1
    (p,) = s.ports
    assert (p.name, p.tx_packets, p.rx_packets, p.rx_foreign) == ("net_ring0", s.tx_packets, s.rx_packets, 0)


def test_latency_summary_is_ordered(loop):
    s = loop.trial(100_000, 0.5)
    lat = s.latency
    assert 0 <= lat.min_ns <= lat.p50_ns <= lat.p99_ns <= lat.max_ns
    assert lat.min_ns <= lat.avg_ns <= lat.max_ns
    assert sum(n for _, n in s.latency_histogram) == s.rx_packets
    bounds = [u for u, _ in s.latency_histogram]
    assert bounds == sorted(bounds) and bounds[-1] >= lat.max_ns


@pytest.mark.parametrize("rate", [20_000, 1_000_000, 10_000_000])
def test_pacing_within_half_a_percent(loop, rate):
    s = loop.trial(rate, 1.0)
    assert s.elapsed_s == pytest.approx(1.0, abs=0.01)
    assert s.tx_pps == pytest.approx(rate, rel=0.005)
    assert s.lost == 0


def test_max_rate(loop):
    s = loop.trial(None, 1.0)
    assert s.offered_pps is None
    assert s.rx_packets > 0 and s.tx_pps > 1e6
    assert s.tx_dropped + s.tx_packets > 0


def test_two_looped_ports_two_streams(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root: DPDK EAL in the worker")
    f = build_frame(128)
    cfg = GenConfig(eal_args=eal("ring2"), ports=("net_ring0", "net_ring1"),
                    streams=(StreamSpec(0, 0, f), StreamSpec(1, 1, f, flows=3, vary="src_port")), core=CORE)
    with GeneratorProcess(cfg, tmp_path / "generator.log") as gen:
        assert [p.name for p in gen.wait_ready(60)] == ["net_ring0", "net_ring1"]
        s = gen.trial(200_000, 0.5)
    assert_gone(gen)
    assert s.lost == 0 and s.rx_packets == s.tx_packets and s.rx_missed == 0
    # streams take turns burst by burst: the aggregate rate splits evenly
    a, b = s.ports
    assert a.tx_packets == pytest.approx(b.tx_packets, rel=0.01)
    assert (a.rx_packets, b.rx_packets) == (a.tx_packets, b.tx_packets)


def test_a_weighted_mix_keeps_its_proportions_frame_by_frame(tmp_path):
    """Three streams of weight 7:4:1 (IMIX's) on three looped ports, as fast as the loop
    goes: each turn goes to the stream furthest behind its share of the frames, so
    the counts stay within one burst of 7:4:1 whatever each turn could send."""
    if os.geteuid() != 0:
        pytest.skip("needs root: DPDK EAL in the worker")
    ports = ("net_ring0", "net_ring1", "net_ring2")
    streams = tuple(StreamSpec(i, i, build_frame(size), weight=w)
                    for i, (size, w) in enumerate(((64, 7), (570, 4), (1518, 1))))
    cfg = GenConfig(eal_args=eal("mix"), ports=ports, streams=streams, core=CORE)
    with GeneratorProcess(cfg, tmp_path / "generator.log") as gen:
        gen.wait_ready(60)
        s = gen.trial(None, 0.5)
    assert_gone(gen)
    sent = [p.tx_packets for p in s.ports]
    assert sum(sent) == s.tx_packets > 12 * 1000
    unit = s.tx_packets / 12
    for n, w in zip(sent, (7, 4, 1)):
        assert abs(n - w * unit) <= cfg.burst, (sent, unit)
