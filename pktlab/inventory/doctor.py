"""`pktlab doctor`: what this host has, and whether it can run a scenario.

The report is the inventory (CPUs, NUMA nodes, hugepages per node, isolation,
IOMMU, userspace drivers, NICs with the DPDK PMD that claims each) and one
verdict per scenario: each requirement met or not, and for each one that is
not, what is missing and how to fix it. A human table by default; as_dict()
for machines (`--json`).

Requirements are plain data, so scenarios can state them without importing
anything here: a list of dicts, each with a "check" and its fields:

    {"check": "numa_nodes", "min": 2}
    {"check": "cores", "count": 4, "node": 1, "isolated": True}   # node None: any
    {"check": "cores", "cpus": [2, 3]}                             # these exist and are online
    {"check": "hugepages", "size": "1G", "count": 4, "node": 1}    # free pages; node None: anywhere
    {"check": "iommu"}
    {"check": "driver", "name": "vfio-pci"}                        # loaded, or loadable
    {"check": "module", "name": "openvswitch"}                     # a kernel module: loaded, or loadable
    {"check": "nic", "port": "0000:03:00.0", "free": True, "vfs": 4}  # exists, a PMD claims it,
                                                                   # not in use, has the VFs
    {"check": "placement", "dut_ports": [...], "pmd_cores": 2, ...}  # planner.Demand fields

Reading is all it does: nothing on the host changes.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PktlabError, PrecheckError, ScenarioError
from . import planner
from .pmdinfo import PmdIndex
from .sysfs import Inventory, driver_status, format_cpulist, link_name, read_inventory, size_label

SIZES_KB = {"2M": 2048, "1G": 1048576}

# What running DPDK on a physical port needs on any host; the verdict shown without a scenario.
GENERIC = "dpdk-on-a-nic (generic)"
GENERIC_REQUIREMENTS = [
    {"check": "iommu"},
    {"check": "driver", "name": "vfio-pci"},
    {"check": "nic", "port": "*", "free": True},
    {"check": "hugepages", "size": "1G", "count": 1, "node": None},
    {"check": "cores", "count": 2, "node": None, "isolated": True},
]


@dataclass(frozen=True)
class Finding:
    check: str  # what was checked, in words
    ok: bool
    found: str  # what the host has
    fix: str | None = None  # how to get there, when not ok
    warning: bool = False  # does not block the scenario, but costs performance or safety


@dataclass
class Verdict:
    scenario: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return all(f.ok or f.warning for f in self.findings)


@dataclass
class Report:
    inventory: Inventory
    pmds: dict[str, list]  # pci -> [Pmd], best match first
    pmd_sources: list[str]
    verdicts: list[Verdict]

    def as_dict(self) -> dict:
        inv = self.inventory.as_dict()
        for nic in inv["nics"]:
            nic["dpdk_pmds"] = [p.as_dict() for p in self.pmds.get(nic["pci"], [])]
        return {
            "inventory": inv,
            "pmd_sources": self.pmd_sources,
            "verdicts": [{"scenario": v.scenario, "ready": v.ready,
                          "findings": [dataclasses.asdict(f) for f in v.findings]} for v in self.verdicts],
        }

    def render(self) -> str:
        return render(self)


# ---------------------------------------------------------------- checks

def _bad(scenario, i, key, reason):
    return ScenarioError(scenario, f"requirements[{i}].{key}" if key else f"requirements[{i}]", reason)


def _isolated(inv: Inventory, cpu: int) -> bool:
    return not inv.isolation.missing(cpu)


def _check_numa(inv, req):
    want = int(req.get("min", 1))
    have = len(inv.nodes)
    return [Finding(f"at least {want} NUMA node(s)", have >= want, f"{have} NUMA node(s)",
                    None if have >= want else f"this host has {have}; the scenario needs a {want}-socket server")]


def _check_cores(inv, req):
    if "cpus" in req:
        missing = [c for c in req["cpus"] if c not in inv.cpus_online]
        ok = not missing
        return [Finding(f"cores {format_cpulist(req['cpus'])} online", ok,
                        f"online: {format_cpulist(inv.cpus_online)}",
                        None if ok else f"cores {format_cpulist(missing)} do not exist or are offline; "
                                        "pick cores from the online list")]
    count, node, isolated = int(req.get("count", 1)), req.get("node"), bool(req.get("isolated", False))
    pool = [c for c in inv.cpus if node is None or c.node == node]
    have = [c.id for c in pool if not isolated or _isolated(inv, c.id)]
    where = f"node {node}" if node is not None else "the host"
    what = f"{count} {'isolated ' if isolated else ''}core(s) on {where}"
    ok = len(have) >= count
    found = f"{len(have)} ({format_cpulist(have) or 'none'})" + (f" of {len(pool)}" if isolated else "")
    fix = None
    spare = [c.id for c in pool if c.id not in inv.cpu(0).siblings] if inv.cpu(0) else [c.id for c in pool]
    if not ok and isolated and len(spare) >= count:
        cl = format_cpulist(sorted(set(have) | set(spare[:count - len(have)])))
        fix = f"boot with isolcpus={cl} nohz_full={cl} rcu_nocbs={cl} (kernel command line) and reboot"
    elif not ok and isolated:
        fix = (f"{where} has {len(pool)} core(s); isolating {count} would leave none for the kernel's "
               "housekeeping (core 0 and its siblings): use a host with more cores")
    elif not ok:
        fix = f"{where} has {len(pool)} core(s) in all; the scenario needs {count}"
    return [Finding(what, ok, found, fix)]


def _check_hugepages(inv, req):
    size = req.get("size", "2M")
    size_kb = SIZES_KB[size]
    count, node = int(req.get("count", 1)), req.get("node")
    where = f"node {node}" if node is not None else "the host"
    what = f"{count} free {size} hugepage(s) on {where}"
    if node is not None:
        n = inv.node(node)
        pool = n.pool(size_kb) if n else None
        if n is None:
            return [Finding(what, False, f"no node {node}", f"this host's nodes: "
                                                            f"{', '.join(str(x.id) for x in inv.nodes)}")]
        path = f"/sys/devices/system/node/node{node}/hugepages/hugepages-{size_kb}kB/nr_hugepages"
    else:
        pool = next((p for p in inv.hugepages if p.size_kb == size_kb), None)
        path = f"/sys/kernel/mm/hugepages/hugepages-{size_kb}kB/nr_hugepages"
    if pool is None:
        return [Finding(what, False, f"no {size} pool", f"this kernel/CPU has no {size} pages"
                                                        + (" (the CPU lacks pdpe1gb)" if size == "1G" else ""))]
    ok = pool.free >= count
    fix = None
    if not ok:
        fix = f"echo {pool.total + count - pool.free} > {path}"
        if size_kb == 1048576:
            fix += "; 1G pages are surest reserved at boot: default_hugepagesz=1G hugepagesz=1G hugepages=N"
    return [Finding(what, ok, f"{pool.free} free of {pool.total}", fix)]


def _check_iommu(inv, req):
    io = inv.iommu
    fix = None if io.enabled else ("enable VT-d (Intel) or AMD-Vi in the firmware and boot with "
                                   "intel_iommu=on iommu=pt (or amd_iommu=on iommu=pt)")
    return [Finding("IOMMU on (for vfio-pci)", io.enabled, io.detail, fix)]


def _check_driver(inv, req, root):
    name = req["name"]
    st = inv.drivers.get(name) or driver_status(name, root, inv.kernel or "", inv.cmdline)
    fix = None
    if not st.available:
        fix = (f"install a kernel with {name} as a module or built in, and boot it with module loading on"
               if st.module is None else f"enable module loading, then modprobe {name}")
    elif not st.loaded:
        fix = f"modprobe {name} (pktlab's plan loads it when a step needs it)"
    # loadable but not loaded: a warning (the run's plan can modprobe it), not a miss
    return [Finding(f"driver {name} loaded", st.loaded, st.detail, fix, warning=st.available and not st.loaded)]


def _check_module(inv, req, root):
    """A kernel module (not a PCI driver): loaded, or loadable by modprobe."""
    name = req["name"]
    if Path(root, "sys/module", name.replace("-", "_")).is_dir():
        return [Finding(f"kernel module {name}", True, "loaded")]
    st = driver_status(name, root, inv.kernel or "", inv.cmdline)
    return [Finding(f"kernel module {name}", st.available, st.detail.replace("not loaded;", "not loaded yet;"),
                    None if st.available else f"install a kernel that has the {name} module, and boot it with "
                                              "module loading on")]


def _check_nic(inv, req, pmds, root):
    port = req["port"]
    out = []
    if port == "*":
        others = [n for n in inv.nics if not n.management and not n.physfn]
        free = [n for n in others if not (req.get("free", True) and n.in_use())]
        if free:
            out.append(Finding("a NIC for the data path (not the management NIC, not in use)", True,
                               ", ".join(f"{n.pci} ({n.ifname or n.driver or 'unbound'})" for n in free)))
        else:
            found = ("in use: " + "; ".join(f"{n.pci} {', '.join(n.in_use())}" for n in others) if others else
                     f"only the management NIC ({inv.management.ifname})" if inv.nics and inv.management else
                     "no PCI NIC")
            fix = ("bring one down and remove its addresses (ip link set DEV down; ip addr flush dev DEV)"
                   if others else "add a NIC for the data path (the management NIC stays the kernel's)")
            out.append(Finding("a NIC for the data path (not the management NIC, not in use)", False, found, fix))
            return out
        nics = free
    else:
        nic = inv.nic(port)
        if nic is None:
            have = ", ".join(f"{n.pci} ({n.ifname})" if n.ifname else n.pci for n in inv.nics) or "none"
            return [Finding(f"NIC {port}", False, "not found", f"NICs on this host: {have}")]
        nics = [nic]
        if nic.management:
            out.append(Finding(f"{port} is not the management NIC", False, f"{nic.pci} carries the default route",
                               "use another port for the data path"))
        elif req.get("free", True):
            used = nic.in_use()
            out.append(Finding(f"{port} free for the data path", not used, "; ".join(used) or "not in use",
                               None if not used else
                               f"ip link set {nic.ifname} down; ip addr flush dev {nic.ifname}"))
        vfs = req.get("vfs")
        if vfs:
            total = nic.sriov_totalvfs
            ok = total is not None and total >= vfs
            out.append(Finding(f"{port} takes {vfs} SR-IOV VFs", ok,
                               f"sriov_totalvfs {total}" if total is not None else "not SR-IOV capable",
                               None if ok else "enable SR-IOV in the firmware (and the NIC's NVM), or use a PF "
                                               "that supports it"))
    for nic in nics:
        claim = pmds.get(nic.pci, [])
        label = f"a DPDK PMD for {nic.pci} ({nic.vendor_device})"
        if not claim:
            out.append(Finding(label, False, "none of the installed DPDK drivers claims it",
                               "use a NIC DPDK supports, or install the DPDK build with its driver"))
            continue
        pmd = claim[0]
        if pmd.bifurcated:
            missing = [m for m in pmd.needs_modules if not Path(root, "sys/module", m.replace("-", "_")).is_dir()]
            out.append(Finding(label, not missing, f"{pmd.name}: stays on its kernel driver, needs "
                                                   f"{', '.join(pmd.needs_modules)}",
                               None if not missing else f"modprobe {' '.join(missing)}"))
        else:
            out.append(Finding(label, True, f"{pmd.name}, binds to {pmd.binding or pmd.kmod}"
                                             f" (now on {nic.driver or 'no driver'})"))
            if pmd.binding == "vfio-pci" and nic.iommu_group is not None:
                out += _check_iommu_group(nic, root)
    return out


def _check_iommu_group(nic, root) -> list[Finding]:
    """vfio hands a whole IOMMU group to userspace: every other device in it must be on
    vfio-pci or on no driver (bridges aside), or DPDK cannot open the group."""
    d = Path(root, "sys/kernel/iommu_groups", nic.iommu_group, "devices")
    others = []
    for p in sorted(d.iterdir()) if d.is_dir() else ():
        if p.name == nic.pci:
            continue
        drv = link_name(root, f"sys/bus/pci/devices/{p.name}/driver")
        if drv not in (None, "vfio-pci", "pcieport"):
            others.append(f"{p.name} ({drv})")
    if not others:
        return []
    return [Finding(f"IOMMU group {nic.iommu_group} of {nic.pci} can go to vfio", False,
                    f"it also holds {', '.join(others)}",
                    "bind those to vfio-pci too (dual-port NICs often share a group), or enable ACS", warning=True)]


def _check_placement(inv, req):
    fields = {f.name for f in dataclasses.fields(planner.Demand)}
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in req.items() if k != "check"}
    unknown = set(args) - fields
    if unknown:
        raise ValueError(f"unknown placement keys {sorted(unknown)} (known: {', '.join(sorted(fields))})")
    try:
        p = planner.plan(inv, planner.Demand(**args))
    except PrecheckError as e:
        fix = {"dut_ports": "name a NIC this host has (NICs table above), by PCI address or interface name",
               "gen_ports": "name a NIC this host has (NICs table above), by PCI address or interface name",
               "hugepages": "reserve the hugepages on that node (the reason says how)",
               "page_size": "use a page size this host has"}.get(
            e.key, "free or add cores on that node, or allow cross-NUMA placement")
        return [Finding("placement on NUMA nodes", False, f"{e.key}: {e.reason}", fix)]
    out = [Finding("placement on NUMA nodes", True,
                   f"PMDs {format_cpulist(p.ovs_pmd) or '-'}, generator {format_cpulist(p.generator) or '-'}, "
                   f"guest {format_cpulist(p.guest_vcpus) or '-'}; " +
                   (", ".join(f"{x.count}x{size_label(x.size_kb)} on node {x.node}" for x in p.hugepages)
                    or "no hugepages"))]
    out += [Finding("placement", False, w, None, warning=True) for w in p.warnings]
    return out


def check(inv: Inventory, scenario: str, requirements, pmds: dict, root: str = "/") -> Verdict:
    """One scenario's verdict. Bad requirement data is a ScenarioError naming the
    scenario and the requirement's index."""
    v = Verdict(scenario)
    for i, req in enumerate(requirements):
        if not isinstance(req, dict) or "check" not in req:
            raise _bad(scenario, i, None, "must be a table with a \"check\" key")
        kind = req["check"]
        try:
            if kind == "numa_nodes":
                v.findings += _check_numa(inv, req)
            elif kind == "cores":
                v.findings += _check_cores(inv, req)
            elif kind == "hugepages":
                if req.get("size", "2M") not in SIZES_KB:
                    raise _bad(scenario, i, "size", "must be \"2M\" or \"1G\"")
                v.findings += _check_hugepages(inv, req)
            elif kind == "iommu":
                v.findings += _check_iommu(inv, req)
            elif kind == "driver":
                v.findings += _check_driver(inv, req, root)
            elif kind == "nic":
                v.findings += _check_nic(inv, req, pmds, root)
            elif kind == "module":
                v.findings += _check_module(inv, req, root)
            elif kind == "placement":
                v.findings += _check_placement(inv, req)
            else:
                raise _bad(scenario, i, "check", f"unknown check {kind!r} (known: cores, driver, hugepages, "
                                                 "iommu, module, nic, numa_nodes, placement)")
        except (KeyError, TypeError, ValueError) as e:
            raise _bad(scenario, i, None, f"{kind}: {e}") from None
    return v


