"""Veth pairs, Linux bridges and bridge ports as plan steps, all through
netlink (pyroute2), none through `ip`.

Every step refuses a name that exists already (pktlab does not adopt
interfaces it did not create), waits until the kernel shows what it asked for,
and records in its state the ifindex of what it made: undo deletes an
interface only if it is still that one, tolerates it (or its namespace) being
gone, and can run after a partial apply or twice.

Test interfaces carry no IPv6 (ipv6=False, the default): router solicitations,
DAD and MLD reports would otherwise show up as foreign frames on the receive
side. It is turned off with the per-interface sysctl disable_ipv6, written in
the interface's namespace before the interface goes up, so not one such frame
is ever sent.
"""
from __future__ import annotations

import errno as _errno
import logging
import os
from dataclasses import dataclass

from pyroute2 import netns as _netns
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.process import ChildProcess

from ..errors import StepError
from ..plan import Step
from .names import check_ifname, check_netns_name
from .netns import (IFF_LOWER_UP, IFF_PROMISC, IFF_UP, NetError, get_link, link_kind, link_up, rtnl,
                    wait_until, where)

log = logging.getLogger(__name__)

BR_STATE_FORWARDING = 3


def _validate(*ends):
    """ends: (ifname, netns) pairs; a StepError with the reason for the first bad name."""
    for ifname, ns in ends:
        reason = check_ifname(ifname)
        if reason:
            raise StepError(f"interface name: {reason}")
        if ns is not None:
            reason = check_netns_name(ns)
            if reason:
                raise StepError(f"network namespace of {ifname}: {reason}")


def _netlink(op, obj, netns, fn, *args, **kw):
    """Call a pyroute2 method; a NetlinkError becomes a NetError naming op, object and namespace."""
    try:
        return fn(*args, **kw)
    except NetlinkError as e:
        raise NetError(op, obj, netns, e.code) from None


def _refuse_existing(ipr, ifname, netns):
    if get_link(ipr, ifname) is not None:
        raise NetError("create", ifname, netns, _errno.EEXIST,
                       "it exists already and pktlab does not adopt interfaces it did not create")


def _ns_fd_value(netns: str | None) -> str:
    """IFLA_NET_NS_FD as pyroute2 takes it: a name under /var/run/netns, or a path.
    pyroute2 opens it in this process, so /proc/self/ns/net is pktlab's own namespace."""
    return netns if netns is not None else "/proc/self/ns/net"


def _write_in_netns(netns, path, value):  # runs in a forked child: setns only affects it
    if netns is not None:
        _netns.setns(netns, flags=0, fork=False)
    if os.path.isdir("/proc/sys/net/ipv6"):  # absent when the kernel runs with ipv6.disable=1
        with open(path, "w") as fh:
            fh.write(value)
    return b""


def disable_ipv6(ifname: str, netns: str | None, value: str = "1") -> None:
    """sysctl net.ipv6.conf.<ifname>.disable_ipv6=1 (or value) in the interface's namespace.

    /proc/sys/net belongs to the namespace of whoever opens it, so for another
    namespace the write happens in a short-lived child that entered it.
    """
    path = f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6"
    try:
        if netns is None:
            _write_in_netns(None, path, value)
        else:
            with ChildProcess(target=_write_in_netns, args=[netns, path, value]) as child:
                child.communicate()
    except OSError as e:
        raise NetError("disable IPv6 on", ifname, netns, e.errno or _errno.EIO, f"writing {path}") from None


def _prepare(ipr, ifname, netns, index, ipv6, promisc):
    """What the generator needs before the interface goes up: no IPv6 chatter, every frame received."""
    if not ipv6:
        disable_ipv6(ifname, netns)
    if promisc:
        _netlink("set promiscuous mode on", ifname, netns, ipr.link, "set", index=index,
                 flags=IFF_PROMISC, change=IFF_PROMISC)
        wait_until(lambda: (m := get_link(ipr, index=index)) is not None and m["flags"] & IFF_PROMISC,
                   "promiscuous mode", "set promiscuous mode on", ifname, netns)


