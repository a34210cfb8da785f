"""What the host has, read from sysfs and procfs under a root directory.

Every reader takes `root`: "/" on a real host, a fake tree in tests (a lab
server's NICs, NUMA nodes and 1 GiB pages cannot exist on a build machine).
Nothing here changes the host (host/sysfs_attr.py is the one writer). This module
reads the whole host into an Inventory; each concept has its own module (attrs,
cmdline, cpus, drivers, netdevs, nics), whose names it re-exports.

What a field means when the host does not say: None (a NIC's NUMA node when
firmware reports -1, a link speed when the link is down), never a guess.
"""
from __future__ import annotations

from dataclasses import dataclass

from .attrs import (  # noqa: F401  (re-exported)
    HOUSEKEEPING_CPU, IFF_UP, PCI_CLASS_NETWORK, PCI_RE, USERSPACE_DRIVERS, format_cpulist, link_name, normalize_pci, parse_cpulist, parse_int, plain, read_attr, size_label)
from .cmdline import (  # noqa: F401  (re-exported)
    Cmdline, Isolation)
from .cpus import (  # noqa: F401  (re-exported)
    Cpu, HugepagePool, NumaNode, meminfo_kb, read_cpus, read_pools)
from .drivers import (  # noqa: F401  (re-exported)
    DriverStatus, Iommu, driver_status, modules_disabled, read_iommu)
from .netdevs import (  # noqa: F401  (re-exported)
    Management, Netdev, default_routes, ipv4_addresses, pci_of_netdev, read_management, read_netdevs)
from .nics import (  # noqa: F401  (re-exported)
    Nic, pci_of, read_nic, read_nics, resolve_nic)


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
        d = plain(self)
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
    hp = meminfo_kb(meminfo, "Hugepagesize")
    netdevs = read_netdevs(root)
    management = read_management(netdevs, root)
    return Inventory(
        root=root, kernel=release, cpus_online=online, cpus=cpus, nodes=nodes,
        hugepages=read_pools(root, "sys/kernel/mm/hugepages"), default_hugepage_kb=hp,
        mem_available_kb=meminfo_kb(meminfo, "MemAvailable"), cmdline=cmdline, isolation=isolation,
        iommu=read_iommu(root, cmdline),
        drivers={d: driver_status(d, root, release or "", cmdline) for d in USERSPACE_DRIVERS},
        nics=read_nics(root, netdevs, management), management=management)
