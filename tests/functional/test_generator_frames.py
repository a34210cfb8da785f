"""Tagged, tunnelled and IPv6 frames as the generator puts them on the wire
(net_pcap, tx_pcap=FILE), read back by parsers that are not pktlab's: scapy
(tags, VNI, lengths, every checksum recomputed) and tshark (its own dissectors
and checksum validation). Flow fields: each frame's values are those of its flow."""
import math
import shutil
import subprocess

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from scapy.utils import rdpcap

from pktlab.gen import build_frame
from pktlab.gen.template import STAMP_MAGIC, Vxlan, unpack_stamp
from tests.functional.test_generator_pcap import capture as pcap_capture

pytestmark = pytest.mark.root

V6 = dict(src_ip="2001:2::1", dst_ip="2001:2:0:1::1")
SHAPES = {  # build_frame arguments; fields varied with coprime counts (every combination)
    "802.1Q": (dict(vlan=100), (("vlan", 4), ("src_ip", 3), ("dst_port", 5))),
    "QinQ": (dict(vlan=100, outer_vlan=200), (("outer_vlan", 4), ("vlan", 3), ("src_port", 5))),
    "VXLAN": (dict(vxlan=Vxlan(vni=5000)), (("vni", 4), ("dst_ip", 3), ("src_port", 5))),
    "VXLAN, tagged underlay": (dict(vlan=30, vxlan=Vxlan(vni=5000)), (("vni", 7), ("vlan", 2))),
    "IPv6": (dict(V6), (("src_ip", 4), ("dst_ip", 3), ("dst_port", 5))),
    "QinQ IPv6": (dict(V6, vlan=10, outer_vlan=20), (("vlan", 4), ("src_ip", 5))),
    "VXLAN IPv6 inside": (dict(V6, vxlan=Vxlan(vni=1)), (("vni", 3), ("src_ip", 4))),
}


def capture(tmp_path, template, flows, fields=(), order="sequential", need=None):
    """The frames one trial put on the wire: at least `need` (2 x flows), 2000 asked for."""
    _, frames = pcap_capture(tmp_path, template, flows, fields=fields, order=order, exact=False)
    assert len(frames) >= (need or 2 * flows)
    return tmp_path / "wire.pcap", frames


def recomputed(pkt):
    """The same frame with every length and checksum left to scapy to compute,
    except a VXLAN outer UDP checksum of 0 (none), which is what RFC 7348 allows."""
    again = pkt.copy()
    for layer in (IP, IPv6, UDP):
        n = 1
        while again.getlayer(layer, n) is not None:
            lay = again.getlayer(layer, n)
            for f in ("len", "plen", "chksum"):
                if f in lay.fields and not (layer is UDP and lay.dport == 4789 and lay.chksum == 0):
                    del lay.fields[f]
            n += 1
    return Ether(bytes(again))


def value(pkt, field):
    """A field's value as scapy reads it (addresses and ports of the innermost frame)."""
    inner = pkt[VXLAN].payload if VXLAN in pkt else pkt
    ip = inner[IPv6] if IPv6 in inner else inner[IP]
    tags = [l for l in (Dot1AD, Dot1Q) if l in pkt]
    return {"src_ip": lambda: ip.src, "dst_ip": lambda: ip.dst, "src_port": lambda: ip[UDP].sport,
            "dst_port": lambda: ip[UDP].dport, "vni": lambda: pkt[VXLAN].vni,
            "vlan": lambda: pkt[tags[-1]].vlan, "outer_vlan": lambda: pkt[Dot1AD].vlan}[field]()


