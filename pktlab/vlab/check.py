"""A scenario against the virtual lab server's hardware, before it boots.

Every NIC a lab data path names must be one of the server's (by PCI address),
VFs at most what its igb PFs offer, pinned cores among its vCPUs; data paths
that are not lab paths need nothing of it. Refusals are ScenarioErrors naming
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
    cpus = sorted(c for n in topo.nodes for c in n.cpus)
    for key, cores in (("cpu.ovs_pmd", sc.cpu.ovs_pmd),
                       ("cpu.generator", () if sc.cpu.generator is None else (sc.cpu.generator,))):
        for c in cores:
            if c not in cpus:
                raise ScenarioError(sc.file, key, f"core {c}: the virtual lab server has vCPUs "
                                                  f"{cpus[0]}-{cpus[-1]} (node {', node '.join(f'{n.node_id}: {min(n.cpus)}-{max(n.cpus)}' for n in topo.nodes)})")
