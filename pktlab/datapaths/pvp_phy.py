"""PVP on physical ports, as VSPERF, NFVbench and FD.io CSIT define it:

  generator NIC 0 -> DUT NIC 0 (dpdk0) -> [OVS-DPDK] -> vhost0 -> guest forwarder
    -> vhost1 -> [OVS-DPDK] -> DUT NIC 1 (dpdk1) -> generator NIC 1   (and back when bidirectional)

The phy->phy half is ovs-dpdk-p2p's (ovs_dpdk_p2p.py): the DUT NICs bound for
DPDK and made OVS `dpdk` ports with n_rxq and pmd-rxq-affinity, the generator on
its own NICs bound to vfio-pci, on lcores of their node. The guest half is PVP's
(pvp.py): the image pktlab builds, started by StartPvpGuest on two
dpdkvhostuser ports (OVS serves the sockets, QEMU connects), its memory a file on
the run's hugetlbfs, shared with the switch.

Placement: the guest's vCPUs and memory go on the DUT NICs' node, with the PMDs,
which copy every packet between the NICs' mbufs and guest memory; QEMU's memory
is bound to that node (host-nodes) and its other threads share vCPU 0's core. The
vhost ports' RX queues are pinned as well as the NICs': a PMD with pinned queues
polls no others (pmd-rxq-isolate), so an unpinned vhost queue would not be polled.

Flows are port to port with a cookie each (dpdk0 -> vhost0, vhost1 -> dpdk1 and
the mirror); the counters are the dpdk ports' Interface statistics and each hop's
flow n_packets (OVS 3.1 keeps no Interface statistics for dpdkvhostuser ports), so
loss is placed on the hop where it happened.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import functools
import os
import shutil

from ..errors import PrecheckError
from ..guest import accel as accel_mod
from ..guest.qemu import COMM as QEMU, SUN_PATH_MAX
from ..ovs import daemons
from ..ovs.bridge import AddPort
from ..ovs.openflow import AddFlows
from .ovs_dpdk_p2p import PORTS, OvsDpdkP2pOptions, OvsDpdkP2pPath, rxq_affinity
from .pvp import PvpCounters, StartPvpGuest, chain, guest_mac, guest_provenance
from ..scenario.checks import Invalid, check_guest

GUEST_PORTS = ("vhost0", "vhost1")  # OpenFlow ports 3 and 4
HOPS = chain(1, PORTS, "vhost")  # cookie -> (in_port, out_port, "dpdk0->vhost0 (into the guest)"), ...


@dataclass(frozen=True)
class OvsDpdkPvpPhyOptions(OvsDpdkP2pOptions):
    """PVP on physical ports (VSPERF, NFVbench, CSIT): generator NIC -> dpdk0 -> OVS-DPDK
    -> vhost0 -> guest -> vhost1 -> OVS-DPDK -> dpdk1 -> generator NIC; the guest's vCPUs
    and memory on the DUT NICs' node."""

    forwarder: str = "testpmd"  # in the guest: bridge, tc or testpmd
    guest_vcpus: int = 2  # testpmd: its main lcore and its forwarding lcore a vCPU each
    guest_cores: tuple[int, ...] = ()  # host core per vCPU; () = placed on the DUT NICs' node
    guest_mem: int = 1024  # [MiB], hugepages of page_size on the vCPUs' node
    accel: str = "auto"  # auto (KVM where it really works, else TCG), kvm or tcg

    def check(self):
        super().check()
        check_guest(self)
        if not 1 <= self.guest_vcpus <= 8:
            raise Invalid("guest_vcpus", "1 to 8 vCPUs")
        if self.guest_cores and len(self.guest_cores) != self.guest_vcpus:
            raise Invalid("guest_cores", f"{len(self.guest_cores)} cores for {self.guest_vcpus} vCPUs: "
                                          "one per vCPU, or none to have them placed")
        if any(c < 0 for c in self.guest_cores) or len(set(self.guest_cores)) != len(self.guest_cores):
            raise Invalid("guest_cores", "distinct core numbers >= 0")
        if self.page_size == "1G" and self.guest_mem % 1024:
            raise Invalid("guest_mem", "guest memory on 1G hugepages is a multiple of 1024 MiB")


