"""Scenario files: TOML in, frozen validated dataclasses out.

Every table is declared once as a dataclass; `_load_table` checks unknown keys,
missing keys and types against it, and each class's `check()` adds the rules
that types cannot say. Every error names the file, the dotted key and the
reason, and is raised before anything on the host is touched.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ScenarioError
from .units import DEFAULT_LINK_SPEED, parse_link_speed

MIN_FRAME, MAX_FRAME = 64, 9018
# Simple IMIX: 7:4:1 of 64, 570 and 1518-byte frames; its mean size names it in results.
IMIX = ((64, 7), (570, 4), (1518, 1))
IMIX_MEAN = round(sum(size * n for size, n in IMIX) / sum(n for _, n in IMIX))
HUGEPAGE_SIZES_KB = (2048, 1048576)
_MAC = re.compile(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.+-]{0,63}")
# Largest frame (FCS included) an afxdp port takes: XDP on a veth needs the frame in one
# 4 KiB page with its headroom. The generator's own kernel backend then uses AF_PACKET.
AFXDP_MAX_FRAME = 3498


class _Invalid(Exception):
    """Raised by check(): (key relative to the table, reason)."""

    def __init__(self, key: str, reason: str):
        super().__init__(key, reason)
        self.key, self.reason = key, reason


@dataclass(frozen=True)
class Hugepages:
    """Hugepages reserved for the run and returned afterwards."""

    count: int  # pages
    size: str = "2M"  # "2M" or "1G"

    @property
    def size_kb(self) -> int:
        return 2048 if self.size == "2M" else 1048576

    @property
    def total_mb(self) -> int:
        return self.count * self.size_kb // 1024

    def check(self):
        if self.size not in ("2M", "1G"):
            raise _Invalid("size", f"must be \"2M\" or \"1G\", not {self.size!r}")
        if self.count < 1:
            raise _Invalid("count", "must be at least 1")


@dataclass(frozen=True)
class Cpu:
    """Core placement. On two cores the OVS PMD and the generator each need one
    of their own: two busy pollers on one core starve each other. Loopback paths
    need `generator`; lab paths (physical NICs) place what is not given here on
    the NICs' NUMA nodes."""

    generator: int | None = None  # core the generator's poll loop runs on
    ovs_pmd: tuple[int, ...] = ()  # cores for OVS-DPDK PMD threads (pmd-cpu-mask)
    ovs_lcore: int | None = None  # core for OVS's non-PMD threads (dpdk-lcore-mask)

    def check(self):
        for key, cores in (("generator", [] if self.generator is None else [self.generator]),
                           ("ovs_pmd", self.ovs_pmd),
                           ("ovs_lcore", [] if self.ovs_lcore is None else [self.ovs_lcore])):
            if any(c < 0 for c in cores):
                raise _Invalid(key, "core numbers are >= 0")
        if len(set(self.ovs_pmd)) != len(self.ovs_pmd):
            raise _Invalid("ovs_pmd", "lists a core twice")
        if self.generator is not None and self.generator in self.ovs_pmd:
            raise _Invalid("generator", f"core {self.generator} is also an OVS PMD core; "
                           "two busy pollers on one core starve each other")


