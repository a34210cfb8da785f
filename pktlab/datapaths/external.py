"""A device under test pktlab does not build (kind = "external"): a vendor VNF, a
hardware switch, a compute node someone else configured, a router.

  generator port 0 ==cable==> DUT port A ... DUT port B ==cable==> generator port 1

pktlab prepares only the generator's side: its two ports (kernel interfaces,
"IFNAME" or "IFNAME@NETNS", brought up with the MTU the frames need and put back
after; or DPDK devices, with the [hugepages] the generator uses) and frames the
DUT accepts: per port the destination MAC of the DUT port (or next hop) it is
cabled to, the source MAC, an optional 802.1Q tag, and the traffic table's IP
addresses (mirrored for the way back). The method runs as on any path.

The DUT's own counters are optional (counters = "none", "kernel" or "ovs"): read
over SSH from the scenario's [hosts].dut, the same host and connection a lab path
split across two hosts uses (pktlab/remote/counters.py), reads only, so the DUT
needs no pktlab. Nothing on the DUT is changed, so nothing there needs undoing.
"""
from __future__ import annotations

import socket
import typing
from dataclasses import dataclass

from ..errors import HostError, PrecheckError
from ..gen.step import StartGenerator
from ..host import hugepages
from ..host.dpdk_runtime import DpdkRuntimeDir
from ..host.files import MakeRunDir
from ..host.links import SetLinkUp
from ..host.names import check_ifname, check_netns_name
from ..host.netns import NetError, get_link, rtnl
from ..plan import Plan
from ..scenario.checks import MAC, PCI_ADDR, Invalid
from .base import DataPath
from .streams import directions, kernel_mode_for, mtu_for, streams_for, with_latency_streams

COUNTERS = ("none", "kernel", "ovs")
VLAN_MIN_FRAME = 68  # [B] an 802.1Q tag leaves the stamp its 18 B only from 68 B on


def _check_kernel_port(key: str, spec: str) -> None:
    ifname, _, ns = spec.partition("@")
    why = check_ifname(ifname) or (check_netns_name(ns) if "@" in spec else None)
    if why:
        raise Invalid(key, f"{spec!r}: {why} (\"IFNAME\" or \"IFNAME@NETNS\")")


def vdev_iface(port: str) -> str | None:
    """The kernel interface a DPDK vdev drives (net_af_packet0,iface=eth1 -> eth1), or None."""
    for arg in port.split(",")[1:]:
        key, _, value = arg.partition("=")
        if key == "iface" and value:
            return value
    return None


@dataclass(frozen=True)
class ExternalOptions:
    """A DUT pktlab does not build: what the generator drives and what the DUT expects."""

    MOVED: typing.ClassVar = {"dut_host": "[hosts] dut", "inventory": "[hosts] inventory"}  # as lab paths name it

    gen_ports: tuple[str, ...] = ()  # the generator's two ports, cabled to the DUT's in order
    generator: str = "kernel"  # kernel: gen_ports are interfaces ("IFNAME" or "IFNAME@NETNS"); dpdk: DPDK devices
    # per generator port, the destination MAC of what it sends: the DUT port (or next hop) it is
    # cabled to; () = the traffic table's dst_mac, mirrored back (a DUT that forwards any frame)
    dut_macs: tuple[str, ...] = ()
    # per generator port, the source MAC; () = the interface's own (kernel), the traffic table's (dpdk)
    gen_macs: tuple[str, ...] = ()
    vlans: tuple[int, ...] = ()  # 802.1Q VLAN per generator port (one value: both ports); () = untagged
    counters: str = "none"  # the DUT's own counters: none, kernel (ip -s link) or ovs (ovs-ofctl dump-ports)
    dut_interfaces: tuple[str, ...] = ()  # counters: the DUT's interfaces to read ("IFNAME" or "IFNAME@NETNS")
    ovs_rundir: str = ""  # counters = "ovs": the DUT's OVS_RUNDIR when not OVS's default

    def check(self):
        if self.generator not in ("kernel", "dpdk"):
            raise Invalid("generator", f"must be kernel or dpdk, not {self.generator!r}")
        if len(self.gen_ports) != 2:
            raise Invalid("gen_ports", f"needs the generator's 2 ports (cabled to the DUT), got {len(self.gen_ports)}")
        if len(set(self.gen_ports)) != 2:
            raise Invalid("gen_ports", "names a port twice")
        for p in self.gen_ports:
            if self.generator == "kernel":
                _check_kernel_port("gen_ports", p)
            elif not PCI_ADDR.match(p) and not p.startswith("net_"):
                raise Invalid("gen_ports", f"{p!r} is neither a PCI address nor a DPDK vdev (net_...,args)")
        for key in ("dut_macs", "gen_macs"):
            macs = getattr(self, key)
            if macs and len(macs) != 2:
                raise Invalid(key, f"one MAC per generator port (2), got {len(macs)}")
            for m in macs:
                if not MAC.match(m):
                    raise Invalid(key, f"{m!r} is not a MAC address")
        if len(self.vlans) > 2 or any(not 1 <= v <= 4094 for v in self.vlans):
            raise Invalid("vlans", "up to one VLAN id (1-4094) per generator port")
        if self.counters not in COUNTERS:
            raise Invalid("counters", f"must be none, kernel or ovs, not {self.counters!r}")
        if self.counters == "none":
            for key in ("dut_interfaces", "ovs_rundir"):
                if getattr(self, key):
                    raise Invalid(key, "given, but counters = \"none\" reads nothing from the DUT; "
                                       "set counters = \"kernel\" or \"ovs\"")
            return
        if not self.dut_interfaces:
            raise Invalid("dut_interfaces", "name the DUT's interfaces whose counters are read")
        for i in self.dut_interfaces:
            if self.counters == "kernel":
                _check_kernel_port("dut_interfaces", i)
            elif not i or any(c.isspace() for c in i) or i.startswith("-"):
                raise Invalid("dut_interfaces", f"{i!r} is not an OVS interface name")
        if self.ovs_rundir and (self.counters != "ovs" or not self.ovs_rundir.startswith("/")):
            raise Invalid("ovs_rundir", "an absolute directory, with counters = \"ovs\" only")


    @property
    def reads_dut(self) -> bool:
        """Counters read over SSH from [hosts].dut (the loader insists on one)."""
        return self.counters != "none"


