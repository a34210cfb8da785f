"""Template frames, built once with scapy: Ethernet, 0..2 VLAN tags, IPv4 or
IPv6, UDP; optionally inside VXLAN.

The generator copies a template into every transmit buffer and patches only
the flow fields, the payload stamp and the checksums per packet. Sizes are on
the wire: a 64-byte frame is a 60-byte template plus the 4-byte FCS the NIC
(or the virtual device) adds.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

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


VXLAN_PORT = 4789
# RFC 7348: the outer source port comes from the dynamic range (a hash of the inner
# frame for ECMP); one fixed value here, the underlay is a single path.
VXLAN_SRC_PORT = 49152


@dataclass(frozen=True)
class Vxlan:
    """The underlay of a VXLAN frame: outer Ethernet/IPv4/UDP to VXLAN_PORT, VNI."""

    vni: int
    src_mac: str = "02:00:00:00:01:01"
    dst_mac: str = "02:00:00:00:01:02"
    src_ip: str = "192.0.2.1"
    dst_ip: str = "192.0.2.2"
    src_port: int = VXLAN_SRC_PORT


def build_frame(frame_size: int, src_mac: str = DEFAULT_SRC_MAC, dst_mac: str = DEFAULT_DST_MAC,
                src_ip: str = DEFAULT_SRC_IP, dst_ip: str = DEFAULT_DST_IP,
                src_port: int = DEFAULT_SRC_PORT, dst_port: int = DEFAULT_DST_PORT,
                vlan: int | None = None, outer_vlan: int | None = None,
                vxlan: Vxlan | None = None) -> bytes:
    """The template of a frame_size-byte frame [B on the wire], without FCS.

    Ethernet, [tags], IPv4 or IPv6 (by the addresses' family), UDP; the payload
    is zero, its first 18 bytes are the generator's stamp. vlan adds an 802.1Q
    tag; outer_vlan with it makes QinQ (802.1ad S-tag outer_vlan, C-tag vlan).
    vxlan wraps that frame's inner part in Ethernet/IPv4/UDP/VXLAN, the tags
    going on the outer (underlay) frame; its outer UDP checksum is 0 (RFC 7348
    allows it over IPv4). IPv4 and UDP checksums are valid (IPv6: mandatory)."""
    import ipaddress

    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
    from scapy.layers.vxlan import VXLAN
    from scapy.packet import Raw

    if not isinstance(frame_size, int) or not MIN_FRAME_SIZE <= frame_size <= MAX_FRAME_SIZE:
        raise ValueError(f"frame_size: {frame_size!r} not in {MIN_FRAME_SIZE}..{MAX_FRAME_SIZE}")
    for name, v in (("vlan", vlan), ("outer_vlan", outer_vlan)):
        if v is not None and not 0 <= v <= 4095:
            raise ValueError(f"{name}: {v!r} not in 0..4095")
    if outer_vlan is not None and vlan is None:
        raise ValueError("outer_vlan: QinQ needs vlan too (the C-tag)")
    if vxlan is not None and not 0 <= vxlan.vni < 1 << 24:
        raise ValueError(f"vni: {vxlan.vni!r} not in 0..16777215")
    for name, port in (("src_port", src_port), ("dst_port", dst_port)):
        if not 0 <= port <= 65535:
            raise ValueError(f"{name}: {port!r} not in 0..65535")
    v6 = ipaddress.ip_address(src_ip).version == 6
    if ipaddress.ip_address(dst_ip).version != (6 if v6 else 4):
        raise ValueError(f"src_ip {src_ip} and dst_ip {dst_ip}: one IP version, please")
    tags = (vlan is not None) + (outer_vlan is not None)
    headers = 14 + 4 * tags + (40 if v6 else 20) + 8 + (14 + 20 + 8 + 8 if vxlan else 0)
    payload = frame_size - FCS_LEN - headers
    if payload < STAMP.size:
        raise ValueError(f"frame_size: {frame_size} B leaves {payload} B of UDP payload, the stamp "
                         f"needs {STAMP.size} (frame_size >= {headers + STAMP.size + FCS_LEN} here)")
    l3 = IPv6(src=src_ip, dst=dst_ip, hlim=64) if v6 else IP(src=src_ip, dst=dst_ip, ttl=64, id=0)
    inner = l3 / UDP(sport=src_port, dport=dst_port) / Raw(bytes(payload))
    if vxlan is not None:
        inner = Ether(src=src_mac, dst=dst_mac) / inner
        src_mac, dst_mac = vxlan.src_mac, vxlan.dst_mac
        # flags 0x08: the I flag, the VNI is valid; chksum 0: none (RFC 7348, IPv4)
        inner = IP(src=vxlan.src_ip, dst=vxlan.dst_ip, ttl=64, id=0, flags="DF") \
            / UDP(sport=vxlan.src_port, dport=VXLAN_PORT, chksum=0) / VXLAN(flags=0x08, vni=vxlan.vni) / inner
    l2 = Ether(src=src_mac, dst=dst_mac)
    if outer_vlan is not None:
        l2 = l2 / Dot1AD(vlan=outer_vlan)
    if vlan is not None:
        l2 = l2 / Dot1Q(vlan=vlan)
    frame = bytes(l2 / inner)
    assert len(frame) == frame_size - FCS_LEN, (len(frame), frame_size)
    return frame


def stamp_offset(frame: bytes) -> int:
    """Offset of the stamp: right after the UDP header of the innermost frame
    (inside VXLAN), whatever tags and IP version lead there."""
    if frame[12:14] == b"\x08\x00" and frame[14] == 0x45 and frame[36:38] != VXLAN_PORT.to_bytes(2, "big"):
        return 14 + 20 + 8  # the common case, without scapy
    from scapy.layers.inet import UDP
    from scapy.layers.l2 import Ether

    layer, last = Ether(frame), None
    while layer:
        if isinstance(layer, UDP):
            last = layer
        layer = layer.payload
    if last is None:
        raise ValueError("stamp_offset: no UDP header in the frame")
    return len(frame) - len(bytes(last.payload))


def pack_stamp(trial_id: int, stream_id: int, seq: int, tsc: int) -> bytes:
    return STAMP.pack(STAMP_MAGIC, trial_id & 0xFFFF, stream_id, seq & 0xFFFFFFFF,
                      tsc & 0xFFFFFFFFFFFFFFFF)


def unpack_stamp(frame: bytes) -> tuple[int, int, int, int, int]:
    """(magic, trial id, stream id, seq, tsc) of a frame the generator sent."""
    return STAMP.unpack_from(frame, stamp_offset(frame))