class OvsDpdkPvpPhyPath(OvsDpdkP2pPath):
    kind, Options = "ovs-dpdk-pvp-phy", OvsDpdkPvpPhyOptions
    two_hosts = False  # the guest and its vhost ports with OVS: not split across hosts yet
    # -- placement ---------------------------------------------------------------
    def demand(self):
        opt = self.options
        return dataclasses.replace(super().demand(), guest_vcpus=0 if opt.guest_cores else opt.guest_vcpus,
                                   guest_pins=tuple(opt.guest_cores), guest_mem_mb=opt.guest_mem)

    @property
    def guest_node(self) -> int:
        """The node the guest's vCPUs were placed on: its memory is bound there."""
        return self.inventory.cpu(self.placement.guest_vcpus[0]).node

    def cores_used(self):
        used = super().cores_used()
        if used:
            used["guest_vcpu"] = list(self.placement.guest_vcpus)
        return used

    @functools.cached_property
    def affinities(self) -> list[str]:
        """pmd-rxq-affinity of dpdk0, dpdk1, vhost0, vhost1: the NICs' queues dealt over the
        PMDs of their node, then each vhost port's one queue over those of the guest's node."""
        p = self.placement
        nodes = [p.port_nodes[name] or 0 for name in self.options.dut_ports] + [self.guest_node] * 2
        n = self.options.n_rxq
        return rxq_affinity(self.pmds_by_node(), nodes, [n, n, 1, 1])

    def affinity(self):
        return self.affinities[:2]

    def explain(self):
        opt, p = self.options, self.placement
        main = " (testpmd's main lcore; lcore 1 on vCPU 1 forwards)" if opt.forwarder == "testpmd" and \
            opt.guest_vcpus > 1 else ""
        lines = [p.render(), "guest:",
                 f"  {'memory':<11} {f'{opt.guest_mem} MiB':<14} {opt.page_size} hugepages bound to node "
                 f"{self.guest_node}, the node of its vCPUs and of the PMDs that copy into it",
                 f"  {'emulator':<11} {p.guest_vcpus[0]:<14} QEMU's other threads share vCPU 0's core{main}",
                 "rx queues (pmd-rxq-affinity; a PMD with pinned queues polls no others, so the guest's are "
                 "pinned too):"]
        lines += [f"  {name:<11} {aff:<14} {why}" for name, aff, why in zip(
            (*PORTS, *GUEST_PORTS), self.affinities,
            [f"{n}: {opt.n_rxq} queue(s) over the PMDs of its node" for n in opt.dut_ports]
            + [f"guest NIC {i}: its one queue, PMDs of the guest's node" for i in range(2)])]
        return "\n".join(lines)

    # -- checks --------------------------------------------------------------------
    def check_ports(self):
        super().check_ports()
        if shutil.which(QEMU) is None:
            self.fail("{where}.kind", f"{self.entry.kind} runs a QEMU guest: {QEMU} not found; "
                                      "apt-get install qemu-system-x86 (./setup.sh does)")
        for path in (*self.guest_sockets(), f"{self.guest_dir}/qmp.sock"):
            if len(path.encode()) > SUN_PATH_MAX:
                self.fail(None, f"socket path {path} is longer than {SUN_PATH_MAX} bytes; use a shorter --state-dir")

    def precheck(self):
        super().precheck()  # NICs, the guest's options, placement; a copy of a host's sysfs stops there
        if self.options.accel == "kvm":  # refused now rather than after the NICs were taken
            try:
                accel_mod.decide("kvm", QEMU)
            except PrecheckError as e:
                self.fail("{where}.accel", f"{e.reason} (accel = \"auto\" runs it emulated, marked so)")

    # -- the plan --------------------------------------------------------------------
    @property
    def guest_dir(self) -> str:
        return str(self.run_dir / "guest0")

    def guest_sockets(self) -> list[str]:
        return [os.path.join(self.ovs_dir, name) for name in GUEST_PORTS]

    def guest_step(self) -> StartPvpGuest:
        opt, cores = self.options, self.placement.guest_vcpus
        return StartPvpGuest(
            name=f"pktlab-{self.run_id[-10:]}-0", kernel="", initrd="", run_dir=self.guest_dir,
            nics=tuple((sock, guest_mac(n), "client") for n, sock in enumerate(self.guest_sockets())),
            mem_mb=opt.guest_mem, hugepage_dir=self.huge_dir, mem_node=self.guest_node, vcpus=len(cores),
            vcpu_pins=tuple(cores), emulator_cores=tuple(cores[:1]), accel=opt.accel, forwarder=opt.forwarder)

    def host_plan(self):
        """ovs-dpdk-p2p's plan with its phy->phy flows replaced: the guest's ports, the
        guest, and the flows through it."""
        plan = super().host_plan()
        at = next(i for i, s in enumerate(plan.steps) if isinstance(s, AddFlows))
        opt = self.options
        ports = [AddPort(self.ovs_dir, opt.bridge, name, "dpdkvhostuser", {}, ofport,
                         other_config={"pmd-rxq-affinity": aff}, mtu_request=self.mtu() or 0)
                 for ofport, (name, aff) in enumerate(zip(GUEST_PORTS, self.affinities[2:]), 3)]
        flows = AddFlows(self.ovs_dir, opt.bridge, tuple(
            f"cookie={cookie},priority=100,in_port={a},actions=output:{b}" for cookie, (a, b, _) in HOPS.items()))
        plan.steps[at:at + 1] = [*ports, self.guest_step(), flows]
        return plan

    # -- while it runs ---------------------------------------------------------------
    def wait_ready(self, ctx):
        super().wait_ready(ctx)
        ctx.ovsdb(daemons.db_sock(self.ovs_dir)).wait_ports_up(GUEST_PORTS, timeout=30)

    def counters(self, ctx):
        return PvpCounters(ctx.ovsdb(daemons.db_sock(self.ovs_dir)), PORTS, self.ovs_dir, self.options.bridge, HOPS)

    def versions(self, ctx):
        return {**super().versions(ctx),
                "guest": guest_provenance(ctx, 1, self.options.forwarder, list(self.placement.guest_vcpus))}
