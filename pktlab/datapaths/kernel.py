"""Loopback data paths the kernel carries, built in namespaces pktlab creates and removes.

  veth          ns A: a0 <-veth-> b0 :ns B                        (the floor: no switch)
  linux-bridge  ns A: a0 <-> a1 [bridge br, ns sw] b1 <-> b0 :ns B (the kernel switch)
  ovs-afxdp     ns A: a0 <-> a1 [OVS netdev bridge, root ns] b1 <-> b0 :ns B
  ovs-kernel    ns A: a0 <-> a1 [OVS system bridge, root ns] b1 <-> b0 :ns B

The generator's kernel backend sends on a0 and b0 and receives there; the
independent counters are the kernel's own, read over netlink from every veth end.
No OVS runs during the veth and bridge trials: each data path is torn down
before the next is built, so no PMD steals the generator's core.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..gen.step import StartGenerator
from ..host import names
from ..host.files import MakeRunDir
from ..host.kmod import LoadModule, UnloadAutoloaded
from ..host.links import AddBridge as AddLinuxBridge
from ..host.links import AddVethPair, SetMaster
from ..host.netcounters import LinkCounters
from ..host.netns import AddNetns
from ..ovs import daemons
from ..ovs.bridge import AddBridge, AddPort
from ..ovs.daemons import SetOvsOtherConfig, StartOvsdbServer, StartOvsVswitchd
from ..ovs.openflow import AddFlows
from ..plan import Plan
from .base import DataPath
from .streams import kernel_mode_for, mtu_for, streams_for, with_latency_streams
from ..scenario.checks import AFXDP_MAX_FRAME, check_bridge, check_prefix


@dataclass(frozen=True)
class VethOptions:
    """The floor: generator -> veth -> veth -> generator, two namespaces, no switch."""

    ifname_prefix: str = ""  # interface names are prefix + a0/b0; "" = pl<run tag>

    def check(self):
        if self.ifname_prefix:
            check_prefix(self.ifname_prefix, ("a0", "b0"))


@dataclass(frozen=True)
class LinuxBridgeOptions:
    """The kernel switch: ns -- veth -- Linux bridge (own namespace) -- veth -- ns."""

    ifname_prefix: str = ""

    def check(self):
        if self.ifname_prefix:
            check_prefix(self.ifname_prefix)


@dataclass(frozen=True)
class OvsAfxdpOptions:
    """OVS with kernel-owned ports: the userspace datapath (netdev) with afxdp or
    system ports on veths, or the kernel datapath (system bridge)."""

    port_type: str = "afxdp"  # afxdp or system (netdev bridge only)
    xdp_mode: str = "best-effort"  # afxdp ports: best-effort, native, native-with-zerocopy, generic
    bridge: str = "br-pktlab"
    ifname_prefix: str = ""

    def frame_limit(self) -> tuple[int | None, str]:
        """The largest frame [B] these ports take, and why (None: whatever the MTU takes)."""
        if self.port_type != "afxdp":
            return None, ""
        return AFXDP_MAX_FRAME, (f"OVS's afxdp ports (XDP on a veth) take frames up to {AFXDP_MAX_FRAME} B; "
                                 "use port_type = \"system\" or smaller frames")

    def check(self):
        if self.port_type not in ("afxdp", "system"):
            raise Invalid("port_type", f"must be afxdp or system, not {self.port_type!r}")
        if self.xdp_mode not in ("best-effort", "native", "native-with-zerocopy", "generic"):
            raise Invalid("xdp_mode", "must be best-effort, native, native-with-zerocopy or generic")
        check_bridge(self.bridge)
        if self.ifname_prefix:
            check_prefix(self.ifname_prefix)


@dataclass(frozen=True)
class OvsKernelOptions:
    """OVS's kernel datapath (a system bridge): needs the openvswitch kernel module."""

    bridge: str = "br-pktlab"
    ifname_prefix: str = ""

    def check(self):
        check_bridge(self.bridge)
        if self.ifname_prefix:
            check_prefix(self.ifname_prefix)


