"""kind = "external": its options, the frames it sends, and reading a DUT's counters
from what `ip -j -s link` and `ovs-ofctl dump-ports` print (the real commands run in
tests/functional/test_external_dut.py)."""
from __future__ import annotations

import json
import subprocess

import pytest

from pktlab import scenario as scenario_mod
from pktlab.datapaths.streams import streams_for
from pktlab.errors import ScenarioError
from pktlab.remote.counters import parse_dump_ports, parse_ip_link, split_ifname

HEAD = """[scenario]
name = "ext"
[cpu]
generator = 0
[traffic]
frame_size = 68
[[datapath]]
kind = "external"
"""


def load(tmp_path, body: str):
    f = tmp_path / "s.toml"
    f.write_text(HEAD + body)
    return scenario_mod.load(f)


@pytest.mark.parametrize("body,key,says", [
    ('gen_ports = ["a0"]', "gen_ports", "needs the generator's 2 ports"),
    ('gen_ports = ["a0", "a0"]', "gen_ports", "names a port twice"),
    ('gen_ports = ["a0", "bad name"]', "gen_ports", "'bad name'"),
    ('gen_ports = ["a0", "b0@"]', "gen_ports", "IFNAME@NETNS"),
    ('generator = "dpdk"\ngen_ports = ["0000:03:00.0", "eth1"]', "gen_ports", "neither a PCI address nor a DPDK vdev"),
    ('generator = "xdp"\ngen_ports = ["a0", "b0"]', "generator", "must be kernel or dpdk"),
    ('gen_ports = ["a0", "b0"]\ndut_macs = ["02:00:00:00:00:01"]', "dut_macs", "one MAC per generator port"),
    ('gen_ports = ["a0", "b0"]\ngen_macs = ["02:00:00:00:00:01", "zz"]', "gen_macs", "'zz' is not a MAC"),
    ('gen_ports = ["a0", "b0"]\nvlans = [0]', "vlans", "1-4094"),
    ('gen_ports = ["a0", "b0"]\ncounters = "snmp"', "counters", "none, kernel or ovs"),
    ('gen_ports = ["a0", "b0"]\ncounters = "kernel"', "dut_interfaces", "name the DUT's interfaces"),
    ('gen_ports = ["a0", "b0"]\ncounters = "kernel"\ndut_interfaces = ["e0"]', "counters",
     "read over SSH from the DUT: name its host in [hosts]"),
    ('gen_ports = ["a0", "b0"]\ndut_host = "d"', "dut_host", "it moved to [hosts] dut"),
    ('gen_ports = ["a0", "b0"]\ndut_interfaces = ["eth0"]', "dut_interfaces", "counters = \"none\" reads nothing"),
    ('gen_ports = ["a0", "b0"]\ncounters = "kernel"\ndut_interfaces = ["e0"]\novs_rundir = "/x"',
     "ovs_rundir", "with counters = \"ovs\" only"),
])
def test_bad_options_name_their_key(tmp_path, body, key, says):
    with pytest.raises(ScenarioError) as e:
        load(tmp_path, body)
    assert e.value.key == f"datapath[0].{key}" and says in e.value.reason


def test_frames_carry_the_duts_macs_and_tags_per_port(tmp_path):
    from scapy.layers.inet import IP
    from scapy.layers.l2 import Dot1Q, Ether

    from pktlab.datapaths import build

    s = load(tmp_path, 'gen_ports = ["a0", "b0"]\ngen_macs = ["02:00:00:00:0a:01", "02:00:00:00:0b:01"]\n'
                       'dut_macs = ["02:00:00:00:0d:0a", "02:00:00:00:0d:0b"]\nvlans = [100, 200]\n')
    p = build(s, s.datapaths[0], tmp_path / "run", "r1")
    fwd, back = streams_for(s.traffic, 2, l2=p.l2())
    a, b = Ether(fwd.template), Ether(back.template)
    assert (a.src, a.dst, a[Dot1Q].vlan, a[IP].src, a[IP].dst) == \
        ("02:00:00:00:0a:01", "02:00:00:00:0d:0a", 100, "198.18.0.1", "198.19.0.1")
    assert (b.src, b.dst, b[Dot1Q].vlan, b[IP].src, b[IP].dst) == \
        ("02:00:00:00:0b:01", "02:00:00:00:0d:0b", 200, "198.19.0.1", "198.18.0.1")
    assert (fwd.tx_port, fwd.rx_port, back.tx_port, back.rx_port) == (0, 1, 1, 0)
    assert len(fwd.template) == 64  # 68 B on the wire


def test_without_dut_macs_the_frames_are_a_loopbacks(tmp_path):
    s = load(tmp_path, 'gen_ports = ["a0", "b0"]\ngen_macs = ["02:00:00:00:0a:01", "02:00:00:00:0b:01"]\n')
    from pktlab.datapaths import build

    p = build(s, s.datapaths[0], tmp_path / "run", "r1")
    assert p.l2() == [("02:00:00:00:0a:01", s.traffic.dst_mac, None), ("02:00:00:00:0b:01", s.traffic.src_mac, None)]


def test_ip_link_json_as_iproute2_prints_it():
    """This machine's own `ip -j -s link show lo`, then a counter moved by hand."""
    text = subprocess.run(["ip", "-j", "-s", "link", "show", "lo"], check=True, capture_output=True,
                          text=True).stdout
    [lo] = json.loads(text)
    got = parse_ip_link(text)["lo"]
    assert got["rx_packets"] == lo["stats64"]["rx"]["packets"] and got["tx_bytes"] == lo["stats64"]["tx"]["bytes"]
    assert set(got) == {"rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_dropped", "tx_dropped",
                        "rx_errors", "tx_errors"}
    lo["stats64"]["tx"]["dropped"] = 7
    assert parse_ip_link(json.dumps([lo]))["lo"]["tx_dropped"] == 7


# In the layout ovs-ofctl --names dump-ports prints (the real command's output is parsed in
# tests/functional/test_external_dut.py): a quoted name, LOCAL, and "?" for a counter a port
# does not keep.
DUMP_PORTS = """OFPST_PORT reply (xid=0x2): 3 ports
  port  xo1: rx pkts=20000, bytes=1200000, drop=0, errs=0, frame=0, over=0, crc=0
           tx pkts=19990, bytes=1199400, drop=10, errs=0, coll=0
  port LOCAL: rx pkts=0, bytes=0, drop=4, errs=0, frame=0, over=0, crc=0
           tx pkts=0, bytes=0, drop=0, errs=0, coll=0
  port  "my port": rx pkts=5, bytes=?, drop=?, errs=?, frame=?, over=?, crc=?
           tx pkts=6, bytes=360, drop=?, errs=?, coll=?
"""


def test_dump_ports_text():
    got = parse_dump_ports(DUMP_PORTS)
    assert got["xo1"] == {"rx_packets": 20000, "rx_bytes": 1200000, "rx_dropped": 0, "rx_errors": 0,
                          "tx_packets": 19990, "tx_bytes": 1199400, "tx_dropped": 10, "tx_errors": 0}
    assert got["LOCAL"]["rx_dropped"] == 4
    assert got["my port"] == {"rx_packets": 5, "tx_packets": 6, "tx_bytes": 360}


def test_split_ifname():
    assert split_ifname("eth0") == ("eth0", None) and split_ifname("veth1@ns-a") == ("veth1", "ns-a")