@dataclass(frozen=True)
class Traffic:
    """What the generator sends. frame_size is on the wire, FCS included."""

    frame_size: int = 64  # [B]
    frame_sizes: tuple[int | str, ...] = ()  # a sweep, one run per size; "imix" for IMIX 7:4:1
    imix: bool = False  # send IMIX 7:4:1 (64/570/1518 B); results name it by its mean size
    flows: int = 1
    vary: str = "src_ip"  # field stepped per flow: src_ip, src_port or both
    direction: str = "bidirectional"  # or unidirectional (port 0 -> port 1 only)
    # one port's link speed, "10G" (1G, 10G, 25G, 40G, 50G, 100G, 200G or 400G): the line-rate
    # reference of loopback paths (unset: 10G); lab paths read their NICs' speed, and use this
    # only where a NIC does not show one (its link is down), refusing it where it disagrees
    link_speed: str | None = None
    src_mac: str = "02:00:00:00:00:01"
    dst_mac: str = "02:00:00:00:00:02"
    src_ip: str = "198.18.0.1"  # RFC 2544 benchmarking range
    dst_ip: str = "198.19.0.1"
    src_port: int = 1024
    # Not 4789 (VXLAN's IANA port): a DUT or capture tool that parses tunnels would take
    # the test frames for VXLAN. 1024 -> 1024 as CSIT's TRex profiles send.
    dst_port: int = 1024

    def check(self):
        if not MIN_FRAME <= self.frame_size <= MAX_FRAME:
            raise _Invalid("frame_size", f"{self.frame_size} is outside {MIN_FRAME}-{MAX_FRAME} bytes")
        for size in self.frame_sizes:
            if size == "imix":
                continue
            if isinstance(size, str) or not MIN_FRAME <= size <= MAX_FRAME:
                raise _Invalid("frame_sizes", f"{size!r} is neither \"imix\" nor a size in "
                                              f"{MIN_FRAME}-{MAX_FRAME} bytes")
        if len(set(self.frame_sizes)) != len(self.frame_sizes):
            raise _Invalid("frame_sizes", "lists a size twice")

        if not 1 <= self.flows <= 65535:
            raise _Invalid("flows", "must be between 1 and 65535")
        if self.vary not in ("src_ip", "src_port", "both"):
            raise _Invalid("vary", f"must be src_ip, src_port or both, not {self.vary!r}")
        if self.direction not in ("bidirectional", "unidirectional"):
            raise _Invalid("direction", f"must be bidirectional or unidirectional, not {self.direction!r}")
        if self.link_speed is not None:
            try:
                parse_link_speed(self.link_speed)
            except ValueError as e:
                raise _Invalid("link_speed", str(e)) from None
        for key in ("src_mac", "dst_mac"):
            if not _MAC.match(getattr(self, key)):
                raise _Invalid(key, f"{getattr(self, key)!r} is not a MAC address")
        for key in ("src_ip", "dst_ip"):
            try:
                ipaddress.IPv4Address(getattr(self, key))
            except ValueError:
                raise _Invalid(key, f"{getattr(self, key)!r} is not an IPv4 address") from None
        for key in ("src_port", "dst_port"):
            if not 1 <= getattr(self, key) <= 65535:
                raise _Invalid(key, "must be a UDP port 1-65535")
        if self.vary in ("src_port", "both") and self.src_port + self.flows - 1 > 65535:
            raise _Invalid("flows", f"src_port {self.src_port} + {self.flows} flows runs past 65535")

    @property
    def link_bps(self) -> float:
        """One port's link speed [bit/s]: link_speed, 10G when unset."""
        return parse_link_speed(self.link_speed or DEFAULT_LINK_SPEED)

    @property
    def sizes(self) -> tuple[int | str, ...]:
        """The frame sizes to run, in order ("imix" for the mix)."""
        return self.frame_sizes or (("imix",) if self.imix else (self.frame_size,))

    @property
    def max_frame(self) -> int:
        """The largest frame any run of this traffic sends [B] (IMIX: its 1518)."""
        return max(max(s for s, _ in IMIX) if z == "imix" else z for z in self.sizes)


