"""The VLAN and VXLAN data paths without a host: their options (bad input names file,
key and reason), their plans (ports, tunnel configuration, flows, undo order) and
the frames each side of the switch sends."""
from __future__ import annotations

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Dot1Q, Ether

from pktlab import datapaths, scenario
from pktlab.errors import ScenarioError
from pktlab.gen.step import StartGenerator
from pktlab.ovs.bridge import AddBridge, AddPort
from pktlab.ovs.openflow import AddFlows
from pktlab.ovs.tunnel import AddOvsRoute, SetBridgeAddress, SetTunnelNeighbour
from tests.conftest import REPO

VLAN = (REPO / "scenarios" / "smoke-vlan.toml").read_text()
DECAP = (REPO / "scenarios" / "smoke-vxlan-decap.toml").read_text()


def load(tmp_path, text):
    f = tmp_path / "s.toml"
    f.write_text(text)
    return scenario.load(f)


def path(sc, i=0, tmp="/run/pktlab/runs/t"):
    return datapaths.build(sc, sc.datapaths[i], tmp, "t")


def bad(tmp_path, text, key, reason):
    with pytest.raises(ScenarioError) as ei:
        load(tmp_path, text)
    assert str(tmp_path / "s.toml") in str(ei.value)
    assert ei.value.key == key and reason in ei.value.reason, ei.value


@pytest.mark.parametrize("old,new,key,reason", [
    ("vlan = 100\nforwarding = \"normal\"", "vlan = 4095\nforwarding = \"normal\"", "datapath[0].vlan", "1-4094"),
    ("vlan = 100\nforwarding = \"normal\"", "vlan = 0\nforwarding = \"normal\"", "datapath[0].vlan", "1-4094"),
    ("vlan = 100\nforwarding = \"normal\"", "vlan = 100\ntrunks = [200, 300]\nforwarding = \"normal\"",
     "datapath[0].trunks", "does not carry vlan 100"),
    ("vlan = 100\nforwarding = \"normal\"", "vlan = 100\ntrunks = [100, 5000]\nforwarding = \"normal\"",
     "datapath[0].trunks", "5000 is not a VLAN ID"),
    ("forwarding = \"normal\"", "forwarding = \"learning\"", "datapath[0].forwarding", "normal or openflow"),
])
def test_bad_vlan_options(tmp_path, old, new, key, reason):
    assert old in VLAN
    bad(tmp_path, VLAN.replace(old, new, 1), key, reason)


@pytest.mark.parametrize("old,new,key,reason", [
    ("vni = 5000", "vni = 16777216", "datapath[0].vni", "24 bits"),
    ("vni = 5000", "vni = -1", "datapath[0].vni", "24 bits"),
    ('operation = "decap"', 'operation = "both"', "datapath[0].operation", "decap or encap"),
    ('remote_vtep = "172.31.1.2"', 'remote_vtep = "172.31.2.2"', "datapath[0].remote_vtep", "172.31.1.0/24"),
    ('remote_vtep = "172.31.1.2"', 'remote_vtep = "172.31.1.1"', "datapath[0].remote_vtep", "another address"),
    ('remote_vtep = "172.31.1.2"', 'remote_vtep = "vtep2"', "datapath[0].remote_vtep", "not an IPv4 address"),
    ('local_vtep = "172.31.1.1/24"', 'local_vtep = "172.31.1.1"', "datapath[0].local_vtep", "prefix"),
    ('local_vtep = "172.31.1.1/24"', 'local_vtep = "172.31.1.300/24"', "datapath[0].local_vtep", "not an IPv4"),
    ("vni = 5000", 'vni = 5000\nlocal_mac = "01:00:00:00:00:01"', "datapath[0].local_mac", "unicast"),
    ("vni = 5000", 'vni = 5000\nunderlay_bridge = "br-pktlab-int"', "datapath[0].underlay_bridge", "differ"),
    ("vni = 5000", 'vni = 5000\nunderlay_bridge = "a-much-too-long-name"', "datapath[0].underlay_bridge", "1-15"),
])
def test_bad_vxlan_options(tmp_path, old, new, key, reason):
    assert old in DECAP
    bad(tmp_path, DECAP.replace(old, new, 1), key, reason)


