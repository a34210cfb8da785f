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
from ..scenario.checks import Invalid
from .ovs_dpdk_vhost import OvsDpdkVhostOptions, OvsDpdkVhostPath

VLAN_TAG_LEN = 4  # [B] an 802.1Q tag
TRUNK, ACCESS = "vhu0", "vhu1"  # OpenFlow ports 1 and 2


def _normal_flows(opt):
    return ("priority=0,actions=NORMAL",)


def _openflow_flows(opt):
    # OpenFlow 1.0 actions (the flow format AddFlows speaks): mod_vlan_vid on an untagged
    # frame pushes an 802.1Q tag, as push_vlan:0x8100 + set_field would in OpenFlow 1.1+.
    return (f"priority=100,in_port=1,dl_vlan={opt.vlan},actions=strip_vlan,output:2",
            f"priority=100,in_port=2,vlan_tci=0x0000/0x1fff,actions=mod_vlan_vid:{opt.vlan},output:1")


# forwarding -> the bridge's flows; a new way to switch the tag is one entry here
FORWARDING = {"normal": _normal_flows, "openflow": _openflow_flows}


@dataclass(frozen=True)
class OvsDpdkVlanOptions(OvsDpdkVhostOptions):
    """OVS-DPDK access/trunk ports over vhost-user (the vhost options, plus the VLAN)."""

    vlan: int = 100  # the access port's tag, the VID the generator sends into the trunk
    trunks: tuple[int, ...] = ()  # VIDs the trunk carries (empty: just vlan)
    forwarding: str = "normal"  # normal (NORMAL + port VLAN config) or openflow (push/strip rules)

    def check(self):
        super().check()
        if not 1 <= self.vlan <= 4094:
            raise Invalid("vlan", f"{self.vlan} is not a VLAN ID 1-4094")
        for v in self.trunks:
            if not 1 <= v <= 4094:
                raise Invalid("trunks", f"{v} is not a VLAN ID 1-4094")
        if self.trunks and self.vlan not in self.trunks:
            raise Invalid("trunks", f"does not carry vlan {self.vlan}: the trunk would drop every frame")
        if len(set(self.trunks)) != len(self.trunks):
            raise Invalid("trunks", "lists a VLAN twice")
        if self.forwarding not in FORWARDING:
            raise Invalid("forwarding", f"must be {' or '.join(FORWARDING)}, not {self.forwarding!r}")


class OvsDpdkVlanPath(OvsDpdkVhostPath):
    kind, Options = "ovs-dpdk-vlan", OvsDpdkVlanOptions

    def precheck(self):
        from ..gen.template import MAX_FRAME_SIZE

        if self.scenario.traffic.encap != "none":
            self.fail("traffic.encap", f"{self.scenario.traffic.encap!r}: the {self.kind} path tags the trunk "
                                       "side itself (its vlan option); leave traffic.encap at \"none\"")
        super().precheck()
        if self.scenario.traffic.max_frame + VLAN_TAG_LEN > MAX_FRAME_SIZE:
            self.fail("traffic.frame_size", f"{self.scenario.traffic.max_frame} B untagged is "
                                            f"{self.scenario.traffic.max_frame + VLAN_TAG_LEN} B on the trunk, "
                                            f"over the generator's {MAX_FRAME_SIZE} B")

    def port_columns(self) -> dict[str, dict]:
        opt = self.options
        return {TRUNK: {"vlan_mode": "trunk", "trunks": list(opt.trunks or (opt.vlan,))},
                ACCESS: {"vlan_mode": "access", "tag": opt.vlan}}

    def vhost_ports(self):
        cols = self.port_columns()
        return [(name, self.options.bridge, ofport, {"port_columns": cols[name]})
                for ofport, name in enumerate((TRUNK, ACCESS), 1)]

    def forwarding_steps(self):
        opt = self.options
        return [AddFlows(self.ovs_dir, opt.bridge, FORWARDING[opt.forwarding](opt))]

    def streams(self):
        from dataclasses import replace

        from .streams import streams_for

        t = self.scenario.traffic
        trunk = replace(t, encap="vlan", vlan=self.options.vlan)
        # port 0 faces the trunk: the same frames, tagged (4 B longer)
        return streams_for(t, 2, lambda tx, mirror: (trunk, VLAN_TAG_LEN) if tx == 0 else (t, 0))

    def explain(self):
        opt = self.options
        return (f"VLAN {opt.vlan}: generator port 0 -> {TRUNK} (trunk {list(opt.trunks or (opt.vlan,))}, "
                f"tagged, frame_size + 4 B), generator port 1 -> {ACCESS} (access, untagged); "
                f"forwarding {opt.forwarding}\n" + super().explain())