@dataclass(frozen=True)
class Method:
    """How the data path is measured.

    fixed-rate: one trial per listed rate ("max": as fast as the generator can).
    mlrsearch:  NDR and PDR in one MLRsearch run (goals: rfc2544, tst009 or quick).
    binary:     a classic RFC 2544 binary search per goal, for comparison.
    Searches then run one confirmation trial at the NDR (with the DUT's counters)
    and latency trials at the fractions of the NDR in latency_at.
    """

    kind: str = "fixed-rate"
    duration: float = 3.0  # fixed-rate and latency trials [s]
    rates: tuple[float | str, ...] = ("max",)  # fixed-rate [pps] or "max"
    drain: float = 0.2  # receive-only time after each trial's TX window [s]
    warmup: float = 0.0  # a trial before the measured ones, not counted (flow caches learn) [s]
    goals: str = "quick"  # searches: rfc2544, tst009 or quick
    pdr_loss_ratio: float = 0.005  # searches: PDR's loss ratio [1]
    final_duration: float = 0.0  # searches: deciding trial duration [s]; 0 = the preset's
    max_rate: float = 0.0  # searches: highest load [pps]; 0 = line rate (link speed x ports sending)
    min_rate: float = 10000.0  # searches: lowest load [pps]
    precision: float = 0.0  # searches: final relative width [1]; 0 = the goals preset's
    latency_at: tuple[float, ...] = ()  # searches: fractions of the NDR for latency trials

    @property
    def offered(self) -> tuple[float | None, ...]:
        """The rates with "max" as None, as the generator and results spell it."""
        return tuple(None if r == "max" else float(r) for r in self.rates)

    def check(self):
        if self.kind not in ("fixed-rate", "mlrsearch", "binary"):
            raise _Invalid("kind", f"unknown method {self.kind!r} (known: fixed-rate, mlrsearch, binary)")
        if not 0 < self.duration <= 3600:
            raise _Invalid("duration", "must be > 0 and <= 3600 seconds")
        if not 0 <= self.drain <= 10:
            raise _Invalid("drain", "must be between 0 and 10 seconds")
        if not 0 <= self.warmup <= 600:
            raise _Invalid("warmup", "must be between 0 and 600 seconds")
        if self.kind == "fixed-rate" and not self.rates:
            raise _Invalid("rates", "needs at least one rate")
        for r in self.rates:
            if isinstance(r, str) and r != "max" or not isinstance(r, str) and r <= 0:
                raise _Invalid("rates", f"{r!r}: a rate is a positive number of pps or \"max\"")
        if self.goals not in ("rfc2544", "tst009", "quick"):
            raise _Invalid("goals", f"must be rfc2544, tst009 or quick, not {self.goals!r}")
        if not 0 < self.pdr_loss_ratio < 1:
            raise _Invalid("pdr_loss_ratio", "must be > 0 and < 1 (0.005 is 0.5 %)")
        if self.final_duration < 0 or self.max_rate < 0 or self.min_rate <= 0:
            raise _Invalid("max_rate" if self.max_rate < 0 else "min_rate" if self.min_rate <= 0
                           else "final_duration", "must be positive")
        if self.max_rate and self.max_rate <= self.min_rate:
            raise _Invalid("max_rate", f"must be above min_rate ({self.min_rate:g} pps)")
        if not 0 <= self.precision < 1:
            raise _Invalid("precision", "must be >= 0 and < 1")
        if any(not 0 < f <= 1 for f in self.latency_at):
            raise _Invalid("latency_at", "fractions of the NDR are > 0 and <= 1")


def _check_bridge(name: str):
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", name):
        raise _Invalid("bridge", "1-15 characters of letters, digits, '_', '.' or '-'")


@dataclass(frozen=True)
class OvsDpdkVhost:
    """Loopback through OVS-DPDK: generator -> vhost-user -> netdev bridge -> vhost-user -> generator."""

    vhost_mode: str = "client"  # OVS port type dpdkvhostuserclient (client) or dpdkvhostuser (server)
    socket_mem: int = 512  # OVS dpdk-socket-mem [MiB]
    generator_mem: int = 256  # generator's DPDK memory [MiB]
    queue_size: int = 1024  # virtio ring size on the generator side
    bridge: str = "br-pktlab"
    # A device of known capacity: OVS polices what it receives on each vhost port at
    # this packet rate [pps] (0 = no policer), with a bucket of policer_burst packets.
    policer_pps: int = 0
    policer_burst: int = 1000

    def check(self):
        if self.policer_pps < 0 or self.policer_burst < 1:
            raise _Invalid("policer_pps" if self.policer_pps < 0 else "policer_burst", "must be positive")
        if self.vhost_mode not in ("client", "server"):
            raise _Invalid("vhost_mode", f"must be client or server, not {self.vhost_mode!r}")
        for key in ("socket_mem", "generator_mem"):
            if getattr(self, key) < 64:
                raise _Invalid(key, "must be at least 64 MiB")
        if self.queue_size not in (256, 512, 1024):
            raise _Invalid("queue_size", "must be 256, 512 or 1024")
        _check_bridge(self.bridge)


