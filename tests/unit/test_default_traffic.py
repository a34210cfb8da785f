"""The default test frames are plain UDP to a third-party parser (scapy), not a tunnel."""
from __future__ import annotations

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.layers.vxlan import VXLAN

from pktlab.datapaths.streams import streams_for
from pktlab.scenario import Traffic


def test_default_frames_are_not_taken_for_vxlan():
    """Before: dst port 4789, VXLAN's IANA port; scapy (as tshark) decoded every frame as VXLAN."""
    streams = streams_for(Traffic(), 2)
    assert len(streams) == 2
    for s in streams:
        frame = Ether(s.template)
        assert UDP in frame and IP in frame
        assert VXLAN not in frame, frame.summary()
        assert frame[UDP].dport != 4789 and frame[UDP].sport != 4789


def test_the_port_key_is_kept():
    [s, _] = streams_for(Traffic(dst_port=4789), 2)
    assert Ether(s.template)[UDP].dport == 4789
