"""What the overlay data paths share, whichever OVS datapath does the switching:
the VXLAN tunnel's and the VLAN trunk/access port's options (validated once), the
checks of the traffic they wrap, and the generator's per-direction streams.

ovs-dpdk-vxlan / ovs-dpdk-vlan (userspace datapath, vhost-user ports) and
ovs-kernel-vxlan / ovs-kernel-vlan (kernel datapath, NICs) are these plus their
switch: a new datapath for the same overlay is a new path class, not new frames.

Sides: the VXLAN underlay (outer frames, VTEP to VTEP) and the inner side (what
a VM sees); the VLAN trunk (tagged) and access port (untagged).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace

from ..scenario.checks import MAC, Invalid, check_bridge

VXLAN_OVERHEAD = 50  # [B] outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8
VXLAN_PORT = 4789  # IANA; OVS's default dst_port
VLAN_TAG_LEN = 4  # [B] an 802.1Q tag
UNDERLAY, INNER = "underlay", "inner"
# operation -> the side the generator's port 0 and port 1 face
VXLAN_SIDES = {"decap": (UNDERLAY, INNER), "encap": (INNER, UNDERLAY)}


@dataclass(frozen=True)
class VxlanOptions:
    """A VXLAN tunnel endpoint in OVS, the generator being the remote VTEP and the VM.
    Mixed into a path's options (before its base options): check() chains."""

    operation: str = "decap"  # decap: port 0 sends VXLAN into the underlay; encap: port 0 sends plain frames
    vni: int | None = None  # VXLAN network identifier (24 bits); required
    bridge: str = "br-pktlab-int"  # the integration bridge: the VM side and the vxlan port
    underlay_bridge: str = "br-pktlab-phy"  # the underlay bridge: its own port holds the local VTEP
    local_vtep: str = "172.31.1.1/24"  # OVS's tunnel endpoint address and the underlay's prefix
    remote_vtep: str = "172.31.1.2"  # the generator's side
    local_mac: str = "02:00:00:00:0a:01"  # the underlay bridge's MAC (outer destination into OVS)
    remote_mac: str = "02:00:00:00:0a:02"  # the remote VTEP's MAC (the switch's neighbour entry)

    @property
    def local_ip(self) -> str:
        return str(ipaddress.IPv4Interface(self.local_vtep).ip)

    def check(self):
        super().check()  # the path's own options
        if self.operation not in VXLAN_SIDES:
            raise Invalid("operation", f"must be decap or encap, not {self.operation!r}")
        if self.vni is None:
            raise Invalid("vni", "missing (required): the tunnel's VXLAN network identifier, 0-16777215")
        if not 0 <= self.vni < 1 << 24:
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

    def tunnel_port_options(self) -> dict:
        """The OVS vxlan interface's options."""
        return {"remote_ip": self.remote_vtep, "local_ip": self.local_ip, "key": str(self.vni)}

    def describe_tunnel(self) -> str:
        return (f"VXLAN VNI {self.vni} {self.operation}: local VTEP {self.local_vtep} on {self.underlay_bridge} "
                f"({self.local_mac}), remote VTEP {self.remote_vtep} ({self.remote_mac})")


def vxlan_traffic(traffic, opt: VxlanOptions, mirror: bool):
    """The traffic the remote VTEP (the generator) sends: outer frames from it to OVS's
    VTEP, VNI vni. A mirrored direction (port 1 -> port 0) swaps the underlay addresses
    when built, so they are given swapped here."""
    src, dst = (opt.remote_vtep, opt.remote_mac), (opt.local_ip, opt.local_mac)
    if mirror:
        src, dst = dst, src
    return replace(traffic, encap="vxlan", vni=opt.vni, vtep_src_ip=src[0], vtep_src_mac=src[1],
                   vtep_dst_ip=dst[0], vtep_dst_mac=dst[1])


