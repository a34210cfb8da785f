"""The ovs-dpdk-vxlan plan's OVS half, for real, checked on captures by scapy (a
parser that is not pktlab's): OVS-DPDK terminates and originates VXLAN as the plan
configured it (VTEP address, route, neighbour), and undo leaves nothing.

OVS's own counters against the generator's are tests/functional/test_overlay_paths.py
(here, with OVS serving the sockets, OVS 3.1 published no rx/tx statistics for the
dpdkvhostuser ports in 20 s while testpmd forwarded through them).

The far end of both vhost-user ports is dpdk-testpmd, not pktlab's generator:
`io` forwarding between net_pcap devices (frames crafted here with scapy, captures
written by DPDK) and virtio-user, so what OVS did to the headers is seen byte by
byte, independently of the generator's own parsing. The generator end to end is
tests/functional/test_overlay_paths.py.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw
from scapy.utils import rdpcap, wrpcap

from pktlab import journal, wait
from pktlab import scenario as scenario_mod
from pktlab.context import RunContext
from pktlab.datapaths.ovs_dpdk_vxlan import OvsDpdkVxlanPath
from pktlab.host import hugepages
from pktlab.host.netns import get_link, rtnl
from pktlab.ovs import daemons, tunnel
from pktlab.plan import Applied
from tests.conftest import REPO, host_state, needs_root

N = 50  # frames each way
VNI = 4242


def scenario(tmp_path):
    text = (REPO / "scenarios" / "smoke-vxlan-decap.toml").read_text()
    text = text.replace('vhost_mode = "client"', 'vhost_mode = "server"').replace("vni = 5000", f"vni = {VNI}")
    assert 'vhost_mode = "server"' in text and f"vni = {VNI}" in text
    (tmp_path / "s.toml").write_text(text)
    return scenario_mod.load(tmp_path / "s.toml")


class OvsOnly(OvsDpdkVxlanPath):
    """The path's plan up to the generator: testpmd is the far end here."""

    def generator_step(self):
        return None


def ovs_only(tmp_path, state_dir, run_id) -> OvsOnly:
    needs_root()
    why = hugepages.shortfall(384, 2048)
    if why:
        pytest.skip(f"needs 384 x 2 MiB hugepages: {why}")
    sc = scenario(tmp_path)
    return OvsOnly(sc, sc.datapaths[0], state_dir / "runs" / run_id, run_id)


def inner(i: int) -> Ether:
    return (Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=f"198.18.0.{i % 200 + 1}",
            dst="198.19.0.1") / UDP(sport=1024, dport=1024) / Raw(i.to_bytes(4, "big") + bytes(14)))