@dataclass(frozen=True)
class OvsDpdkPvp(OvsDpdkVhost):
    """PVP: generator -> vhost-user -> OVS-DPDK -> guest NIC0 -> forwarder -> guest NIC1
    -> OVS-DPDK -> vhost-user -> generator. The guest is a QEMU VM pktlab builds."""

    forwarder: str = "bridge"  # bridge, tc or testpmd
    guests: int = 1  # 1: PVP; 2: PVVP (guests chained through the switch); up to 4
    guest_mem: int = 256  # [MiB] per guest, on the run's hugepages, shared with OVS
    guest_core: int = -1  # host core for the vCPU and QEMU's other threads; -1 = the generator's
    accel: str = "auto"  # auto (KVM where it really works, else TCG), kvm or tcg

    def check(self):
        super().check()
        if not 1 <= self.guests <= 4:
            raise _Invalid("guests", "1 (PVP) to 4 guests in a chain")
        _check_guest(self)
        if self.vhost_mode != "client":
            raise _Invalid("vhost_mode", "PVP uses client mode (the generator serves its sockets)")


def _check_guest(opt):
    """The PVP guest's options: forwarder, guest_mem [MiB], accel."""
    if opt.forwarder not in ("bridge", "tc", "testpmd"):
        raise _Invalid("forwarder", f"must be bridge, tc or testpmd, not {opt.forwarder!r}")
    if opt.guest_mem < 128 or opt.guest_mem % 2:
        raise _Invalid("guest_mem", "an even number of MiB, at least 128")
    if opt.forwarder == "testpmd" and opt.guest_mem < 512:
        raise _Invalid("guest_mem", "testpmd in the guest needs at least 512 MiB")
    if opt.accel not in ("auto", "kvm", "tcg"):
        raise _Invalid("accel", "must be auto, kvm or tcg")


def _check_prefix(prefix: str, suffixes=("a0", "a1", "b0", "b1", "br")):
    """Interface names are prefix + suffix; each must be a name the kernel takes."""
    from .host.names import check_ifname

    for suffix in suffixes:
        why = check_ifname(prefix + suffix)
        if why:
            raise _Invalid("ifname_prefix", f"{prefix + suffix!r} (prefix + {suffix!r}): {why}")


@dataclass(frozen=True)
class VethPath:
    """The floor: generator -> veth -> veth -> generator, two namespaces, no switch."""

    ifname_prefix: str = ""  # interface names are prefix + a0/b0; "" = pl<run tag>

    def check(self):
        if self.ifname_prefix:
            _check_prefix(self.ifname_prefix, ("a0", "b0"))


@dataclass(frozen=True)
class LinuxBridgePath:
    """The kernel switch: ns -- veth -- Linux bridge (own namespace) -- veth -- ns."""

    ifname_prefix: str = ""

    def check(self):
        if self.ifname_prefix:
            _check_prefix(self.ifname_prefix)


@dataclass(frozen=True)
class OvsKernelSide:
    """OVS with kernel-owned ports: the userspace datapath (netdev) with afxdp or
    system ports on veths, or the kernel datapath (system bridge)."""

    port_type: str = "afxdp"  # afxdp or system (netdev bridge only)
    xdp_mode: str = "best-effort"  # afxdp ports: best-effort, native, native-with-zerocopy, generic
    bridge: str = "br-pktlab"
    ifname_prefix: str = ""

    def check(self):
        if self.port_type not in ("afxdp", "system"):
            raise _Invalid("port_type", f"must be afxdp or system, not {self.port_type!r}")
        if self.xdp_mode not in ("best-effort", "native", "native-with-zerocopy", "generic"):
            raise _Invalid("xdp_mode", "must be best-effort, native, native-with-zerocopy or generic")
        _check_bridge(self.bridge)
        if self.ifname_prefix:
            _check_prefix(self.ifname_prefix)


@dataclass(frozen=True)
class OvsKernelDatapath:
    """OVS's kernel datapath (a system bridge): needs the openvswitch kernel module."""

    bridge: str = "br-pktlab"
    ifname_prefix: str = ""

    def check(self):
        _check_bridge(self.bridge)
        if self.ifname_prefix:
            _check_prefix(self.ifname_prefix)


# -------------------------------------------------------------- lab paths (physical NICs)

