"""Template frames: Ethernet [802.1Q] IPv4 UDP, built once with scapy.

The generator copies a template into every transmit buffer and patches only
the flow fields, the payload stamp and the checksums per packet. Sizes are on
the wire: a 64-byte frame is a 60-byte template plus the 4-byte FCS the NIC
(or the virtual device) adds.
"""
from __future__ import annotations

import struct

FCS_LEN = 4
MIN_FRAME_SIZE = 64  # [B] on the wire
MAX_FRAME_SIZE = 9018  # [B] on the wire, jumbo

# A locally administered unicast destination that is nobody's address: a
# kernel receiver drops such frames in ip_rcv (PACKET_OTHERHOST), before UDP
# would answer a closed port with ICMP (which halves its receive rate).
DEFAULT_SRC_MAC = "02:00:00:00:00:01"
DEFAULT_DST_MAC = "02:00:00:00:00:02"
DEFAULT_SRC_IP = "198.18.0.1"  # RFC 2544 benchmarking range
DEFAULT_DST_IP = "198.19.0.1"
DEFAULT_SRC_PORT = 1024
DEFAULT_DST_PORT = 9  # discard

# The stamp the C generator writes at the start of the UDP payload (pktgen.h):
# magic, trial id, stream id, sequence number, TSC at transmit; little endian.
STAMP = struct.Struct("<HHHIQ")
STAMP_MAGIC = 0x6B70  # b"pk"
assert STAMP.size == 18  # the whole payload of an untagged 64-byte frame


def build_frame(frame_size: int, src_mac: str = DEFAULT_SRC_MAC, dst_mac: str = DEFAULT_DST_MAC,
                src_ip: str = DEFAULT_SRC_IP, dst_ip: str = DEFAULT_DST_IP,
                src_port: int = DEFAULT_SRC_PORT, dst_port: int = DEFAULT_DST_PORT,
                vlan: int | None = None) -> bytes:
    """The template of a frame_size-byte frame [B on the wire], without FCS.

    The payload is zero; its first 18 bytes are the generator's stamp. IPv4 and
    UDP checksums are valid. vlan adds an 802.1Q tag (then frame_size >= 68)."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Dot1Q, Ether
    from scapy.packet import Raw

    if not isinstance(frame_size, int) or not MIN_FRAME_SIZE <= frame_size <= MAX_FRAME_SIZE:
        raise ValueError(f"frame_size: {frame_size!r} not in {MIN_FRAME_SIZE}..{MAX_FRAME_SIZE}")
    if vlan is not None and not 0 <= vlan <= 4095:
        raise ValueError(f"vlan: {vlan!r} not in 0..4095")
    for name, port in (("src_port", src_port), ("dst_port", dst_port)):
        if not 0 <= port <= 65535:
            raise ValueError(f"{name}: {port!r} not in 0..65535")
    headers = 14 + (4 if vlan is not None else 0) + 20 + 8
    payload = frame_size - FCS_LEN - headers
    if payload < STAMP.size:
        raise ValueError(f"frame_size: {frame_size} B leaves {payload} B of UDP payload, "
                         f"the stamp needs {STAMP.size} (an 802.1Q frame needs >= 68)")
    l2 = Ether(src=src_mac, dst=dst_mac)
    if vlan is not None:
        l2 = l2 / Dot1Q(vlan=vlan)
    pkt = l2 / IP(src=src_ip, dst=dst_ip, ttl=64, id=0) / UDP(sport=src_port, dport=dst_port) \
        / Raw(bytes(payload))
    frame = bytes(pkt)
    assert len(frame) == frame_size - FCS_LEN, (len(frame), frame_size)
    return frame


def stamp_offset(frame: bytes) -> int:
    """Offset of the stamp in an untagged or 802.1Q-tagged IPv4/UDP frame."""
    tagged = frame[12:14] == b"\x81\x00"
    return 14 + (4 if tagged else 0) + 20 + 8


def pack_stamp(trial_id: int, stream_id: int, seq: int, tsc: int) -> bytes:
    return STAMP.pack(STAMP_MAGIC, trial_id & 0xFFFF, stream_id, seq & 0xFFFFFFFF,
                      tsc & 0xFFFFFFFFFFFFFFFF)


def unpack_stamp(frame: bytes) -> tuple[int, int, int, int, int]:
    """(magic, trial id, stream id, seq, tsc) of a frame the generator sent."""
    return STAMP.unpack_from(frame, stamp_offset(frame))
