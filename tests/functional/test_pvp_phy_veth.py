"""The ovs-dpdk-pvp-phy plan for real: OVS-DPDK `dpdk` ports, a QEMU guest (TCG
here) on two vhost-user ports, and the generator, with veth pairs standing in for
the cabled NICs.

Stand-ins, as in test_ovs_dpdk_p2p_veth.py (this machine has no PCI NIC but the
management one): each "cable" is a veth pair the plan creates instead of binding
NICs; OVS's `dpdk` ports drive one end through DPDK's net_af_packet PMD, the
generator the other end. The placement is this machine's (PMD on core 1; the
generator, the guest's vCPU and QEMU's other threads on core 0, as smoke-pvp.toml
has them; 2 MiB pages) instead of the planner's NUMA placement of NICs it does not
have (that is tested on a fake two-node server in tests/unit/test_lab_pvp_phy.py).
Everything else is the path's own plan: the dpdk ports with pinned RX queues, the
guest's dpdkvhostuser ports with theirs, PVP's guest image and launcher step with
its memory bound to a node, the cookie flows through the guest, trials with the
hop-by-hop counters, and the undo. The guest is the kernel-bridge one (the
cheapest image; testpmd's is the lab scenario's) and emulated, so: low rates,
short trials.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from pktlab import datapaths, journal
from pktlab.context import RunContext
from pktlab.datapaths.pvp_phy import GUEST_PORTS, OvsDpdkPvpPhyPath
from pktlab.host import hugepages
from pktlab.measure import Session
from pktlab.ovs import daemons
from pktlab.plan import Applied
from tests.conftest import host_state, needs_root
from tests.functional.test_ovs_dpdk_p2p_veth import VethP2p, on_this_machine, scenario

PAGES = 512  # 2 MiB: OVS 512 + generator 256 + guest 256 MiB
INTO_A, OUT_B = "flow dpdk0->vhost0 (into the guest)", "flow vhost1->dpdk1 (out of the guest)"
INTO_B, OUT_A = "flow dpdk1->vhost1 (into the guest)", "flow vhost0->dpdk0 (out of the guest)"


class VethPvpPhy(VethP2p, OvsDpdkPvpPhyPath):
    """ovs-dpdk-pvp-phy with veth pairs for cables (see the module docstring)."""


EDITS = (("pmd_cores = 2", "pmd_cores = 1"), ('forwarder = "testpmd"', 'forwarder = "bridge"'),
         ("guest_vcpus = 2", "guest_vcpus = 1"), ("guest_mem = 1024", "guest_mem = 256"),
         ('accel = "kvm"', 'accel = "tcg"'),
         ("n_rxq = 1 ", "n_rxq = 2 "))  # the af_packet stand-ins fan out over two queue pairs: OVS must poll both


def test_pvp_phy_plan_runs_with_veth_cables_and_a_guest(tmp_path, state_dir):
    needs_root()
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("needs qemu-system-x86 (./setup.sh installs it; CI has it)")
    why = hugepages.shortfall(PAGES, 2048)
    if why:
        pytest.skip(f"needs {PAGES} x 2 MiB hugepages: {why}")
    sc = scenario(tmp_path, "lab-ovs-dpdk-pvp-phy.toml", EDITS)
    run_id = "v1"
    p = on_this_machine(VethPvpPhy, sc, state_dir, run_id, ("OVS 512 MiB", "generator 256 MiB", "guest 256 MiB"),
                        guest_vcpus=(0,))
    assert p.placement.hugepages[0].count == PAGES
    assert isinstance(p, datapaths.KINDS["ovs-dpdk-pvp-phy"])
    plan = p.plan()
    guest = next(s for s in plan.steps if s.kind == "pvp-guest")
    assert guest.mem_node == 0 and guest.vcpu_pins == (0,)
    before = host_state(state_dir)
    ctx = RunContext(state_dir, run_id)
    try:
        with Applied(journal.Journal.create(state_dir, run_id), ctx) as a:
            a.apply_all(plan)
            p.wait_ready(ctx)
            # QEMU took its memory bound to the node (numa_maps of the guest's hugetlbfs file)
            maps = open(f"/proc/{guest.state['pid']}/numa_maps").read()
            assert re.search(rf"bind:0 file={re.escape(p.huge_dir)}/.*\bhuge\b", maps), maps
            # every RX queue polled, each by the PMD it was pinned to: the guest's too
            rxq = subprocess.run(["ovs-appctl", "-t", f"{p.ovs_dir}/ovs-vswitchd.ctl", "dpif-netdev/pmd-rxq-show"],
                                 env=daemons.ovs_env(p.ovs_dir), capture_output=True, text=True, check=True).stdout
            assert re.search(r"pmd thread numa_id \d+ core_id 1:", rxq), rxq
            for port, queues in (("dpdk0", 2), ("dpdk1", 2), (GUEST_PORTS[0], 1), (GUEST_PORTS[1], 1)):
                assert len(re.findall(rf"port: {port} +queue-id: +\d+ \(enabled\)", rxq)) == queues, rxq

            session = Session(ctx.live["generator"], p.counters(ctx), sc.method.drain, out=lambda *_: None)
            # an emulated guest bridges tens of kpps: 5 kpps must pass without loss, hop for hop
            t = session.trial(5_000, 2.0)
            s, c = t.stats, t.counters
            assert s.tx_packets == s.rx_packets > 0 and s.lost == 0, (s, c)
            assert s.ports[0].tx_packets == c["dpdk0"]["rx_packets"] == c[INTO_A]["packets"] == c[OUT_B]["packets"] \
                == c["dpdk1"]["tx_packets"] == s.ports[1].rx_packets
            assert s.ports[1].tx_packets == c["dpdk1"]["rx_packets"] == c[INTO_B]["packets"] == c[OUT_A]["packets"] \
                == c["dpdk0"]["tx_packets"] == s.ports[0].rx_packets
            # overloaded, the guest is the bottleneck: the loss is on the hop through it
            t = session.trial(None, 1.0)
            c = t.counters
            assert t.stats.lost > 0 and c[INTO_A]["packets"] > c[OUT_B]["packets"], (t.stats, c)
            assert c["dpdk0"]["rx_packets"] == c[INTO_A]["packets"]  # the switch passed on what it took in
            v = p.versions(ctx)
            assert v["guest"]["forwarder"] == "bridge" and v["guest"]["accel"]["emulated"]
    finally:
        ctx.close()
    assert not os.path.exists(f"/proc/{guest.state['pid']}")  # the guest is gone
    assert not journal.pending(state_dir)
    assert host_state(state_dir) == before
