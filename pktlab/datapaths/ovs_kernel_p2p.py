"""OVS kernel datapath phy->phy: generator NIC -> DUT NIC 0 -> system bridge
(the openvswitch module forwards) -> DUT NIC 1 -> generator NIC.

The DUT NICs stay on their kernel driver: the run brings them up (MTU for the
frames) and adds them as system ports; undo takes them out and puts their
state back. The generator drives its NICs with DPDK (bound to vfio-pci, the
default: it then outruns what it measures) or, with generator = "kernel",
through AF_XDP on their interfaces, for hosts where they cannot leave the kernel.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..host.files import MakeRunDir
from ..host.kmod import LoadModule, UnloadAutoloaded
from ..host.links import SetLinkUp
from ..ovs.bridge import AddBridge, AddPort
from ..ovs.counters import OvsCounters
from ..ovs.daemons import StartOvsdbServer, StartOvsVswitchd
from ..ovs.kernel_datapath import KernelDatapath
from ..ovs.openflow import AddFlows
from ..plan import Plan
from .kernel import openvswitch_module_missing
from .lab import LabPath, P2pOptions
from .p2p_generator import P2pGenerator


@dataclass(frozen=True)
class OvsKernelP2pOptions(P2pOptions):
    """OVS kernel datapath phy->phy: generator NIC -> DUT NIC 0 -> system bridge ->
    DUT NIC 1 -> generator NIC. The DUT NICs stay on their kernel driver; the
    generator (P2pOptions.generator) is DPDK on its NICs or AF_XDP on their interfaces."""


class OvsKernelP2pPath(P2pGenerator, LabPath):
    kind, Options = "ovs-kernel-p2p", OvsKernelP2pOptions
    uses_ovs = True
    two_hosts = True  # the DUT's NICs and OVS on one host, the generator's NICs on another

    def __init__(self, scenario, entry, run_dir, run_id, root="/"):
        super().__init__(scenario, entry, run_dir, run_id, root)
        self.ovs_dir = str(self.run_dir / "ovs")

    def unavailable(self):
        # with the DUT elsewhere, its module is the DUT's to have (checked there: precheck)
        return openvswitch_module_missing(self.root) if self.on_dut else None

    def needs_vfio(self):
        return self.dpdk_generator and self.on_tester

    def demand(self):
        opt = self.options
        return self.gen_demand(self._demand(opt.dut_ports, opt.gen_ports))

    def requirements(self):
        return [{"check": "module", "name": "openvswitch"}] * self.on_dut + super().requirements()

    def check_ports(self):
        if self.side == "dut":
            why = openvswitch_module_missing(self.root)
            if why:
                self.fail("{where}.kind", why)
        if self.on_dut:
            self.check_ovs()
            self.check_dut_ports()
        if self.on_tester:
            self.check_extension()
            self.check_gen_ports()

    def check_dut_ports(self):
        for name in self.options.dut_ports:
            nic = self.nic(name, "{where}.dut_ports")
            self.refuse_taking(nic, name, "{where}.dut_ports")
            if nic.ifname is None:
                self.fail("{where}.dut_ports", f"{name} ({nic.pci}) has no kernel interface (driver "
                                               f"{nic.driver or 'none'}): the kernel datapath forwards between "
                                               "interfaces; bind it back to its network driver")

    def explain(self):
        if self.side == "tester":
            return super().explain()  # the note is the DUT's, in its half
        return (super().explain() + "\n  note: the kernel datapath forwards in softirq on the cores that take "
                "the DUT NICs' interrupts; pktlab leaves IRQ affinity as the host has it")

    def dut_ifnames(self) -> list[str]:
        if self.side == "tester":
            return list(self.dut.export["dut_ifnames"])
        return [self.nic(n, "{where}.dut_ports").ifname for n in self.options.dut_ports]

    def dut_export(self):
        return {"dut_ifnames": self.dut_ifnames(), "ovs_dir": self.ovs_dir}

    def host_plan(self):
        opt = self.options
        steps = [MakeRunDir(str(self.run_dir))]
        if self.on_dut and not Path(self.root, "sys/module/openvswitch").is_dir():
            # first, so its undo runs last: what the kernel loaded on the run's behalf since (for
            # ovs-vswitchd: nfnetlink_cttimeout, and nf_conntrack under it; for the generator's
            # DPDK: ib_core), once unused, goes too
            steps += [UnloadAutoloaded("openvswitch", self.root), LoadModule("openvswitch", self.root)]
        if self.on_tester:
            steps += self.gen_steps()
        if not self.on_dut:
            return Plan(steps)
        dut = self.dut_ifnames()
        steps += [SetLinkUp(ifname, self.mtu(), ipv6=False) for ifname in dut]  # switch ports: no IPv6 of their own
        steps += self.daemon_steps()
        return Plan(steps + self.switch_steps(dut))

    def daemon_steps(self) -> list:
        # KernelDatapath first: its undo, after ovs-vswitchd stops, deletes what a killed one left
        return [KernelDatapath(self.ovs_dir), StartOvsdbServer(self.ovs_dir), StartOvsVswitchd(self.ovs_dir, dpdk=False)]

    def switch_steps(self, dut: list[str]) -> list:
        """The bridge(s), ports and flows between the DUT interfaces dut (in gen_ports' order)."""
        opt = self.options
        # link comes when the generator starts its NICs: wait_ready waits for it
        return [AddBridge(self.ovs_dir, opt.bridge, "system"),
                *(AddPort(self.ovs_dir, opt.bridge, ifname, "system", {}, ofport) for ofport, ifname in enumerate(dut, 1)),
                AddFlows(self.ovs_dir, opt.bridge, ("priority=100,in_port=1,actions=output:2",
                                                    "priority=100,in_port=2,actions=output:1"))]

    def wait_ready(self, ctx):
        self.dut_ovsdb(ctx).wait_ports_up(tuple(self.dut_ifnames()), timeout=60)
        self.wait_links(ctx, 60, f"check the cabling to {', '.join(self.options.dut_ports)}"
                                 + (f" on {self.dut_name}" if self.side == "tester" else ""))

    def counters(self, ctx):
        return OvsCounters(self.dut_ovsdb(ctx), tuple(self.dut_ifnames()))