class KernelPath(DataPath):
    """Shared by the kernel paths: names, generator ends, counters."""

    switch_ns_suffix: str | None = None  # namespace of the switch-side veth ends (None: root)

    def __init__(self, scenario, entry, run_dir, run_id, root="/"):
        super().__init__(scenario, entry, run_dir, run_id, root)
        tag = names.tag_for(run_id)
        prefix = self.options.ifname_prefix or names.link_prefix(tag)
        self.ifname = {s: prefix + s for s in ("a0", "a1", "b0", "b1", "br")}
        self.ns_a, self.ns_b = names.netns_name(tag, "a"), names.netns_name(tag, "b")
        self.ns_sw = names.netns_name(tag, self.switch_ns_suffix) if self.switch_ns_suffix else None

    def cores_used(self):
        return {"generator": [self.scenario.cpu.generator]}

    def generator_ends(self) -> tuple[tuple[str, str], ...]:
        return (self.ifname["a0"], self.ns_a), (self.ifname["b0"], self.ns_b)

    def counted_links(self):
        """The veth ends whose kernel counters are recorded, in path order."""
        i = self.ifname
        return ((i["a0"], self.ns_a), (i["a1"], self.ns_sw), (i["b1"], self.ns_sw), (i["b0"], self.ns_b))

    def generator_ports(self) -> tuple[str, ...]:
        return tuple(f"{ifname}@{ns}" for ifname, ns in self.generator_ends())

    def generator_step(self):
        from ..gen.config import GenConfig

        t = self.scenario.traffic
        cfg = GenConfig(eal_args=(), ports=self.generator_ports(), backend="kernel", kernel_mode=kernel_mode_for(t),
                        streams=with_latency_streams(streams_for(t, 2), self.scenario.method), core=self.scenario.cpu.generator)
        return StartGenerator(cfg.to_dict(), log=str(self.run_dir / "generator.log"))

    def counters(self, ctx):
        return LinkCounters(self.counted_links())

    def _ends_plan(self) -> list:
        """Namespaces and the two veth pairs from the generator's namespaces to the switch side."""
        i = self.ifname
        steps = [MakeRunDir(str(self.run_dir)), AddNetns(self.ns_a), AddNetns(self.ns_b)]
        if self.ns_sw:
            steps.append(AddNetns(self.ns_sw))
        # Promiscuous: the generator's frames are addressed to a MAC nobody owns.
        mtu = mtu_for(self.scenario.traffic)
        steps += [AddVethPair(i["a0"], i["a1"], self.ns_a, self.ns_sw, promisc=True, mtu=mtu),
                  AddVethPair(i["b0"], i["b1"], self.ns_b, self.ns_sw, promisc=True, mtu=mtu)]
        return steps


class VethPath(KernelPath):
    kind, Options = "veth", VethOptions
    def counted_links(self):
        return (self.ifname["a0"], self.ns_a), (self.ifname["b0"], self.ns_b)

    def host_plan(self):
        i = self.ifname
        return Plan([MakeRunDir(str(self.run_dir)), AddNetns(self.ns_a), AddNetns(self.ns_b),
                     AddVethPair(i["a0"], i["b0"], self.ns_a, self.ns_b, promisc=True,
                                 mtu=mtu_for(self.scenario.traffic))])


class LinuxBridgePath(KernelPath):
    kind, Options = "linux-bridge", LinuxBridgeOptions
    switch_ns_suffix = "sw"

    def host_plan(self):
        i = self.ifname
        return Plan(self._ends_plan() + [
            AddLinuxBridge(i["br"], self.ns_sw),
            SetMaster(i["a1"], i["br"], self.ns_sw),
            SetMaster(i["b1"], i["br"], self.ns_sw),
        ])


