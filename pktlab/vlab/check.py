"""A scenario against the virtual lab server's hardware, before it boots.

Every NIC a lab data path names must be one of the server's (by PCI address),
VFs at most what its igb PFs offer, pinned cores among its vCPUs, and what a
path places on a NIC's NUMA node (PMD threads, generator lcores, guest vCPUs,
memory) within that node's vCPUs and memory; data paths that are not lab paths
need nothing of it. Refusals are ScenarioErrors naming
the file, the key and the reason (exit 2), like any bad input.
"""
from __future__ import annotations

from ..errors import ScenarioError
from ..datapaths import KINDS
from ..scenario import Scenario
from .topology import DEFAULT, Topology


def check(sc: Scenario, topo: Topology = DEFAULT) -> None:
    nics = topo.by_pci()
    have = ", ".join(f"{pci} ({n.name}, {n.model}, node {n.node})" for pci, n in nics.items())

    def nic(name: str, key: str):
        pci = name if name.count(":") == 2 else f"0000:{name}"
        if pci not in nics:
            why = ("is the management NIC: pktlab never takes it" if pci == topo.mgmt_pci else
                   "is not a NIC of the virtual lab server (name its NICs by PCI address)")
            raise ScenarioError(sc.file, key, f"{name} {why}; it has {have}")
        return nics[pci]

    for i, dp in enumerate(sc.datapaths):
        where = f"datapath[{i}]"
        o = dp.options
        for key in ("gen_ports", "dut_ports"):
            for j, name in enumerate(getattr(o, key, ()) or ()):
                nic(name, f"{where}.{key}[{j}]")
        if dp.kind == "sriov-vf":
            pf = nic(o.pf, f"{where}.pf")
            if o.vfs > pf.total_vfs:
                raise ScenarioError(sc.file, f"{where}.vfs", f"{o.vfs} VFs asked for; {pf.name} ({o.pf}) offers "
                                                            f"{pf.total_vfs} on the virtual lab server")
        if KINDS[dp.kind].lab and getattr(o, "page_size", "2M") == "1G" and not topo.hugepages_1g:
            raise ScenarioError(sc.file, f"{where}.page_size", "the virtual lab server has no 1 GiB pages")
        if KINDS[dp.kind].lab:
            _node_fits(sc, topo, where, o, nic)
    cpus = sorted(c for n in topo.nodes for c in n.cpus)
    for key, cores in (("cpu.ovs_pmd", sc.cpu.ovs_pmd),
                       ("cpu.generator", () if sc.cpu.generator is None else (sc.cpu.generator,))):
        for c in cores:
            if c not in cpus:
                raise ScenarioError(sc.file, key, f"core {c}: the virtual lab server has vCPUs "
                                                  f"{cpus[0]}-{cpus[-1]} (node {', node '.join(f'{n.node_id}: {min(n.cpus)}-{max(n.cpus)}' for n in topo.nodes)})")


KERNEL_MB = 512  # [MiB] of each node left to the guest's kernel and root overlay


def _node_fits(sc: Scenario, topo: Topology, where: str, o, nic) -> None:
    """What the path puts on its NICs' nodes (cores, memory [MiB]) against those nodes' vCPUs and memory."""
    dut = [nic(n, f"{where}.dut_ports[{j}]") for j, n in enumerate(getattr(o, "dut_ports", ()) or ())]
    gen = [nic(n, f"{where}.gen_ports[{j}]") for j, n in enumerate(getattr(o, "gen_ports", ()) or ())]
    if getattr(o, "pf", ""):
        gen = dut = [nic(o.pf, f"{where}.pf")]  # the generator drives the VFs, on the PF's node
    cores: dict[int, list[tuple[str, int]]] = {}
    mem: dict[int, list[tuple[str, int]]] = {}
    for table, key, nics, n in (
            (cores, "pmd_cores", dut, getattr(o, "pmd_cores", 0) if hasattr(o, "socket_mem") and not sc.cpu.ovs_pmd
             else 0),
            (cores, "guest_vcpus", dut, 0 if getattr(o, "guest_cores", ()) else getattr(o, "guest_vcpus", 0)),
            (cores, "gen_lcores", gen, getattr(o, "gen_lcores", 1) if sc.cpu.generator is None else 0),
            (mem, "socket_mem", dut, getattr(o, "socket_mem", 0)),
            (mem, "guest_mem", dut, getattr(o, "guest_mem", 0)),
            (mem, "generator_mem", gen, getattr(o, "generator_mem", 0))):
        for node in sorted({x.node for x in nics}) if n else ():
            table.setdefault(node, []).append((key, n))
    for table, have, unit in ((cores, lambda nd: len(nd.cpus), "vCPUs"),
                              (mem, lambda nd: nd.mem_mb - KERNEL_MB, f"MiB (of {{}} MiB, {KERNEL_MB} left to its kernel)")):
        for node_id, parts in table.items():
            node = topo.node(node_id)
            if sum(n for _, n in parts) > have(node):
                raise ScenarioError(sc.file, f"{where}.{parts[-1][0]}",
                                    " + ".join(f"{k} {n}" for k, n in parts) + f" on node {node_id}, which has "
                                    f"{have(node)} {unit.format(node.mem_mb)} on the virtual lab server")