def vxlan_streams(traffic, opt: VxlanOptions):
    """The generator's streams: the port facing the underlay sends the same frames in
    VXLAN (50 B longer), the other the plain inner frames."""
    from .streams import streams_for

    underlay_tx = VXLAN_SIDES[opt.operation].index(UNDERLAY)

    def shape(tx, mirror):
        return (vxlan_traffic(traffic, opt, mirror), VXLAN_OVERHEAD) if tx == underlay_tx else (traffic, 0)

    return streams_for(traffic, 2, shape)


@dataclass(frozen=True)
class VlanOptions:
    """An access port (tag vlan) and a trunk port carrying it. Mixed in like VxlanOptions."""

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
        if self.forwarding not in VLAN_FORWARDING:
            raise Invalid("forwarding", f"must be {' or '.join(VLAN_FORWARDING)}, not {self.forwarding!r}")

    def port_columns(self) -> tuple[dict, dict]:
        """OVSDB Port columns of (the trunk, the access port)."""
        return ({"vlan_mode": "trunk", "trunks": list(self.trunks or (self.vlan,))},
                {"vlan_mode": "access", "tag": self.vlan})

    def flows(self) -> tuple[str, ...]:
        """The bridge's flows, the trunk being OpenFlow port 1 and the access port 2."""
        return VLAN_FORWARDING[self.forwarding](self)

    def describe_vlan(self) -> str:
        return (f"VLAN {self.vlan}: generator port 0 -> trunk {list(self.trunks or (self.vlan,))} (tagged, "
                f"frame_size + 4 B), port 1 -> access port (untagged); forwarding {self.forwarding}")


def _normal_flows(opt):
    return ("priority=0,actions=NORMAL",)


def _openflow_flows(opt):
    # OpenFlow 1.0 actions (the flow format AddFlows speaks): mod_vlan_vid on an untagged
    # frame pushes an 802.1Q tag, as push_vlan:0x8100 + set_field would in OpenFlow 1.1+.
    return (f"priority=100,in_port=1,dl_vlan={opt.vlan},actions=strip_vlan,output:2",
            f"priority=100,in_port=2,vlan_tci=0x0000/0x1fff,actions=mod_vlan_vid:{opt.vlan},output:1")


# forwarding -> the bridge's flows; a new way to switch the tag is one entry here
VLAN_FORWARDING = {"normal": _normal_flows, "openflow": _openflow_flows}


def vlan_streams(traffic, opt: VlanOptions):
    """Port 0 faces the trunk: the same frames, tagged (4 B longer); port 1 the access port."""
    from .streams import streams_for

    trunk = replace(traffic, encap="vlan", vlan=opt.vlan)
    return streams_for(traffic, 2, lambda tx, mirror: (trunk, VLAN_TAG_LEN) if tx == 0 else (traffic, 0))


def check_overlay_traffic(path, extra: int, what: str) -> None:
    """The path wraps one side's frames itself (extra [B] longer there): refuse a traffic
    encap it would double, and frames the generator could not send wrapped."""
    from ..gen.template import MAX_FRAME_SIZE

    t = path.scenario.traffic
    if t.encap != "none":
        path.fail("traffic.encap", f"{t.encap!r}: the {path.kind} path {what} itself (its own options); "
                                   "leave traffic.encap at \"none\"")
    if t.max_frame + extra > MAX_FRAME_SIZE:
        path.fail("traffic.frame_size", f"{t.max_frame} B frames are {t.max_frame + extra} B wrapped, "
                                        f"over the generator's {MAX_FRAME_SIZE} B")


def refuse_existing_interfaces(path, keys) -> None:
    """A bridge's own port is an interface in the host named after the bridge: refuse a
    name the host uses already (a system OVS's br-int, say) before touching anything."""
    from ..host.netns import get_link, rtnl

    opt = path.options
    with rtnl(None, "look up", getattr(opt, keys[0])) as ipr:
        for key in keys:
            if get_link(ipr, getattr(opt, key)) is not None:
                path.fail(f"{path.where}.{key}", f"an interface {getattr(opt, key)!r} exists on this host; "
                                                 "pktlab's bridge would create one of that name: choose another")