def diagnose(requirements: dict[str, list] | None = None, root: str = "/", pmd_index: PmdIndex | None = None,
             generic: bool = True) -> Report:
    """Read the host and judge each scenario's requirements ({name: [requirement, ...]}).
    Without any, judges the generic needs of DPDK on a physical port (generic=False: none)."""
    inv = read_inventory(root)
    index = pmd_index if pmd_index is not None else PmdIndex.load(root=root)
    if not len(index) and pmd_index is None and Path(root).resolve() != Path("/"):
        index = PmdIndex.load()  # a copy of a host's sysfs carries no DPDK: judge by the one installed here
    pmds = {nic.pci: index.lookup(nic.vendor, nic.device, nic.subsystem_vendor, nic.subsystem_device)
            for nic in inv.nics}
    if not requirements and generic:
        requirements = {GENERIC: GENERIC_REQUIREMENTS}
    verdicts = [check(inv, name, reqs, pmds, root) for name, reqs in (requirements or {}).items()]
    return Report(inv, pmds, index.sources, verdicts)


# ---------------------------------------------------------------- the human form

def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def _mib(kb):
    return "-" if kb is None else f"{kb / 1048576:.1f} GiB"


def render(report: Report) -> str:
    inv = report.inventory
    iso = inv.isolation
    out = [f"pktlab doctor: {'this host' if inv.root in ('/', '') else inv.root} "
           f"(kernel {inv.kernel or '?'}); reads only, changes nothing", ""]
    mgmt = inv.management
    out += _table([
        ["CPUs", f"{len(inv.cpus_online)} online ({format_cpulist(inv.cpus_online)}) on {len(inv.nodes)} NUMA "
                 f"node(s)"],
        ["isolation", f"isolcpus {format_cpulist(iso.isolcpus) or '-'}, "
                      f"nohz_full {format_cpulist(iso.nohz_full) or '-'}, rcu_nocbs {format_cpulist(iso.rcu_nocbs) or '-'}"],
        ["hugepages", (", ".join(f"{p.size} {p.free} free of {p.total}" for p in inv.hugepages) or "none")
                      + (f" (default size {size_label(inv.default_hugepage_kb)})" if inv.default_hugepage_kb else "")],
        ["IOMMU", inv.iommu.detail],
        *[[name, st.detail] for name, st in inv.drivers.items()],
        ["management", f"{mgmt.ifname} ({', '.join(mgmt.pci) or 'not a PCI device'}), default route {mgmt.family}"
                       if mgmt else "no default route"],
    ], indent="")
    sizes = sorted({p.size_kb for n in inv.nodes for p in n.hugepages})
    rows = [["node", "CPUs", "isolated", "memory", *[f"{size_label(s)} pages free/total" for s in sizes]]]
    for n in inv.nodes:
        rows.append([str(n.id), format_cpulist(n.cpus) or "-",
                     format_cpulist([c for c in n.cpus if not iso.missing(c)]) or "-", _mib(n.mem_total_kb),
                     *[(f"{p.free}/{p.total}" if (p := n.pool(s)) else "-") for s in sizes]])
    out += ["", "NUMA nodes"] + _table(rows)
    out += ["", "NICs"]
    if not inv.nics:
        out.append("  no PCI network functions")
    else:
        rows = [["PCI", "id", "driver", "node", "iface", "link", "speed", "MAC", "VFs", "DPDK PMD (binds to)", "note"]]
        for nic in inv.nics:
            nd = nic.netdev
            pm = report.pmds.get(nic.pci, [])
            pmd = "none" if not pm else (f"{pm[0].name} (stays on kernel driver)" if pm[0].bifurcated
                                         else f"{pm[0].name} ({pm[0].binding})")
            vfs = "-" if nic.sriov_totalvfs is None else f"{nic.sriov_numvfs or 0}/{nic.sriov_totalvfs}"
            note = "management (default route)" if nic.management else (f"VF of {nic.physfn}" if nic.physfn else
                                                                         ("in use" if nic.in_use() else ""))
            rows.append([nic.pci, nic.vendor_device, nic.driver or "-",
                         "-" if nic.numa_node is None else str(nic.numa_node), nic.ifname or "-",
                         (nd.operstate or "-") if nd else "-",
                         f"{nd.speed_mbps // 1000}G" if nd and nd.speed_mbps and nd.speed_mbps >= 1000
                         else (f"{nd.speed_mbps}M" if nd and nd.speed_mbps else "-"),
                         (nd.mac or "-") if nd else "-", vfs, pmd, note])
        out += _table(rows)
    if not report.pmd_sources:
        out.append("  (no DPDK driver libraries found: PMD lookup skipped)")
    return "\n".join(out + render_verdicts(report.verdicts))


