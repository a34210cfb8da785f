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


def frame_for(traffic, size: int, mirror: bool = False) -> bytes:
    """The template of one direction at one frame size [B on the wire]: the
    traffic's shape (encap, ip_version), flow 0 of its flow fields. mirror: the
    direction port 1 -> port 0, its addresses, ports and ranges swapped."""
    from ..gen.template import Vxlan, build_frame
    from ..scenario.flowspec import MIRROR

    t = traffic
    v6 = t.ip_version == 6
    f = {"src_mac": t.src_mac, "dst_mac": t.dst_mac,
         "src_ip": t.src_ip6 if v6 else t.src_ip, "dst_ip": t.dst_ip6 if v6 else t.dst_ip,
         "src_port": t.src_port, "dst_port": t.dst_port,
         "vlan": t.vlan, "outer_vlan": t.outer_vlan, "vni": t.vni}
    for r in t.flow_ranges:  # the template is flow 0
        f[r.field] = r.first
    vx = dict(src_mac=t.vtep_src_mac, dst_mac=t.vtep_dst_mac, src_ip=t.vtep_src_ip, dst_ip=t.vtep_dst_ip)
    if mirror:
        f = {MIRROR.get(k, k): v for k, v in f.items()}
        f["src_mac"], f["dst_mac"] = f["dst_mac"], f["src_mac"]
        vx = dict(src_mac=vx["dst_mac"], dst_mac=vx["src_mac"], src_ip=vx["dst_ip"], dst_ip=vx["src_ip"])
    vxlan = Vxlan(vni=f["vni"], **vx) if t.encap == "vxlan" else None
    return build_frame(size, f["src_mac"], f["dst_mac"], f["src_ip"], f["dst_ip"], f["src_port"],
                       f["dst_port"], vlan=f["vlan"], outer_vlan=f["outer_vlan"], vxlan=vxlan)


def flow_fields_for(traffic, mirror: bool = False) -> tuple[tuple[str, int], ...]:
    """(field, values) the generator steps, for one direction."""
    from ..scenario.flowspec import MIRROR

    return tuple((MIRROR.get(r.field, r.field) if mirror else r.field, r.used(traffic.flows))
                 for r in traffic.flow_ranges)


def streams_for(traffic, nb_ports: int = 2):
    from ..gen.config import StreamSpec
    from ..scenario.checks import IMIX

    t = traffic
    # IMIX: one stream per size and direction, weighted 7:4:1 (the generator's turns)
    mix = IMIX if t.imix else ((t.frame_size, 1),)

    def streams(tx, rx, mirror):
        fields = flow_fields_for(t, mirror)
        return [StreamSpec(tx_port=tx, rx_port=rx, flows=t.flows, weight=weight, fields=fields,
                           order=t.flow_order, template=frame_for(t, size, mirror))
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


def with_latency_streams(streams, method) -> tuple:
    """streams plus, when method.latency_stream_pps is set, one latency stream per
    direction beside the load (MoonGen's latency task): the direction's first frame,
    ports and flows, paced on its own at an equal share of latency_stream_pps."""
    import dataclasses

    pps = getattr(method, "latency_stream_pps", 0.0)
    if not pps:
        return tuple(streams)
    firsts = list({(s.tx_port, s.rx_port): s for s in reversed(streams)}.values())[::-1]
    return tuple(streams) + tuple(dataclasses.replace(s, weight=1, fixed_pps=pps / len(firsts)) for s in firsts)
