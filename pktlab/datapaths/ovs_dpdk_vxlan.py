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

import ipaddress
from dataclasses import dataclass

from ..ovs.bridge import AddBridge, AddPort
from ..ovs.openflow import AddFlows
from ..ovs.tunnel import AddOvsRoute, SetBridgeAddress, SetTunnelNeighbour
from ..scenario.checks import MAC, Invalid, check_bridge
from .ovs_dpdk_vhost import OvsDpdkVhostOptions, OvsDpdkVhostPath

VXLAN_OVERHEAD = 50  # [B] outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8
VXLAN_PORT = 4789  # IANA; OVS's default dst_port
UNDERLAY, INNER, TUNNEL = "vhu0", "vhu1", "vxlan0"
# which OVS port the generator's port 0 and port 1 face
GEN_PORTS = {"decap": (UNDERLAY, INNER), "encap": (INNER, UNDERLAY)}


@dataclass(frozen=True)
class OvsDpdkVxlanOptions(OvsDpdkVhostOptions):
    """OVS-DPDK VXLAN termination over vhost-user (the vhost options, plus the tunnel)."""

    operation: str = "decap"  # decap: port 0 sends VXLAN into the underlay; encap: port 0 sends plain frames
    vni: int = 5000  # VXLAN network identifier (24 bits)
    bridge: str = "br-pktlab-int"  # the integration bridge: the VM port and the vxlan port
    underlay_bridge: str = "br-pktlab-phy"  # the underlay bridge: its own port holds the local VTEP
    local_vtep: str = "172.31.1.1/24"  # OVS's tunnel endpoint address and the underlay's prefix
    remote_vtep: str = "172.31.1.2"  # the generator's side: OVS routes and resolves it itself
    local_mac: str = "02:00:00:00:0a:01"  # the underlay bridge's MAC (outer destination into OVS)
    remote_mac: str = "02:00:00:00:0a:02"  # the remote VTEP's MAC (OVS's neighbour entry)

    def check(self):
        super().check()
        if self.operation not in GEN_PORTS:
            raise Invalid("operation", f"must be decap or encap, not {self.operation!r}")
        if not isinstance(self.vni, int) or not 0 <= self.vni < 1 << 24:
            raise Invalid("vni", f"{self.vni!r} does not fit VXLAN's 24 bits (0-16777215)")
        try:
            check_bridge(self.underlay_bridge)
        except Invalid as e:
            raise Invalid("underlay_bridge", e.reason) from None
        if self.underlay_bridge == self.bridge:
            raise Invalid("underlay_bridge", "must differ from bridge (the integration bridge)")
        try:
            local = ipaddress.IPv4Interface(self.local_vtep)
        except ValueError:
            raise Invalid("local_vtep", f"{self.local_vtep!r} is not an IPv4 address/prefix "
                                        "(e.g. 172.31.1.1/24)") from None
        if "/" not in self.local_vtep or local.network.prefixlen > 30:
            raise Invalid("local_vtep", "needs a prefix of /30 or shorter that holds remote_vtep too")
        try:
            remote = ipaddress.IPv4Address(self.remote_vtep)
        except ValueError:
            raise Invalid("remote_vtep", f"{self.remote_vtep!r} is not an IPv4 address") from None
        if remote not in local.network or remote == local.ip:
            raise Invalid("remote_vtep", f"{remote} must be another address in local_vtep's {local.network}")
        for key in ("local_mac", "remote_mac"):
            mac = getattr(self, key)
            if not MAC.match(mac) or int(mac.split(":")[0], 16) & 1:
                raise Invalid(key, f"{mac!r} is not a unicast MAC address")
        if self.local_mac.lower() == self.remote_mac.lower():
            raise Invalid("remote_mac", "must differ from local_mac")


