"""The virtual lab server: a QEMU machine with two NUMA nodes, an IOMMU and igb
NICs (SR-IOV) cabled point to point, running the host's own root filesystem,
so pktlab's lab scenarios run inside it for real (`pktlab vlab ...`)."""
from __future__ import annotations

from .topology import DEFAULT, Topology

__all__ = ["DEFAULT", "Topology"]