_PCI_ADDR = re.compile(r"^(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")


def _check_nic_names(key: str, names, count: int | None = 2):
    """NICs are named by PCI address or kernel interface name."""
    from .host.names import check_ifname

    if count is not None and len(names) != count:
        raise _Invalid(key, f"needs {count} NICs (PCI address or interface name), got {len(names)}")
    for n in names:
        if not _PCI_ADDR.match(n) and check_ifname(n):
            raise _Invalid(key, f"{n!r} is neither a PCI address (0000:03:00.0) nor an interface name "
                                f"({check_ifname(n)})")
    if len(set(names)) != len(names):
        raise _Invalid(key, "names a NIC twice")


@dataclass(frozen=True)
class LabPath:
    """What every data path on physical NICs shares: the generator's lcores,
    hugepages per NUMA node, and which busy NICs the scenario may take."""

    gen_lcores: int = 1  # generator poll loops (one RX/TX queue pair per port each), placed by NUMA node
    generator_mem: int = 1024  # generator's DPDK memory on each of its ports' nodes [MiB]
    page_size: str = "1G"  # hugepages the run uses: "1G" (lab servers reserve them at boot) or "2M"
    # NICs pktlab may take although they are up or addressed (never the management NIC)
    allow_in_use: tuple[str, ...] = ()
    allow_cross_numa: bool = False  # place on another node when a NIC's node runs short, with warnings

    def check(self):
        if not 1 <= self.gen_lcores <= 8:
            raise _Invalid("gen_lcores", "1 to 8 generator lcores")
        if self.generator_mem < 64:
            raise _Invalid("generator_mem", "must be at least 64 MiB")
        if self.page_size not in ("2M", "1G"):
            raise _Invalid("page_size", f"must be \"2M\" or \"1G\", not {self.page_size!r}")
        _check_nic_names("allow_in_use", self.allow_in_use, None)


@dataclass(frozen=True)
class _P2p(LabPath):
    """A switch between two DUT NICs, each wired to one of the generator's."""

    gen_ports: tuple[str, ...] = ()  # NICs the generator drives (wired to dut_ports in order)
    dut_ports: tuple[str, ...] = ()  # the two NICs the bridge forwards between
    bridge: str = "br-pktlab"

    def check(self):
        super().check()
        _check_nic_names("dut_ports", self.dut_ports)
        _check_nic_names("gen_ports", self.gen_ports)
        if set(self.dut_ports) & set(self.gen_ports):
            raise _Invalid("gen_ports", "a NIC is either the generator's or the DUT's")
        _check_bridge(self.bridge)


@dataclass(frozen=True)
class OvsKernelP2p(_P2p):
    """OVS kernel datapath phy->phy: generator NIC -> DUT NIC 0 -> system bridge ->
    DUT NIC 1 -> generator NIC. The DUT NICs stay on their kernel driver."""

    generator: str = "dpdk"  # dpdk: generator NICs bound for DPDK; kernel: AF_XDP on their interfaces

    def check(self):
        super().check()
        if self.generator not in ("dpdk", "kernel"):
            raise _Invalid("generator", f"must be dpdk or kernel, not {self.generator!r}")
        if self.generator == "kernel" and self.gen_lcores != 1:
            raise _Invalid("gen_lcores", "the kernel generator runs one loop")


@dataclass(frozen=True)
class OvsDpdkP2p(_P2p):
    """OVS-DPDK phy->phy: DUT NICs bound to vfio-pci as OVS `dpdk` ports, polled by
    PMDs on their NUMA node, each RX queue pinned to a PMD (pmd-rxq-affinity)."""

    pmd_cores: int = 2  # PMD threads when cpu.ovs_pmd does not pin them
    n_rxq: int = 1  # RX queues per DUT port, spread over the PMDs
    rxq_desc: int = 2048  # descriptors per RX queue (n_rxq_desc)
    txq_desc: int = 2048  # per TX queue (n_txq_desc)
    socket_mem: int = 1024  # OVS dpdk-socket-mem on each node with a DUT port or a PMD [MiB]

    def check(self):
        super().check()
        if not 1 <= self.pmd_cores <= 64:
            raise _Invalid("pmd_cores", "1 to 64 PMD threads")
        if not 1 <= self.n_rxq <= 16:
            raise _Invalid("n_rxq", "1 to 16 RX queues per port")
        for key in ("rxq_desc", "txq_desc"):
            v = getattr(self, key)
            if not 64 <= v <= 8192 or v & (v - 1):
                raise _Invalid(key, "a power of two, 64 to 8192")
        if self.socket_mem < 256:
            raise _Invalid("socket_mem", "must be at least 256 MiB")


