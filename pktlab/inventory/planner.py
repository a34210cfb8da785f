"""Where things go on a NUMA host: OVS PMD cores, generator lcores, guest vCPUs
and hugepages, placed by the NUMA node of the NICs they serve.

A PMD polling a NIC on another node pays a cross-node hop for every
descriptor and packet; so PMDs go on the node of the ports OVS polls, the
generator's lcores on the node of its ports, guest vCPUs on the PMDs' node
(vhost copies between guest memory and the PMD), and each one's hugepages on
its node. Within a node, cores are taken isolated first (isolcpus, nohz_full,
rcu_nocbs), one per physical core before any hyperthread sibling, and core 0
with its siblings last: the kernel's housekeeping and OVS's main thread live there.

Every choice carries its reason; every cross-NUMA placement and every
non-isolated poller core is a warning. What cannot fit (a node without enough
cores or free hugepages, a port that is the management NIC) is a
PrecheckError before anything on the host changes; allow_cross_numa lets a
short node spill onto another instead, with a warning for each core.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..errors import PrecheckError
from .sysfs import Inventory, Nic, format_cpulist, size_label

PAGE_SIZES_KB = {"2M": 2048, "1G": 1048576}


@dataclass(frozen=True)
class Demand:
    """What a scenario needs placed. Counts, or pins that override them."""

    dut_ports: tuple[str, ...] = ()  # NICs OVS-DPDK polls: interface names or PCI addresses
    gen_ports: tuple[str, ...] = ()  # NICs the generator drives
    pmd_cores: int = 0  # OVS PMD threads (pmd-cpu-mask)
    gen_lcores: int = 0  # generator poll loops
    guest_vcpus: int = 0
    page_size: str = "1G"  # "2M" or "1G"
    ovs_mem_mb: int = 0  # OVS dpdk-socket-mem on each node with a PMD or a polled port [MiB]
    gen_mem_mb: int = 0  # generator memory on each of its ports' nodes [MiB]
    guest_mem_mb: int = 0  # guest memory, on its vCPUs' node [MiB]
    pmd_pins: tuple[int, ...] = ()  # given cores instead of pmd_cores
    gen_pins: tuple[int, ...] = ()
    guest_pins: tuple[int, ...] = ()
    allow_cross_numa: bool = False
    source: str = "placement"  # what errors name as the file (the scenario's path)

    def check(self) -> None:
        bad = lambda key, why: PrecheckError(self.source, key, why)  # noqa: E731
        if self.page_size not in PAGE_SIZES_KB:
            raise bad("page_size", f"must be \"2M\" or \"1G\", not {self.page_size!r}")
        for key in ("pmd_cores", "gen_lcores", "guest_vcpus", "ovs_mem_mb", "gen_mem_mb", "guest_mem_mb"):
            if getattr(self, key) < 0:
                raise bad(key, "must be >= 0")
        both = set(self.dut_ports) & set(self.gen_ports)
        if both:
            raise bad("gen_ports", f"{sorted(both)} also in dut_ports: a port is the generator's or OVS's")
        pins = [("pmd_pins", self.pmd_pins), ("gen_pins", self.gen_pins), ("guest_pins", self.guest_pins)]
        seen: dict[int, str] = {}
        for key, cores in pins:
            for c in cores:
                if c in seen:
                    raise bad(key, f"core {c} is also in {seen[c]}: two busy pollers on one core starve each other")
                seen[c] = key


@dataclass(frozen=True)
class Choice:
    role: str  # ovs_pmd, ovs_lcore, generator, guest_vcpu, hugepages, port
    value: object
    reason: str


@dataclass(frozen=True)
class NodePages:
    node: int
    size_kb: int
    count: int  # pages needed
    free: int  # free now on that node
    users: tuple[str, ...]  # "OVS 1024 MiB", ...


@dataclass(frozen=True)
class Placement:
    ovs_pmd: tuple[int, ...]
    ovs_lcore: int | None
    generator: tuple[int, ...]
    guest_vcpus: tuple[int, ...]  # vCPU i runs on guest_vcpus[i]
    hugepages: tuple[NodePages, ...]
    ovs_socket_mem: tuple[int, ...]  # per node 0..max, for other_config:dpdk-socket-mem [MiB]
    port_nodes: dict[str, int | None]
    choices: tuple[Choice, ...]
    warnings: tuple[str, ...]
    gen_socket_mem: tuple[int, ...] = ()  # per node 0..max, for the generator's --socket-mem [MiB]

    @staticmethod
    def socket_mem(per_node: tuple[int, ...]) -> str:
        """EAL's --socket-mem (OVS's dpdk-socket-mem) spelling: "0,1024"."""
        return ",".join(map(str, per_node))

    @property
    def pmd_cpu_mask(self) -> str:
        return hex(sum(1 << c for c in self.ovs_pmd))

    def as_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["hugepages"] = [dataclasses.asdict(p) for p in self.hugepages]
        d["choices"] = [dataclasses.asdict(c) for c in self.choices]
        d["pmd_cpu_mask"] = self.pmd_cpu_mask
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    def render(self) -> str:
        lines = ["placement:"]
        lines += [f"  {c.role:<11} {_show(c.value):<14} {c.reason}" for c in self.choices]
        if self.warnings:
            lines.append("warnings:")
            lines += [f"  ! {w}" for w in self.warnings]
        return "\n".join(lines)


def _show(v) -> str:
    if isinstance(v, tuple):
        return format_cpulist(v) if all(isinstance(x, int) for x in v) else ",".join(map(str, v))
    return str(v)


@dataclass
class _Cores:
    """Cores handed out so far, and the order to hand out the rest."""

    inv: Inventory
    taken: dict[int, str] = field(default_factory=dict)  # core -> role
    housekeeping: frozenset[int] = frozenset()

    def __post_init__(self):
        hk = self.inv.cpu(0)
        self.housekeeping = frozenset(hk.siblings if hk else (0,))

    def free_on(self, node: int) -> list[int]:
        return [c.id for c in self.inv.cpus if c.node == node and c.id not in self.taken]

    def rank(self, cpu: int) -> tuple:
        c = self.inv.cpu(cpu)
        sibling_polls = any(s in self.taken for s in c.siblings if s != cpu)
        return (cpu in self.housekeeping, bool(self.inv.isolation.missing(cpu)), sibling_polls, cpu)

    def pick(self, node: int) -> int | None:
        free = sorted(self.free_on(node), key=self.rank)
        return free[0] if free else None

    def why(self, cpu: int, node: int, role: str, for_what: str) -> str:
        c = self.inv.cpu(cpu)
        bits = [f"node {c.node}" + (f" ({for_what})" if c.node == node else f", not node {node} ({for_what})")]
        missing = self.inv.isolation.missing(cpu)
        bits.append("isolated" if not missing else f"not in {'/'.join(missing)}")
        others = [s for s in c.siblings if s != cpu]
        if others:
            busy = [s for s in others if s in self.taken]
            bits.append(f"shares its physical core with {format_cpulist(busy)} ({self.taken[busy[0]]})" if busy
                        else f"sibling {format_cpulist(others)} left free")
        if cpu in self.housekeeping:
            bits.append("a housekeeping core: nothing else was left")
        return ", ".join(bits)


def _node_of(nic: Nic, inv: Inventory, warnings: list[str]) -> int:
    if nic.numa_node is not None:
        return nic.numa_node
    if len(inv.nodes) > 1:
        warnings.append(f"{nic.pci} ({nic.ifname or 'no interface'}): firmware does not say its NUMA node "
                        "(numa_node is -1); placing for node 0, which may be the wrong one")
    return inv.nodes[0].id if inv.nodes else 0


def _spread(count: int, nodes: list[int]) -> list[int]:
    """Which node each of `count` cores goes to: round robin, first node first."""
    return [nodes[i % len(nodes)] for i in range(count)]


def plan(inv: Inventory, demand: Demand) -> Placement:
    """Place a scenario's pollers, guest and memory on this host (reads only)."""
    demand.check()
    src = demand.source
    warnings: list[str] = []
    choices: list[Choice] = []
    cores = _Cores(inv)

    def port(name: str, key: str) -> tuple[Nic, int]:
        nic = inv.nic(name)
        if nic is None:
            have = ", ".join(f"{n.pci} ({n.ifname})" if n.ifname else n.pci for n in inv.nics) or "none"
            raise PrecheckError(src, key, f"{name}: no such NIC on this host (NICs: {have})")
        if nic.management:
            raise PrecheckError(src, key, f"{name} ({nic.pci}) is the management NIC (it carries the default "
                                          "route); pktlab will not take it")
        node = _node_of(nic, inv, warnings)
        choices.append(Choice("port", f"{name}", f"{nic.pci} {nic.vendor_device} on node {node}"))
        return nic, node

    dut = [(p, *port(p, "dut_ports")) for p in demand.dut_ports]
    gen = [(p, *port(p, "gen_ports")) for p in demand.gen_ports]
    first = inv.nodes[0].id if inv.nodes else 0
    # Without NICs (vhost-user only) the PMDs' own node is the reference: memory goes there.
    pinned = [inv.cpu(c).node for c in demand.pmd_pins if inv.cpu(c) is not None]
    dut_nodes = (list(dict.fromkeys(n for _, _, n in dut)) or list(dict.fromkeys(n for _, _, n in gen))
                 or list(dict.fromkeys(pinned)) or [first])
    gen_nodes = list(dict.fromkeys(n for _, _, n in gen)) or dut_nodes

    def ports_on(ports, node):
        return ", ".join(p for p, _, n in ports if n == node)

    def take(role: str, node: int, for_what: str, key: str) -> int:
        cpu = cores.pick(node)
        if cpu is None:
            if not demand.allow_cross_numa:
                total = len([c for c in inv.cpus if c.node == node])
                raise PrecheckError(src, key, f"node {node} has no core left for {role} ({for_what}): its "
                                              f"{total} core(s) are taken by "
                                              f"{_roles(cores, node) or 'nothing'}; lower the count, or allow "
                                              "cross-NUMA placement")
            others = [n.id for n in inv.nodes if n.id != node]
            cpu = next((c for c in (cores.pick(n) for n in others) if c is not None), None)
            if cpu is None:
                raise PrecheckError(src, key, f"no core left on any node for {role}")
            warnings.append(f"cross-NUMA: {role} on core {cpu} (node {inv.cpu(cpu).node}) serves node {node} "
                            f"({for_what}): node {node} has no core left")
        cores.taken[cpu] = role
        choices.append(Choice(role, cpu, cores.why(cpu, node, role, for_what)))
        return cpu

    def pinned(role: str, pins, node_for, key: str) -> tuple[int, ...]:
        for i, cpu in enumerate(pins):
            c = inv.cpu(cpu)
            if c is None:
                raise PrecheckError(src, key, f"core {cpu} is not online (online: {format_cpulist(inv.cpus_online)})")
            node, for_what = node_for(i)
            cores.taken[cpu] = role
            choices.append(Choice(role, cpu, "as given; " + cores.why(cpu, node, role, for_what)))
            if c.node != node:
                warnings.append(f"cross-NUMA: {role} core {cpu} is on node {c.node}, {for_what} on node {node}")
        return tuple(pins)

    # OVS PMDs: on the polled ports' nodes, spread over them.
    pmd_for = lambda i: (dut_nodes[i % len(dut_nodes)],  # noqa: E731
                         f"ports {ports_on(dut, dut_nodes[i % len(dut_nodes)])}" if dut else "vhost ports")
    if demand.pmd_pins:
        pmd = pinned("ovs_pmd", demand.pmd_pins, pmd_for, "pmd_pins")
    else:
        pmd = tuple(take("ovs_pmd", *pmd_for(i), "pmd_cores") for i in range(demand.pmd_cores))
    pmd_nodes = {inv.cpu(c).node for c in pmd}
    for _, nic, node in dut:
        if pmd and node not in pmd_nodes:
            warnings.append(f"cross-NUMA: {nic.pci} is on node {node} and no PMD is: OVS polls it from node "
                            f"{sorted(pmd_nodes)} (give it at least one PMD per port node)")

    gen_for = lambda i: (gen_nodes[i % len(gen_nodes)],  # noqa: E731
                         f"generator ports {ports_on(gen, gen_nodes[i % len(gen_nodes)])}" if gen else "the PMDs' node")
    if demand.gen_pins:
        gcores = pinned("generator", demand.gen_pins, gen_for, "gen_pins")
    else:
        gcores = tuple(take("generator", *gen_for(i), "gen_lcores") for i in range(demand.gen_lcores))

    guest_node = dut_nodes[0]
    guest_for = lambda i: (guest_node, "the PMDs that copy to and from it")  # noqa: E731
    if demand.guest_pins:
        guest = pinned("guest_vcpu", demand.guest_pins, guest_for, "guest_pins")
    else:
        guest = tuple(take("guest_vcpu", *guest_for(i), "guest_vcpus") for i in range(demand.guest_vcpus))

    # OVS's other threads: a housekeeping core on the PMDs' node if there is one.
    lcore = None
    if pmd:
        home = dut_nodes[0]
        spare = [c.id for c in inv.cpus if c.id not in cores.taken and c.id not in inv.isolation.isolated]
        local = [c for c in spare if inv.cpu(c).node == home]
        lcore = (local or spare or [min(cores.housekeeping)])[0]
        reason = f"OVS's non-PMD threads (dpdk-lcore-mask): a housekeeping core on node {inv.cpu(lcore).node}"
        if inv.cpu(lcore).node != home:
            warnings.append(f"cross-NUMA: OVS's non-PMD threads on core {lcore} (node {inv.cpu(lcore).node}), "
                            f"PMDs on node {home}: node {home} has no housekeeping core (no packet work there)")
        if lcore in cores.taken:
            warnings.append(f"OVS's non-PMD threads share core {lcore} with {cores.taken[lcore]}: "
                            "no other core is left")
        choices.append(Choice("ovs_lcore", lcore, reason))

    for role, group in (("ovs_pmd", pmd), ("generator", gcores), ("guest_vcpu", guest)):
        for cpu in group:
            missing = inv.isolation.missing(cpu)
            if missing:
                warnings.append(f"core {cpu} ({role}) is not isolated (not in {', '.join(missing)}): the scheduler "
                                f"and timer ticks will interrupt it; add it to {'= '.join(missing)}= on the "
                                "kernel command line")
    # Two busy threads on one physical core halve each other (a guest's own vCPUs may share: it sees the pair).
    busy = {c: "ovs_pmd" for c in pmd} | {c: "generator" for c in gcores} | {c: "guest_vcpu" for c in guest}
    for cpu, role in sorted(busy.items()):
        for s in inv.cpu(cpu).siblings:
            if s > cpu and s in busy and not (role == busy[s] == "guest_vcpu"):
                warnings.append(f"cores {cpu} ({role}) and {s} ({busy[s]}) are hyperthreads of one physical core "
                                "and both busy: each gets about half of it")

    # Hugepages, on each user's node.
    size_kb = PAGE_SIZES_KB[demand.page_size]
    need: dict[int, list[tuple[str, int]]] = {}
    if demand.ovs_mem_mb:
        for node in sorted(set(dut_nodes) | pmd_nodes):
            need.setdefault(node, []).append(("OVS", demand.ovs_mem_mb))
    if demand.gen_mem_mb:
        for node in sorted(set(gen_nodes) if gen else {inv.cpu(c).node for c in gcores} or {gen_nodes[0]}):
            need.setdefault(node, []).append(("generator", demand.gen_mem_mb))
    if demand.guest_mem_mb:
        node = inv.cpu(guest[0]).node if guest else guest_node
        need.setdefault(node, []).append(("guest", demand.guest_mem_mb))
    pages = []
    for node in sorted(need):
        mb = sum(m for _, m in need[node])
        count = -(-mb * 1024 // size_kb)
        n = inv.node(node)
        pool = n.pool(size_kb) if n else None
        users = tuple(f"{who} {m} MiB" for who, m in need[node])
        if pool is None:
            raise PrecheckError(src, "page_size", f"node {node} has no {demand.page_size} hugepage pool")
        short = max(0, count - pool.free)
        # 2M pages can still be reserved on the node at run time when it has the memory
        # (a quarter kept back); 1G pages must be free already: after boot, memory is
        # rarely left contiguous enough to give them.
        grows = short and size_kb == 2048 and n.mem_free_kb is not None and \
            short * size_kb <= n.mem_free_kb * 3 // 4
        if short and not grows:
            path = f"/sys/devices/system/node/node{node}/hugepages/hugepages-{size_kb}kB/nr_hugepages"
            raise PrecheckError(src, "hugepages",
                                f"node {node} has {pool.free} free {demand.page_size} hugepages "
                                f"({pool.total} reserved), the placement needs {count} there "
                                f"({' + '.join(users)}); reserve them: echo {pool.total + count - pool.free} > "
                                f"{path}" + (" (1G pages are most reliable at boot: hugepagesz=1G hugepages=N)"
                                             if size_kb == 1048576 else ""))
        pages.append(NodePages(node, size_kb, count, pool.free, users))
        choices.append(Choice("hugepages", f"{count}x{size_label(size_kb)}@node{node}",
                              f"{' + '.join(users)} on node {node}; {pool.free} free there" +
                              (f", the run reserves {short} more and gives them back" if short else "")))
    top = max([n.id for n in inv.nodes] + [0])

    def per_node(who: str, mb: int) -> tuple[int, ...]:
        return tuple(mb if any(w == who for w, _ in need.get(n, ())) else 0 for n in range(top + 1))

    return Placement(pmd, lcore, gcores, guest, tuple(pages), per_node("OVS", demand.ovs_mem_mb),
                     {p: node for p, _, node in dut + gen}, tuple(choices), tuple(warnings),
                     per_node("generator", demand.gen_mem_mb))


def _roles(cores: _Cores, node: int) -> str:
    used: dict[str, list[int]] = {}
    for c, role in cores.taken.items():
        if cores.inv.cpu(c).node == node:
            used.setdefault(role, []).append(c)
    return ", ".join(f"{role} {format_cpulist(cs)}" for role, cs in used.items())
