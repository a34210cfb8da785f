"""The generator's streams for a scenario's traffic: port 0 -> port 1 and, when
bidirectional, port 1 -> port 0 with addresses mirrored (RFC 2544 style)."""
from __future__ import annotations


def streams_for(traffic, nb_ports: int = 2):
    from ..gen.config import StreamSpec
    from ..gen.template import build_frame

    t = traffic

    def stream(tx, rx, mirror):
        smac, dmac = (t.dst_mac, t.src_mac) if mirror else (t.src_mac, t.dst_mac)
        sip, dip = (t.dst_ip, t.src_ip) if mirror else (t.src_ip, t.dst_ip)
        frame = build_frame(t.frame_size, smac, dmac, sip, dip, t.src_port, t.dst_port)
        return StreamSpec(tx_port=tx, rx_port=rx, template=frame, flows=t.flows, vary=t.vary)

    streams = [stream(0, 1 % nb_ports, False)]
    if t.direction == "bidirectional" and nb_ports > 1:
        streams.append(stream(1, 0, True))
    return tuple(streams)
