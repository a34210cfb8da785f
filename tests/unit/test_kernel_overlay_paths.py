"""ovs-kernel-vxlan and ovs-kernel-vlan without a host: bad input names file, key and
reason (exit 2, before anything is touched), and the plans planned against the fake
two-node lab server (tests/fakesys.py): which NIC is the underlay, the VTEP's kernel
address, route and neighbour, the tunnel port, the order undo relies on, and the
frames each generator port sends. They run for real in tests/functional/test_vlab_overlay.py."""
from __future__ import annotations

import base64

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Dot1Q, Ether
from scapy.layers.vxlan import VXLAN

from pktlab import cli
from pktlab.errors import ScenarioError
from tests.unit.test_lab_paths import ALLOW_DUT1, fake, kinds, load, path_for  # noqa: F401 - fixture

VXLAN_KIND = {'kind = "ovs-kernel-p2p"': 'kind = "ovs-kernel-vxlan"\nvni = 5000\noperation = "decap"',
              'name = "ovs-kernel-p2p"': 'name = "kvxlan"', "flows = 1024": "flows = 4"}
VLAN_KIND = {'kind = "ovs-kernel-p2p"': 'kind = "ovs-kernel-vlan"\nvlan = 100\nforwarding = "openflow"',
             "flows = 1024": "flows = 4"}


def vxlan(tmp_path, root, **edits):
    return path_for(load(tmp_path, "lab-ovs-kernel-p2p.toml", {**ALLOW_DUT1, **VXLAN_KIND, **edits}), root)


@pytest.mark.parametrize("old,new,key,reason", [
    ('operation = "decap"', 'operation = "both"', "datapath[0].operation", "must be decap or encap"),
    ("vni = 5000\n", "", "datapath[0].vni", "missing (required)"),
    ("vni = 5000", "vni = 16777216", "datapath[0].vni", "24 bits"),
    ("vni = 5000", 'vni = 5000\nremote_vtep = "10.0.0.2"', "datapath[0].remote_vtep", "172.31.1.0/24"),
    ("vni = 5000", 'vni = 5000\nunderlay_bridge = "br-pktlab-int"', "datapath[0].underlay_bridge", "differ"),
])
def test_bad_vxlan_options_name_file_key_and_reason(tmp_path, old, new, key, reason):
    with pytest.raises(ScenarioError) as ei:
        load(tmp_path, "lab-ovs-kernel-p2p.toml", {**VXLAN_KIND, old: new} if old not in VXLAN_KIND.values()
             else {**VXLAN_KIND, 'kind = "ovs-kernel-p2p"': VXLAN_KIND['kind = "ovs-kernel-p2p"'].replace(old, new)})
    assert str(tmp_path / "lab-ovs-kernel-p2p.toml") in str(ei.value)
    assert ei.value.key == key and reason in ei.value.reason, ei.value


def test_bad_operation_exits_2_with_file_key_and_reason_before_the_host_is_touched(tmp_path, capsys):
    text = load.__globals__["SCENARIOS"].joinpath("lab-ovs-kernel-p2p.toml").read_text()
    f = tmp_path / "bad.toml"
    f.write_text(text.replace('kind = "ovs-kernel-p2p"', 'kind = "ovs-kernel-vxlan"\noperation = "decapsulate"'))
    assert cli.main(["--state-dir", str(tmp_path / "st"), "run", str(f)]) == 2
    err = capsys.readouterr().err
    assert f"{f}: datapath[0].operation: must be decap or encap, not 'decapsulate'" in err, err
    assert "Traceback" not in err and not (tmp_path / "st").exists()


@pytest.mark.parametrize("operation, underlay, inner", [("decap", "enp3s0f0", "enp3s0f1"),
                                                         ("encap", "enp3s0f1", "enp3s0f0")])