@dataclass(frozen=True)
class OvsDpdkPvpPhy(OvsDpdkP2p):
    """PVP on physical ports (VSPERF, NFVbench, CSIT): generator NIC -> dpdk0 -> OVS-DPDK
    -> vhost0 -> guest -> vhost1 -> OVS-DPDK -> dpdk1 -> generator NIC; the guest's vCPUs
    and memory on the DUT NICs' node."""

    forwarder: str = "testpmd"  # in the guest: bridge, tc or testpmd
    guest_vcpus: int = 2  # testpmd: its main lcore and its forwarding lcore a vCPU each
    guest_cores: tuple[int, ...] = ()  # host core per vCPU; () = placed on the DUT NICs' node
    guest_mem: int = 1024  # [MiB], hugepages of page_size on the vCPUs' node
    accel: str = "auto"  # auto (KVM where it really works, else TCG), kvm or tcg

    def check(self):
        super().check()
        _check_guest(self)
        if not 1 <= self.guest_vcpus <= 8:
            raise _Invalid("guest_vcpus", "1 to 8 vCPUs")
        if self.guest_cores and len(self.guest_cores) != self.guest_vcpus:
            raise _Invalid("guest_cores", f"{len(self.guest_cores)} cores for {self.guest_vcpus} vCPUs: "
                                          "one per vCPU, or none to have them placed")
        if any(c < 0 for c in self.guest_cores) or len(set(self.guest_cores)) != len(self.guest_cores):
            raise _Invalid("guest_cores", "distinct core numbers >= 0")
        if self.page_size == "1G" and self.guest_mem % 1024:
            raise _Invalid("guest_mem", "guest memory on 1G hugepages is a multiple of 1024 MiB")


@dataclass(frozen=True)
class SriovVf(LabPath):
    """SR-IOV VF-to-VF: VFs created on one PF, configured, bound to vfio-pci and
    driven by the generator; frames between them turn in the NIC's embedded switch."""

    pf: str = ""  # the PF: PCI address or interface name
    vfs: int = 2  # VFs to create; the generator drives VF 0 and VF 1
    vf_macs: tuple[str, ...] = ()  # MAC of VF 0, VF 1, ...; default 02:00:00:00:<pf bus>:<vf>
    vlan: int = 0  # port VLAN the NIC tags and strips (0: none)
    qos: int = 0  # 802.1p priority with vlan
    spoofchk: bool = True  # the NIC drops frames whose source MAC is not the VF's
    trust: bool = False  # a trusted VF may change its MAC and go promiscuous
    # (allow_in_use: the PF may be up; it usually is, VFs need their PF's link)

    def check(self):
        if not self.pf:
            raise _Invalid("pf", "missing (required): the PF's PCI address or interface name")
        _check_nic_names("pf", (self.pf,), 1)
        if not 2 <= self.vfs <= 256:
            raise _Invalid("vfs", "2 to 256 VFs (the generator drives the first two)")
        for mac in self.vf_macs:
            if not _MAC.match(mac):
                raise _Invalid("vf_macs", f"{mac!r} is not a MAC address")
            if int(mac.split(":")[0], 16) & 1:
                raise _Invalid("vf_macs", f"{mac} is a multicast address")
        if self.vf_macs and len(self.vf_macs) != self.vfs:
            raise _Invalid("vf_macs", f"{len(self.vf_macs)} MACs for {self.vfs} VFs: give one per VF, or none")
        if len(set(m.lower() for m in self.vf_macs)) != len(self.vf_macs):
            raise _Invalid("vf_macs", "two VFs with one MAC: the embedded switch could not tell them apart")
        if not 0 <= self.vlan <= 4094:
            raise _Invalid("vlan", "0 (none) to 4094")
        if not 0 <= self.qos <= 7:
            raise _Invalid("qos", "0 to 7")
        super().check()


