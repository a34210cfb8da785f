"""VLAN on the OVS kernel datapath: a trunk NIC and an access NIC on one system bridge.

    generator --802.1Q VID v--> dut NIC 0 (trunk) --[openvswitch strips the tag]--> dut NIC 1 (access, tag v) --> generator
    generator <--802.1Q VID v-- dut NIC 0 (trunk) <--[openvswitch pushes the tag]-- dut NIC 1 (access, tag v) <-- generator

ovs-dpdk-vlan's ports and flows (overlay.VlanOptions: NORMAL with the ports' VLAN
columns, or explicit strip/push rules) on the kernel datapath between two NICs.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ovs.bridge import AddBridge, AddPort
from ..ovs.openflow import AddFlows
from .overlay import VLAN_TAG_LEN, VlanOptions, check_overlay_traffic, vlan_streams
from .ovs_kernel_p2p import OvsKernelP2pOptions, OvsKernelP2pPath


@dataclass(frozen=True)
class OvsKernelVlanOptions(VlanOptions, OvsKernelP2pOptions):
    """OVS kernel datapath trunk (dut_ports[0]) and access port (dut_ports[1]) (the
    phy-phy options, plus the VLAN's: overlay.VlanOptions)."""


class OvsKernelVlanPath(OvsKernelP2pPath):
    kind, Options = "ovs-kernel-vlan", OvsKernelVlanOptions
    two_hosts = False  # not tried across two hosts

    def precheck(self):
        check_overlay_traffic(self, VLAN_TAG_LEN, "tags the trunk side")
        super().precheck()

    def switch_steps(self, dut):
        opt = self.options
        return [AddBridge(self.ovs_dir, opt.bridge, "system"),
                *(AddPort(self.ovs_dir, opt.bridge, ifname, "system", {}, ofport, port_columns=cols)
                  for ofport, (ifname, cols) in enumerate(zip(dut, opt.port_columns()), 1)),
                AddFlows(self.ovs_dir, opt.bridge, opt.flows())]

    def streams(self):
        return vlan_streams(self.scenario.traffic, self.options)

    def explain(self):
        dut = self.options.dut_ports
        return f"{self.options.describe_vlan()} ({dut[0]} trunk, {dut[1]} access)\n" + super().explain()
