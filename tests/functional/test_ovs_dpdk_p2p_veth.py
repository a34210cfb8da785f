"""The ovs-dpdk-p2p plan's OVS and generator half, for real, with veth pairs
standing in for the cabled NICs.

Stand-ins (this machine has no PCI NIC but the management one): each "cable"
is a veth pair the plan creates instead of binding NICs; OVS's `dpdk` port
drives one end through DPDK's net_af_packet PMD (two queue pairs, so n_rxq=2
has two queues to pin), the generator the other end the same way. The
placement is this machine's (PMD on core 1, the generator on core 0, 2 MiB
pages) instead of the planner's NUMA placement of NICs it does not have.
Binding NICs is checked on a fake sysfs in tests/unit/test_lab_paths.py. Everything else is the path's own plan, run for
real: OVS-DPDK with the per-node dpdk-socket-mem, `dpdk` ports with
dpdk-devargs, n_rxq, the descriptor counts and pmd-rxq-affinity, port-to-port
flows, the generator, a trial, OVS's counters, and the undo.
"""
from __future__ import annotations

import re
import subprocess

import pytest

from pktlab import datapaths, journal
from pktlab import scenario as scenario_mod
from pktlab.context import RunContext
from pktlab.datapaths.ovs_dpdk_p2p import PORTS, OvsDpdkP2pPath
from pktlab.host import hugepages, names
from pktlab.host.links import AddVethPair
from pktlab.inventory.planner import NodePages, Placement
from pktlab.measure import Session
from pktlab.ovs import daemons
from pktlab.plan import Applied
from tests.conftest import REPO, host_state, needs_root

PAGES = 384  # 2 MiB: OVS 512 + generator 256 MiB


class VethP2p(OvsDpdkP2pPath):
    """ovs-dpdk-p2p with veth pairs for cables (see the module docstring)."""

    def ends(self, i):
        return names.link_name(self.tag, f"d{i}"), names.link_name(self.tag, f"g{i}")

    def dut_devargs(self):
        return [f"net_af_packet{i},iface={self.ends(i)[0]},qpairs=2" for i in range(2)]

    def gen_devices(self):
        return [f"net_af_packet{i},iface={self.ends(i)[1]}" for i in range(2)]

    def take_nics(self):
        return [AddVethPair(*self.ends(i)) for i in range(2)]


def scenario(tmp_path, name="lab-ovs-dpdk-p2p.toml", edits=()):
    """A shipped lab scenario scaled to this machine: 2 MiB pages, less memory, 4 flows."""
    text = (REPO / "scenarios" / name).read_text()
    for old, new in (("socket_mem = 1024", "socket_mem = 512"), ("generator_mem = 1024", "generator_mem = 256"),
                     ('page_size = "1G"', 'page_size = "2M"'), ("flows = 1024", "flows = 4"), *edits):
        assert old in text
        text = text.replace(old, new, 1)
    f = tmp_path / name
    f.write_text(text)
    return scenario_mod.load(f)


def on_this_machine(cls, sc, state_dir, run_id, users, guest_vcpus=()):
    """A veth-cabled path with this machine's placement instead of the planner's: one node,
    PMD on core 1, generator on core 0; users: the hugepage users, ("OVS 512 MiB", ...)."""
    p = cls(sc, sc.datapaths[0], state_dir / "runs" / run_id, run_id)
    p.tag = names.new_tag()
    pages = sum(int(u.split()[-2]) for u in users) // 2
    p.__dict__["placement"] = Placement(
        ovs_pmd=(1,), ovs_lcore=0, generator=(0,), guest_vcpus=tuple(guest_vcpus),
        hugepages=(NodePages(0, 2048, pages, 0, tuple(users)),),
        ovs_socket_mem=(512,), port_nodes={"enp3s0f0": 0, "enp3s0f1": 0}, choices=(), warnings=(),
        gen_socket_mem=(256,))
    return p


def test_ovs_dpdk_p2p_plan_runs_with_veth_cables(tmp_path, state_dir):
    needs_root()
    why = hugepages.shortfall(PAGES, 2048)
    if why:
        pytest.skip(f"needs {PAGES} x 2 MiB hugepages: {why}")
    sc = scenario(tmp_path)
    run_id = "m1"
    p = on_this_machine(VethP2p, sc, state_dir, run_id, ("OVS 512 MiB", "generator 256 MiB"))
    assert p.placement.hugepages[0].count == PAGES
    assert isinstance(p, datapaths.KINDS["ovs-dpdk-p2p"])
    before = host_state(state_dir)
    ctx = RunContext(state_dir, run_id)
    try:
        with Applied(journal.Journal.create(state_dir, run_id), ctx) as a:
            a.apply_all(p.plan())
            p.wait_ready(ctx)
            env = daemons.ovs_env(p.ovs_dir)
            db = ctx.ovsdb(daemons.db_sock(p.ovs_dir))
            # OVS took the options as given: two RX queues per port, both pinned to the PMD on core 1
            rxq = subprocess.run(["ovs-appctl", "-t", f"{p.ovs_dir}/ovs-vswitchd.ctl", "dpif-netdev/pmd-rxq-show"],
                                 env=env, capture_output=True, text=True, check=True).stdout
            assert re.search(r"pmd thread numa_id \d+ core_id 1:", rxq), rxq
            for port in PORTS:
                assert len(re.findall(rf"port: {port} +queue-id: +\d", rxq)) == 2, rxq
            assert "isolated : true" in rxq, rxq  # pinned queues make their PMD isolated
            other = db.get("Open_vSwitch", ".", "other_config")
            assert other["dpdk-socket-mem"] == "512" and other["pmd-cpu-mask"] == "0x2"
            assert db.get("Interface", "dpdk0", "options")["n_rxq"] == "2"

            session = Session(ctx.live["generator"], p.counters(ctx), sc.method.drain, out=lambda *_: None)
            t = session.trial(100_000, 2.0)
            s = t.stats
            assert s.tx_packets == s.rx_packets > 0 and s.lost == 0, (s, t.counters)
            # OVS's own counters for the same trial: what the generator sent on port 0 came in on dpdk0
            assert t.counters["dpdk0"]["rx_packets"] == s.ports[0].tx_packets
            assert t.counters["dpdk1"]["tx_packets"] == s.ports[1].rx_packets
    finally:
        ctx.close()
    assert not journal.pending(state_dir)
    assert host_state(state_dir) == before