def _delete_ours(ifname, netns, kind, ifindex) -> bool:
    """Delete `ifname` if it is still the `kind` interface pktlab made (ifindex, when
    known). True if it was deleted or is gone; False if the name is now something else's."""
    with rtnl(netns, "delete", ifname, missing_ok=True) as ipr:
        if ipr is None:  # the namespace went, and the interface with it
            return True
        msg = get_link(ipr, ifname)
        if msg is None:
            return True
        if link_kind(msg) != kind or (ifindex is not None and msg["index"] != ifindex):
            log.warning("%s in %s is not the %s pktlab created (kind %s, ifindex %s, expected %s); leaving it",
                        ifname, where(netns), kind, link_kind(msg), msg["index"], ifindex)
            return False
        try:
            ipr.link("del", index=msg["index"])
        except NetlinkError as e:
            if e.code != _errno.ENODEV:
                raise NetError("delete", ifname, netns, e.code) from None
        wait_until(lambda: get_link(ipr, ifname) is None, "the interface gone", "delete", ifname, netns)
    return True


def _describe_opts(up, promisc, ipv6, mtu=None) -> str:
    opts = [f"mtu {mtu}"] if mtu else []
    opts += ["up"] if up else ["down"]
    opts += ["promiscuous"] if promisc else []
    opts += [] if ipv6 else ["IPv6 off"]
    return ", ".join(opts)


@dataclass
class AddVethPair(Step):
    """A veth pair, each end created directly in its namespace (None: pktlab's own).

    up: both ends up, and waits for operstate UP on both (a veth has carrier
    once its peer is up; before that the kernel drops what is sent).
    promisc: promiscuous mode on both ends. ipv6: leave IPv6 on (default off).
    state: creating, created, ifindex, peer_ifindex.
    """

    kind = "veth"
    name: str
    peer: str
    netns: str | None = None
    peer_netns: str | None = None
    mtu: int | None = None
    up: bool = True
    promisc: bool = False
    ipv6: bool = False

    def _ends(self):
        return ((self.name, self.netns), (self.peer, self.peer_netns))

    def describe(self):
        return (f"create veth pair {self.name} ({where(self.netns)}) <-> {self.peer} ({where(self.peer_netns)}); "
                + _describe_opts(self.up, self.promisc, self.ipv6, self.mtu))

    def describe_undo(self):
        return f"delete veth {self.name} ({where(self.netns)}) and with it its peer {self.peer}"

    def apply(self, ctx):
        _validate(*self._ends())
        if (self.name, self.netns) == (self.peer, self.peer_netns):
            raise StepError(f"veth {self.name}: both ends have the same name in {where(self.netns)}")
        with rtnl(self.peer_netns, "create veth", self.peer) as ipr:
            _refuse_existing(ipr, self.peer, self.peer_netns)
        with rtnl(self.netns, "create veth", self.name) as ipr:
            _refuse_existing(ipr, self.name, self.netns)
            self.state["creating"] = True
            ctx.journal_state()
            peer = {"ifname": self.peer}
            if self.peer_netns != self.netns:
                peer["net_ns_fd"] = _ns_fd_value(self.peer_netns)
            extra = {}
            if self.mtu:
                peer["mtu"] = extra["mtu"] = self.mtu
            _netlink("create veth", self.name, self.netns, ipr.link, "add", ifname=self.name, kind="veth",
                     peer=peer, **extra)
            self.state["ifindex"] = get_link(ipr, self.name)["index"]
        with rtnl(self.peer_netns, "find veth peer", self.peer) as pipr:
            msg = wait_until(lambda: get_link(pipr, self.peer), "the veth peer", "create veth", self.peer,
                             self.peer_netns)
            self.state.update(peer_ifindex=msg["index"], created=True)
        ctx.journal_state()

        indexes = (self.state["ifindex"], self.state["peer_ifindex"])
        for (ifname, ns), index in zip(self._ends(), indexes):
            with rtnl(ns, "set up", ifname) as ipr:
                _prepare(ipr, ifname, ns, index, self.ipv6, self.promisc)
                if self.up:
                    link_up(ipr, ifname, ns, index)
        if self.up:
            for (ifname, ns), index in zip(self._ends(), indexes):
                with rtnl(ns, "wait for carrier on", ifname) as ipr:
                    wait_until(lambda: (m := get_link(ipr, index=index)) is not None
                               and m["flags"] & IFF_LOWER_UP and m.get("IFLA_OPERSTATE") == "UP",
                               "operstate UP", "bring up", ifname, ns)

    def undo(self, ctx):
        if not (self.state.get("created") or self.state.get("creating")):
            return
        # Deleting one end deletes both. Try the first end, then the peer (its
        # namespace may be gone while the peer's lingers).
        _delete_ours(self.name, self.netns, "veth", self.state.get("ifindex"))
        _delete_ours(self.peer, self.peer_netns, "veth", self.state.get("peer_ifindex"))