def test_vlan_plan_makes_a_trunk_and_an_access_port(tmp_path):
    sc = load(tmp_path, VLAN)
    normal, openflow = path(sc, 0), path(sc, 1)
    ports = {s.name: s for s in normal.plan() if isinstance(s, AddPort)}
    assert ports["vhu0"].port_columns == {"vlan_mode": "trunk", "trunks": [100]} and ports["vhu0"].ofport == 1
    assert ports["vhu1"].port_columns == {"vlan_mode": "access", "tag": 100} and ports["vhu1"].ofport == 2
    assert "port:trunks=[100]" in ports["vhu0"].describe()
    [flows] = [s for s in normal.plan() if isinstance(s, AddFlows)]
    assert flows.flows == ("priority=0,actions=NORMAL",)
    [flows] = [s for s in openflow.plan() if isinstance(s, AddFlows)]
    assert any("strip_vlan,output:2" in f and "dl_vlan=100" in f for f in flows.flows)
    assert any("vlan_tci=0x0000/0x1fff,actions=mod_vlan_vid:100,output:1" in f for f in flows.flows)


def test_vlan_trunk_side_sends_the_same_frame_tagged(tmp_path):
    sc = load(tmp_path, VLAN.replace("frame_size = 64 ", 'frame_sizes = [64, "imix"] '))
    streams = path(sc.at_size("imix")).streams()
    by_port = {tx: [s for s in streams if s.tx_port == tx] for tx in (0, 1)}
    assert [s.frame_size for s in by_port[0]] == [68, 574, 1522]  # the trunk: 4 B longer
    assert [s.frame_size for s in by_port[1]] == [64, 570, 1518]
    for trunk, access in zip(by_port[0], by_port[1]):
        t, a = Ether(trunk.template), Ether(access.template)
        assert t[Dot1Q].vlan == 100 and Dot1Q not in a
        assert (trunk.rx_port, access.rx_port) == (1, 0)
        # the tag is all that differs (addresses mirrored for the way back)
        assert (t[IP].src, t[IP].dst, t[UDP].sport) == (a[IP].dst, a[IP].src, a[UDP].sport)


def test_vxlan_plan_configures_the_vtep_on_the_underlay_bridge(tmp_path):
    sc = load(tmp_path, DECAP)
    p = path(sc)
    steps = _without_generator(p)
    bridges = [s for s in steps if isinstance(s, AddBridge)]
    assert [(b.name, b.other_config) for b in bridges] == [
        ("br-pktlab-phy", {"hwaddr": "02:00:00:00:0a:01"}), ("br-pktlab-int", {})]
    kinds = [type(s) for s in steps]
    # the address before the route (OVS takes the route's source from it), both after the bridge
    assert kinds.index(AddBridge) < kinds.index(SetBridgeAddress) < kinds.index(AddOvsRoute)
    [addr] = [s for s in steps if isinstance(s, SetBridgeAddress)]
    assert (addr.bridge, addr.address) == ("br-pktlab-phy", "172.31.1.1/24")
    [route] = [s for s in steps if isinstance(s, AddOvsRoute)]
    assert (route.prefix, route.bridge) == ("172.31.1.2/32", "br-pktlab-phy")
    [neigh] = [s for s in steps if isinstance(s, SetTunnelNeighbour)]
    assert (neigh.ip, neigh.mac) == ("172.31.1.2", "02:00:00:00:0a:02")
    ports = {s.name: s for s in steps if isinstance(s, AddPort)}
    assert ports["vxlan0"].type == "vxlan" and ports["vxlan0"].bridge == "br-pktlab-int"
    assert ports["vxlan0"].options == {"remote_ip": "172.31.1.2", "local_ip": "172.31.1.1", "key": "5000"}
    assert ports["vhu0"].bridge == "br-pktlab-phy" and ports["vhu1"].bridge == "br-pktlab-int"
    assert ports["vhu0"].mtu_request == 0  # 64 B inner frames fit the default 1500
    flows = {s.bridge: s.flows for s in steps if isinstance(s, AddFlows)}
    assert flows["br-pktlab-phy"] == ("priority=100,in_port=1,actions=LOCAL",
                                      "priority=100,in_port=LOCAL,actions=output:1")


