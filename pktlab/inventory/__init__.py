"""What the host has, where a scenario's pieces should go on it, and whether it can run it.

    inv = read_inventory()              # CPUs, NUMA nodes, hugepages, isolation, IOMMU, drivers, NICs
    pmds = PmdIndex.load()              # which DPDK PMD claims which PCI id (pyelftools)
    placement = plan(inv, Demand(...))  # PMD/generator/guest cores and hugepages per NUMA node
    report = diagnose({name: [requirement, ...]})   # pktlab doctor: report.render() or .as_dict()

Everything here reads only, under a root directory ("/" or a fake tree in tests).
The steps that change PCI bindings and SR-IOV live in pktlab.host.pci and pktlab.host.sriov.
"""
from .doctor import GENERIC_REQUIREMENTS, Finding, Report, Verdict, diagnose
from .planner import Choice, Demand, NodePages, Placement, plan
from .pmdinfo import PciId, Pmd, PmdIndex, read_pmdinfo
from .sysfs import (Cpu, DriverStatus, HugepagePool, Inventory, Iommu, Isolation, Management, Netdev, Nic,
                    NumaNode, read_inventory, read_nic)

__all__ = [
    "read_inventory", "read_nic", "Inventory", "Cpu", "NumaNode", "HugepagePool", "Isolation", "Iommu",
    "DriverStatus", "Netdev", "Nic", "Management",
    "PmdIndex", "Pmd", "PciId", "read_pmdinfo",
    "plan", "Demand", "Placement", "Choice", "NodePages",
    "diagnose", "Report", "Verdict", "Finding", "GENERIC_REQUIREMENTS",
]