@dataclass
class AddBridge(Step):
    """A Linux bridge that forwards at once: STP off, forward delay 0.

    up: bring it up (its operstate stays DOWN until a port forwards).
    ipv6: leave IPv6 on (default off: the bridge's own RS/MLD would flood its ports).
    state: creating, created, ifindex.
    """

    kind = "linux-bridge"
    name: str
    netns: str | None = None
    up: bool = True
    ipv6: bool = False

    def describe(self):
        return (f"create Linux bridge {self.name} ({where(self.netns)}; STP off, forward delay 0); "
                + _describe_opts(self.up, False, self.ipv6))

    def describe_undo(self):
        return f"delete Linux bridge {self.name} ({where(self.netns)})"

    def apply(self, ctx):
        _validate((self.name, self.netns))
        with rtnl(self.netns, "create bridge", self.name) as ipr:
            _refuse_existing(ipr, self.name, self.netns)
            self.state["creating"] = True
            ctx.journal_state()
            _netlink("create bridge", self.name, self.netns, ipr.link, "add", ifname=self.name, kind="bridge",
                     br_stp_state=0, br_forward_delay=0)
            msg = get_link(ipr, self.name)
            self.state.update(ifindex=msg["index"], created=True)
            ctx.journal_state()
            info = dict(msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA")["attrs"])
            if info.get("IFLA_BR_STP_STATE") != 0 or info.get("IFLA_BR_FORWARD_DELAY") != 0:
                raise NetError("create bridge", self.name, self.netns, _errno.EINVAL,
                               f"the kernel kept stp_state={info.get('IFLA_BR_STP_STATE')} "
                               f"forward_delay={info.get('IFLA_BR_FORWARD_DELAY')}")
            _prepare(ipr, self.name, self.netns, msg["index"], self.ipv6, False)
            if self.up:
                link_up(ipr, self.name, self.netns, msg["index"])

    def undo(self, ctx):
        if self.state.get("created") or self.state.get("creating"):
            _delete_ours(self.name, self.netns, "bridge", self.state.get("ifindex"))


@dataclass
class SetMaster(Step):
    """Make `ifname` a port of bridge `master` (both in `netns`); undo detaches it.

    Waits until the kernel shows the master and, when port and bridge are up
    with carrier, the port in forwarding state. An interface that already has
    a master is an error (EBUSY). state: ifindex, master_ifindex.
    """

    kind = "link-master"
    ifname: str
    master: str
    netns: str | None = None

    def describe(self):
        return f"attach {self.ifname} to bridge {self.master} ({where(self.netns)})"

    def describe_undo(self):
        return f"detach {self.ifname} from bridge {self.master} ({where(self.netns)})"

    def apply(self, ctx):
        _validate((self.ifname, self.netns), (self.master, self.netns))
        op = f"attach to {self.master}:"
        with rtnl(self.netns, op, self.ifname) as ipr:
            port = get_link(ipr, self.ifname)
            if port is None:
                raise NetError(op, self.ifname, self.netns, _errno.ENODEV)
            br = get_link(ipr, self.master)
            if br is None:
                raise NetError(op, self.master, self.netns, _errno.ENODEV, "no such bridge")
            if link_kind(br) != "bridge":
                raise NetError(op, self.master, self.netns, _errno.EINVAL, f"it is a {link_kind(br)}, not a bridge")
            if port.get("IFLA_MASTER"):
                raise NetError(op, self.ifname, self.netns, _errno.EBUSY,
                               f"it already has a master (ifindex {port.get('IFLA_MASTER')})")
            index, br_index = port["index"], br["index"]
            self.state.update(ifindex=index, master_ifindex=br_index)
            ctx.journal_state()
            _netlink(op, self.ifname, self.netns, ipr.link, "set", index=index, master=br_index)
            port = wait_until(lambda: (m := get_link(ipr, index=index)) is not None
                              and m.get("IFLA_MASTER") == br_index and m,
                              f"{self.master} as master", op, self.ifname, self.netns)
            running = port["flags"] & (IFF_UP | IFF_LOWER_UP) == (IFF_UP | IFF_LOWER_UP)
            if running and br["flags"] & IFF_UP:
                wait_until(lambda: (m := get_link(ipr, index=index)) is not None and m.get_nested(
                               "IFLA_LINKINFO", "IFLA_INFO_SLAVE_DATA", "IFLA_BRPORT_STATE") == BR_STATE_FORWARDING,
                           "the bridge port forwarding", op, self.ifname, self.netns)

    def undo(self, ctx):
        br_index = self.state.get("master_ifindex")
        if br_index is None:
            return
        op = f"detach from {self.master}:"
        with rtnl(self.netns, op, self.ifname, missing_ok=True) as ipr:
            if ipr is None:
                return
            port = get_link(ipr, self.ifname)
            if port is None or port["index"] != self.state.get("ifindex") or port.get("IFLA_MASTER") != br_index:
                return
            try:
                ipr.link("set", index=port["index"], master=0)
            except NetlinkError as e:
                if e.code == _errno.ENODEV:
                    return
                raise NetError(op, self.ifname, self.netns, e.code) from None
            wait_until(lambda: (m := get_link(ipr, index=port["index"])) is None or not m.get("IFLA_MASTER"),
                       "the port detached", op, self.ifname, self.netns)


@dataclass
class SetLinkUp(Step):
    """Bring up an interface the run did not create (a physical NIC it takes), with
    an MTU large enough for the run's frames when `mtu` is given; undo puts back
    its up/down state and MTU, and only on the same interface (ifindex).
    ipv6=False: no IPv6 on it while the run has it (a switch port's own router
    solicitations would count in its counters), put back after it is down again.

    state: ifindex, was_up, mtu_before, ipv6_disabled_before.
    """

    kind = "link-up"
    ifname: str
    mtu: int | None = None  # at least this MTU [B]; None: leave it
    netns: str | None = None
    ipv6: bool = True

    def describe(self):
        return (f"bring {self.ifname} up ({where(self.netns)})" + (f", MTU at least {self.mtu}" if self.mtu else "")
                + ("" if self.ipv6 else ", IPv6 off"))

    def describe_undo(self):
        return f"put {self.ifname} back down (if it was) and its MTU back" + ("" if self.ipv6 else ", IPv6 as it was")

    def apply(self, ctx):
        _validate((self.ifname, self.netns))
        with rtnl(self.netns, "bring up", self.ifname) as ipr:
            msg = get_link(ipr, self.ifname)
            if msg is None:
                raise NetError("bring up", self.ifname, self.netns, _errno.ENODEV)
            self.state.update(ifindex=msg["index"], was_up=bool(msg["flags"] & IFF_UP),
                              mtu_before=msg.get("IFLA_MTU"))
            ctx.journal_state()
            sysctl = f"/proc/sys/net/ipv6/conf/{self.ifname}/disable_ipv6"
            if not self.ipv6 and self.netns is None and os.path.exists(sysctl):
                with open(sysctl) as fh:
                    self.state["ipv6_disabled_before"] = fh.read().strip()
                ctx.journal_state()
                disable_ipv6(self.ifname, None)
            if self.mtu and (msg.get("IFLA_MTU") or 0) < self.mtu:
                _netlink("set MTU of", self.ifname, self.netns, ipr.link, "set", index=msg["index"], mtu=self.mtu)
            if not self.state["was_up"]:
                _netlink("bring up", self.ifname, self.netns, ipr.link, "set", index=msg["index"], state="up")

    def undo(self, ctx):
        index = self.state.get("ifindex")
        if index is None:
            return
        with rtnl(self.netns, "restore", self.ifname, missing_ok=True) as ipr:
            if ipr is None:
                return
            msg = get_link(ipr, index=index)
            if msg is None:
                return  # gone (its driver was unbound): nothing of ours is left on it
            if not self.state.get("was_up") and msg["flags"] & IFF_UP:
                _netlink("bring down", self.ifname, self.netns, ipr.link, "set", index=index, state="down")
            before = self.state.get("mtu_before")
            if before and msg.get("IFLA_MTU") != before:
                _netlink("restore MTU of", self.ifname, self.netns, ipr.link, "set", index=index, mtu=before)
            if self.state.get("ipv6_disabled_before") == "0":
                disable_ipv6(msg.get_attr("IFLA_IFNAME"), None, "0")
