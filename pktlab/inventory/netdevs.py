"""Network interfaces: their state, addresses, routes, and the management NIC.
"""
from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from .attrs import IFF_UP, PCI_RE, parse_int, link_name, read_attr


@dataclass(frozen=True)
class Netdev:
    """A network interface in the default namespace, with what says it is in use."""

    name: str
    ifindex: int | None
    mac: str | None
    operstate: str | None  # up, down, unknown, lowerlayerdown, ...
    carrier: bool | None
    speed_mbps: int | None  # None when the link is down or the driver does not say
    mtu: int | None
    up: bool  # administratively up (IFF_UP)
    master: str | None  # bond or bridge it is enslaved to
    lowers: tuple[str, ...]  # interfaces under it (a bond's slaves, a VLAN's parent)
    addresses: tuple[str, ...]  # IP addresses, link-local IPv6 left out
    routes: int  # IPv4 main-table routes through it
    default_route: bool
    pci: str | None

    def in_use(self) -> list[str]:
        """Why pktlab must not take this interface from the kernel ([] if it may)."""
        out = []
        if self.default_route:
            out.append("carries the default route")
        if self.up:
            out.append("is up")
        if self.addresses:
            out.append("has address " + ", ".join(self.addresses))
        if self.routes:
            out.append(f"has {self.routes} IPv4 route(s)")
        if self.master:
            out.append(f"is enslaved to {self.master}")
        return out


def default_routes(root: str = "/") -> list[tuple[str, int, str]]:
    """(interface, metric, family) of every default route in the main tables, lowest metric first."""
    out = []
    for line in (read_attr(root, "proc/net/route") or "").splitlines()[1:]:
        f = line.split()
        if len(f) >= 8 and f[1] == "00000000" and f[7] == "00000000" and int(f[3], 16) & 0x1:  # RTF_UP
            out.append((f[0], int(f[6]), "ipv4"))
    for line in (read_attr(root, "proc/net/ipv6_route") or "").splitlines():
        f = line.split()
        if len(f) == 10 and f[0] == "0" * 32 and f[1] == "00" and f[9] != "lo" and int(f[8], 16) & 0x1:
            out.append((f[9], int(f[5], 16), "ipv6"))
    return sorted(out, key=lambda r: (r[1], r[2]))


def _ipv6_addresses(root: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in (read_attr(root, "proc/net/if_inet6") or "").splitlines():
        f = line.split()
        if len(f) != 6 or int(f[3], 16) == 0x20:  # scope link: every up interface has one
            continue
        addr = socket.inet_ntop(socket.AF_INET6, bytes.fromhex(f[0]))
        out.setdefault(f[5], []).append(f"{addr}/{int(f[2], 16)}")
    return out


def ipv4_addresses(root: str = "/") -> dict[str, list[str]]:
    """IPv4 addresses per interface. procfs has no per-interface list, so they come
    from netlink, and only for the real root: a fake tree shows IPv6 addresses
    (proc/net/if_inet6) and routes (proc/net/route) instead."""
    if os.path.realpath(root) != "/":
        return {}
    try:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            names = {m["index"]: m.get("IFLA_IFNAME") for m in ipr.get_links()}
            out: dict[str, list[str]] = {}
            for a in ipr.get_addr(family=socket.AF_INET):
                out.setdefault(names.get(a["index"], str(a["index"])), []).append(
                    f"{a.get('IFA_LOCAL') or a.get('IFA_ADDRESS')}/{a['prefixlen']}")
            return out
    except Exception:  # noqa: BLE001 - no netlink, no IPv4 list; the other signs still count
        return {}


def pci_of_netdev(root: str, ifname: str) -> str | None:
    """The PCI function a netdev belongs to: its device directory, or a virtio device's parent."""
    try:
        parts = Path(os.path.realpath(Path(root, "sys/class/net", ifname))).parts
    except OSError:
        return None
    for i in range(len(parts) - 1, -1, -1):
        if PCI_RE.match(parts[i]) and parts[i].count(":") == 2:
            rest = parts[i + 1:]
            if rest == ("net", ifname) or (len(rest) == 3 and re.fullmatch(r"virtio\d+", rest[0])
                                           and rest[1:] == ("net", ifname)):
                return parts[i]
            return None
    return None


def read_netdevs(root: str = "/") -> dict[str, Netdev]:
    d = Path(root, "sys/class/net")
    names = sorted(p.name for p in d.iterdir()) if d.is_dir() else []
    v6, v4 = _ipv6_addresses(root), ipv4_addresses(root)
    defaults = {r[0] for r in default_routes(root)}
    routes: dict[str, int] = {}
    for line in (read_attr(root, "proc/net/route") or "").splitlines()[1:]:
        f = line.split()
        if f:
            routes[f[0]] = routes.get(f[0], 0) + 1
    out = {}
    for name in names:
        rel = f"sys/class/net/{name}"
        flags = parse_int(read_attr(root, f"{rel}/flags"), 16) or 0
        carrier = read_attr(root, f"{rel}/carrier")
        speed = parse_int(read_attr(root, f"{rel}/speed"))
        lowers = tuple(sorted(p.name[len("lower_"):] for p in Path(root, rel).glob("lower_*")))
        out[name] = Netdev(
            name=name, ifindex=parse_int(read_attr(root, f"{rel}/ifindex")), mac=read_attr(root, f"{rel}/address"),
            operstate=read_attr(root, f"{rel}/operstate"), carrier=None if carrier is None else carrier == "1",
            speed_mbps=speed if speed is not None and speed > 0 else None, mtu=parse_int(read_attr(root, f"{rel}/mtu")),
            up=bool(flags & IFF_UP), master=link_name(root, f"{rel}/master"), lowers=lowers,
            addresses=tuple(v4.get(name, []) + v6.get(name, [])), routes=routes.get(name, 0),
            default_route=name in defaults, pci=pci_of_netdev(root, name))
    return out


@dataclass(frozen=True)
class Management:
    """The interface carrying the default route, and the physical ports beneath it
    (a bond's slaves, a bridge's or VLAN's lower devices): none of them is pktlab's to take."""

    ifname: str
    family: str  # the default route's: ipv4 or ipv6
    ports: tuple[str, ...]  # interfaces down to the hardware, ifname included
    pci: tuple[str, ...]  # PCI functions of those ports


def read_management(netdevs: dict[str, Netdev], root: str = "/") -> Management | None:
    routes = default_routes(root)
    if not routes:
        return None
    ifname, _, family = routes[0]
    seen, todo = [], [ifname]
    while todo:
        name = todo.pop(0)
        if name in seen or name not in netdevs:
            continue
        seen.append(name)
        todo += list(netdevs[name].lowers)
    pci = tuple(dict.fromkeys(netdevs[n].pci for n in seen if netdevs[n].pci))
    return Management(ifname, family, tuple(seen) or (ifname,), pci)