# Data path kinds and the option table each takes.
DATAPATHS: dict[str, type] = {
    "ovs-dpdk-vhost": OvsDpdkVhost,
    "ovs-dpdk-pvp": OvsDpdkPvp,
    "veth": VethPath,
    "linux-bridge": LinuxBridgePath,
    "ovs-afxdp": OvsKernelSide,
    "ovs-kernel": OvsKernelDatapath,
    "ovs-kernel-p2p": OvsKernelP2p,
    "ovs-dpdk-p2p": OvsDpdkP2p,
    "ovs-dpdk-pvp-phy": OvsDpdkPvpPhy,
    "sriov-vf": SriovVf,
}
# Kinds on physical NICs: they place their own cores and hugepages by NUMA node.
LAB_KINDS = frozenset({"ovs-kernel-p2p", "ovs-dpdk-p2p", "ovs-dpdk-pvp-phy", "sriov-vf"})


@dataclass(frozen=True)
class Datapath:
    kind: str
    name: str  # label in results and charts
    options: typing.Any  # the kind's option dataclass


@dataclass(frozen=True)
class Scenario:
    file: Path
    name: str
    description: str
    hugepages: Hugepages | None  # only data paths that use DPDK need them
    cpu: Cpu
    traffic: Traffic
    method: Method
    datapaths: tuple[Datapath, ...]
    raw: dict = field(repr=False, compare=False)  # the TOML as read, for results

    def at_size(self, size: int | str) -> "Scenario":
        """This scenario at one frame size of its sweep ("imix": the mix, named by its mean)."""
        imix = size == "imix"
        return dataclasses.replace(self, traffic=dataclasses.replace(
            self.traffic, frame_size=IMIX_MEAN if imix else size, frame_sizes=(), imix=imix))

    def as_dict(self) -> dict:
        """The scenario as loaded (defaults filled in), JSON-able, for results."""

        def plain(v):
            if dataclasses.is_dataclass(v):
                return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
            if isinstance(v, (tuple, list)):
                return [plain(x) for x in v]
            return str(v) if isinstance(v, Path) else v

        d = plain(self)
        d.pop("raw")
        return d


def _type_ok(value, tp) -> bool:
    """Does a TOML value fit a dataclass field type? (bool is not an int here.)"""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(tp))
    if origin is tuple:
        (item, _) = typing.get_args(tp)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if tp is type(None):
        return value is None
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp)


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    if origin is tuple:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, tp.__name__)


