"""VLAN on the switch: an OVS-DPDK trunk port and an access port, over vhost-user.

    generator --802.1Q VID v--> vhu0 (trunk) --[OVS strips the tag]--> vhu1 (access, tag v) --> generator
    generator <--802.1Q VID v-- vhu0 (trunk) <--[OVS pushes the tag]-- vhu1 (access, tag v) <-- generator

As a Neutron provider network meets a VM port. The generator's port 0 faces the
trunk and sends tagged frames; port 1 faces the access port and sends untagged
ones; each receives what the other sent, retagged by the switch, and finds its
stamps behind the tag or without one. frame_size is the untagged frame on the
access port; the trunk carries the same frame 4 bytes longer.

forwarding "normal": OVS's NORMAL action (MAC learning) applies the ports'
tag/trunks/vlan_mode, as Neutron's br-int does. "openflow": explicit rules
strip_vlan / mod_vlan_vid (a push on an untagged frame) between the
two ports, the same tag work
without learning.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ovs.openflow import AddFlows
from .overlay import VLAN_TAG_LEN, VlanOptions, check_overlay_traffic, vlan_streams
from .ovs_dpdk_vhost import OvsDpdkVhostOptions, OvsDpdkVhostPath

TRUNK, ACCESS = "vhu0", "vhu1"  # OpenFlow ports 1 and 2


@dataclass(frozen=True)
class OvsDpdkVlanOptions(VlanOptions, OvsDpdkVhostOptions):
    """OVS-DPDK access/trunk ports over vhost-user (the vhost options, plus the VLAN's:
    overlay.VlanOptions)."""


class OvsDpdkVlanPath(OvsDpdkVhostPath):
    kind, Options = "ovs-dpdk-vlan", OvsDpdkVlanOptions

    def precheck(self):
        check_overlay_traffic(self, VLAN_TAG_LEN, "tags the trunk side")
        super().precheck()

    def port_columns(self) -> dict[str, dict]:
        return dict(zip((TRUNK, ACCESS), self.options.port_columns()))

    def vhost_ports(self):
        cols = self.port_columns()
        return [(name, self.options.bridge, ofport, {"port_columns": cols[name]})
                for ofport, name in enumerate((TRUNK, ACCESS), 1)]

    def forwarding_steps(self):
        return [AddFlows(self.ovs_dir, self.options.bridge, self.options.flows())]

    def streams(self):
        return vlan_streams(self.scenario.traffic, self.options)

    def explain(self):
        return f"{self.options.describe_vlan()} ({TRUNK} trunk, {ACCESS} access)\n" + super().explain()
