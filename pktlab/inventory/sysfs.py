"""What the host has, read from sysfs and procfs under a root directory.

Every reader takes `root`: "/" on a real host, a fake tree in tests (a lab
server's NICs, NUMA nodes and 1 GiB pages cannot exist on a build machine).
Nothing here changes the host, except `write_attr`: the one function the host
steps (pci.py, sriov.py) write sysfs with, so a test can watch every write
and play the kernel's part.

What a field means when the host does not say: None (a NIC's NUMA node when
firmware reports -1, a link speed when the link is down), never a guess.
"""
from __future__ import annotations

import dataclasses
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

PCI_RE = re.compile(r"^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$")
PCI_CLASS_NETWORK = 0x02
IFF_UP = 0x1
HOUSEKEEPING_CPU = 0  # the kernel's timekeeping, most IRQs and pktlab itself land here

# Kernel drivers a DPDK port can sit on: vfio-pci first (needs the IOMMU, or its no-IOMMU mode).
USERSPACE_DRIVERS = ("vfio-pci", "uio_pci_generic", "igb_uio")


# ---------------------------------------------------------------- small readers

def write_attr(root: str, rel: str, value: str) -> None:
    """Write `value` to the sysfs attribute `rel` (relative to root), as `echo -n value > file` does.

    The single write path of the host steps: tests replace it (tests/fakesys.py) to
    record each write and to do what the kernel would. Raises OSError with the errno.
    """
    fd = os.open(Path(root, rel), os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def read_attr(root: str, rel: str, default: str | None = None) -> str | None:
    """An attribute's text without the trailing newline; `default` if it cannot be read
    (missing, or an attribute the kernel refuses to show, such as a down link's speed)."""
    try:
        return Path(root, rel).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return default


def _int(text: str | None, base: int = 10) -> int | None:
    try:
        return int(text, base) if text is not None else None
    except ValueError:
        return None


def link_name(root: str, rel: str) -> str | None:
    """The last component of a sysfs symlink's target (a driver's or group's name)."""
    try:
        return os.path.basename(os.readlink(Path(root, rel)))
    except OSError:
        return None


def normalize_pci(addr: str) -> str | None:
    """"03:00.0" or "0000:03:00.0" -> "0000:03:00.0"; None if it is not a PCI address."""
    m = PCI_RE.match(addr.strip())
    if not m:
        return None
    dom, bus, dev, fn = m.groups()
    return f"{(dom or '0000').lower()}:{bus.lower()}:{dev.lower()}.{fn}"


def parse_cpulist(text: str, nr_cpus: int | None = None) -> tuple[int, ...]:
    """A kernel cpulist ("0-3,8-11", "2-15:2/4", "1-N", "all") as sorted CPU numbers.

    "N" (the last CPU) and "all" need nr_cpus. Raises ValueError on anything else.
    """
    text = text.strip()
    if not text:
        return ()
    if text == "all":
        if nr_cpus is None:
            raise ValueError("'all' needs the number of CPUs")
        return tuple(range(nr_cpus))
    cpus: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if part == "N" or part.startswith("N-") or part.endswith("-N") or "-N:" in part:
            if nr_cpus is None:
                raise ValueError(f"{part!r}: 'N' needs the number of CPUs")
            part = re.sub(r"\bN\b", str(nr_cpus - 1), part)
        m = re.fullmatch(r"(\d+)(?:-(\d+)(?::(\d+)/(\d+))?)?", part)
        if not m:
            raise ValueError(f"{part!r} is not a CPU list entry")
        lo, hi, used, group = m.groups()
        lo, hi = int(lo), int(hi) if hi is not None else int(lo)
        if hi < lo:
            raise ValueError(f"{part!r}: range runs backwards")
        if used is None:
            cpus.update(range(lo, hi + 1))
        else:
            used, group = int(used), int(group)
            if not 0 < used <= group:
                raise ValueError(f"{part!r}: bad group")
            cpus.update(c for c in range(lo, hi + 1) if (c - lo) % group < used)
    return tuple(sorted(cpus))


def format_cpulist(cpus) -> str:
    """(0, 1, 2, 3, 8) -> "0-3,8"; "" for none."""
    out, run = [], []
    for c in sorted(set(cpus)):
        if run and c == run[-1] + 1:
            run.append(c)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [c]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


def size_label(size_kb: int) -> str:
    return f"{size_kb // 1048576}G" if size_kb >= 1048576 else f"{size_kb // 1024}M"


def _plain(v):
    if dataclasses.is_dataclass(v):
        return {f.name: _plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return v


# ---------------------------------------------------------------- kernel command line

@dataclass(frozen=True)
class Cmdline:
    """/proc/cmdline as (key, value) pairs, in order; value None for a bare flag.
    Arguments after " -- " go to init, not the kernel, and are left out."""

    raw: str
    params: tuple[tuple[str, str | None], ...]

    @classmethod
    def parse(cls, raw: str) -> "Cmdline":
        params = []
        for tok in raw.split():
            if tok == "--":
                break
            key, eq, value = tok.partition("=")
            params.append((key, value.strip('"') if eq else None))
        return cls(raw.strip(), tuple(params))

    def get(self, key: str) -> str | None:
        """The last value given for `key` (the kernel takes the last), "" for a bare flag, None if absent."""
        found = None
        for k, v in self.params:
            if k == key:
                found = "" if v is None else v
        return found

    def all(self, key: str) -> list[str]:
        return ["" if v is None else v for k, v in self.params if k == key]

    def cpus(self, key: str, nr_cpus: int) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """(CPUs, flags) of isolcpus=/nohz_full=/rcu_nocbs=. isolcpus takes flags before
        its list ("isolcpus=nohz,domain,managed_irq,2-7"); a bare rcu_nocbs means all CPUs."""
        value = self.get(key)
        if value is None:
            return (), ()
        if value == "":
            return (tuple(range(nr_cpus)) if key == "rcu_nocbs" else ()), ()
        flags = []
        parts = value.split(",")
        while parts and re.fullmatch(r"[a-z_]+", parts[0]) and parts[0] not in ("all",):
            flags.append(parts.pop(0))
        try:
            return parse_cpulist(",".join(parts), nr_cpus), tuple(flags)
        except ValueError:
            return (), tuple(flags)


@dataclass(frozen=True)
class Isolation:
    """Which CPUs the kernel keeps other work off. isolcpus/nohz_full/rcu_nocbs as booted;
    kernel_isolated is /sys/devices/system/cpu/isolated (what the kernel applied)."""

    isolcpus: tuple[int, ...]
    isolcpus_flags: tuple[str, ...]
    nohz_full: tuple[int, ...]
    rcu_nocbs: tuple[int, ...]
    kernel_isolated: tuple[int, ...]

    @property
    def isolated(self) -> frozenset[int]:
        return frozenset(self.isolcpus) | frozenset(self.kernel_isolated)

    def missing(self, cpu: int) -> list[str]:
        """The isolation parameters `cpu` is not in ([] if fully isolated)."""
        out = [] if cpu in self.isolated else ["isolcpus"]
        out += [] if cpu in self.nohz_full else ["nohz_full"]
        out += [] if cpu in self.rcu_nocbs else ["rcu_nocbs"]
        return out


# ---------------------------------------------------------------- CPUs, NUMA, hugepages

@dataclass(frozen=True)
class Cpu:
    id: int
    node: int
    package: int | None
    core_id: int | None
    siblings: tuple[int, ...]  # hyperthreads sharing its physical core, itself included


@dataclass(frozen=True)
class HugepagePool:
    size_kb: int
    total: int
    free: int
    surplus: int = 0

    @property
    def size(self) -> str:
        return size_label(self.size_kb)


@dataclass(frozen=True)
class NumaNode:
    id: int
    cpus: tuple[int, ...]
    mem_total_kb: int | None
    mem_free_kb: int | None
    hugepages: tuple[HugepagePool, ...]

    def pool(self, size_kb: int) -> HugepagePool | None:
        return next((p for p in self.hugepages if p.size_kb == size_kb), None)


def _pools(root: str, rel: str) -> tuple[HugepagePool, ...]:
    d = Path(root, rel)
    pools = []
    for p in sorted(d.glob("hugepages-*kB")) if d.is_dir() else ():
        size = _int(p.name[len("hugepages-"):-len("kB")])
        total = _int(read_attr(root, f"{rel}/{p.name}/nr_hugepages"))
        if size is None or total is None:
            continue
        pools.append(HugepagePool(size, total, _int(read_attr(root, f"{rel}/{p.name}/free_hugepages")) or 0,
                                  _int(read_attr(root, f"{rel}/{p.name}/surplus_hugepages")) or 0))
    return tuple(sorted(pools, key=lambda p: p.size_kb))


def _meminfo_kb(text: str | None, key: str) -> int | None:
    for line in (text or "").splitlines():
        m = re.match(rf"^(?:Node \d+ )?{key}:\s+(\d+)", line)
        if m:
            return int(m.group(1))
    return None


def read_cpus(root: str = "/") -> tuple[tuple[int, ...], tuple[Cpu, ...], tuple[NumaNode, ...]]:
    """(online CPUs, their topology, NUMA nodes). A kernel without NUMA gets one node 0."""
    online = parse_cpulist(read_attr(root, "sys/devices/system/cpu/online", "") or "")
    if not online:  # a tree without the file: count cpuN directories
        online = tuple(sorted(int(p.name[3:]) for p in Path(root, "sys/devices/system/cpu").glob("cpu[0-9]*")))
    node_dir = Path(root, "sys/devices/system/node")
    nodes = []
    for d in sorted(node_dir.glob("node[0-9]*"), key=lambda p: int(p.name[4:])) if node_dir.is_dir() else ():
        rel = f"sys/devices/system/node/{d.name}"
        meminfo = read_attr(root, f"{rel}/meminfo")
        nodes.append(NumaNode(int(d.name[4:]), parse_cpulist(read_attr(root, f"{rel}/cpulist", "") or ""),
                              _meminfo_kb(meminfo, "MemTotal"), _meminfo_kb(meminfo, "MemFree"),
                              _pools(root, f"{rel}/hugepages")))
    if not nodes:
        meminfo = read_attr(root, "proc/meminfo")
        nodes = [NumaNode(0, online, _meminfo_kb(meminfo, "MemTotal"), _meminfo_kb(meminfo, "MemFree"),
                          _pools(root, "sys/kernel/mm/hugepages"))]
    node_of = {c: n.id for n in nodes for c in n.cpus}
    cpus = []
    for c in online:
        topo = f"sys/devices/system/cpu/cpu{c}/topology"
        sib = read_attr(root, f"{topo}/thread_siblings_list")
        cpus.append(Cpu(c, node_of.get(c, 0), _int(read_attr(root, f"{topo}/physical_package_id")),
                        _int(read_attr(root, f"{topo}/core_id")), parse_cpulist(sib) if sib else (c,)))
    return online, tuple(cpus), tuple(nodes)


# ---------------------------------------------------------------- IOMMU and drivers

@dataclass(frozen=True)
class Iommu:
    enabled: bool
    units: tuple[str, ...]  # /sys/class/iommu entries (dmar0, ivhd0, ...)
    groups: int  # /sys/kernel/iommu_groups entries
    cmdline: tuple[str, ...]  # intel_iommu=, amd_iommu=, iommu= as booted
    passthrough: bool  # iommu=pt: host DMA untranslated, only vfio devices go through it
    vfio_noiommu: bool  # vfio's enable_unsafe_noiommu_mode is on
    detail: str


def read_iommu(root: str, cmdline: Cmdline) -> Iommu:
    units_dir, groups_dir = Path(root, "sys/class/iommu"), Path(root, "sys/kernel/iommu_groups")
    units = tuple(sorted(p.name for p in units_dir.iterdir())) if units_dir.is_dir() else ()
    groups = sum(1 for _ in groups_dir.iterdir()) if groups_dir.is_dir() else 0
    args = tuple(f"{k}={v}" if v is not None else k for k, v in cmdline.params
                 if k in ("intel_iommu", "amd_iommu", "iommu"))
    noiommu = (read_attr(root, "sys/module/vfio/parameters/enable_unsafe_noiommu_mode") or "N") in ("Y", "1")
    enabled = groups > 0 or bool(units)
    if enabled:
        detail = f"on: {len(units)} IOMMU unit(s), {groups} group(s)" + (", passthrough (iommu=pt)"
                                                                          if "iommu=pt" in args else "")
    elif any(a in ("intel_iommu=on", "amd_iommu=on") for a in args):
        detail = "off: asked for on the command line, but the kernel found no IOMMU (enable VT-d/AMD-Vi in firmware)"
    else:
        detail = "off: no IOMMU groups (boot with intel_iommu=on iommu=pt, or amd_iommu=on iommu=pt)"
    return Iommu(enabled, units, groups, args, "iommu=pt" in args, noiommu, detail)


@dataclass(frozen=True)
class DriverStatus:
    """A PCI driver pktlab may bind a port to: loaded (registered with the PCI bus),
    or a module that modprobe could load."""

    name: str
    loaded: bool
    module: str | None  # "built-in", its path under /lib/modules, or None
    available: bool  # loaded, or loadable by modprobe on this kernel
    detail: str


def modules_disabled(root: str, cmdline: Cmdline) -> str | None:
    """Why this kernel cannot load modules, or None if it can."""
    if not Path(root, "proc/modules").exists():
        return "this kernel has no module support (no /proc/modules)"
    if cmdline.get("nomodule") is not None:
        return "module loading is off (nomodule on the kernel command line)"
    if read_attr(root, "proc/sys/kernel/modules_disabled") == "1":
        return "module loading is off (kernel.modules_disabled=1)"
    return None


def driver_status(name: str, root: str, release: str, cmdline: Cmdline) -> DriverStatus:
    loaded = Path(root, "sys/bus/pci/drivers", name).is_dir()
    stem = name.replace("-", "_")
    mods = f"lib/modules/{release}"
    module = None
    for line in (read_attr(root, f"{mods}/modules.builtin") or "").splitlines():
        if os.path.basename(line).split(".ko")[0].replace("-", "_") == stem:
            module = "built-in"
    for line in (read_attr(root, f"{mods}/modules.dep") or "").splitlines():
        path = line.split(":", 1)[0]
        if module is None and os.path.basename(path).split(".ko")[0].replace("-", "_") == stem:
            module = f"/{mods}/{path}"
    blocked = modules_disabled(root, cmdline)
    if loaded:
        return DriverStatus(name, True, module, True, "loaded")
    if module is None:
        detail = (f"not loaded, and /{mods} has no {name} module" if Path(root, mods).is_dir()
                  else f"not loaded, and there is no /{mods}")
        return DriverStatus(name, False, None, False, detail + (f"; {blocked}" if blocked else ""))
    if blocked:
        return DriverStatus(name, False, module, False, f"not loaded: {module} exists but {blocked}")
    return DriverStatus(name, False, module, True, f"not loaded; `modprobe {name}` loads {module}")


# ---------------------------------------------------------------- network interfaces

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


def _pci_of_netdev(root: str, ifname: str) -> str | None:
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
        flags = _int(read_attr(root, f"{rel}/flags"), 16) or 0
        carrier = read_attr(root, f"{rel}/carrier")
        speed = _int(read_attr(root, f"{rel}/speed"))
        lowers = tuple(sorted(p.name[len("lower_"):] for p in Path(root, rel).glob("lower_*")))
        out[name] = Netdev(
            name=name, ifindex=_int(read_attr(root, f"{rel}/ifindex")), mac=read_attr(root, f"{rel}/address"),
            operstate=read_attr(root, f"{rel}/operstate"), carrier=None if carrier is None else carrier == "1",
            speed_mbps=speed if speed is not None and speed > 0 else None, mtu=_int(read_attr(root, f"{rel}/mtu")),
            up=bool(flags & IFF_UP), master=link_name(root, f"{rel}/master"), lowers=lowers,
            addresses=tuple(v4.get(name, []) + v6.get(name, [])), routes=routes.get(name, 0),
            default_route=name in defaults, pci=_pci_of_netdev(root, name))
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


# ---------------------------------------------------------------- NICs

@dataclass(frozen=True)
class Nic:
    """A PCI network function (PF or VF), whichever driver holds it."""

    pci: str
    vendor: str  # 4 hex digits, as lspci -n prints them
    device: str
    subsystem_vendor: str | None
    subsystem_device: str | None
    pci_class: str | None  # 6 hex digits
    driver: str | None  # bound PCI driver: ixgbe, vfio-pci, ... None if unbound
    driver_override: str | None
    numa_node: int | None  # None when firmware does not say (-1)
    iommu_group: str | None
    netdevs: tuple[Netdev, ...]  # none when a userspace driver (vfio-pci) holds it
    sriov_totalvfs: int | None  # None: not SR-IOV capable (or a VF)
    sriov_numvfs: int | None
    vfs: tuple[str, ...]  # PCI addresses of its VFs
    physfn: str | None  # a VF's PF
    management: bool  # it is (or lies under) the interface carrying the default route

    @property
    def vendor_device(self) -> str:
        return f"{self.vendor}:{self.device}"

    @property
    def ifname(self) -> str | None:
        return self.netdevs[0].name if self.netdevs else None

    @property
    def netdev(self) -> Netdev | None:
        return self.netdevs[0] if self.netdevs else None

    def in_use(self) -> list[str]:
        """Why pktlab must not take this function from the kernel ([] if it may)."""
        out = ["it is the management NIC (it carries the default route)"] if self.management else []
        for n in self.netdevs:
            out += [f"{n.name} {why}" for why in n.in_use() if why != "carries the default route"]
        return out


def _hex4(text: str | None) -> str | None:
    v = _int(text, 16)
    return None if v is None else f"{v:04x}"


def read_nic(pci: str, root: str = "/", netdevs: dict[str, Netdev] | None = None,
             management: Management | None = None) -> Nic | None:
    """One PCI function, or None if the address is not a PCI device under root."""
    pci = normalize_pci(pci) or pci
    rel = f"sys/bus/pci/devices/{pci}"
    if not Path(root, rel).is_dir():
        return None
    if netdevs is None:
        netdevs = read_netdevs(root)
    if management is None:
        management = read_management(netdevs, root)
    override = read_attr(root, f"{rel}/driver_override")
    node = _int(read_attr(root, f"{rel}/numa_node"))
    cls = _int(read_attr(root, f"{rel}/class"), 16)
    vfs = sorted(Path(root, rel).glob("virtfn*"), key=lambda p: int(p.name[6:]) if p.name[6:].isdigit() else 0)
    return Nic(
        pci=pci, vendor=_hex4(read_attr(root, f"{rel}/vendor")) or "????",
        device=_hex4(read_attr(root, f"{rel}/device")) or "????",
        subsystem_vendor=_hex4(read_attr(root, f"{rel}/subsystem_vendor")),
        subsystem_device=_hex4(read_attr(root, f"{rel}/subsystem_device")),
        pci_class=None if cls is None else f"{cls:06x}", driver=link_name(root, f"{rel}/driver"),
        driver_override=None if override in (None, "", "(null)") else override,
        numa_node=node if node is not None and node >= 0 else None,
        iommu_group=link_name(root, f"{rel}/iommu_group"),
        netdevs=tuple(n for n in netdevs.values() if n.pci == pci),
        sriov_totalvfs=_int(read_attr(root, f"{rel}/sriov_totalvfs")),
        sriov_numvfs=_int(read_attr(root, f"{rel}/sriov_numvfs")),
        vfs=tuple(os.path.basename(os.readlink(p)) for p in vfs),
        physfn=link_name(root, f"{rel}/physfn"),
        management=management is not None and pci in management.pci)


def read_nics(root: str = "/", netdevs: dict[str, Netdev] | None = None,
              management: Management | None = None) -> tuple[Nic, ...]:
    """Every PCI function of the network class, or with a netdev of its own."""
    if netdevs is None:
        netdevs = read_netdevs(root)
    if management is None:
        management = read_management(netdevs, root)
    d = Path(root, "sys/bus/pci/devices")
    with_netdev = {n.pci for n in netdevs.values() if n.pci}
    nics = []
    for p in sorted(d.iterdir()) if d.is_dir() else ():
        cls = _int(read_attr(root, f"sys/bus/pci/devices/{p.name}/class"), 16)
        if (cls is not None and cls >> 16 == PCI_CLASS_NETWORK) or p.name in with_netdev:
            nic = read_nic(p.name, root, netdevs, management)
            if nic is not None:
                nics.append(nic)
    return tuple(nics)


def resolve_nic(name_or_pci: str, nics) -> Nic | None:
    """A NIC by PCI address (short or full) or by interface name."""
    pci = normalize_pci(name_or_pci)
    for nic in nics:
        if nic.pci == pci or name_or_pci in (n.name for n in nic.netdevs):
            return nic
    return None


def pci_of(name_or_pci: str, root: str = "/") -> str | None:
    """The PCI address of an interface name or address, if it is a PCI device under root."""
    pci = normalize_pci(name_or_pci)
    if pci is None:
        pci = _pci_of_netdev(root, name_or_pci)
    return pci if pci and Path(root, "sys/bus/pci/devices", pci).is_dir() else None


# ---------------------------------------------------------------- the whole host

@dataclass(frozen=True)
class Inventory:
    root: str
    kernel: str | None  # release, as uname -r
    cpus_online: tuple[int, ...]
    cpus: tuple[Cpu, ...]
    nodes: tuple[NumaNode, ...]
    hugepages: tuple[HugepagePool, ...]  # system-wide pools
    default_hugepage_kb: int | None
    mem_available_kb: int | None
    cmdline: Cmdline
    isolation: Isolation
    iommu: Iommu
    drivers: dict[str, DriverStatus]  # USERSPACE_DRIVERS by name
    nics: tuple[Nic, ...]
    management: Management | None

    def node(self, node_id: int) -> NumaNode | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    def cpu(self, cpu_id: int) -> Cpu | None:
        return next((c for c in self.cpus if c.id == cpu_id), None)

    def nic(self, name_or_pci: str) -> Nic | None:
        return resolve_nic(name_or_pci, self.nics)

    def as_dict(self) -> dict:
        d = _plain(self)
        d["cmdline"] = self.cmdline.raw
        d["isolation"]["isolated"] = sorted(self.isolation.isolated)
        for nd, nic in zip(d["nics"], self.nics):
            nd["vendor_device"] = nic.vendor_device
            nd["in_use"] = nic.in_use()
        return d


def read_inventory(root: str = "/") -> Inventory:
    """Everything pktlab's planner and doctor need to know about the host, read only."""
    root = str(root)
    online, cpus, nodes = read_cpus(root)
    nr = max(online) + 1 if online else 1
    cmdline = Cmdline.parse(read_attr(root, "proc/cmdline", "") or "")
    isol, flags = cmdline.cpus("isolcpus", nr)
    kernel_isolated = read_attr(root, "sys/devices/system/cpu/isolated", "") or ""
    kernel_nohz = read_attr(root, "sys/devices/system/cpu/nohz_full", "") or ""
    nohz = cmdline.cpus("nohz_full", nr)[0]
    if kernel_nohz and kernel_nohz != "(null)":
        nohz = tuple(sorted(set(nohz) | set(parse_cpulist(kernel_nohz, nr))))
    isolation = Isolation(isol, flags, nohz, cmdline.cpus("rcu_nocbs", nr)[0],
                          parse_cpulist(kernel_isolated, nr))
    release = read_attr(root, "proc/sys/kernel/osrelease")
    meminfo = read_attr(root, "proc/meminfo")
    hp = _meminfo_kb(meminfo, "Hugepagesize")
    netdevs = read_netdevs(root)
    management = read_management(netdevs, root)
    return Inventory(
        root=root, kernel=release, cpus_online=online, cpus=cpus, nodes=nodes,
        hugepages=_pools(root, "sys/kernel/mm/hugepages"), default_hugepage_kb=hp,
        mem_available_kb=_meminfo_kb(meminfo, "MemAvailable"), cmdline=cmdline, isolation=isolation,
        iommu=read_iommu(root, cmdline),
        drivers={d: driver_status(d, root, release or "", cmdline) for d in USERSPACE_DRIVERS},
        nics=read_nics(root, netdevs, management), management=management)