def _load_table(cls, table, file: Path, prefix: str):
    """Build `cls` from a TOML table, or raise ScenarioError naming file and key."""
    if not isinstance(table, dict):
        raise ScenarioError(file, prefix, "must be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in table:
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ScenarioError(file, f"{prefix}.{key}", f"unknown key (known keys: {known})")
    kwargs = {}
    for name, f in fields.items():
        if name not in table:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ScenarioError(file, f"{prefix}.{name}", "missing (required)")
            continue
        value = table[name]
        if not _type_ok(value, hints[name]):
            raise ScenarioError(file, f"{prefix}.{name}",
                                f"must be {_type_name(hints[name])}, not {type(value).__name__} {value!r}")
        kwargs[name] = tuple(value) if isinstance(value, list) else value
    obj = cls(**kwargs)
    try:
        obj.check()
    except _Invalid as e:
        raise ScenarioError(file, f"{prefix}.{e.key}", e.reason) from None
    return obj


_TOP = {"scenario", "hugepages", "cpu", "traffic", "method", "datapath"}


def load(path) -> Scenario:
    """Read and validate a scenario file."""
    file = Path(path)
    try:
        with open(file, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ScenarioError(file, None, "no such file") from None
    except IsADirectoryError:
        raise ScenarioError(file, None, "is a directory, not a scenario file") from None
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(file, None, f"not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ScenarioError(file, None, f"not UTF-8 text (a TOML file must be): byte {e.start} "
                                        f"is {e.object[e.start:e.start + 1]!r}") from None

    for key in raw:
        if key not in _TOP:
            raise ScenarioError(file, key, f"unknown table (known: {', '.join(sorted(_TOP))})")
    for key in ("scenario", "datapath"):
        if key not in raw:
            raise ScenarioError(file, key, "missing (required)")

    head = raw["scenario"]
    if not isinstance(head, dict):
        raise ScenarioError(file, "scenario", "must be a table")
    for key in head:
        if key not in ("name", "description"):
            raise ScenarioError(file, f"scenario.{key}", "unknown key (known keys: description, name)")
    name = head.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ScenarioError(file, "scenario.name", "required: letters, digits, '_', '.' or '-' (used in file names)")
    description = head.get("description", "")
    if not isinstance(description, str):
        raise ScenarioError(file, "scenario.description", "must be a string")

    entries = raw["datapath"]
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list) or not entries:
        raise ScenarioError(file, "datapath", "must be one or more [[datapath]] tables")
    datapaths = []
    for i, entry in enumerate(entries):
        where = f"datapath[{i}]"
        if not isinstance(entry, dict):
            raise ScenarioError(file, where, "must be a table")
        kind = entry.get("kind")
        if kind not in DATAPATHS:
            raise ScenarioError(file, f"{where}.kind",
                                f"unknown data path {kind!r} (known: {', '.join(sorted(DATAPATHS))})")
        label = entry.get("name", kind)
        if not isinstance(label, str) or not _LABEL.fullmatch(label) or ".." in label:
            raise ScenarioError(file, f"{where}.name", f"{label!r} is not a safe file name: up to 64 letters, "
                                                       "digits, spaces, '_', '.', '+' or '-', starting with a "
                                                       "letter or digit, no '..' (it names the result file)")
        options = {k: v for k, v in entry.items() if k not in ("kind", "name")}
        datapaths.append(Datapath(kind, label, _load_table(DATAPATHS[kind], options, file, where)))
    labels = [d.name for d in datapaths]
    if len(set(labels)) != len(labels):
        raise ScenarioError(file, "datapath", f"data path names must be unique: {labels}")

    cpu = _load_table(Cpu, raw.get("cpu", {}), file, "cpu")
    loopback = [d.kind for d in datapaths if d.kind not in LAB_KINDS]
    if loopback and cpu.generator is None:
        raise ScenarioError(file, "cpu.generator", f"missing: data path kind {loopback[0]} runs the generator "
                                                   "on the core named here (only lab paths place it themselves)")
    traffic = _load_table(Traffic, raw.get("traffic", {}), file, "traffic")
    for i, d in enumerate(datapaths):
        if d.kind == "ovs-afxdp" and d.options.port_type == "afxdp" and traffic.max_frame > AFXDP_MAX_FRAME:
            raise ScenarioError(file, "traffic.frame_size" if not traffic.frame_sizes else "traffic.frame_sizes",
                                f"{traffic.max_frame}-byte frames do not fit OVS's afxdp ports (data path "
                                f"{d.name!r}: XDP on a veth takes frames up to {AFXDP_MAX_FRAME} B); "
                                f"use port_type = \"system\" or smaller frames")
        # each flow is sent by one generator loop: fewer flows than loops leave a loop idle
        if d.kind in LAB_KINDS and d.options.gen_lcores > traffic.flows:
            raise ScenarioError(file, f"datapath[{i}].gen_lcores",
                                f"{d.options.gen_lcores} generator lcores need at least as many flows "
                                f"(traffic.flows is {traffic.flows}): each flow is sent by one lcore")
        if d.kind in LAB_KINDS and cpu.generator is not None and d.options.gen_lcores != 1:
            raise ScenarioError(file, f"datapath[{i}].gen_lcores",
                                f"cpu.generator pins one generator lcore, gen_lcores asks {d.options.gen_lcores}; "
                                "leave cpu.generator out to have them placed")
    return Scenario(
        file=file,
        name=name,
        description=description,
        hugepages=_load_table(Hugepages, raw["hugepages"], file, "hugepages") if "hugepages" in raw else None,
        cpu=cpu,
        traffic=traffic,
        method=_load_table(Method, raw.get("method", {}), file, "method"),
        datapaths=tuple(datapaths),
        raw=raw,
    )