class _OvsOnVeths(KernelPath):
    """OVS in pktlab's own run directory with the switch-side veth ends as its ports."""

    datapath_type = "netdev"

    def __init__(self, scenario, entry, run_dir, run_id, root="/"):
        super().__init__(scenario, entry, run_dir, run_id, root)
        self.ovs_dir = str(self.run_dir / "ovs")

    def precheck(self):
        super().precheck()
        missing = daemons.missing_binaries()
        if missing:
            self.fail(f"{self._where()}.kind", f"{self.entry.kind} needs Open vSwitch, missing: "
                                               f"{', '.join(missing)}; {daemons.APT_HINT}")

    def _where(self):
        return f"datapath[{self.scenario.datapaths.index(self.entry)}]"

    def port_type(self) -> str:
        return "system"

    def port_options(self) -> dict:
        return {}

    def other_config(self) -> dict:
        return {}

    def host_plan(self):
        i, br = self.ifname, self.options.bridge
        steps = self._ends_plan() + [
            StartOvsdbServer(self.ovs_dir),
            SetOvsOtherConfig(self.ovs_dir, self.other_config()),
            UnloadAutoloaded("openvswitch"),  # ovs-vswitchd has the kernel load it
            StartOvsVswitchd(self.ovs_dir, dpdk=False),
            AddBridge(self.ovs_dir, br, self.datapath_type),
            AddPort(self.ovs_dir, br, i["a1"], self.port_type(), self.port_options(), 1),
            AddPort(self.ovs_dir, br, i["b1"], self.port_type(), self.port_options(), 2),
            AddFlows(self.ovs_dir, br, ("priority=100,in_port=1,actions=output:2",
                                        "priority=100,in_port=2,actions=output:1")),
        ]
        return Plan(steps)

    def wait_ready(self, ctx):
        ctx.ovsdb(daemons.db_sock(self.ovs_dir)).wait_ports_up((self.ifname["a1"], self.ifname["b1"]), 30)

    def versions(self, ctx):
        from ..provenance import ovs_version

        return {"ovs_version": ovs_version(daemons.OVS_VSWITCHD_DPDK)}


class OvsAfxdpPath(_OvsOnVeths):
    """The userspace datapath on kernel interfaces: afxdp (or system) ports polled by a PMD."""
    kind, Options = "ovs-afxdp", OvsAfxdpOptions


    def cores_used(self):
        return {"generator": [self.scenario.cpu.generator], "ovs_pmd": list(self.scenario.cpu.ovs_pmd)}

    def precheck(self):
        super().precheck()
        if self.options.port_type == "afxdp" and not self.scenario.cpu.ovs_pmd:
            self.fail("cpu.ovs_pmd", "afxdp ports are polled by a PMD thread: give it a core")

    def port_type(self):
        return self.options.port_type

    def port_options(self):
        return {"xdp-mode": self.options.xdp_mode} if self.options.port_type == "afxdp" else {}

    def other_config(self):
        cpu = self.scenario.cpu
        return {"pmd-cpu-mask": hex(sum(1 << c for c in cpu.ovs_pmd))} if cpu.ovs_pmd else {}


class OvsKernelDatapathPath(_OvsOnVeths):
    """OVS's kernel datapath: a system bridge; the openvswitch module does the forwarding."""
    kind, Options = "ovs-kernel", OvsKernelOptions


    datapath_type = "system"

    def unavailable(self):
        return openvswitch_module_missing()

    def host_plan(self):
        plan = super().host_plan()
        if not Path("/sys/module/openvswitch").is_dir():
            plan.steps.insert(1, LoadModule("openvswitch"))
        return plan


def openvswitch_module_missing(root: str = "/") -> str | None:
    """Why the OVS kernel datapath cannot run on the host under root, or None."""
    if Path(root, "sys/module/openvswitch").is_dir():
        return None
    if Path(root).resolve() != Path("/"):  # a copy of a host's tree: its module list decides
        from ..inventory.sysfs import Cmdline, driver_status, read_attr

        release = read_attr(root, "proc/sys/kernel/osrelease") or ""
        cmdline = Cmdline.parse(read_attr(root, "proc/cmdline", "") or "")
        if driver_status("openvswitch", root, release, cmdline).available:
            return None
        return f"the openvswitch kernel module is neither loaded nor in /lib/modules/{release} on that host"
    p = subprocess.run(["modprobe", "--dry-run", "openvswitch"], capture_output=True, text=True)
    if p.returncode == 0:
        return None
    return ("the openvswitch kernel module is not available on this kernel "
            f"(modprobe --dry-run openvswitch: {(p.stderr or p.stdout).strip() or 'failed'}); "
            "the OVS kernel datapath cannot run here")