def test_vxlan_underlay_mtu_grows_with_the_inner_frame(tmp_path):
    sc = load(tmp_path, DECAP.replace("frame_size = 64 ", "frame_size = 1518 "))
    ports = {s.name: s for s in _without_generator(path(sc)) if isinstance(s, AddPort)}
    assert ports["vhu0"].mtu_request == 1518 + 50 - 18 and ports["vhu1"].mtu_request == 0


def test_vxlan_operation_picks_which_generator_port_faces_the_underlay(tmp_path):
    enc = path(load(tmp_path, (REPO / "scenarios" / "smoke-vxlan-encap.toml").read_text()))
    dec = path(load(tmp_path, DECAP))
    assert dec.gen_ports == ("vhu0", "vhu1") and enc.gen_ports == ("vhu1", "vhu0")


def _without_generator(p):
    class NoGen(type(p)):
        def generator_step(self):
            return None

    q = NoGen(p.scenario, p.entry, p.run_dir, p.run_id)
    steps = [s for s in q.plan() if s is not None]
    assert not any(isinstance(s, StartGenerator) for s in steps)
    return steps


@pytest.mark.parametrize("name, vxlan_port", [("smoke-vxlan-decap.toml", 0), ("smoke-vxlan-encap.toml", 1)])
def test_vxlan_underlay_side_sends_the_same_frame_encapsulated(tmp_path, name, vxlan_port):
    """Bidirectional: the port facing the underlay sends VXLAN from the remote VTEP to
    OVS's (whichever way its direction is mirrored), the other the plain inner frame."""
    from scapy.layers.vxlan import VXLAN

    text = (REPO / "scenarios" / name).read_text().replace('"unidirectional"', '"bidirectional"')
    p = path(load(tmp_path, text))
    streams = {s.tx_port: s for s in p.streams()}
    vx, plain = Ether(streams[vxlan_port].template), Ether(streams[1 - vxlan_port].template)
    assert streams[vxlan_port].frame_size == 64 + 50 and streams[1 - vxlan_port].frame_size == 64
    assert (vx.src, vx.dst) == ("02:00:00:00:0a:02", "02:00:00:00:0a:01")
    assert (vx[IP].src, vx[IP].dst, vx[UDP].dport) == ("172.31.1.2", "172.31.1.1", 4789)
    assert vx[VXLAN].vni == 5000 and VXLAN not in plain
    inner = vx[VXLAN].payload
    # the inner frame is the other direction's frame with addresses mirrored
    assert (inner[IP].src, inner[IP].dst) == (plain[IP].dst, plain[IP].src)


def test_paths_refuse_a_traffic_encap_they_would_double(tmp_path):
    from pktlab.errors import PrecheckError

    for text, kind in ((VLAN, "ovs-dpdk-vlan"), (DECAP, "ovs-dpdk-vxlan")):
        sc = load(tmp_path, text.replace("[traffic]\n", "[traffic]\nencap = \"vlan\"\nvlan = 7\n")
                      .replace("frame_size = 64 ", "frame_size = 68 "))
        with pytest.raises(PrecheckError) as ei:
            path(sc).precheck()
        assert ei.value.key == "traffic.encap" and kind in ei.value.reason
