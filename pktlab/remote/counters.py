"""A DUT's own counters read over SSH, for a DUT pktlab does not build (kind "external").

Two sources, chosen in the scenario, both live (no refresh to wait for, unlike
OVSDB's statistics column, which OVS refreshes every 5 s):

  kernel  `ip -j -s link show` on the DUT: the kernel's IFLA_STATS64 of each named
          interface, one command per network namespace per snapshot.
  ovs     `ovs-ofctl --names dump-ports BRIDGE`: OpenFlow port statistics of each
          named OVS interface, one command per bridge per snapshot; the bridge of
          each interface is looked up once (`ovs-vsctl iface-to-br`).

Counters are keyed by the DUT's interface name and use the kernel's field names
(rx_packets, tx_packets, ...), so delta() in pktlab/ovs/counters.py and the
results treat them as the local readers' (pktlab/host/netcounters.py).
Commands are argument lists through remote.ssh.Connection; reads only.
"""
from __future__ import annotations

import json
import re

from .ssh import Connection, RemoteError

FIELDS = ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_dropped", "tx_dropped", "rx_errors",
          "tx_errors")


def split_ifname(spec: str) -> tuple[str, str | None]:
    """"IFNAME" or "IFNAME@NETNS" -> (ifname, netns or None)."""
    ifname, _, ns = spec.partition("@")
    return ifname, ns or None


def parse_ip_link(text: str) -> dict[str, dict[str, int]]:
    """`ip -j -s link show` output -> {ifname: {rx_packets, ...}}."""
    out = {}
    for link in json.loads(text or "[]"):
        stats = link.get("stats64") or link.get("stats")
        if not stats:
            continue
        rx, tx = stats["rx"], stats["tx"]
        out[link["ifname"]] = {"rx_packets": rx["packets"], "tx_packets": tx["packets"], "rx_bytes": rx["bytes"],
                               "tx_bytes": tx["bytes"], "rx_dropped": rx["dropped"], "tx_dropped": tx["dropped"],
                               "rx_errors": rx["errors"], "tx_errors": tx["errors"]}
    return out


# `  port  "p 1": rx pkts=10, bytes=600, drop=0, errs=0, frame=0, over=0, crc=0`
# `           tx pkts=10, bytes=600, drop=0, errs=0, coll=0`  ("?" where a port lacks a counter)
_PORT = re.compile(r'^\s*port\s+("(?:[^"\\]|\\.)*"|\S+?):\s*rx\s+(.*)$')
_TX = re.compile(r"^\s*tx\s+(.*)$")
_KV = re.compile(r"(\w+)=(\d+|\?)")
_OFCTL = {"pkts": "packets", "bytes": "bytes", "drop": "dropped", "errs": "errors"}


def parse_dump_ports(text: str) -> dict[str, dict[str, int]]:
    """`ovs-ofctl --names dump-ports BRIDGE` output -> {port name: {rx_packets, ...}};
    a counter the port does not keep ("?") is left out."""
    out: dict[str, dict[str, int]] = {}
    port = None
    for line in text.splitlines():
        m = _PORT.match(line)
        if m:
            name = m.group(1)
            port = json.loads(name) if name.startswith('"') else name
            out[port] = _counters("rx", m.group(2))
            continue
        m = _TX.match(line)
        if m and port is not None:
            out[port].update(_counters("tx", m.group(1)))
            port = None
    return out


def _counters(direction: str, text: str) -> dict[str, int]:
    return {f"{direction}_{_OFCTL[k]}": int(v) for k, v in _KV.findall(text) if k in _OFCTL and v != "?"}


