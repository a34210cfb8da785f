"""OVS userspace (DPDK) tunnel endpoint configuration: the VTEP address, the route
to the remote VTEP and its neighbour entry, as plan steps.

In the userspace datapath a native tunnel port (type vxlan) is terminated on the
bridge whose own port holds the tunnel's local address: OVS pops the header of a
frame sent to that bridge's LOCAL port when its destination MAC and IP are the
bridge's, and pushes one onto frames out of the tunnel port, routed by OVS's own
route table (ovs/route/*) and addressed from its own neighbour cache (tnl/neigh/*).

The route and the neighbour live in ovs-vswitchd's memory only (not OVSDB):
they go with the daemon. The address lives in the kernel, on the bridge's own
port (a tap for a netdev bridge): OVS reads interface addresses from there,
there is no other way to give it one. It is added without a prefix route (the
host's routing table does not change) and with IPv6 off on that tap (no router
solicitations or DAD frames leave it into the switch); the tap goes with the bridge.

The kernel datapath (ovs-kernel-vxlan) is terminated by the kernel itself: OVS's
vxlan port is a `vxlan` device in external mode (vxlan_sys_<dst port>, made by
ovs-vswitchd, which has the kernel load vxlan and what it needs) whose socket
takes UDP to the local address; frames it encapsulates are routed and addressed
by the kernel's route table and neighbour cache. So the endpoint is the same
address on the underlay bridge's own (internal) port, plus a kernel route to
the remote endpoint and a permanent neighbour entry (KernelRoute,
KernelNeighbour; both go with the port if it goes first). TunnelDevice takes
away a vxlan_sys_* device a killed ovs-vswitchd left.
"""
from __future__ import annotations

import errno as _errno
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from ..host import process
from ..host.netns import NetError, get_link, link_kind, rtnl
from ..plan import Step
from .daemons import ovs_env, vswitchd_running

OVS_APPCTL = "/usr/bin/ovs-appctl"
IFA_F_NOPREFIXROUTE = 0x200  # linux/if_addr.h


def appctl(ovs_dir: str, *args: str, timeout: float = 10.0) -> str:
    """An ovs-appctl command to the run's ovs-vswitchd (its control socket in the run dir)."""
    return process.run([OVS_APPCTL, "-t", f"{ovs_dir}/ovs-vswitchd.ctl", "--timeout", str(int(timeout)),
                        *args], ovs_env(ovs_dir), timeout=timeout + 5, what=f"ovs-appctl {args[0]}")


def user_routes(ovs_dir: str) -> list[str]:
    """The routes added with ovs/route/add ("User:" lines of ovs/route/show), as shown."""
    return [line.split(":", 1)[1].strip() for line in appctl(ovs_dir, "ovs/route/show").splitlines()
            if line.startswith("User:")]


def neighbours(ovs_dir: str) -> dict[str, tuple[str, str]]:
    """OVS's tunnel neighbour cache: {ip: (mac, bridge)}."""
    out = {}
    for line in appctl(ovs_dir, "tnl/neigh/show").splitlines():
        f = line.split()
        if len(f) == 3 and f[1].count(":") == 5:
            out[f[0]] = (f[1], f[2])
    return out


