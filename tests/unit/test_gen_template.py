"""Template frames: sizes on the wire less the FCS, valid checksums, room for the stamp."""
import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Dot1Q, Ether

from pktlab.gen.template import STAMP, STAMP_MAGIC, build_frame, pack_stamp, stamp_offset, unpack_stamp


def checksums_valid(frame: bytes) -> bool:
    pkt = Ether(frame)
    ip_ck, udp_ck = pkt[IP].chksum, pkt[UDP].chksum
    del pkt[IP].chksum, pkt[UDP].chksum
    again = Ether(bytes(pkt))  # scapy recomputes both
    return (again[IP].chksum, again[UDP].chksum) == (ip_ck, udp_ck)


@pytest.mark.parametrize("size", [64, 128, 1518, 9018])
def test_length_and_checksums(size):
    frame = build_frame(size, "02:00:00:00:00:01", "02:00:00:00:00:02", "10.0.0.1", "10.0.0.2", 1024, 9)
    assert len(frame) == size - 4
    assert checksums_valid(frame)
    pkt = Ether(frame)
    assert (pkt[IP].src, pkt[IP].dst, pkt[UDP].sport, pkt[UDP].dport) == ("10.0.0.1", "10.0.0.2", 1024, 9)
    assert pkt[IP].ihl == 5 and pkt[IP].len == size - 4 - 14
    assert len(pkt[UDP].payload) >= STAMP.size


def test_vlan():
    frame = build_frame(68, vlan=100)
    assert len(frame) == 64 and Ether(frame)[Dot1Q].vlan == 100
    assert checksums_valid(frame)
    assert stamp_offset(frame) == 46


def test_default_destination_is_dropped_early_by_a_kernel():
    pkt = Ether(build_frame(64))
    assert pkt.dst != "ff:ff:ff:ff:ff:ff" and int(pkt.dst.split(":")[0], 16) & 0x03 == 0x02  # local, unicast


@pytest.mark.parametrize("kw", [dict(frame_size=63), dict(frame_size=9019), dict(frame_size=64, vlan=1),
                                dict(frame_size=64, vlan=4096), dict(frame_size=64, src_port=70000)])
def test_rejects(kw):
    with pytest.raises(ValueError):
        build_frame(**kw)


def test_stamp_round_trip():
    frame = bytearray(build_frame(64))
    off = stamp_offset(frame)
    assert off == 42 and len(frame) - off == STAMP.size  # the stamp fills a 64-byte frame
    frame[off:off + STAMP.size] = pack_stamp(3, 1, 0xFFFFFFFF, 2**63 + 5)
    assert unpack_stamp(bytes(frame)) == (0x6B70, 3, 1, 0xFFFFFFFF, 2**63 + 5)


def test_stamp_matches_the_c_side():
    lib = pytest.importorskip("pktlab._pktgen").lib
    assert (STAMP_MAGIC, STAMP.size) == (lib.PG_MAGIC, lib.PG_STAMP_LEN)
    assert (len(build_frame(64)), len(build_frame(9018))) == (lib.PG_FRAME_MIN, lib.PG_FRAME_MAX)
