"""The kernel's own counters of the interfaces under test, for the same trial as the generator's.

Read with RTM_GETLINK (IFLA_STATS64), one netlink socket per namespace per
snapshot, closed straight away: a socket kept open in a namespace would keep
that namespace alive after its step removed it. Kernel counters are live, so
settled() needs no refresh wait; it exists so the runner can treat this and
OvsCounters (pktlab/ovs/counters.py) alike, and so does delta() there.
"""
from __future__ import annotations

import errno as _errno

from .netns import NetError, get_link, rtnl

FIELDS = ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_dropped", "tx_dropped",
          "rx_errors", "tx_errors", "multicast")


class LinkCounters:
    """links: (ifname, netns or None) pairs; snapshots are keyed by ifname, so names must be distinct."""

    source = "netlink:IFLA_STATS64"

    def __init__(self, links):
        self.links = tuple((str(ifname), ns) for ifname, ns in links)
        names = [ifname for ifname, _ in self.links]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"LinkCounters keys by interface name; {', '.join(dup)} appear(s) twice")

    def snapshot(self) -> dict[str, dict[str, int]]:
        by_ns: dict[str | None, list[str]] = {}
        for ifname, ns in self.links:
            by_ns.setdefault(ns, []).append(ifname)
        got = {}
        for ns, names in by_ns.items():
            with rtnl(ns, "read counters of", names[0]) as ipr:
                for ifname in names:
                    msg = get_link(ipr, ifname)
                    if msg is None:
                        raise NetError("read counters of", ifname, ns, _errno.ENODEV)
                    stats = msg.get("IFLA_STATS64") or msg.get("IFLA_STATS")
                    got[ifname] = {k: int(stats[k]) for k in FIELDS}
        return {ifname: got[ifname] for ifname, _ in self.links}

    def settled(self, poll_s: float = 0.0) -> dict[str, dict[str, int]]:
        """Final counters after the trial's traffic stopped: the kernel's are live, so a snapshot."""
        return self.snapshot()