def render_verdicts(verdicts: list[Verdict]) -> list[str]:
    out = []
    for v in verdicts:
        out += ["", f"scenario {v.scenario}: {'READY' if v.ready else 'NOT READY'}"]
        for f in v.findings:
            mark = "ok  " if f.ok else ("warn" if f.warning else "MISS")
            out.append(f"  {mark} {f.check}: {f.found}")
            if f.fix and not f.ok:
                out.append(f"       fix: {f.fix}")
    return out


def verdicts_from_dict(report: dict) -> list[Verdict]:
    """The verdicts of a report's as_dict() (e.g. another host's `doctor --json`)."""
    return [Verdict(v["scenario"], [Finding(**f) for f in v["findings"]]) for v in report.get("verdicts", [])]


def run(requirements: dict | None = None, as_json: bool = False, root: str = "/", out=print) -> int:
    """What `pktlab doctor [--json] [SCENARIO]` does once the CLI has turned the scenario
    into requirements: print the report; 1 if a scenario asked about is not ready, else 0.
    Bad requirement data raises ScenarioError (the CLI's exit 2)."""
    report = diagnose(requirements, root=root)
    out(json.dumps(report.as_dict(), indent=1) if as_json else report.render())
    return 1 if requirements and not all(v.ready for v in report.verdicts) else 0


def main(argv=None) -> int:
    """A stand-alone front end: --requirements takes {scenario: [requirement, ...]} as JSON."""
    ap = argparse.ArgumentParser(prog="pktlab doctor", description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    ap.add_argument("--root", default="/", help="read sysfs/procfs under this directory (default: /)")
    ap.add_argument("--requirements", type=Path, help="JSON file: {scenario: [requirement, ...]}")
    args = ap.parse_args(argv)
    requirements = json.loads(args.requirements.read_text()) if args.requirements else None
    try:
        return run(requirements, args.json, args.root)
    except PktlabError as e:
        print(f"pktlab: error: {e}", file=sys.stderr)
        return 2
