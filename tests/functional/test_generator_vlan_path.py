"""Stamps found after a switch pushed or stripped a VLAN tag, counted exactly.

A Linux bridge with vlan_filtering in its own namespace between two veth
pairs: port sa is an access port of VLAN 10 (pvid, untagged), port sb a
trunk carrying VLAN 10 tagged. The generator (kernel backend, both modes)
sends untagged frames from a0 that leave the bridge tagged towards b0, and
802.1Q frames from b0 that leave it untagged towards a0; its own receiver
must find every stamp: no loss, no duplicates. dumpcap on each generator
port shows what the bridge did (read back by scapy)."""
from __future__ import annotations

import os
import subprocess
import time

import pytest
from scapy.layers.l2 import Dot1Q, Ether
from scapy.utils import rdpcap

from pktlab.gen import GeneratorProcess, StreamSpec, build_frame
from pktlab.host import names
from tests.functional.test_generator_kernel import config, tag  # noqa: F401 (the fixture)

pytestmark = pytest.mark.root

VID = 10
A_MAC, B_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"


def sh(*cmd):
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=30)


def bridge_path(tag):
    """a0 (netns a) - sa [br0, access VLAN 10] sb - b0 (netns b); torn down with the namespaces."""
    L, N = (lambda s: names.link_name(tag, s)), (lambda s: names.netns_name(tag, s))
    na, nb, ns = N("a"), N("b"), N("sw")
    for n in (na, nb, ns):
        sh("ip", "netns", "add", n)
    sh("ip", "link", "add", L("a0"), "netns", na, "type", "veth", "peer", "name", "sa", "netns", ns)
    sh("ip", "link", "add", L("b0"), "netns", nb, "type", "veth", "peer", "name", "sb", "netns", ns)
    sh("ip", "-n", ns, "link", "add", "br0", "type", "bridge", "vlan_filtering", "1")
    for port, how in (("sa", ["pvid", "untagged"]), ("sb", [])):
        sh("ip", "-n", ns, "link", "set", port, "master", "br0")
        sh("bridge", "-n", ns, "vlan", "del", "dev", port, "vid", "1")
        sh("bridge", "-n", ns, "vlan", "add", "dev", port, "vid", str(VID), *how)
    for n, link in ((na, L("a0")), (nb, L("b0")), (ns, "sa"), (ns, "sb"), (ns, "br0")):
        sh("ip", "netns", "exec", n, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        sh("ip", "-n", n, "link", "set", link, "up")
    return (f"{L('a0')}@{na}", f"{L('b0')}@{nb}"), (na, L("a0")), (nb, L("b0"))


def dumpcap(where, path, count):
    netns, ifname = where
    return subprocess.Popen(["ip", "netns", "exec", netns, "dumpcap", "-q", "-i", ifname, "-c", str(count),
                             "-w", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.parametrize("mode", ["afxdp", "afpacket"])
def test_stamps_found_after_a_bridge_pushes_and_strips_the_tag(tmp_path, tag, mode):  # noqa: F811
    ports, at_a, at_b = bridge_path(tag)
    untagged = build_frame(64, src_mac=A_MAC, dst_mac=B_MAC)
    tagged = build_frame(68, src_mac=B_MAC, dst_mac=A_MAC, src_ip="198.19.0.1", dst_ip="198.18.0.1", vlan=VID)
    cfg = config(ports, (StreamSpec(0, 1, untagged, flows=4), StreamSpec(1, 0, tagged, flows=4)), mode)
    caps = {"a": tmp_path / "a.pcapng", "b": tmp_path / "b.pcapng"}
    procs = [dumpcap(at_a, caps["a"], 40), dumpcap(at_b, caps["b"], 40)]
    time.sleep(1.5)  # dumpcap opens its socket
    try:
        with GeneratorProcess(cfg, tmp_path / "gen.log") as gen:
            gen.wait_ready(60)
            stats = gen.trial(20_000, 1.0, 0.5)
    finally:
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    assert all(p.tx_packets > 10_000 for p in stats.ports), stats.ports  # both directions sent
    # every stamp found, behind the pushed tag and without the stripped one (each stream's
    # received frames are at most what it sent, so no loss in total is none in either)
    assert (stats.rx_packets, stats.lost, stats.duplicates) == (stats.tx_packets, 0, 0), stats
    # what the bridge did, as the generator's ports saw it
    at_b_frames = [Ether(bytes(p)) for p in rdpcap(str(caps["b"]))]
    at_a_frames = [Ether(bytes(p)) for p in rdpcap(str(caps["a"]))]
    from_a = [f for f in at_b_frames if f.src == A_MAC]
    from_b = [f for f in at_a_frames if f.src == B_MAC]
    assert from_a and all(Dot1Q in f and f[Dot1Q].vlan == VID for f in from_a)  # pushed
    assert from_b and all(Dot1Q not in f for f in from_b)  # stripped
