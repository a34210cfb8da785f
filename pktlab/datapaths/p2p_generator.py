"""The generator's side of a phy-phy path (ovs-kernel-p2p, ovs-dpdk-p2p): DPDK on its
NICs (bound to vfio-pci, the default: it then outruns what it measures) or, with
generator = "kernel", AF_XDP on their kernel interfaces, for hosts where they cannot
leave the kernel and for taps cabled to a DUT on another host (no PCI function).

A mixin of LabPath: the DUT's side (OVS kernel or OVS-DPDK) is the path's own.
"""
from __future__ import annotations

import dataclasses
import functools

from ..gen.step import StartGenerator
from ..host.links import SetLinkUp
from ..inventory.nics import interface_nic
from ..inventory.sysfs import read_inventory, read_netdevs
from .streams import kernel_mode_for, streams_for, with_latency_streams


class P2pGenerator:
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

    def gen_demand(self, demand):
        """AF_XDP takes no hugepages."""
        return demand if self.dpdk_generator else dataclasses.replace(demand, gen_mem_mb=0)

    def check_gen_ports(self):
        if self.dpdk_generator:
            self.check_dpdk_ports(self.options.gen_ports, "{where}.gen_ports")
            return
        for name in self.options.gen_ports:
            nic = self.nic(name, "{where}.gen_ports")
            self.refuse_taking(nic, name, "{where}.gen_ports")
            if nic.ifname is None:
                self.fail("{where}.gen_ports", f"{name} ({nic.pci}) has no kernel interface for the "
                                               "kernel generator")

    def gen_steps(self, hugepages: bool = True) -> list:
        """Before the generator: its NICs bound (with its hugepages, unless the plan reserves
        them already), or their interfaces up."""
        opt = self.options
        if self.dpdk_generator:
            return (self.hugepage_steps() * hugepages + self.take_for_dpdk((opt.gen_ports, "{where}.gen_ports"))
                    + [self.runtime_dir(self.gen_prefix)])
        return [SetLinkUp(self.nic(n, "{where}.gen_ports").ifname, self.mtu()) for n in opt.gen_ports]

    def gen_l2(self):
        """Each generator port's (source MAC, destination MAC, VLAN or None), for a DUT that
        takes frames by MAC; None: the scenario's MACs, mirrored back."""
        return None

    def streams(self):
        """The generator's streams: the scenario's traffic both ways (a path whose two sides
        differ, an overlay's, gives each side its own frames)."""
        return streams_for(self.scenario.traffic, 2, l2=self.gen_l2())

    def generator_step(self):
        ports = [self.nic(n, "{where}.gen_ports") for n in self.options.gen_ports]
        if self.dpdk_generator:
            return self.dpdk_generator_step([nic.pci for nic in ports], streams=self.streams())
        from ..gen.config import GenConfig

        t = self.scenario.traffic
        lcores = self.placement.generator  # one poll loop per lcore, each on its own queue of every port
        cfg = GenConfig(eal_args=(), ports=tuple(nic.ifname for nic in ports), backend="kernel",
                        kernel_mode=kernel_mode_for(t),
                        streams=with_latency_streams(self.streams(), self.scenario.method),
                        core=lcores[0], lcores=lcores)
        return StartGenerator(cfg.to_dict(), log=str(self.run_dir / "generator.log"))
