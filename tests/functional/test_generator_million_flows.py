"""A million flows over four fields, each flow seen on the wire: the generator's
frames captured by net_pcap (tx_pcap=FILE) and counted per flow by the test's
own reading of the pcap (numpy over fixed-size records, not pktlab's parser).

Sequential order: frame k carries flow k % F (its four fields and its stamp's
sequence number agree). Random order: every F frames hold every flow once,
not in order. Each flow's count differs from any other's by at most one."""
import ipaddress
import os

import numpy as np
import pytest

from pktlab.gen import GenConfig, GeneratorProcess, StreamSpec, build_frame

pytestmark = pytest.mark.root

CORE = max(os.sched_getaffinity(0))
F = 1 << 20
FIELDS = (("src_ip", F), ("dst_ip", F), ("src_port", 64512), ("dst_port", 64512))
SRC, DST = "198.18.0.0", "198.32.0.0"  # two /12s


def send(tmp_path, order: str):
    if os.geteuid() != 0:
        pytest.skip("needs root: DPDK EAL in the worker")
    pcap = tmp_path / "wire.pcap"
    template = build_frame(64, src_ip=SRC, dst_ip=DST, src_port=1024, dst_port=1024)
    cfg = GenConfig(eal_args=("--no-huge", "-m", "512", "--no-shconf", "--no-pci", "--no-telemetry",
                              f"--file-prefix=pktlab-test-mflows-{os.getpid()}"),
                    ports=(f"net_pcap0,tx_pcap={pcap}",),
                    streams=(StreamSpec(0, None, template, flows=F, fields=FIELDS, order=order),), core=CORE)
    with GeneratorProcess(cfg, tmp_path / "generator.log") as gen:
        gen.wait_ready(60)
        stats = gen.trial(1_000_000, 1.6)  # 1.6 M frames asked; a preempted end may send fewer
    return read(pcap, stats.tx_packets)


def read(pcap, expected: int) -> dict[str, np.ndarray]:
    """Fields of every 64-byte frame: pcap header 24 B, then records of 16 + 60 B."""
    raw = np.fromfile(pcap, dtype=np.uint8)
    rec = raw[24:].reshape(-1, 16 + 60)
    assert len(rec) == expected
    assert set(np.unique(rec[:, 8:12].view("<u4"))) == {60}  # captured length
    f = rec[:, 16:]
    be32 = lambda a: a.copy().view(">u4").ravel().astype(np.int64)  # noqa: E731
    be16 = lambda a: a.copy().view(">u2").ravel().astype(np.int64)  # noqa: E731
    return {"src_ip": be32(f[:, 26:30]), "dst_ip": be32(f[:, 30:34]), "src_port": be16(f[:, 34:36]),
            "dst_port": be16(f[:, 36:38]), "seq": f[:, 42 + 6:42 + 10].copy().view("<u4").ravel().astype(np.int64)}


def flow_of(c: dict[str, np.ndarray]) -> np.ndarray:
    """Each frame's flow from its addresses; its ports must be that flow's."""
    g = c["src_ip"] - int(ipaddress.ip_address(SRC))
    assert np.array_equal(c["dst_ip"] - int(ipaddress.ip_address(DST)), g)
    assert np.array_equal(c["src_port"], 1024 + g % 64512)
    assert np.array_equal(c["dst_port"], 1024 + g % 64512)
    return g


def test_a_million_flows_in_sequence_each_seen(tmp_path):
    c = send(tmp_path, "sequential")
    n = len(c["seq"])
    assert n >= F, f"only {n} frames: the host preempted the generator for long"
    g = flow_of(c)
    assert np.array_equal(c["seq"], np.arange(n))
    assert np.array_equal(g, np.arange(n) % F)
    counts = np.bincount(g, minlength=F)
    assert counts.min() >= 1 and counts.max() - counts.min() <= 1 and counts.sum() == n


def test_a_million_flows_at_random_each_seen_once_per_round(tmp_path):
    c = send(tmp_path, "random")
    n = len(c["seq"])
    assert n >= F, f"only {n} frames: the host preempted the generator for long"
    g = flow_of(c)
    first = np.bincount(g[:F], minlength=F)
    assert first.min() == first.max() == 1  # a permutation of the million flows
    assert not np.array_equal(g[:F], np.arange(F))
    assert np.array_equal(g[F:n], g[:n - F])  # the same one again
    counts = np.bincount(g, minlength=F)
    assert counts.max() - counts.min() <= 1
