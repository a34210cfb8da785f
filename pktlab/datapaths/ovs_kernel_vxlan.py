"""The OVS kernel datapath as a VXLAN tunnel endpoint between two NICs, as a compute
node's br-phy/br-int carry a Neutron tenant network: the openvswitch module switches,
the kernel's own vxlan device (vxlan_sys_4789) and IP stack terminate the tunnel.

    decap: generator --VXLAN--> dut NIC (underlay) [br-pktlab-phy] --LOCAL--> kernel IP/UDP 4789
           --> vxlan_sys_4789 --> vxlan0 [br-pktlab-int] --> dut NIC (inner) --> generator
    encap: the reverse: inner NIC --> vxlan0 --push--> kernel route/neighbour --> br-pktlab-phy's
           own port --> underlay NIC --VXLAN--> generator

The generator's port i is cabled to dut_ports[i]; `operation` says which of them is
the underlay (decap: port 0 sends VXLAN; encap: port 0 sends the plain frames, port 1
gets them back in VXLAN). The local VTEP address sits on the underlay bridge's own
(internal) port, whose MAC is local_mac; the plan adds a kernel route to the remote
VTEP through it and a permanent neighbour entry for remote_mac (pktlab/ovs/tunnel.py),
all taken away after. ovs-vswitchd makes vxlan_sys_4789 (the kernel loads vxlan,
udp_tunnel, ip6_udp_tunnel for it): the device and those modules go with the run too.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..host.kmod import UnloadAutoloaded
from ..host.links import SetLinkUp
from ..ovs.bridge import AddBridge, AddPort
from ..ovs.openflow import AddFlows
from ..ovs.tunnel import KernelNeighbour, KernelRoute, SetBridgeAddress, TunnelDevice, tunnel_device
from .overlay import (INNER, UNDERLAY, VXLAN_OVERHEAD, VXLAN_PORT, VXLAN_SIDES, VxlanOptions,
                      check_overlay_traffic, refuse_existing_interfaces, vxlan_streams)
from .ovs_kernel_p2p import OvsKernelP2pOptions, OvsKernelP2pPath

TUNNEL = "vxlan0"
# what ovs-vswitchd's vxlan port has the kernel load (vxlan pulls udp_tunnel and ip6_udp_tunnel)
TUNNEL_MODULES = ("vxlan",)


@dataclass(frozen=True)
class OvsKernelVxlanOptions(VxlanOptions, OvsKernelP2pOptions):
    """OVS kernel datapath VXLAN termination between two DUT NICs (the phy-phy options,
    plus the tunnel's: overlay.VxlanOptions)."""


class OvsKernelVxlanPath(OvsKernelP2pPath):
    kind, Options = "ovs-kernel-vxlan", OvsKernelVxlanOptions
    two_hosts = False  # the tunnel's sides are planned on one host only (not tried across two)

    @property
    def sides(self) -> tuple[str, str]:
        """What the generator's port 0 and port 1 (and the DUT NICs cabled to them) are."""
        return VXLAN_SIDES[self.options.operation]

    def precheck(self):
        check_overlay_traffic(self, VXLAN_OVERHEAD, "encapsulates the underlay side")
        super().precheck()
        refuse_existing_interfaces(self, ("bridge", "underlay_bridge"))
        from ..host.netns import get_link, rtnl

        dev = tunnel_device(VXLAN_PORT)
        with rtnl(None, "look up", dev) as ipr:
            if get_link(ipr, dev) is not None:
                self.fail(f"{self.where}.kind", f"{dev} exists on this host: another Open vSwitch (or a run "
                                                "not restored) terminates VXLAN here; stop it or `pktlab restore`")

    def requirements(self):
        return [{"check": "module", "name": m} for m in TUNNEL_MODULES] + super().requirements()

    def mtu(self):
        """The underlay carries the largest frame 50 B longer: both DUT NICs get that MTU when over 1500."""
        need = self.scenario.traffic.max_frame + VXLAN_OVERHEAD - 18
        return need if need > 1500 else None

    # -- the plan -----------------------------------------------------------
    def daemon_steps(self):
        # before ovs-vswitchd starts: their undo runs once it is gone (and vxlan_sys_4789 with it)
        return [UnloadAutoloaded(m, self.root) for m in TUNNEL_MODULES] + super().daemon_steps()

    def switch_steps(self, dut):
        opt = self.options
        under, inner = (dut[self.sides.index(s)] for s in (UNDERLAY, INNER))
        return [
            AddBridge(self.ovs_dir, opt.underlay_bridge, "system", {"hwaddr": opt.local_mac}),
            AddBridge(self.ovs_dir, opt.bridge, "system"),
            SetBridgeAddress(opt.underlay_bridge, opt.local_vtep),  # IPv6 off before it comes up
            SetLinkUp(opt.underlay_bridge),  # ovs-vswitchd leaves a system bridge's own port down
            KernelRoute(f"{opt.remote_vtep}/32", opt.underlay_bridge, opt.local_ip),
            KernelNeighbour(opt.underlay_bridge, opt.remote_vtep, opt.remote_mac),
            AddPort(self.ovs_dir, opt.underlay_bridge, under, "system", {}, 1),
            AddPort(self.ovs_dir, opt.bridge, inner, "system", {}, 1),
            TunnelDevice(tunnel_device(VXLAN_PORT)),
            AddPort(self.ovs_dir, opt.bridge, TUNNEL, "vxlan", opt.tunnel_port_options(), 2),
            # Into the bridge's own port: the kernel takes the tunnel's frames (its MAC, its
            # address, UDP 4789); out of it: what vxlan_sys_4789 encapsulated, onto the underlay.
            AddFlows(self.ovs_dir, opt.underlay_bridge, ("priority=100,in_port=1,actions=LOCAL",
                                                         "priority=100,in_port=LOCAL,actions=output:1")),
            AddFlows(self.ovs_dir, opt.bridge, ("priority=100,in_port=1,actions=output:2",
                                                "priority=100,in_port=2,actions=output:1")),
        ]

    def counters(self, ctx):
        """The NICs' and the tunnel port's (what it decapsulated: rx, encapsulated: tx)."""
        from ..ovs.counters import OvsCounters

        return OvsCounters(self.dut_ovsdb(ctx), (*self.dut_ifnames(), TUNNEL))

    def streams(self):
        return vxlan_streams(self.scenario.traffic, self.options)

    def explain(self):
        dut = self.options.dut_ports
        roles = ", ".join(f"generator port {i} -> {dut[i]} ({side})" for i, side in enumerate(self.sides))
        return f"{self.options.describe_tunnel()}; {roles}\n" + super().explain()
