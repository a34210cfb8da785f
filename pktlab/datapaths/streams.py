"""The generator's streams for a scenario's traffic: port 0 -> port 1 and, when
bidirectional, port 1 -> port 0 with addresses mirrored (RFC 2544 style); for
IMIX, one stream per frame size of the mix and direction."""
from __future__ import annotations


def directions(traffic, nb_ports: int = 2) -> list[tuple[int, int, bool]]:
    """(tx port, rx port, addresses mirrored) per direction the generator sends."""
    out = [(0, 1 % nb_ports, False)]
    if traffic.direction == "bidirectional" and nb_ports > 1:
        out.append((1, 0, True))
    return out


def sending_ports(traffic, nb_ports: int = 2) -> list[int]:
    """The generator ports that transmit: what line rate is multiplied by."""
    return sorted({tx for tx, _, _ in directions(traffic, nb_ports)})


def streams_for(traffic, nb_ports: int = 2, l2=None):
    """l2: per port, (src MAC, dst MAC, VLAN or None) of the frames it sends, for a DUT that
    expects its own MACs or a tag (kind external); None: the traffic's MACs, mirrored back."""
    from ..gen.config import StreamSpec
    from ..gen.template import build_frame

    t = traffic

    from ..scenario.checks import IMIX

    # IMIX: one stream per size and direction, weighted 7:4:1 (the generator's turns)
    mix = IMIX if t.imix else ((t.frame_size, 1),)

    def streams(tx, rx, mirror):
        smac, dmac = (t.dst_mac, t.src_mac) if mirror else (t.src_mac, t.dst_mac)
        vlan = None
        if l2 is not None:
            smac, dmac, vlan = l2[tx]
        sip, dip = (t.dst_ip, t.src_ip) if mirror else (t.src_ip, t.dst_ip)
        return [StreamSpec(tx_port=tx, rx_port=rx, flows=t.flows, vary=t.vary, weight=weight,
                           template=build_frame(size, smac, dmac, sip, dip, t.src_port, t.dst_port, vlan))
                for size, weight in mix]

    return tuple(s for tx, rx, mirror in directions(t, nb_ports) for s in streams(tx, rx, mirror))


def kernel_mode_for(traffic) -> str:
    """The generator's kernel backend for these frames: AF_XDP (faster) where the
    frames fit its buffers, AF_PACKET (any size) where they do not."""
    from ..scenario.checks import AFXDP_MAX_FRAME

    return "afpacket" if traffic.max_frame > AFXDP_MAX_FRAME else "afxdp"


def mtu_for(traffic) -> int | None:
    """The MTU the largest frame needs when above the default 1500, else None.
    A frame's size counts the Ethernet header and FCS (18 B) around the MTU."""
    need = traffic.max_frame - 18
    return need if need > 1500 else None
