"""PCI network functions: what each is, where it sits and what drives it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .attrs import PCI_CLASS_NETWORK, parse_int, link_name, normalize_pci, read_attr
from .netdevs import Management, Netdev, pci_of_netdev, read_management, read_netdevs


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
    v = parse_int(text, 16)
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
    node = parse_int(read_attr(root, f"{rel}/numa_node"))
    cls = parse_int(read_attr(root, f"{rel}/class"), 16)
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
        sriov_totalvfs=parse_int(read_attr(root, f"{rel}/sriov_totalvfs")),
        sriov_numvfs=parse_int(read_attr(root, f"{rel}/sriov_numvfs")),
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
        cls = parse_int(read_attr(root, f"sys/bus/pci/devices/{p.name}/class"), 16)
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
        pci = pci_of_netdev(root, name_or_pci)
    return pci if pci and Path(root, "sys/bus/pci/devices", pci).is_dir() else None


def interface_nic(netdev: Netdev) -> Nic:
    """A kernel interface with no PCI function (a tap cabled to a virtual DUT, a veth) as a
    NIC the kernel generator may drive: no PCI address, no NUMA node, no DPDK driver."""
    return Nic(pci="", vendor="", device="", subsystem_vendor=None, subsystem_device=None, pci_class=None,
               driver=None, driver_override=None, numa_node=None, iommu_group=None, netdevs=(netdev,),
               sriov_totalvfs=None, sriov_numvfs=None, vfs=(), physfn=None, management=netdev.default_route)