def step(v, k):
    import ipaddress

    return str(ipaddress.ip_address(v) + k) if isinstance(v, str) else v + k


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("size", [160, 1518])
def test_encapsulated_frames_on_the_wire(tmp_path, shape, size):
    kw, fields = SHAPES[shape]
    template = build_frame(size, **kw)
    flows = math.prod(n for _, n in fields)
    _, frames = capture(tmp_path, template, flows, fields)
    assert {len(f) for f in frames} == {size - 4}
    base = Ether(template)
    pkts = [Ether(f) for f in frames]
    for p in pkts:
        assert bytes(recomputed(p)) == bytes(p), p.summary()  # lengths and checksums as scapy makes them
    if "vxlan" in kw:
        outer = [p[UDP] for p in pkts]
        assert {(u.dport, u.chksum) for u in outer} == {(4789, 0)}
        assert {p[VXLAN].flags for p in pkts} == {0x08}
    if "outer_vlan" in kw:
        assert {(p.type, p[Dot1AD].type) for p in pkts} == {(0x88A8, 0x8100)}
    if "src_ip" in kw:  # IPv6: UDP checksums are mandatory, never 0
        assert all(p[IPv6][UDP].chksum != 0 for p in pkts)
    # frame k is flow k % flows: each field its first value + flow % its count
    for k, p in enumerate(pkts):
        assert {f: value(p, f) for f, _ in fields} == \
            {f: step(value(base, f), k % flows % n) for f, n in fields}, k
    # every combination once per `flows` frames
    assert len({tuple(value(p, f) for f, _ in fields) for p in pkts[:flows]}) == flows
    stamps = [unpack_stamp(f) for f in frames]
    assert {(m, s) for m, _, s, _, _ in stamps} == {(STAMP_MAGIC, 0)}
    assert [seq for _, _, _, seq, _ in stamps] == list(range(len(frames)))


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is installed by setup.sh")
def test_tshark_reads_tags_vni_and_checksums(tmp_path):
    """tshark's own dissectors: QinQ-tagged VXLAN underlay carrying IPv4/UDP, checksums validated."""
    template = build_frame(200, vlan=30, vxlan=Vxlan(vni=0xABCDE))
    pcap, frames = capture(tmp_path, template, 6, (("vni", 3), ("src_port", 2)))
    out = subprocess.run(
        ["tshark", "-r", str(pcap), "-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
         "-T", "fields", "-E", "separator=;", "-e", "frame.len", "-e", "vlan.id", "-e", "vxlan.vni",
         "-e", "udp.srcport", "-e", "ip.checksum.status", "-e", "udp.checksum.status"],
        capture_output=True, text=True, check=True, timeout=120).stdout.splitlines()
    assert len(out) == len(frames)
    for k, line in enumerate(out):
        length, vlan, vni, sports, ip_status, udp_status = line.split(";")
        assert (int(length), vlan, int(vni)) == (196, "30", 0xABCDE + k % 3)
        assert sports == f"49152,{1024 + k % 2}"  # outer, inner
        # tshark's checksum status: 1 good, 0 bad, 3 not present
        assert ip_status == "1,1", line  # outer, inner
        assert udp_status == "3,1", line  # outer: 0, none (RFC 7348); inner: good


def test_random_order_sends_every_flow_once_per_round(tmp_path):
    template = build_frame(64)
    flows = 500
    _, frames = capture(tmp_path, template, flows, (("src_ip", 500), ("dst_port", 500)), order="random")
    pkts = [Ether(f) for f in frames]
    keys = [(p[IP].src, p[UDP].dport) for p in pkts]
    first, second = keys[:flows], keys[flows:2 * flows]
    assert len(set(first)) == len(set(second)) == flows  # a permutation each round
    assert first == second  # the same one: fixed for a stream
    assert first != sorted(first, key=lambda k: k[1])  # not the sequential order
    assert {p[IP].dst for p in pkts} == {"198.19.0.1"}  # what no field varies stays the template's


@pytest.mark.parametrize("shape, order", [("VXLAN", "random"), ("QinQ IPv6", "sequential")])
def test_flow_table_and_computed_path_send_the_same_flows(tmp_path, monkeypatch, shape, order):
    """A loop sends from its flow table (csrc/pg_flowtab.h), or computes each frame's
    words when the table does not fit: PKTLAB_NO_FLOW_TABLE forces the latter. Both
    put the same flows in the same order on the wire, every checksum right."""
    kw, fields = SHAPES[shape]
    template = build_frame(160, **kw)
    flows = math.prod(n for _, n in fields)
    sent = {}
    for path in ("table", "computed"):
        if path == "computed":
            monkeypatch.setenv("PKTLAB_NO_FLOW_TABLE", "1")
        (tmp_path / path).mkdir()
        _, frames = capture(tmp_path / path, template, flows, fields, order=order)
        pkts = [Ether(f) for f in frames[:2 * flows]]
        for p in pkts:
            assert bytes(recomputed(p)) == bytes(p), (path, p.summary())
        sent[path] = [tuple(value(p, f) for f, _ in fields) for p in pkts]
    assert len(set(sent["table"][:flows])) == flows
    assert sent["table"] == sent["computed"]
