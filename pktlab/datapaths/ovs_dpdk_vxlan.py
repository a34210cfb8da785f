"""OVS-DPDK as a VXLAN tunnel endpoint on loopback, as VSPERF's overlay tests and
Neutron's tenant networks use it: the underlay bridge holds the local VTEP address,
the integration bridge a `vxlan` port; the generator is both the remote VTEP and the VM.

    decap: generator --VXLAN--> vhu0 [underlay bridge, local VTEP] --pop--> vxlan0 [integration bridge] --> vhu1 --> generator
    encap: generator --plain--> vhu1 [integration bridge] --> vxlan0 --push--> [underlay bridge] --> vhu0 --VXLAN--> generator

`operation` names the direction the generator's port 0 sends (bidirectional traffic
runs the other one back). frame_size is the inner frame (what the VM sees); the
underlay carries it 50 bytes longer (outer Ethernet, IPv4, UDP, VXLAN), and the
underlay port's MTU is raised for that when 1500 is not enough.

The plan sets the VTEP as OVS's userspace tunnelling needs it (pktlab/ovs/tunnel.py):
the local address on the underlay bridge's own port, a route to the remote VTEP in
OVS's route table and the remote VTEP's MAC in its neighbour cache; undone after.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ovs.bridge import AddBridge, AddPort
from ..ovs.openflow import AddFlows
from ..ovs.tunnel import AddOvsRoute, SetBridgeAddress, SetTunnelNeighbour
from .overlay import (INNER as _INNER, UNDERLAY as _UNDERLAY, VXLAN_OVERHEAD, VXLAN_SIDES,
                      VxlanOptions, check_overlay_traffic, refuse_existing_interfaces, vxlan_streams)
from .ovs_dpdk_vhost import OvsDpdkVhostOptions, OvsDpdkVhostPath

UNDERLAY, INNER, TUNNEL = "vhu0", "vhu1", "vxlan0"
# which OVS port the generator's port 0 and port 1 face
GEN_PORTS = {op: tuple({_UNDERLAY: UNDERLAY, _INNER: INNER}[s] for s in sides) for op, sides in VXLAN_SIDES.items()}


@dataclass(frozen=True)
class OvsDpdkVxlanOptions(VxlanOptions, OvsDpdkVhostOptions):
    """OVS-DPDK VXLAN termination over vhost-user (the vhost options, plus the tunnel's:
    overlay.VxlanOptions)."""


class OvsDpdkVxlanPath(OvsDpdkVhostPath):
    kind, Options = "ovs-dpdk-vxlan", OvsDpdkVxlanOptions

    @property
    def gen_ports(self):
        return GEN_PORTS[self.options.operation]

    @property
    def local_ip(self) -> str:
        return self.options.local_ip

    def precheck(self):
        check_overlay_traffic(self, VXLAN_OVERHEAD, "encapsulates the underlay side")
        super().precheck()
        refuse_existing_interfaces(self, ("bridge", "underlay_bridge"))

    def socket_paths(self):
        return super().socket_paths() + [f"{self.ovs_dir}/{self.options.underlay_bridge}.mgmt"]

    def underlay_mtu(self) -> int:
        """The underlay port's MTU [B]: the largest inner frame plus the outer headers,
        less Ethernet's header and FCS (what OVS checks frames it sends against)."""
        return max(1500, self.scenario.traffic.max_frame + VXLAN_OVERHEAD - 18)

    # -- the plan -----------------------------------------------------------
    def bridge_steps(self):
        opt = self.options
        return [
            AddBridge(self.ovs_dir, opt.underlay_bridge, "netdev", {"hwaddr": opt.local_mac}),
            AddBridge(self.ovs_dir, opt.bridge, "netdev"),
            SetBridgeAddress(opt.underlay_bridge, opt.local_vtep),
            AddOvsRoute(self.ovs_dir, f"{opt.remote_vtep}/32", opt.underlay_bridge),
            SetTunnelNeighbour(self.ovs_dir, opt.underlay_bridge, opt.remote_vtep, opt.remote_mac),
        ]

    def vhost_ports(self):
        opt = self.options
        mtu = self.underlay_mtu()
        return [(UNDERLAY, opt.underlay_bridge, 1, {"mtu_request": mtu if mtu > 1500 else 0}),
                (INNER, opt.bridge, 1, {})]

    def forwarding_steps(self):
        opt = self.options
        return [
            AddPort(self.ovs_dir, opt.bridge, TUNNEL, "vxlan", opt.tunnel_port_options(), 2),
            # Into the bridge's own port: OVS pops the tunnel header (frames for its own MAC
            # and VTEP address); out of it: what the vxlan port pushed, onto the underlay.
            AddFlows(self.ovs_dir, opt.underlay_bridge, ("priority=100,in_port=1,actions=LOCAL",
                                                         "priority=100,in_port=LOCAL,actions=output:1")),
            AddFlows(self.ovs_dir, opt.bridge, ("priority=100,in_port=1,actions=output:2",
                                                "priority=100,in_port=2,actions=output:1")),
        ]

    def streams(self):
        return vxlan_streams(self.scenario.traffic, self.options)

    def explain(self):
        opt = self.options
        a, b = self.gen_ports
        return (f"{opt.describe_tunnel()}; generator port 0 -> {a}, port 1 -> {b}; "
                f"underlay MTU {self.underlay_mtu()}\n" + super().explain())