class RemoteLinkCounters:
    """Kernel link statistics of DUT interfaces ("IFNAME" or "IFNAME@NETNS") over SSH."""

    live = True  # the kernel's counters are read as they are: no refresh to wait for
    what = "kernel link statistics (ip -s link)"

    def __init__(self, conn: Connection, interfaces):
        self.conn, self.interfaces = conn, tuple(interfaces)
        self.source = f"ssh-ip-link:{conn.host.name}"

    def _dump(self, ns: str | None) -> dict[str, dict[str, int]]:
        """Every interface's counters in one namespace of the DUT (None: sshd's own)."""
        argv = ["ip"] + (["-n", ns] if ns else []) + ["-j", "-s", "link", "show"]
        p = self.conn.run(argv, check=False)
        if p.returncode != 0:
            raise RemoteError(self.conn.host, f"`{' '.join(argv)}` failed (exit {p.returncode}): "
                                              f"{(p.stderr.strip().splitlines() or ['no message'])[-1]}")
        return parse_ip_link(p.stdout)

    def _read(self) -> dict[tuple[str, str | None], dict[str, int] | None]:
        dumps: dict[str | None, dict[str, dict]] = {}
        got = {}
        for spec in self.interfaces:
            ifname, ns = split_ifname(spec)
            if ns not in dumps:
                dumps[ns] = self._dump(ns)
            got[(ifname, ns)] = dumps[ns].get(ifname)
        return got

    def missing(self) -> list[str]:
        """The named interfaces the DUT does not have, each with why (what it has instead)."""
        dumps: dict[str | None, dict | str] = {}
        out = []
        for spec in self.interfaces:
            ifname, ns = split_ifname(spec)
            if ns not in dumps:
                try:
                    dumps[ns] = self._dump(ns)
                except RemoteError as e:
                    if type(e) is not RemoteError:  # unreachable, refused: not about the interface
                        raise
                    dumps[ns] = e.reason
            have = dumps[ns]
            if isinstance(have, str):
                out.append(f"{spec}: {have}")
            elif ifname not in have:
                out.append(f"{spec}: no such interface{f' in namespace {ns}' if ns else ''} "
                           f"(it has: {', '.join(sorted(have)) or 'none'})")
        return out

    def snapshot(self) -> dict[str, dict[str, int]]:
        got = self._read()
        gone = [f"{i}@{ns}" if ns else i for (i, ns), v in got.items() if v is None]
        if gone:
            raise RemoteError(self.conn.host, f"interface(s) {', '.join(gone)} vanished from the DUT")
        return {spec: got[split_ifname(spec)] for spec in self.interfaces}

    def settled(self, poll_s: float = 0.0) -> dict[str, dict[str, int]]:
        return self.snapshot()


class RemoteOvsCounters:
    """OpenFlow port statistics of interfaces of the DUT's own OVS, over SSH."""

    live = True  # dump-ports asks vswitchd itself, not OVSDB's 5 s statistics column
    what = "OVS port statistics (ovs-ofctl dump-ports)"

    def __init__(self, conn: Connection, interfaces, ovs_rundir: str = ""):
        self.conn, self.interfaces = conn, tuple(interfaces)
        # OVS_RUNDIR: where its db.sock and BRIDGE.mgmt sockets are, for an OVS not in the default place
        self.env = ["env", f"OVS_RUNDIR={ovs_rundir}"] if ovs_rundir else []
        self.source = f"ssh-ovs-ofctl:{conn.host.name}"
        self._bridge: dict[str, str] = {}

    def _run(self, argv):
        # ovs-vsctl and ovs-ofctl reach the daemons' sockets, which are root's
        return self.conn.run(self.env + argv, check=False, sudo=True)

    def missing(self) -> list[str]:
        """The named interfaces the DUT's OVS does not have (and learns the others' bridges)."""
        out = []
        for iface in self.interfaces:
            p = self._run(["ovs-vsctl", "iface-to-br", iface])
            if p.returncode == 127:
                return [f"{iface}: ovs-vsctl is not installed there (no Open vSwitch to read)"]
            said = (p.stderr.strip().splitlines() or ["no message"])[-1]
            if p.returncode != 0 and "connection failed" in said:
                return [f"{iface}: cannot reach the DUT's OVS database (is OVS running there, at ovs_rundir?): "
                        f"{said}"]
            if p.returncode != 0:
                out.append(f"{iface}: not an interface of the DUT's OVS (ovs-vsctl iface-to-br: {said})")
            else:
                self._bridge[iface] = p.stdout.strip()
        return out

    def snapshot(self) -> dict[str, dict[str, int]]:
        if len(self._bridge) != len(self.interfaces):
            bad = self.missing()
            if bad:
                raise RemoteError(self.conn.host, f"OVS interface(s) not found: {'; '.join(bad)}")
        got: dict[str, dict[str, int]] = {}
        for br in dict.fromkeys(self._bridge.values()):
            p = self._run(["ovs-ofctl", "--names", "dump-ports", br])
            if p.returncode != 0:
                raise RemoteError(self.conn.host, f"ovs-ofctl dump-ports {br} failed (exit {p.returncode}): "
                                                  f"{(p.stderr.strip().splitlines() or ['no message'])[-1]}")
            got.update(parse_dump_ports(p.stdout))
        absent = [i for i in self.interfaces if i not in got]
        if absent:
            raise RemoteError(self.conn.host, f"ovs-ofctl dump-ports shows no port {', '.join(absent)}")
        return {i: got[i] for i in self.interfaces}

    def settled(self, poll_s: float = 0.0) -> dict[str, dict[str, int]]:
        return self.snapshot()


class NoCounters:
    """counters = "none": the DUT's own counters are not read; trials carry the generator's only."""

    live, source, what = True, "", "none"

    def snapshot(self) -> dict:
        return {}

    def settled(self, poll_s: float = 0.0) -> dict:
        return {}
