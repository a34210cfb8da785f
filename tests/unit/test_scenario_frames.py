"""Scenario keys of frame shapes and flows: what loads, and every bad value refused
with file, key and reason before the host is touched."""
from __future__ import annotations

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN

from pktlab import scenario
from pktlab.datapaths.streams import streams_for
from pktlab.errors import ScenarioError
from tests.conftest import SMOKE

TRAFFIC = 'frame_size = 64        # bytes on the wire, FCS included\nflows = 4              # source IP stepped over 4 addresses\nvary = "src_ip"\n'


def load(tmp_path, traffic: str):
    text = SMOKE.read_text()
    assert TRAFFIC in text
    p = tmp_path / "s.toml"
    p.write_text(text.replace(TRAFFIC, traffic))
    return scenario.load(p), p


def refused(tmp_path, traffic: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as ei:
        load(tmp_path, traffic)
    assert str(tmp_path / "s.toml") in str(ei.value)
    return ei.value


@pytest.mark.parametrize("traffic, key, reason", [
    ('encap = "vlan"\nvlan = 4095\nframe_size = 68\n', "traffic.vlan", "VLAN ID 4095 out of range"),
    ('encap = "vlan"\nvlan = 0\nframe_size = 68\n', "traffic.vlan", "1-4094"),
    ('encap = "qinq"\nvlan = 10\nouter_vlan = 5000\nframe_size = 72\n', "traffic.outer_vlan", "out of range"),
    ('encap = "vlan"\nframe_size = 68\n', "traffic.vlan", "missing: encap 'vlan' needs it"),
    ('encap = "qinq"\nvlan = 10\nframe_size = 72\n', "traffic.outer_vlan", "missing"),
    ('vlan = 10\n', "traffic.vlan", "encap is 'none'"),
    ('encap = "vxlan"\nvni = 16777216\nframe_size = 128\n', "traffic.vni", "over 24 bits"),
    ('encap = "vxlan"\nframe_size = 128\n', "traffic.vni", "missing"),
    ('encap = "gre"\n', "traffic.encap", "must be one of none, vlan, qinq, vxlan"),
    ('encap = "vlan"\nvlan = 10\n', "traffic.frame_size", "need frame_size >= 68"),
    ('encap = "vxlan"\nvni = 1\nframe_size = 100\n', "traffic.frame_size", "need frame_size >= 114"),
    ('ip_version = 6\n', "traffic.frame_size", "need frame_size >= 84"),
    ('encap = "vlan"\nvlan = 10\nimix = true\n', "traffic.frame_size", "64-byte frames leave no room"),
    ('ip_version = 5\n', "traffic.ip_version", "must be 4 or 6"),
    ('ip_version = 6\nframe_size = 128\nsrc_ip6 = "198.18.0.1"\n', "traffic.src_ip6", "not an IPv6 address"),
    ('encap = "vxlan"\nvni = 1\nframe_size = 128\nvtep_dst_ip = "2001:db8::1"\n', "traffic.vtep_dst_ip",
     "not an IPv4 address"),
    # flow fields
    ('flows = 100\nflow_fields = { vni = "1-100" }\n', "traffic.flow_fields.vni", "no VXLAN header"),
    ('flows = 100\nflow_fields = { vlan = "1-100" }\n', "traffic.flow_fields.vlan", "no VLAN tag"),
    ('flows = 100\nencap = "vlan"\nvlan = 5\nframe_size = 68\nflow_fields = { outer_vlan = "1-100" }\n',
     "traffic.flow_fields.outer_vlan", "no outer (802.1ad) tag"),
    ('flows = 100\nencap = "vlan"\nvlan = 5\nframe_size = 68\nflow_fields = { vlan = "4000-4095" }\n',
     "traffic.flow_fields.vlan", "out of range: a VLAN ID is 1-4094"),
    ('flows = 100\nencap = "vxlan"\nvni = 5\nframe_size = 128\nflow_fields = { vni = "16777200-16777300" }\n',
     "traffic.flow_fields.vni", "a VNI is 24 bits"),
    ('flows = 100\nip_version = 6\nframe_size = 128\nflow_fields = { src_ip = "2001:2::/64" }\n',
     "traffic.flow_fields.src_ip", "holds 18446744073709551616 addresses"),
    ('flows = 100\nip_version = 6\nframe_size = 128\n'
     'flow_fields = { src_ip = "2001:2::ffff:fff0-2001:2::1:0:f" }\n',
     "traffic.flow_fields.src_ip", "does not fit its prefix"),
    ('flows = 100\nip_version = 6\nframe_size = 128\nflow_fields = { src_ip = "2001:2::1/104" }\n',
     "traffic.flow_fields.src_ip", "host bits set"),
    ('flows = 100\nflow_fields = { src_ip = "2001:2::/120" }\n', "traffic.flow_fields.src_ip",
     "is IPv6, the frames are IPv4"),
    ('flows = 100\nflow_fields = { src_port = "100-70000" }\n', "traffic.flow_fields.src_port", "0-65535"),
    ('flows = 100\nflow_fields = { src_port = 1024 }\n', "traffic.flow_fields.src_port", "give a range"),
    ('flows = 100\nflow_fields = { ttl = "1-64" }\n', "traffic.flow_fields.ttl", "unknown field"),
    ('flows = 100\nflow_fields = { src_port = "1-10", dst_port = "1-4" }\n', "traffic.flows",
     "repeat after 20"),
    ('flows = 100\nvary = "src_ip"\nflow_fields = { src_port = "1-100" }\n', "traffic.vary", "not both"),
    ('flows = 16777217\n', "traffic.flows", "between 1 and 16777216"),
    ('flows = 100\nflow_order = "shuffled"\nflow_fields = { src_port = "1-100" }\n', "traffic.flow_order",
     "sequential or random"),
    ('flows = 70000\nvary = "src_port"\n', "traffic.flows", "runs past 65535"),
])
def test_bad_traffic_names_file_key_and_reason(tmp_path, traffic, key, reason):
    e = refused(tmp_path, traffic)
    assert (e.key, reason in e.reason) == (key, True), e.reason


def test_old_scenarios_keep_loading_and_mean_what_they_did(tmp_path):
    s, _ = load(tmp_path, TRAFFIC)
    [fwd, rev] = streams_for(s.traffic, 2)
    assert (fwd.flows, fwd.fields, rev.fields) == (4, (("src_ip", 4),), (("dst_ip", 4),))
    assert Ether(fwd.template)[IP].src == "198.18.0.1" and Ether(rev.template)[IP].dst == "198.18.0.1"


def test_vxlan_qinq_ipv6_and_four_fields_load_into_streams(tmp_path):
    s, _ = load(tmp_path, 'frame_size = 200\nencap = "vxlan"\nvni = 5000\nvlan = 30\nip_version = 6\n'
                          'flows = 1048576\nflow_order = "random"\n'
                          'flow_fields = { src_ip = "2001:2::/108", dst_ip = "2001:2:0:1::/108", '
                          'src_port = "1024-65535", vni = "5000-5999" }\n')
    t = s.traffic
    assert (t.min_frame_size, t.shape_name) == (138, "VXLAN/IPv6/UDP")
    [fwd, rev] = streams_for(t, 2)
    assert fwd.fields == (("src_ip", 1 << 20), ("dst_ip", 1 << 20), ("src_port", 64512), ("vni", 1000))
    assert rev.fields == (("dst_ip", 1 << 20), ("src_ip", 1 << 20), ("dst_port", 64512), ("vni", 1000))
    assert fwd.order == "random" and len(fwd.template) == 196
    f, r = Ether(fwd.template), Ether(rev.template)
    assert (f[Dot1Q].vlan, f[VXLAN].vni, f[IP].src, f[IP].dst) == (30, 5000, "192.0.2.1", "192.0.2.2")
    assert (r[IP].src, r[IP].dst) == ("192.0.2.2", "192.0.2.1")  # the reverse underlay too
    assert (f[IPv6].src, f[IPv6].dst, f[IPv6][UDP].sport) == ("2001:2::", "2001:2:0:1::", 1024)
    assert (r[IPv6].src, r[IPv6].dst, r[IPv6][UDP].dport) == ("2001:2:0:1::", "2001:2::", 1024)


def test_qinq_tags_in_order(tmp_path):
    s, _ = load(tmp_path, 'frame_size = 72\nencap = "qinq"\nvlan = 10\nouter_vlan = 20\n')
    f = Ether(streams_for(s.traffic, 2)[0].template)
    assert (f.type, f[Dot1AD].vlan, f[Dot1AD].type, f[Dot1Q].vlan) == (0x88A8, 20, 0x8100, 10)
