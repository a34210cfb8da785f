"""The virtual lab server's hardware: NUMA nodes, NICs, cables, PCI addresses.

One fixed machine, so scenario files can name its NICs by PCI address and a
scenario can be checked against it before anything boots:

    node 0: vCPUs 0-1, 4096 MiB   pxb-pcie bus 0x40 -> root ports -> gen0 (41:00.0), gen1 (42:00.0)
    node 1: vCPUs 2-3, 4096 MiB   pxb-pcie bus 0x80 -> root ports -> dut0 (81:00.0), dut1 (82:00.0)
    pcie.0: virtio-net management NIC (00:02.0) with the default route (QEMU user network)

Cables: gen0 <-> dut0 and gen1 <-> dut1, each a QEMU hub with two ports
(`-netdev hubport,hubid=N`), so a frame leaves one NIC and enters only its peer.

The DUT NICs are igb (Intel 82576: SR-IOV, 7 VFs each, 8086:10c9/10ca). The
generator NICs are igb too: it is the NIC whose kernel driver, vfio-pci binding
and DPDK PMD (net_e1000_igb) were checked under this emulation (HOST-NOTES),
and it has the RX queues and RSS the generator's lcores need; e1000e's PMD is
single-queue, and virtio-net-pci behind the emulated IOMMU needs
iommu_platform/ATS and a different PMD, i.e. one more untested piece between
the generator and the NIC under test. Node 1 holds the DUT so the OVS PMDs and
the generator's lcores end up on different nodes, as on a lab server.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Node:
    node_id: int
    cpus: tuple[int, ...]
    mem_mb: int  # [MiB]
    bus_nr: int  # the pxb-pcie's bus number: its root ports' buses follow it


@dataclass(frozen=True)
class VNic:
    name: str  # QEMU id, and the role in scenario comments
    role: str  # "dut" | "gen"
    model: str  # QEMU device
    node: int
    port: int  # root port index on the node's pxb-pcie
    mac: str
    cable: int  # hub id shared with its peer
    total_vfs: int = 0

    def pci(self, topo: "Topology") -> str:
        """The guest's PCI address: the root port's secondary bus, device 0."""
        return f"0000:{topo.node(self.node).bus_nr + 1 + self.port:02x}:00.0"


@dataclass(frozen=True)
class Topology:
    nodes: tuple[Node, ...]
    nics: tuple[VNic, ...]
    mgmt_mac: str = "52:54:00:00:00:02"
    mgmt_slot: int = 2  # on pcie.0
    mgmt_ip: str = "10.0.2.15/24"  # QEMU user network defaults
    mgmt_gateway: str = "10.0.2.2"
    hugepages_1g: bool = True  # the vCPU has pdpe1gb
    # per node, reserved on the kernel command line (hugepages=0:1,1:1). Node 0 holds the
    # PCI hole and memblock's top-down early allocations: with 3 GiB it had no free
    # 1 GiB-aligned range left, so it gets 4 GiB
    boot_1g_pages: int = 1

    def node(self, node_id: int) -> Node:
        return next(n for n in self.nodes if n.node_id == node_id)

    @property
    def vcpus(self) -> int:
        return sum(len(n.cpus) for n in self.nodes)

    @property
    def mem_mb(self) -> int:
        return sum(n.mem_mb for n in self.nodes)

    @property
    def mgmt_pci(self) -> str:
        return f"0000:00:{self.mgmt_slot:02x}.0"

    def by_pci(self) -> dict[str, VNic]:
        return {n.pci(self): n for n in self.nics}

    def peer(self, nic: VNic) -> VNic:
        return next(n for n in self.nics if n.cable == nic.cable and n is not nic)

    def describe(self) -> str:
        lines = [f"virtual lab server: q35, {self.vcpus} vCPUs, {self.mem_mb} MiB, intel-iommu"]
        for n in self.nodes:
            lines.append(f"  node {n.node_id}: vCPUs {','.join(map(str, n.cpus))}, {n.mem_mb} MiB")
        for nic in self.nics:
            vfs = f", {nic.total_vfs} VFs" if nic.total_vfs else ""
            lines.append(f"  {nic.pci(self)}  {nic.name:<5} {nic.model} on node {nic.node}{vfs}, "
                         f"cabled to {self.peer(nic).name} ({self.peer(nic).pci(self)})")
        lines.append(f"  {self.mgmt_pci}  mgmt  virtio-net-pci, {self.mgmt_ip} via {self.mgmt_gateway} "
                     "(the management NIC: pktlab refuses it)")
        return "\n".join(lines)


IGB_VFS = 7  # what Linux's igb offers on QEMU's 82576 (HOST-NOTES)

DEFAULT = Topology(
    nodes=(Node(0, (0, 1), 4096, 0x40), Node(1, (2, 3), 4096, 0x80)),
    nics=(
        VNic("gen0", "gen", "igb", 0, 0, "52:54:00:00:10:00", cable=1, total_vfs=IGB_VFS),
        VNic("gen1", "gen", "igb", 0, 1, "52:54:00:00:10:01", cable=2, total_vfs=IGB_VFS),
        VNic("dut0", "dut", "igb", 1, 0, "52:54:00:00:20:00", cable=1, total_vfs=IGB_VFS),
        VNic("dut1", "dut", "igb", 1, 1, "52:54:00:00:20:01", cable=2, total_vfs=IGB_VFS),
    ),
)