class ExternalPath(DataPath):
    kind, Options = "external", ExternalOptions
    two_hosts = True  # the DUT's counters from [hosts].dut; the generator's side here
    builds_dut = False  # nothing is planned or changed on the DUT: no pktlab needed there
    dut_hosts = None  # the runner's remote.hosts.Hosts when [hosts].dut is set

    @property
    def dut_needs_root(self) -> bool:
        return self.options.counters == "ovs"  # OVS's sockets: root (or sudo) there

    @property
    def huge_dir(self) -> str:  # generator = "dpdk": its private hugetlbfs
        return str(self.run_dir / "hugepages")

    @property
    def gen_prefix(self) -> str:
        return f"pktlab-gen-{self.run_id}"

    @property
    def kernel(self) -> bool:
        return self.options.generator == "kernel"

    def cores_used(self):
        return {"generator": [self.scenario.cpu.generator]}

    # -- the generator's side ------------------------------------------------------
    def _kernel_link(self, spec: str) -> dict:
        """A generator interface as netlink shows it; PrecheckError naming gen_ports if absent."""
        ifname, _, ns = spec.partition("@")
        try:
            with rtnl(ns or None, "read", ifname) as ipr:
                msg = get_link(ipr, ifname)
                routes = ipr.get_default_routes(family=socket.AF_INET) if msg is not None else []
        except NetError as e:
            self.fail(f"{self.where}.gen_ports", f"{spec}: {e}")
        if msg is None:
            self.fail(f"{self.where}.gen_ports", f"{spec}: no such interface" + (f" in namespace {ns}" if ns else ""))
        if any(r.get_attr("RTA_OIF") == msg["index"] for r in routes):
            self.fail(f"{self.where}.gen_ports", f"{spec} carries the default route (a management interface): "
                                                 "pktlab does not send test traffic on it")
        return {"mac": msg.get_attr("IFLA_ADDRESS"), "index": msg["index"]}

    def l2(self) -> list[tuple[str, str, int | None]]:
        """Per generator port: (source MAC, destination MAC, VLAN or None) of the frames it sends."""
        t, opt = self.scenario.traffic, self.options
        if opt.gen_macs:
            src = list(opt.gen_macs)
        elif self.kernel:
            src = [self._kernel_link(p)["mac"] for p in opt.gen_ports]
        else:
            src = [t.src_mac, t.dst_mac]
        dst = list(opt.dut_macs) if opt.dut_macs else [t.dst_mac, t.src_mac]
        vlans = list(opt.vlans) * (2 // len(opt.vlans)) if opt.vlans else [None, None]
        return [(src[i], dst[i], vlans[i]) for i in range(2)]

    def _check_dpdk_ports(self) -> None:
        from ..inventory.sysfs import read_nic

        hp = self.scenario.hugepages
        if hp is None:
            self.fail("hugepages", "generator = \"dpdk\" needs a [hugepages] table (count of pages for the generator)")
        why = hugepages.shortfall(hp.count, hp.size_kb)
        if why:
            self.fail("hugepages.count", why)
        for p in self.options.gen_ports:
            if vdev_iface(p):
                self._kernel_link(vdev_iface(p))  # the interface a vdev (af_packet, af_xdp) drives is there
            if not PCI_ADDR.match(p):
                continue
            nic = read_nic(p, self.root)
            if nic is None:
                self.fail(f"{self.where}.gen_ports", f"{p}: no such PCI device on this host")
            if nic.driver not in ("vfio-pci", "uio_pci_generic", "igb_uio", "mlx5_core"):
                self.fail(f"{self.where}.gen_ports", f"{p} is on driver {nic.driver or 'none'}: bind it to vfio-pci "
                                                     "first (dpdk-devbind.py -b vfio-pci); an external set-up's "
                                                     "NICs are not rebound by pktlab")

    # -- the DUT's side ------------------------------------------------------------
    def dut_connection(self):
        """The run's SSH connection to [hosts].dut (opened, and checked, by the runner's hosts)."""
        return self.dut_hosts.connection()

    def dut_counters(self, conn):
        from ..remote.counters import RemoteLinkCounters, RemoteOvsCounters

        opt = self.options
        if opt.counters == "kernel":
            return RemoteLinkCounters(conn, opt.dut_interfaces)
        return RemoteOvsCounters(conn, opt.dut_interfaces, opt.ovs_rundir)

    def precheck(self):
        super().precheck()
        t = self.scenario.traffic
        if self.options.vlans and (t.imix or t.frame_size < VLAN_MIN_FRAME):
            self.fail("traffic.frame_size", f"tagged frames (vlans) need at least {VLAN_MIN_FRAME} B, "
                                            "or the generator's stamp does not fit")
        if self.kernel:
            for p in self.options.gen_ports:
                self._kernel_link(p)
        else:
            self._check_dpdk_ports()
        if self.options.counters != "none":
            conn = self.dut_connection()
            try:
                bad = self.dut_counters(conn).missing()
            except HostError as e:
                self.fail(f"{self.where}.counters", str(e))
            if bad:
                self.fail(f"{self.where}.dut_interfaces", f"host {conn.host}: " + "; ".join(bad))

    def explain(self) -> str:
        t, opt = self.scenario.traffic, self.options
        try:
            l2 = self.l2()
        except PrecheckError as e:
            return f"! {e}"
        lines = []
        for tx, rx, mirror in directions(t):
            src, dst, vlan = l2[tx]
            sip, dip = (t.dst_ip, t.src_ip) if mirror else (t.src_ip, t.dst_ip)
            lines.append(f"port {tx} ({opt.gen_ports[tx]}) sends {src} -> {dst}{f' VLAN {vlan}' if vlan else ''}, "
                         f"{sip} -> {dip} ({t.flows} flow(s)), expected back on port {rx} ({opt.gen_ports[rx]})")
        if opt.counters == "none":
            lines.append("DUT counters: none (the generator's only)")
        else:
            lines.append(f"DUT counters: {opt.counters} statistics of {', '.join(opt.dut_interfaces)} on host "
                         f"{self.scenario.hosts.dut} ([hosts].dut), read over SSH; nothing on the DUT "
                         "changes")
        return "\n".join(lines)

    # -- plan --------------------------------------------------------------------
    def host_plan(self):
        steps = [MakeRunDir(str(self.run_dir))]
        mtu = mtu_for(self.scenario.traffic)
        if self.kernel:
            for p in self.options.gen_ports:
                ifname, _, ns = p.partition("@")
                steps.append(SetLinkUp(ifname, mtu, ns or None))
        else:
            # a vdev on a kernel interface: brought up (and put back) as a kernel port is
            steps += [SetLinkUp(vdev_iface(p), mtu) for p in self.options.gen_ports if vdev_iface(p)]
            hp = self.scenario.hugepages
            steps += [hugepages.ReserveHugepages(hp.count, hp.size_kb),
                      hugepages.MountHugetlbfs(self.huge_dir, hp.size_kb), DpdkRuntimeDir(self.gen_prefix)]
        return Plan(steps)

    def generator_step(self):
        from ..gen.config import GenConfig

        t, cpu = self.scenario.traffic, self.scenario.cpu
        streams = with_latency_streams(streams_for(t, 2, l2=self.l2()), self.scenario.method)
        if self.kernel:
            cfg = GenConfig(eal_args=(), ports=self.options.gen_ports, backend="kernel",
                            kernel_mode=kernel_mode_for(t), streams=streams, core=cpu.generator)
        else:
            hp = self.scenario.hugepages
            vdev_only = all(p.startswith("net_") for p in self.options.gen_ports)
            eal = (("--no-pci",) if vdev_only else ()) + (
                "--in-memory", "--no-telemetry", f"--huge-dir={self.huge_dir}", "-m", str(hp.total_mb),
                f"--file-prefix={self.gen_prefix}")
            cfg = GenConfig(eal_args=eal, ports=self.options.gen_ports, streams=streams, core=cpu.generator)
        return StartGenerator(cfg.to_dict(), log=str(self.run_dir / "generator.log"))

    def wait_ready(self, ctx):
        from .. import wait
        from ..errors import StepError

        gen = ctx.live["generator"]
        wait.until(lambda: all(gen.link_up()), 30, 0.2, lambda _: StepError(
            f"generator ports without link after 30 s ({gen.link_up()}): check the cabling to the DUT "
            f"({', '.join(self.options.gen_ports)})"))

    def counters(self, ctx):
        from ..remote.counters import NoCounters

        if self.options.counters == "none":
            return NoCounters()
        counters = self.dut_counters(self.dut_connection())
        if self.options.counters == "ovs":
            counters.missing()  # learns each interface's bridge
        return counters

    def versions(self, ctx):
        return {}
