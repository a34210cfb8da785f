"""OVS kernel datapath phy->phy: generator NIC -> DUT NIC 0 -> system bridge
(the openvswitch module forwards) -> DUT NIC 1 -> generator NIC.

The DUT NICs stay on their kernel driver: the run brings them up (MTU for the
frames) and adds them as system ports; undo takes them out and puts their
state back. The generator drives its NICs with DPDK (bound to vfio-pci, the
default: it then outruns what it measures) or, with generator = "kernel",
through AF_XDP on their interfaces, for hosts where they cannot leave the kernel.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

from ..gen.step import StartGenerator
from ..host.files import MakeRunDir
from ..inventory.nics import interface_nic
from ..inventory.sysfs import read_inventory, read_netdevs
from ..host.kmod import LoadModule, UnloadAutoloaded
from ..host.links import SetLinkUp
from ..ovs import daemons
from ..ovs.bridge import AddBridge, AddPort
from ..ovs.counters import OvsCounters
from ..ovs.daemons import StartOvsdbServer, StartOvsVswitchd
from ..ovs.kernel_datapath import KernelDatapath
from ..ovs.openflow import AddFlows
from ..plan import Plan
from .kernel import openvswitch_module_missing
from .lab import LabPath, P2pOptions
from .streams import kernel_mode_for, streams_for, with_latency_streams
from ..scenario.checks import Invalid


@dataclass(frozen=True)
class OvsKernelP2pOptions(P2pOptions):
    """OVS kernel datapath phy->phy: generator NIC -> DUT NIC 0 -> system bridge ->
    DUT NIC 1 -> generator NIC. The DUT NICs stay on their kernel driver."""

    generator: str = "dpdk"  # dpdk: generator NICs bound for DPDK; kernel: AF_XDP on their interfaces

    def check(self):
        super().check()
        if self.generator not in ("dpdk", "kernel"):
            raise Invalid("generator", f"must be dpdk or kernel, not {self.generator!r}")


class OvsKernelP2pPath(LabPath):
    kind, Options = "ovs-kernel-p2p", OvsKernelP2pOptions
    uses_ovs = True
    two_hosts = True  # the DUT's NICs and OVS on one host, the generator's NICs on another

    def __init__(self, scenario, entry, run_dir, run_id, root="/"):
        super().__init__(scenario, entry, run_dir, run_id, root)
        self.ovs_dir = str(self.run_dir / "ovs")

    @property
    def dpdk_generator(self) -> bool:
        return self.options.generator == "dpdk"

    @functools.cached_property
    def inventory(self):
        """The host's NICs; for the kernel generator also the plain kernel interfaces its
        gen_ports name (a tap cabled to a DUT on another host has no PCI function)."""
        inv = read_inventory(self.root)
        if self.dpdk_generator or not self.on_tester:
            return inv
        netdevs = read_netdevs(self.root)
        extra = tuple(interface_nic(netdevs[n]) for n in self.options.gen_ports
                      if inv.nic(n) is None and n in netdevs and netdevs[n].pci is None)
        return dataclasses.replace(inv, nics=inv.nics + extra) if extra else inv

    def unavailable(self):
        # with the DUT elsewhere, its module is the DUT's to have (checked there: precheck)
        return openvswitch_module_missing(self.root) if self.on_dut else None

    def needs_vfio(self):
        return self.dpdk_generator and self.on_tester

    def demand(self):
        opt = self.options
        d = self._demand(opt.dut_ports, opt.gen_ports)
        return d if self.dpdk_generator else dataclasses.replace(d, gen_mem_mb=0)  # AF_XDP: no hugepages

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

    def check_gen_ports(self):
        if self.dpdk_generator:
            self.check_dpdk_ports(self.options.gen_ports, "{where}.gen_ports")
        else:
            for name in self.options.gen_ports:
                nic = self.nic(name, "{where}.gen_ports")
                self.refuse_taking(nic, name, "{where}.gen_ports")
                if nic.ifname is None:
                    self.fail("{where}.gen_ports", f"{name} ({nic.pci}) has no kernel interface for the "
                                                   "kernel generator")

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
        if not self.on_tester:
            pass
        elif self.dpdk_generator:
            steps += self.hugepage_steps() + self.take_for_dpdk((opt.gen_ports, "{where}.gen_ports"))
            steps.append(self.runtime_dir(self.gen_prefix))
        else:
            steps += [SetLinkUp(self.nic(n, "{where}.gen_ports").ifname, self.mtu()) for n in opt.gen_ports]
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

    def streams(self):
        """The generator's streams: the scenario's traffic, the same frames both ways."""
        return streams_for(self.scenario.traffic, 2)

    def generator_step(self):
        ports = [self.nic(n, "{where}.gen_ports") for n in self.options.gen_ports]
        if self.dpdk_generator:
            return self.dpdk_generator_step([nic.pci for nic in ports], streams=self.streams())
        from ..gen.config import GenConfig

        t = self.scenario.traffic
        lcores = self.placement.generator  # one poll loop per lcore, each on its own queue of every port
        cfg = GenConfig(eal_args=(), ports=tuple(nic.ifname for nic in ports), backend="kernel",
                        kernel_mode=kernel_mode_for(t), streams=with_latency_streams(self.streams(), self.scenario.method), core=lcores[0], lcores=lcores)
        return StartGenerator(cfg.to_dict(), log=str(self.run_dir / "generator.log"))

    def wait_ready(self, ctx):
        self.dut_ovsdb(ctx).wait_ports_up(tuple(self.dut_ifnames()), timeout=60)
        self.wait_links(ctx, 60, f"check the cabling to {', '.join(self.options.dut_ports)}"
                                 + (f" on {self.dut_name}" if self.side == "tester" else ""))

    def counters(self, ctx):
        return OvsCounters(self.dut_ovsdb(ctx), tuple(self.dut_ifnames()))
