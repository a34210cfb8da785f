"""What the generator puts on the wire, captured by net_pcap (tx_pcap=FILE) and
read back with scapy: sizes, checksums, flows, sequence numbers, stamps."""
import ipaddress
import os

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap

from pktlab.gen import GenConfig, GeneratorProcess, StreamSpec, build_frame
from pktlab.gen.generator import runtime_dir
from pktlab.gen.template import STAMP_MAGIC, unpack_stamp

pytestmark = pytest.mark.root

CORE = max(os.sched_getaffinity(0))


def capture(tmp_path, template, flows, vary="src_ip", rate=20_000, duration=0.1, fields=(), order="sequential"):
    """What one stream sends in a trial, from tmp_path/wire.pcap: (stats, frames)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: DPDK EAL in the worker")
    pcap = tmp_path / "wire.pcap"
    cfg = GenConfig(eal_args=("--no-huge", "-m", "256", "--no-shconf", "--no-pci", "--no-telemetry",
                              f"--file-prefix=pktlab-test-pcap-{os.getpid()}"),
                    ports=(f"net_pcap0,tx_pcap={pcap}",),
                    streams=(StreamSpec(0, None, template, flows=flows, vary=vary, fields=fields, order=order),),
                    core=CORE)
    with GeneratorProcess(cfg, tmp_path / "generator.log") as gen:
        gen.wait_ready(60)
        stats = gen.trial(rate, duration)
    assert not runtime_dir(cfg).exists()
    frames = [bytes(p) for p in rdpcap(str(pcap))]  # complete once the port is stopped
    assert len(frames) == stats.tx_packets == int(rate * duration)
    return stats, frames


def checksums_valid(raw: bytes) -> bool:
    pkt = Ether(raw)
    ip_ck, udp_ck = pkt[IP].chksum, pkt[UDP].chksum
    del pkt[IP].chksum, pkt[UDP].chksum
    again = Ether(bytes(pkt))
    return (again[IP].chksum, again[UDP].chksum) == (ip_ck, udp_ck)


@pytest.mark.parametrize("size, vlan, flows, vary", [
    (64, None, 7, "both"),
    (64, None, 5, "src_ip"),
    (128, 42, 3, "src_port"),
    (1518, None, 1, "src_ip"),
    (9018, None, 2, "both"),
])
def test_on_the_wire(tmp_path, size, vlan, flows, vary):
    template = build_frame(size, vlan=vlan)
    stats, frames = capture(tmp_path, template, flows, vary)
    assert {len(f) for f in frames} == {size - 4}
    assert all(checksums_valid(f) for f in frames)

    pkts = [Ether(f) for f in frames]
    ips = {p[IP].src for p in pkts}
    ports = {p[UDP].sport for p in pkts}
    assert len(ips) == (flows if vary in ("src_ip", "both") else 1)
    assert len(ports) == (flows if vary in ("src_port", "both") else 1)
    # frame k belongs to flow k % flows: address and/or port stepped by one
    base = Ether(template)
    ip0, port0 = ipaddress.ip_address(base[IP].src), base[UDP].sport
    dip, dport = int(vary in ("src_ip", "both")), int(vary in ("src_port", "both"))
    assert [(p[IP].src, p[UDP].sport) for p in pkts] == \
        [(str(ip0 + k % flows * dip), port0 + k % flows * dport) for k in range(len(pkts))]
    # everything but the flow fields, the stamp and the checksums is the template
    assert {(p.src, p.dst, p[IP].dst, p[UDP].dport, p[IP].ttl) for p in pkts} == \
        {(base.src, base.dst, base[IP].dst, base[UDP].dport, base[IP].ttl)}

    stamps = [unpack_stamp(f) for f in frames]
    assert {(m, trial, stream) for m, trial, stream, _, _ in stamps} == {(STAMP_MAGIC, stamps[0][1], 0)}
    assert [seq for _, _, _, seq, _ in stamps] == list(range(len(frames)))
    tscs = [tsc for *_, tsc in stamps]
    assert tscs == sorted(tscs) and tscs[0] > 0


def test_a_tagged_64_byte_frame_has_no_room_for_the_stamp():
    with pytest.raises(ValueError, match="stamp"):
        build_frame(64, vlan=1)