def run_testpmd(p, pcaps, seconds=2.0) -> str:
    """testpmd io-forwarding pcap0 <-> vhu0 and pcap1 <-> vhu1 (OVS serves the sockets),
    forwarding started once both links are up, so every crafted frame meets a ready port
    (--no-flush-rx: testpmd would otherwise drain the pcap files on start); its output."""
    vdevs = [f"--vdev=net_pcap0,rx_pcap={pcaps['in0']},tx_pcap={pcaps['out0']}",
             f"--vdev=net_virtio_user0,path={p.ovs_dir}/vhu0,queues=1,queue_size=1024",
             f"--vdev=net_pcap1,rx_pcap={pcaps['in1']},tx_pcap={pcaps['out1']}",
             f"--vdev=net_virtio_user1,path={p.ovs_dir}/vhu1,queues=1,queue_size=1024"]
    # lcores 0 (testpmd's prompt, idle) and 1 (its forwarding loop) both on CPU 0: CPU 1 is OVS's PMD
    cmd = ["dpdk-testpmd", "--lcores=0@0,1@0", "--no-pci", "--in-memory", "--single-file-segments", "--no-telemetry",
           f"--huge-dir={p.huge_dir}", "-m", "256", f"--file-prefix={p.gen_prefix}", *vdevs,
           # a small pool: OVS holds 512 of the scenario's 800 MiB
           "--", "-i", "--forward-mode=io", "--nb-cores=1", "--no-flush-rx", "--total-num-mbufs=8192"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def send(command):
        try:
            proc.stdin.write(command)
            proc.stdin.flush()
        except BrokenPipeError:
            raise AssertionError(f"testpmd exited ({proc.wait()}): {proc.stdout.read()}") from None

    try:
        time.sleep(3)  # ports probed and OVS's vhost handshakes done (waited for below as well)
        send("show port summary all\nstart\n")
        time.sleep(seconds)
        send("stop\n")
        out, _ = proc.communicate("quit\n", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    return out


def test_vxlan_decap_and_encap_on_captures(tmp_path, state_dir):
    run_id = "vx1"
    p = ovs_only(tmp_path, state_dir, run_id)
    opt = p.options
    steps = [s for s in p.plan() if s is not None]
    # decap input: VXLAN from the remote VTEP to OVS's; encap input: plain frames from the "VM"
    decap_in = [Ether(src=opt.remote_mac, dst=opt.local_mac) / IP(src=opt.remote_vtep, dst=p.local_ip)
                / UDP(sport=49152 + i, dport=4789, chksum=0) / VXLAN(vni=VNI, flags=0x08) / inner(i) for i in range(N)]
    encap_in = [inner(1000 + i) for i in range(N)]
    pcaps = {k: tmp_path / f"{k}.pcap" for k in ("in0", "in1", "out0", "out1")}
    wrpcap(str(pcaps["in0"]), decap_in)
    wrpcap(str(pcaps["in1"]), encap_in)

    before = host_state(state_dir)
    ctx = RunContext(state_dir, run_id)
    try:
        with Applied(journal.Journal.create(state_dir, run_id), ctx) as a:
            for s in steps:
                a.apply(s)
            # the tunnel configuration is where OVS looks for it
            assert tunnel.user_routes(p.ovs_dir) == [f"{opt.remote_vtep}/32 dev {opt.underlay_bridge} "
                                                     f"SRC {p.local_ip}"]
            assert tunnel.neighbours(p.ovs_dir)[opt.remote_vtep] == (opt.remote_mac, opt.underlay_bridge)
            with rtnl(None, "get", opt.underlay_bridge) as ipr:
                link = get_link(ipr, opt.underlay_bridge)
                addrs = [a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=link["index"])]
            assert addrs == [p.local_ip]  # IPv4 only: IPv6 is off on the bridge's port
            assert link.get_attr("IFLA_ADDRESS") == opt.local_mac
            out = run_testpmd(p, pcaps)
    finally:
        ctx.close()
    assert not journal.pending(state_dir)
    assert host_state(state_dir) == before
    with rtnl(None, "get", opt.underlay_bridge) as ipr:
        assert get_link(ipr, opt.underlay_bridge) is None  # the tap (and its address) went with the bridge

    # decap: OVS popped the outer headers; the inner frames come out of vhu1 as they went in
    decapped = [bytes(f) for f in rdpcap(str(pcaps["out1"]))]
    assert decapped == [bytes(pk[VXLAN].payload) for pk in decap_in], out
    # encap: every plain frame comes out of vhu0 in VXLAN, from OVS's VTEP to the remote one
    encapped = [Ether(bytes(f)) for f in rdpcap(str(pcaps["out0"]))]
    assert len(encapped) == N, out
    for sent, got in zip(encap_in, encapped):
        assert (got.src, got.dst) == (opt.local_mac, opt.remote_mac)
        assert (got[IP].src, got[IP].dst, got[IP].proto) == (p.local_ip, opt.remote_vtep, 17)
        assert got[IP].len == len(sent) + 36 and got[IP].flags == "DF"
        ip_ck = got[IP].chksum
        del got[IP].chksum
        assert Ether(bytes(got))[IP].chksum == ip_ck  # header checksum right (a fresh build agrees)
        assert got[UDP].dport == 4789 and got[UDP].chksum == 0 and got[UDP].len == len(sent) + 16
        assert got[VXLAN].vni == VNI and got[VXLAN].flags == 0x08
        assert bytes(got[VXLAN].payload) == bytes(sent)



def test_a_killed_switch_leaves_no_tap_address_or_route(tmp_path, state_dir):
    """ovs-vswitchd SIGKILLed under the VXLAN plan: its taps persist in the kernel (the
    bridges', with the VTEP address on one, and the datapath's); undo removes them."""
    p = ovs_only(tmp_path, state_dir, "vx2")
    opt = p.options
    before = host_state(state_dir) | {"links": _links(), "addrs": _addrs()}
    ctx = RunContext(state_dir, "vx2")
    try:
        with Applied(journal.Journal.create(state_dir, "vx2"), ctx) as a:
            for s in p.plan():
                if s is not None:
                    a.apply(s)
            assert opt.underlay_bridge in _links() and p.local_ip in _addrs()
            pid = int((state_dir / "runs" / "vx2" / "ovs" / "ovs-vswitchd.pid").read_text())
            ctx.watch.forget(pid)  # the death is the test's doing: undo is what is checked
            os.kill(pid, signal.SIGKILL)
            wait.until(lambda: not daemons.vswitchd_running(p.ovs_dir), 10, 0.1,
                       lambda _: AssertionError("ovs-vswitchd still runs"))
            assert opt.underlay_bridge in _links()  # the tap outlived its switch
    finally:
        ctx.close()
    assert not journal.pending(state_dir)
    assert host_state(state_dir) | {"links": _links(), "addrs": _addrs()} == before


def _links() -> str:
    return subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout


def _addrs() -> str:
    return subprocess.run(["ip", "-br", "addr"], capture_output=True, text=True).stdout