@dataclass
class SetBridgeAddress(Step):
    """The tunnel endpoint's address on a netdev bridge's own port (its tap in the kernel)."""

    kind = "ovs-bridge-address"
    bridge: str  # the bridge's own port has the bridge's name
    address: str  # "172.31.1.1/24": the prefix says which remote endpoints OVS may route to

    def describe(self):
        return (f"add {self.address} to {self.bridge}'s own port (no prefix route, IPv6 off): "
                "the local tunnel endpoint")

    def describe_undo(self):
        return f"remove {self.address} from {self.bridge} (if the bridge's port is still there)"

    def apply(self, ctx):
        from ..host.links import disable_ipv6

        iface = ipaddress.IPv4Interface(self.address)
        with rtnl(None, "address", self.bridge) as ipr:
            link = get_link(ipr, self.bridge)
            if link is None:
                raise NetError("add an address to", self.bridge, None, _errno.ENODEV,
                               "the bridge's own port is not there (bridge not added?)")
            self.state["index"] = link["index"]
            ctx.journal_state()
            disable_ipv6(self.bridge, None)
            try:
                ipr.addr("add", index=link["index"], address=str(iface.ip), prefixlen=iface.network.prefixlen,
                         IFA_FLAGS=IFA_F_NOPREFIXROUTE)
            except Exception as e:  # pyroute2's NetlinkError
                raise NetError("add an address to", self.bridge, None, getattr(e, "code", _errno.EIO),
                               self.address) from None

    def undo(self, ctx):
        index = self.state.get("index")
        if index is None:
            return
        iface = ipaddress.IPv4Interface(self.address)
        with rtnl(None, "address", self.bridge, missing_ok=True) as ipr:
            link = ipr and get_link(ipr, index=index)
            if not link or link.get_attr("IFLA_IFNAME") != self.bridge:
                return  # the tap went with the bridge (or the switch)
            addrs = [a for a in ipr.get_addr(index=index, family=2)
                     if a.get_attr("IFA_ADDRESS") == str(iface.ip)]
            if addrs:
                ipr.addr("del", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen)


@dataclass
class AddOvsRoute(Step):
    """A route in OVS's own table (ovs/route/add): where tunnelled frames leave."""

    kind = "ovs-route"
    ovs_dir: str
    prefix: str  # "172.31.1.2/32"
    bridge: str  # the bridge holding the source address on the same network
    gateway: str = ""

    def describe(self):
        via = f" via {self.gateway}" if self.gateway else ""
        return f"add OVS route {self.prefix} dev {self.bridge}{via} (ovs/route/add)"

    def describe_undo(self):
        return f"delete OVS route {self.prefix} (ovs/route/del; it also goes with ovs-vswitchd)"

    def apply(self, ctx):
        appctl(self.ovs_dir, "ovs/route/add", self.prefix, self.bridge, *([self.gateway] if self.gateway else []))

    def undo(self, ctx):
        if not _switch_answers(self.ovs_dir):
            return  # the route lived in the daemon's memory
        if any(r.startswith(self.prefix + " ") for r in user_routes(self.ovs_dir)):
            appctl(self.ovs_dir, "ovs/route/del", self.prefix)


@dataclass
class SetTunnelNeighbour(Step):
    """The remote endpoint's MAC in OVS's tunnel neighbour cache (tnl/neigh/set): no ARP
    round trip before the first frame, and no ARP frames into the measured ports."""

    kind = "ovs-tunnel-neighbour"
    ovs_dir: str
    bridge: str
    ip: str
    mac: str

    def describe(self):
        return f"set OVS tunnel neighbour {self.ip} is {self.mac} on {self.bridge} (tnl/neigh/set)"

    def describe_undo(self):
        return "flush OVS's tunnel neighbour cache (tnl/neigh/flush: OVS 3.1 deletes no single entry)"

    def apply(self, ctx):
        appctl(self.ovs_dir, "tnl/neigh/set", self.bridge, self.ip, self.mac)

    def undo(self, ctx):
        if _switch_answers(self.ovs_dir):
            appctl(self.ovs_dir, "tnl/neigh/flush")


def _switch_answers(ovs_dir: str) -> bool:
    return Path(ovs_dir, "ovs-vswitchd.ctl").exists() and vswitchd_running(ovs_dir)


# -- the kernel datapath's endpoint: kernel route and neighbour ----------------------
RTPROT_STATIC = 4  # linux/rtnetlink.h: a route an administrator (here: the plan) added
NUD_PERMANENT = 0x80  # linux/neighbour.h


