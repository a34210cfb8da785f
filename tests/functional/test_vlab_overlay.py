"""VXLAN and VLAN on the OVS kernel datapath, for real, inside the virtual lab server
(its Debian kernel has openvswitch; this host's has not): one boot for the module
(test_vlab's fixture), the generator inside on its igb NICs. One run of
scenarios/vlab-ovs-kernel-overlay.toml covers decap, encap and VLAN (one boot, one
pktlab start: TCG is slow); then a runner and its ovs-vswitchd both SIGKILLed mid-trial
and `pktlab restore`. Each time the server's modules, links, addresses, routes,
neighbours and OVS processes must be as before."""
from __future__ import annotations

import difflib
import time

from tests.conftest import REPO
from tests.functional.test_vlab import STATE as LAB_STATE
from tests.functional.test_vlab import pytestmark, run_until_generator, vlab  # noqa: F401 - skip without QEMU; the boot

OVERLAY = REPO / "scenarios" / "vlab-ovs-kernel-overlay.toml"
# Beyond a lab run's (drivers, VFs, hugepages): every module, link, IPv4 address, route and
# the neighbours the plan could leave. Not the `expires` of the management NIC's IPv6 routes (QEMU's
# user network advertises a prefix: it counts down) nor its neighbours (their states age).
STATE = LAB_STATE + r"""
echo modules; lsmod | cut -d' ' -f1 | sort
echo links; ip -br link | awk '{print $1, $2}' | sort
echo addresses; ip -br -4 addr
echo routes; ip route show table all | grep -v '^local\|^broadcast\|^multicast' | sed 's/ expires [0-9]*sec//' 
echo neighbours; ip neigh show nud permanent; ip neigh show to 172.31.0.0/16
true
"""


def _same(before: str, after: str) -> str:
    """'' when the server's state is as before, else what changed (a diff)."""
    return "\n".join(difflib.unified_diff(before.splitlines(), after.splitlines(), "before", "after", lineterm=""))


def _dut_ifnames(exec_) -> list[str]:
    p = exec_("for d in 81 82; do ls /sys/bus/pci/devices/0000:$d:00.0/net; done")
    names = p.stdout.split()
    assert len(names) == 2, p.stdout + p.stderr
    return names


def test_vxlan_decap_encap_and_vlan_carry_every_frame_and_ovs_counts_what_the_generator_sent(vlab):
    """The generator's port i is cabled to DUT NIC i (81:00.0, 82:00.0) and port 0 sends:
    decap, VXLAN into the underlay NIC, the kernel's vxlan_sys_4789 terminating it; encap, plain
    frames that leave 82:00.0 in VXLAN (the only way between the NICs is the tunnel port:
    the underlay bridge's flows join its NIC and its own port only); VLAN, tagged into the
    trunk, untagged out of the access port. No loss at 500 pps, and the NICs' OVS counters
    equal the generator's per port."""
    from pktlab.results import load_results

    _, out, exec_ = vlab
    dut0, dut1 = _dut_ifnames(exec_)
    dest = out / "overlay"
    before = exec_(STATE)
    assert before.returncode == 0 and "vxlan_sys" not in before.stdout, before.stdout + before.stderr
    t0 = time.monotonic()
    p = exec_(f"pktlab run {OVERLAY} --out {dest}", timeout=560)
    took = time.monotonic() - t0
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    results = {r.datapath: r for r in load_results(sorted(dest.glob("*.json")))}
    assert set(results) == {"OVS kernel VXLAN decap", "OVS kernel VXLAN encap", "OVS kernel VLAN"}, p.stdout
    figures = []
    for name, r in sorted(results.items()):
        assert r.status == "ok" and r.provenance.guest["accel"]["emulated"] is True, (name, r.status, r.reason)
        [t] = r.trials
        s = t.stats
        assert s.tx_packets >= 1000 and s.lost == 0 and s.rx_packets == s.tx_packets, (name, s)
        assert [p.tx_packets for p in s.ports] == [s.tx_packets, 0], (name, s.ports)  # unidirectional
        c = t.counters
        assert c[dut0]["rx_packets"] == s.ports[0].tx_packets, (name, c, s.ports)
        assert c[dut1]["tx_packets"] == s.ports[1].rx_packets, (name, c, s.ports)
        figures.append(f"{name}: {s.tx_packets} sent, {s.rx_packets} received, OVS {dut0} rx "
                       f"{c[dut0]['rx_packets']}, {dut1} tx {c[dut1]['tx_packets']}")
    # the tunnel port carried them: OVS counted the frames it decapsulated / encapsulated
    for name, key in (("OVS kernel VXLAN decap", "rx_packets"), ("OVS kernel VXLAN encap", "tx_packets")):
        [t] = results[name].trials
        assert t.counters["vxlan0"][key] == t.stats.tx_packets, (name, t.counters)
    changed = _same(before.stdout, exec_(STATE).stdout)
    assert not changed, changed
    print(f"overlay comparison inside the virtual lab server: {took:.0f} s; " + "; ".join(figures))


def test_sigkill_of_runner_and_switch_mid_trial_then_restore_inside_takes_the_tunnel_away(vlab):
    """A killed ovs-vswitchd leaves the kernel's vxlan_sys_4789 (and the vxlan module in use)
    and its datapath behind: `pktlab restore` takes them away with the address, route and
    neighbour."""
    state, out, exec_ = vlab
    before = exec_(STATE)
    long = out / "long-overlay.toml"
    long.write_text(OVERLAY.read_text().replace("duration = 2.0", "duration = 120.0"))
    ch, rid = run_until_generator(state, long, out / "killed")
    during = exec_(STATE)
    for made in ("vxlan_sys_4789", "br-pktlab-phy", "172.31.1.1/24", "172.31.1.2 dev br-pktlab-phy",
                 "lladdr 02:00:00:00:0a:02 PERMANENT", "\nvxlan\n", "\nopenvswitch\n"):
        assert made in during.stdout, (made, during.stdout)
    ch.kill(rid, 9)
    assert ch.wait(rid, 60) == -9
    killed = exec_("kill -9 $(cat /run/pktlab/runs/*/ovs/ovs-vswitchd.pid) && sleep 1 && ip -br link")
    assert killed.returncode == 0 and "vxlan_sys_4789" in killed.stdout, killed.stdout + killed.stderr
    restore = exec_("pktlab restore")
    assert restore.returncode == 0 and "host restored" in restore.stdout, restore.stdout + restore.stderr
    changed = _same(before.stdout, exec_(STATE).stdout)
    assert not changed, changed