class OvsDpdkVxlanPath(OvsDpdkVhostPath):
    kind, Options = "ovs-dpdk-vxlan", OvsDpdkVxlanOptions

    @property
    def gen_ports(self):
        return GEN_PORTS[self.options.operation]

    @property
    def local_ip(self) -> str:
        return str(ipaddress.IPv4Interface(self.options.local_vtep).ip)

    def precheck(self):
        from ..gen.template import MAX_FRAME_SIZE
        from ..host.netns import get_link, rtnl

        if self.scenario.traffic.encap != "none":
            self.fail("traffic.encap", f"{self.scenario.traffic.encap!r}: the {self.kind} path encapsulates the underlay side "
                                       "itself (its vni and VTEP options); leave traffic.encap at \"none\"")
        super().precheck()
        t, opt = self.scenario.traffic, self.options
        where = f"datapath[{self.scenario.datapaths.index(self.entry)}]"
        if t.max_frame + VXLAN_OVERHEAD > MAX_FRAME_SIZE:
            self.fail("traffic.frame_size", f"{t.max_frame} B inner frames are {t.max_frame + VXLAN_OVERHEAD} B "
                                            f"on the underlay, over the generator's {MAX_FRAME_SIZE} B")
        # A netdev bridge's own port is a tap in the host, named after the bridge: refuse
        # a name the host uses already (a system OVS's br-int, say) before touching anything.
        with rtnl(None, "look up", opt.underlay_bridge) as ipr:
            for key in ("bridge", "underlay_bridge"):
                if get_link(ipr, getattr(opt, key)) is not None:
                    self.fail(f"{where}.{key}", f"an interface {getattr(opt, key)!r} exists on this host; "
                                                "pktlab's bridge would create one of that name: choose another")

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
            AddPort(self.ovs_dir, opt.bridge, TUNNEL, "vxlan",
                    {"remote_ip": opt.remote_vtep, "local_ip": self.local_ip, "key": str(opt.vni)}, 2),
            # Into the bridge's own port: OVS pops the tunnel header (frames for its own MAC
            # and VTEP address); out of it: what the vxlan port pushed, onto the underlay.
            AddFlows(self.ovs_dir, opt.underlay_bridge, ("priority=100,in_port=1,actions=LOCAL",
                                                         "priority=100,in_port=LOCAL,actions=output:1")),
            AddFlows(self.ovs_dir, opt.bridge, ("priority=100,in_port=1,actions=output:2",
                                                "priority=100,in_port=2,actions=output:1")),
        ]

    def streams(self):
        from .streams import streams_for

        t, underlay_tx = self.scenario.traffic, self.gen_ports.index(UNDERLAY)

        def shape(tx, mirror):  # the underlay side sends the same frames in VXLAN (50 B longer)
            return (self.vxlan_traffic(mirror), VXLAN_OVERHEAD) if tx == underlay_tx else (t, 0)

        return streams_for(t, 2, shape)

    def vxlan_traffic(self, mirror: bool):
        """The traffic the remote VTEP (the generator) sends: outer frames from it to OVS's
        VTEP, VNI vni. A mirrored direction (port 1 -> port 0) swaps the underlay addresses
        when built, so they are given swapped here."""
        from dataclasses import replace

        opt = self.options
        src, dst = (opt.remote_vtep, opt.remote_mac), (self.local_ip, opt.local_mac)
        if mirror:
            src, dst = dst, src
        return replace(self.scenario.traffic, encap="vxlan", vni=opt.vni, vtep_src_ip=src[0], vtep_src_mac=src[1],
                       vtep_dst_ip=dst[0], vtep_dst_mac=dst[1])

    def explain(self):
        opt = self.options
        a, b = self.gen_ports
        return (f"VXLAN VNI {opt.vni} {opt.operation}: generator port 0 -> {a}, port 1 -> {b}; "
                f"local VTEP {opt.local_vtep} on {opt.underlay_bridge} ({opt.local_mac}), remote VTEP "
                f"{opt.remote_vtep} ({opt.remote_mac}); underlay MTU {self.underlay_mtu()}\n" + super().explain())