@dataclass
class KernelRoute(Step):
    """A host route to the remote tunnel endpoint through the underlay port (the kernel
    routes what its vxlan device encapsulates). The address went in without a prefix
    route, so this is the one route the run adds."""

    kind = "kernel-route"
    prefix: str  # "172.31.1.2/32"
    dev: str
    src: str = ""  # the local endpoint: the route's preferred source

    def describe(self):
        return f"add kernel route {self.prefix} dev {self.dev}" + (f" src {self.src}" if self.src else "")

    def describe_undo(self):
        return f"delete kernel route {self.prefix} dev {self.dev} (if it is still there)"

    def _spec(self, index: int) -> dict:
        net = ipaddress.IPv4Network(self.prefix)
        spec = dict(dst=str(net.network_address), dst_len=net.prefixlen, oif=index, proto=RTPROT_STATIC)
        return {**spec, "prefsrc": self.src} if self.src else spec

    def apply(self, ctx):
        with rtnl(None, "add a route via", self.dev) as ipr:
            ipr.route("add", **self._spec(_noted_index(self, ctx, ipr, "add a route via")))

    def undo(self, ctx):
        index = self.state.get("index")
        if index is None:
            return
        net = ipaddress.IPv4Network(self.prefix)
        with rtnl(None, "delete the route via", self.dev, missing_ok=True) as ipr:
            if ipr is None or get_link(ipr, index=index) is None:
                return  # the route went with its interface
            if ipr.get_routes(family=2, dst=str(net.network_address), dst_len=net.prefixlen, oif=index):
                ipr.route("del", **self._spec(index))


@dataclass
class KernelNeighbour(Step):
    """The remote endpoint's MAC as a permanent neighbour entry on the underlay port:
    no ARP round trip before the first frame, no ARP frames into the measured ports."""

    kind = "kernel-neighbour"
    dev: str
    ip: str
    mac: str

    def describe(self):
        return f"add permanent kernel neighbour {self.ip} lladdr {self.mac} dev {self.dev}"

    def describe_undo(self):
        return f"delete neighbour {self.ip} on {self.dev} (if it is still there)"

    def apply(self, ctx):
        with rtnl(None, "add a neighbour on", self.dev) as ipr:
            index = _noted_index(self, ctx, ipr, "add a neighbour on")
            ipr.neigh("add", dst=self.ip, lladdr=self.mac, ifindex=index, state=NUD_PERMANENT)

    def undo(self, ctx):
        index = self.state.get("index")
        if index is None:
            return
        with rtnl(None, "delete the neighbour on", self.dev, missing_ok=True) as ipr:
            if ipr is None or get_link(ipr, index=index) is None:
                return
            if ipr.get_neighbours(family=2, ifindex=index, dst=self.ip):
                ipr.neigh("del", dst=self.ip, lladdr=self.mac, ifindex=index)


def _noted_index(step, ctx, ipr, op: str) -> int:
    """step.dev's ifindex, journaled before the change: undo then touches only that
    interface, and nothing once it is gone (its routes and neighbours went with it)."""
    link = get_link(ipr, step.dev)
    if link is None:
        raise NetError(op, step.dev, None, _errno.ENODEV)
    step.state["index"] = link["index"]
    ctx.journal_state()
    return link["index"]


def tunnel_device(dst_port: int = 4789) -> str:
    """The kernel device ovs-vswitchd makes for its vxlan ports of that UDP port."""
    return f"vxlan_sys_{dst_port}"


@dataclass
class TunnelDevice(Step):
    """Notes whether the kernel's vxlan device for OVS's vxlan ports exists before they
    are added. ovs-vswitchd deletes it with its last vxlan port; a killed one leaves it
    (and the vxlan module in use): undo then deletes it, if the run brought it. Put
    before the vxlan port, so its undo runs after the port's."""

    kind = "ovs-tunnel-device"
    name: str = "vxlan_sys_4789"

    def describe(self):
        return f"note whether {self.name} exists (ovs-vswitchd makes it with its first vxlan port)"

    def describe_undo(self):
        return f"delete {self.name} if it is still there and the run brought it (a killed ovs-vswitchd)"

    def apply(self, ctx):
        with rtnl(None, "look up", self.name) as ipr:
            self.state["existed"] = get_link(ipr, self.name) is not None
        ctx.journal_state()

    def undo(self, ctx):
        if self.state.get("existed", True):
            return
        with rtnl(None, "delete", self.name, missing_ok=True) as ipr:
            link = ipr and get_link(ipr, self.name)
            if link and link_kind(link) == "vxlan":
                ipr.link("del", index=link["index"])