def test_vxlan_plan_puts_the_vtep_on_the_underlay_bridge_of_the_nic_facing_the_vxlan_side(
        tmp_path, fake, operation, underlay, inner):  # noqa: F811 - the fixture
    root, _, _ = fake()
    p = vxlan(tmp_path, root, **{'kind = "ovs-kernel-p2p"': VXLAN_KIND['kind = "ovs-kernel-p2p"'].replace(
        "decap", operation)})
    steps = p.plan().steps
    k = kinds(p.plan())
    # the vxlan module's autoload is noted before ovs-vswitchd starts (undone after it stops), the
    # address before the link comes up (IPv6 off first), route and neighbour on it, and the
    # tunnel device noted before the vxlan port (deleted after the port, if a killed switch left it)
    assert k[k.index("ovs-vswitchd") - 3:] == [
        "kernel-module-autoload", "ovs-kernel-datapath", "ovsdb-server", "ovs-vswitchd", "ovs-bridge", "ovs-bridge", "ovs-bridge-address",
        "link-up", "kernel-route", "kernel-neighbour", "ovs-port", "ovs-port", "ovs-tunnel-device", "ovs-port",
        "ovs-flows", "ovs-flows", "generator"]
    by = {s.kind: s for s in steps}
    assert [s.name for s in steps if s.kind == "kernel-module-autoload"] == ["openvswitch", "vxlan"]
    bridges = [(s.name, s.datapath_type, s.other_config) for s in steps if s.kind == "ovs-bridge"]
    assert bridges == [("br-pktlab-phy", "system", {"hwaddr": "02:00:00:00:0a:01"}),
                       ("br-pktlab-int", "system", {})]
    assert (by["ovs-bridge-address"].bridge, by["ovs-bridge-address"].address) == ("br-pktlab-phy", "172.31.1.1/24")
    assert [s.ifname for s in steps if s.kind == "link-up"][-1] == "br-pktlab-phy"
    assert (by["kernel-route"].prefix, by["kernel-route"].dev, by["kernel-route"].src) == (
        "172.31.1.2/32", "br-pktlab-phy", "172.31.1.1")
    assert (by["kernel-neighbour"].ip, by["kernel-neighbour"].mac) == ("172.31.1.2", "02:00:00:00:0a:02")
    assert by["ovs-tunnel-device"].name == "vxlan_sys_4789"
    ports = [(s.bridge, s.name, s.type, s.ofport, s.options) for s in steps if s.kind == "ovs-port"]
    assert ports == [("br-pktlab-phy", underlay, "system", 1, {}), ("br-pktlab-int", inner, "system", 1, {}),
                     ("br-pktlab-int", "vxlan0", "vxlan", 2,
                      {"remote_ip": "172.31.1.2", "local_ip": "172.31.1.1", "key": "5000"})]
    flows = {s.bridge: s.flows for s in steps if s.kind == "ovs-flows"}
    assert flows["br-pktlab-phy"] == ("priority=100,in_port=1,actions=LOCAL",
                                      "priority=100,in_port=LOCAL,actions=output:1")
    assert {"check": "module", "name": "vxlan"} in p.requirements()  # pktlab doctor checks it is loadable
    assert f"generator port 0 -> enp3s0f0 ({'underlay' if operation == 'decap' else 'inner'})" in p.explain()


@pytest.mark.parametrize("operation, vxlan_port", [("decap", 0), ("encap", 1)])
def test_vxlan_generator_port_cabled_to_the_underlay_sends_the_same_frames_in_vxlan(
        tmp_path, fake, operation, vxlan_port):  # noqa: F811 - the fixture
    root, _, _ = fake()
    p = vxlan(tmp_path, root, **{'kind = "ovs-kernel-p2p"': VXLAN_KIND['kind = "ovs-kernel-p2p"'].replace(
        "decap", operation)})
    streams = {s["tx_port"]: s for s in p.plan().steps[-1].config["streams"]}
    assert set(streams) == {0, 1}  # bidirectional: the way back is the other operation
    vx, plain = (Ether(base64.b64decode(streams[i]["template"])) for i in (vxlan_port, 1 - vxlan_port))
    assert (vx[IP].src, vx[IP].dst, vx[UDP].dport, vx[VXLAN].vni) == ("172.31.1.2", "172.31.1.1", 4789, 5000)
    assert (vx.src, vx.dst) == ("02:00:00:00:0a:02", "02:00:00:00:0a:01") and VXLAN not in plain
    assert len(vx) == len(plain) + 50


def test_vlan_plan_makes_the_first_dut_nic_the_trunk_and_the_generator_tags_its_frames(tmp_path, fake):  # noqa: F811
    root, _, _ = fake()
    p = path_for(load(tmp_path, "lab-ovs-kernel-p2p.toml", {**ALLOW_DUT1, **VLAN_KIND}), root)
    steps = p.plan().steps
    ports = [(s.bridge, s.name, s.ofport, s.port_columns) for s in steps if s.kind == "ovs-port"]
    assert ports == [("br-pktlab", "enp3s0f0", 1, {"vlan_mode": "trunk", "trunks": [100]}),
                     ("br-pktlab", "enp3s0f1", 2, {"vlan_mode": "access", "tag": 100})]
    [flows] = [s.flows for s in steps if s.kind == "ovs-flows"]
    assert flows == ("priority=100,in_port=1,dl_vlan=100,actions=strip_vlan,output:2",
                     "priority=100,in_port=2,vlan_tci=0x0000/0x1fff,actions=mod_vlan_vid:100,output:1")
    streams = {s["tx_port"]: Ether(base64.b64decode(s["template"])) for s in steps[-1].config["streams"]}
    assert streams[0][Dot1Q].vlan == 100 and Dot1Q not in streams[1]
