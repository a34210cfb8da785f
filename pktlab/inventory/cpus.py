"""CPUs, NUMA nodes and hugepage pools, read under a root. read_pool is the one
reader of a pool's counts (host steps and the guest launcher use it too).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .attrs import parse_int, parse_cpulist, read_attr, size_label


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


def pool_rel(size_kb: int, node: int | None = None) -> str:
    """A hugepage pool's sysfs directory relative to the root: system-wide, or one NUMA node's."""
    base = "sys/kernel/mm" if node is None else f"sys/devices/system/node/node{node}"
    return f"{base}/hugepages/hugepages-{size_kb}kB"


def read_pool(size_kb: int, root: str = "/", node: int | None = None) -> tuple[int, int]:
    """(total, free) pages of one size, system-wide or on one node. OSError where the
    kernel has no such pool."""
    d = Path(root, pool_rel(size_kb, node))
    return int((d / "nr_hugepages").read_text()), int((d / "free_hugepages").read_text())


def read_pools(root: str, rel: str) -> tuple[HugepagePool, ...]:
    d = Path(root, rel)
    pools = []
    for p in sorted(d.glob("hugepages-*kB")) if d.is_dir() else ():
        size = parse_int(p.name[len("hugepages-"):-len("kB")])
        total = parse_int(read_attr(root, f"{rel}/{p.name}/nr_hugepages"))
        if size is None or total is None:
            continue
        pools.append(HugepagePool(size, total, parse_int(read_attr(root, f"{rel}/{p.name}/free_hugepages")) or 0,
                                  parse_int(read_attr(root, f"{rel}/{p.name}/surplus_hugepages")) or 0))
    return tuple(sorted(pools, key=lambda p: p.size_kb))


def meminfo_kb(text: str | None, key: str) -> int | None:
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
                              meminfo_kb(meminfo, "MemTotal"), meminfo_kb(meminfo, "MemFree"),
                              read_pools(root, f"{rel}/hugepages")))
    if not nodes:
        meminfo = read_attr(root, "proc/meminfo")
        nodes = [NumaNode(0, online, meminfo_kb(meminfo, "MemTotal"), meminfo_kb(meminfo, "MemFree"),
                          read_pools(root, "sys/kernel/mm/hugepages"))]
    node_of = {c: n.id for n in nodes for c in n.cpus}
    cpus = []
    for c in online:
        topo = f"sys/devices/system/cpu/cpu{c}/topology"
        sib = read_attr(root, f"{topo}/thread_siblings_list")
        cpus.append(Cpu(c, node_of.get(c, 0), parse_int(read_attr(root, f"{topo}/physical_package_id")),
                        parse_int(read_attr(root, f"{topo}/core_id")), parse_cpulist(sib) if sib else (c,)))
    return online, tuple(cpus), tuple(nodes)
