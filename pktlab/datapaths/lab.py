"""What the data paths on physical NICs share: finding the NICs, refusing the
ones pktlab must not take, placing pollers and hugepages by NUMA node, binding
NICs for DPDK, and the generator on PCI ports.

Everything about the host is read under `root` ("/" on a real host; a fake
sysfs tree in tests and for planning a lab server from a copy of its sysfs), and
every refusal is a PrecheckError naming the scenario file and key, raised
before any step runs. A fake root can be planned (`--dry-run`), never run.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import functools
import os

from .. import wait
from ..errors import PrecheckError, StepError
from ..gen.step import StartGenerator
from ..host import hugepages
from ..host.dpdk_runtime import DpdkRuntimeDir
from ..host.kmod import LoadModule
from ..host.links import SetLinkUp
from ..host.pci import BindDriver, bind_refusal
from ..inventory import planner
from ..inventory.sysfs import Nic, read_inventory, resolve_nic
from ..units import LineRate, link_name
from ..plan import Plan
from .base import DataPath
from .streams import mtu_for, sending_ports, streams_for, with_latency_streams
from ..scenario.checks import Invalid, check_bridge, check_nic_names

# planner keys -> the scenario keys a user edits ("{where}" is datapath[i])
_KEYS = {"pmd_pins": "cpu.ovs_pmd", "gen_pins": "cpu.generator", "guest_pins": "{where}.guest_cores",
         "hugepages": "{where}.page_size"}


@functools.lru_cache(maxsize=1)
def pmd_index():
    """The PMDs of the DPDK installed here (the generator's and OVS's), read once."""
    from ..inventory.pmdinfo import PmdIndex

    return PmdIndex.load()


@dataclass(frozen=True)
class LabOptions:
    """What every data path on physical NICs shares: the generator's lcores,
    hugepages per NUMA node, and which busy NICs the scenario may take."""

    gen_lcores: int = 1  # generator poll loops (one RX/TX queue pair per port each), placed by NUMA node
    generator_mem: int = 1024  # generator's DPDK memory on each of its ports' nodes [MiB]
    page_size: str = "1G"  # hugepages the run uses: "1G" (lab servers reserve them at boot) or "2M"
    # NICs pktlab may take although they are up or addressed (never the management NIC)
    allow_in_use: tuple[str, ...] = ()
    allow_cross_numa: bool = False  # place on another node when a NIC's node runs short, with warnings

    def check(self):
        if not 1 <= self.gen_lcores <= 8:
            raise Invalid("gen_lcores", "1 to 8 generator lcores")
        if self.generator_mem < 64:
            raise Invalid("generator_mem", "must be at least 64 MiB")
        if self.page_size not in ("2M", "1G"):
            raise Invalid("page_size", f"must be \"2M\" or \"1G\", not {self.page_size!r}")
        check_nic_names("allow_in_use", self.allow_in_use, None)


@dataclass(frozen=True)
class P2pOptions(LabOptions):
    """A switch between two DUT NICs, each wired to one of the generator's."""

    gen_ports: tuple[str, ...] = ()  # NICs the generator drives (wired to dut_ports in order)
    dut_ports: tuple[str, ...] = ()  # the two NICs the bridge forwards between
    bridge: str = "br-pktlab"
    generator: str = "dpdk"  # dpdk: generator NICs bound for DPDK; kernel: AF_XDP on their interfaces

    def check(self):
        super().check()
        if self.generator not in ("dpdk", "kernel"):
            raise Invalid("generator", f"must be dpdk or kernel, not {self.generator!r}")
        check_nic_names("dut_ports", self.dut_ports)
        check_nic_names("gen_ports", self.gen_ports)
        if set(self.dut_ports) & set(self.gen_ports):
            raise Invalid("gen_ports", "a NIC is either the generator's or the DUT's")
        check_bridge(self.bridge)


class LabPath(DataPath):
    """Base of ovs-kernel-p2p, ovs-dpdk-p2p and sriov-vf."""

    lab = True

    uses_ovs = False  # runs pktlab's own OVS (its version goes into the results)
    uses_ovs_dpdk = False  # OVS PMDs and dpdk-socket-mem are placed
    # "both": one host. With the DUT on another host ([hosts].dut) the tester plans "tester"
    # (the generator's NICs, lcores and memory) and the DUT's pktlab plans "dut" (its NICs,
    # OVS, PMDs), each from its own sysfs; `dut` is then the DUT's half (remote/half.py).
    side = "both"
    dut = None

    @property
    def on_tester(self) -> bool:
        return self.side in ("both", "tester")

    @property
    def on_dut(self) -> bool:
        return self.side in ("both", "dut")

    def __init__(self, scenario, entry, run_dir, run_id, root="/"):
        super().__init__(scenario, entry, run_dir, run_id, root)
        self.huge_dir = str(self.run_dir / "hugepages")
        self.gen_prefix = f"pktlab-gen-{run_id}"

    def fail(self, key, reason):
        raise PrecheckError(self.scenario.file, key.format(where=self.where) if key else key, reason)

    # -- the host, read under root ---------------------------------------------
    @functools.cached_property
    def inventory(self):
        return read_inventory(self.root)

    def nic(self, name: str, key: str) -> Nic:
        nic = self.inventory.nic(name)
        if nic is None:
            have = ", ".join(f"{n.pci} ({n.ifname})" if n.ifname else n.pci for n in self.inventory.nics) or "none"
            self.fail(key, f"{name}: no such NIC on this host (NICs: {have})")
        return nic

    def allowed(self, nic: Nic) -> bool:
        """Named in allow_in_use (by PCI address or interface name)."""
        return any(resolve_nic(a, (nic,)) for a in self.options.allow_in_use)

    def refuse_taking(self, nic: Nic, name: str, key: str) -> None:
        """The management NIC never; a NIC that is up, addressed, routed or enslaved
        only when the scenario names it in allow_in_use."""
        if nic.management:
            self.fail(key, f"{name} ({nic.pci}) is the management NIC (it carries the default route); "
                           "pktlab never reconfigures or unbinds it")
        used = nic.in_use()
        if used and not self.allowed(nic):
            self.fail(key, f"{name} ({nic.pci}) is in use: {'; '.join(used)}; bring it down and remove its "
                           f"addresses, or name it in {self.where}.allow_in_use to take it anyway")

    def dpdk_binding(self, nic: Nic, name: str, key: str) -> str | None:
        """The kernel driver a DPDK PMD wants this NIC on (vfio-pci, ...), or None when
        its PMD is bifurcated (mlx5: the port stays on its kernel driver)."""
        pmds = pmd_index().for_nic(nic)
        if not pmds:
            self.fail(key, f"{name} ({nic.pci}, {nic.vendor_device}): no DPDK poll-mode driver installed here "
                           "claims it (pktlab doctor lists the NICs DPDK supports)")
        return pmds[0].binding if not pmds[0].bifurcated else None

    def check_bind(self, nic: Nic, name: str, key: str, driver: str) -> None:
        status = self.inventory.drivers.get(driver)
        if status is not None and not status.available:
            self.fail(key, f"{name} needs {driver}: {status.detail}")
        why = bind_refusal(nic.pci, driver, self.root, allow_in_use=self.allowed(nic),
                           loading=status is not None and not status.loaded)
        if why:
            self.fail(key, f"{name}: {why}")

    # -- placement ---------------------------------------------------------------
    def demand(self) -> planner.Demand:
        """What the planner places: overridden per path for the ports and memory."""
        raise NotImplementedError

    def _demand(self, dut_ports=(), gen_ports=(), ovs_mem_mb=0) -> planner.Demand:
        cpu, opt = self.scenario.cpu, self.options
        dut, gen = self.on_dut, self.on_tester  # each host places only what runs on it
        return planner.Demand(
            dut_ports=tuple(dut_ports) if dut else (), gen_ports=tuple(gen_ports) if gen else (),
            pmd_cores=0 if cpu.ovs_pmd or not self.uses_ovs_dpdk or not dut else opt.pmd_cores,
            gen_lcores=0 if cpu.generator is not None or not gen else opt.gen_lcores,
            page_size=opt.page_size, ovs_mem_mb=ovs_mem_mb if dut else 0,
            gen_mem_mb=opt.generator_mem if gen else 0,
            pmd_pins=tuple(cpu.ovs_pmd) if self.uses_ovs_dpdk and dut else (),
            gen_pins=(cpu.generator,) if cpu.generator is not None and gen else (),
            allow_cross_numa=opt.allow_cross_numa, source=str(self.scenario.file))

    @functools.cached_property
    def placement(self) -> planner.Placement:
        try:
            return planner.plan(self.inventory, self.demand())
        except PrecheckError as e:
            key = _KEYS.get(e.key, "{where}." + str(e.key)).format(where=self.where)
            raise PrecheckError(self.scenario.file, key, e.reason) from None

    def explain(self) -> str:
        if self.side == "dut":
            return self.placement.render()
        try:
            line = self.line_rate()
            text = self.placement.render() + f"\nline rate: {line.describe()} ({line.source})"
        except PrecheckError as e:
            text = self.placement.render() + f"\n! line rate: {e}"
        if self.side == "tester":
            text = (f"on the tester (this host):\n{text}\non the DUT ({self.dut_name}), planned there:\n"
                    + self.dut.explain)
        return text

    @property
    def dut_name(self) -> str:
        return self.scenario.hosts.dut or "this host"

    def plan(self):
        """The DUT's half only on the DUT; the tester's plan starts with the DUT's steps
        (tagged host "dut"), so the switch is up before the generator starts."""
        if self.side == "dut":
            return self.host_plan()
        plan = self.host_plan()
        if self.side == "tester":
            plan = Plan(self.dut.steps() + list(plan))
        plan.add(self.generator_step())
        return plan

    def dut_export(self) -> dict:
        """What the tester needs of the DUT's half to drive it (names, directories)."""
        return {}

    def dut_ovsdb(self, ctx):
        """The run's OVSDB (paths with OVS): here, or the DUT's through its forwarded socket."""
        from ..ovs import daemons

        if self.side == "tester":
            return ctx.ovsdb(daemons.db_sock(self.dut.export["ovs_dir"]), "dut")
        return ctx.ovsdb(daemons.db_sock(self.ovs_dir))

    # -- line rate -----------------------------------------------------------------
    def sending_nics(self) -> list[tuple[str, Nic]]:
        """(name, NIC) of each generator port that transmits; their link speed is the line rate's."""
        gen = self.options.gen_ports
        return [(gen[i], self.nic(gen[i], "{where}.gen_ports")) for i in sending_ports(self.scenario.traffic)]

    def line_rate(self) -> LineRate:
        """Link speed x generator ports sending; the link speed is the slowest sending NIC's
        (sysfs). traffic.link_speed stands in for a NIC whose speed sysfs does not show (its
        link is down); PrecheckError when there is neither, or it disagrees with the NICs."""
        t, key = self.scenario.traffic, "traffic.link_speed"
        sending = self.sending_nics()
        known = {name: nic.netdev.speed_mbps * 1e6 for name, nic in sending
                 if nic.netdev is not None and nic.netdev.speed_mbps}
        unknown = list(dict.fromkeys(name for name, _ in sending if name not in known))
        seen = ", ".join(f"{n} {link_name(bps)}" for n, bps in known.items())
        if t.link_speed is None and unknown:
            self.fail(key, f"the link speed of {', '.join(unknown)} is unknown (sysfs shows none while a link "
                           "is down): set traffic.link_speed to the speed its link runs at (e.g. \"25G\")")
        if t.link_speed is not None and not unknown and t.link_bps != min(known.values()):
            self.fail(key, f"{t.link_speed!r}, but the generator's sending NICs link at {seen}: correct it, "
                           "or leave it out (lab paths read their NICs' speed)")
        speeds = list(known.values()) + ([t.link_bps] if unknown else [])
        source = "; ".join(x for x in (f"NIC speed (sysfs): {seen}" if known else "",
                                       f"traffic.link_speed for {', '.join(unknown)} (speed not shown)"
                                       if unknown else "") if x)
        return LineRate(min(speeds), len(sending), source)

    def cores_used(self):
        try:
            p = self.placement
        except PrecheckError:
            return {}
        used = {"generator": list(p.generator)}
        if p.ovs_pmd:
            used["ovs_pmd"] = list(p.ovs_pmd)
        if p.ovs_lcore is not None and self.uses_ovs_dpdk:
            used["ovs_lcore"] = [p.ovs_lcore]
        return used

    # -- common steps --------------------------------------------------------------
    def precheck(self):
        """Read-only, in the order a user fixes things: the NICs, then where things go."""
        if self.side == "tester":
            self.dut.doc  # noqa: B018 - the DUT's half, checked and planned there, first
        iommu = self.inventory.iommu
        if self.needs_vfio() and not iommu.enabled and not iommu.vfio_noiommu:
            self.fail("{where}.kind", f"{self.entry.kind} binds NICs to vfio-pci, which needs the IOMMU, and "
                                      f"it is {iommu.detail}")
        self.check_ports()
        self.placement  # noqa: B018 - cores and hugepages on the NICs' nodes, or a PrecheckError
        if self.on_tester:
            self.line_rate()  # the NICs' link speed, or traffic.link_speed: known before the run
        # Last, so a dry run from a copy of a host's sysfs still shows every refusal above.
        if os.path.realpath(self.root) != "/":
            self.fail(None, f"the host was read from {self.root}, a copy: it can be planned (--dry-run), not run")
        if os.geteuid() != 0:
            self.fail(None, "pktlab run changes the host (drivers, hugepages, daemons): run it as root")

    def check_ports(self) -> None:
        """Refuse NICs pktlab must not take (PrecheckError naming the key)."""
        raise NotImplementedError

    def nic_names(self) -> list[tuple[str, int]]:
        """(NIC as the scenario names it, VFs it needs) for doctor."""
        return [(n, 0) for n in (*self.options.dut_ports, *self.options.gen_ports)]

    def needs_vfio(self) -> bool:
        return True

    def check_ovs(self) -> None:
        from ..ovs import daemons

        missing = daemons.missing_binaries()
        if missing:
            self.fail("{where}.kind", f"{self.entry.kind} needs Open vSwitch, missing: {', '.join(missing)}; "
                                      f"{daemons.APT_HINT}")

    def check_extension(self) -> None:
        try:
            import pktlab._pktgen  # noqa: F401 - the generator's compiled extension
        except ImportError as e:
            self.fail("{where}.kind", f"the generator's C extension is not built ({e}); "
                                      "reinstall pktlab (pip install .) with libdpdk-dev present")

    def hugepage_steps(self) -> list:
        """Each node's pages (reserved where short, given back after), and one private
        hugetlbfs of that page size for OVS and the generator."""
        p = self.placement
        steps = [hugepages.ReserveHugepages(np.count, np.size_kb, self.root, np.node) for np in p.hugepages]
        if p.hugepages:
            steps.append(hugepages.MountHugetlbfs(self.huge_dir, p.hugepages[0].size_kb))
        return steps

    def take_for_dpdk(self, *groups) -> list:
        """Steps that hand each NIC of groups ((names, scenario key), ...) to its DPDK PMD:
        bind it to vfio-pci (or what the PMD wants), or, for a bifurcated PMD, bring its
        kernel interface up."""
        steps, binds = [], []
        for names, key in groups:
            for name in names:
                nic = self.nic(name, key)
                driver = self.dpdk_binding(nic, name, key)
                if driver is not None:
                    binds.append((nic.pci, driver, self.allowed(nic)))
                elif nic.ifname:
                    steps.append(SetLinkUp(nic.ifname, self.mtu()))
        return steps + self.bind_steps(binds)

    def bind_steps(self, binds) -> list:
        """BindDriver for each (pci, driver, allow_in_use), each driver not loaded yet loaded first, once."""
        steps = []
        for driver in dict.fromkeys(d for _, d, _ in binds):
            status = self.inventory.drivers.get(driver)
            if status is not None and not status.loaded:
                steps.append(LoadModule(driver, self.root))
        return steps + [BindDriver(pci, driver, self.root, allow_in_use=allow) for pci, driver, allow in binds]

    def check_dpdk_ports(self, names, key: str) -> None:
        for name in names:
            nic = self.nic(name, key)
            self.refuse_taking(nic, name, key)
            driver = self.dpdk_binding(nic, name, key)
            if driver is not None:
                self.check_bind(nic, name, key, driver)

    def mtu(self) -> int | None:
        """MTU the run's largest frame needs, when above the default 1500."""
        return mtu_for(self.scenario.traffic)

    def wait_links(self, ctx, timeout: float, hint: str) -> None:
        """Until every generator port has link (a physical link needs its cable and
        autonegotiation); StepError with `hint` when it does not come."""
        gen = ctx.live["generator"]
        wait.until(lambda: all(gen.link_up()), timeout, 0.2, lambda _: StepError(
            f"generator ports without link after {timeout:.0f} s ({gen.link_up()}): {hint}"))

    def dpdk_generator_step(self, pcis, traffic=None, l2=None, streams=None):
        """The generator's DPDK backend on PCI functions, its lcores and memory where
        the planner put them (one RX/TX queue pair per lcore on every port); l2: each
        port's own MACs (and VLAN), streams.streams_for; streams: the path's own (each
        side its frame shape) instead."""
        from ..gen.config import GenConfig

        lcores = self.placement.generator
        eal = ("--in-memory", "--no-telemetry", f"--huge-dir={self.huge_dir}",
               f"--socket-mem={planner.Placement.socket_mem(self.placement.gen_socket_mem)}",
               f"--file-prefix={self.gen_prefix}")
        t = traffic or self.scenario.traffic
        streams = streams_for(t, 2, l2=l2) if streams is None else streams
        cfg = GenConfig(eal_args=eal, ports=tuple(pcis), streams=with_latency_streams(streams, self.scenario.method), core=lcores[0], lcores=lcores)
        return StartGenerator(cfg.to_dict(), log=str(self.run_dir / "generator.log"))

    @staticmethod
    def runtime_dir(prefix: str):
        """EAL leaves /var/run/dpdk/<prefix> behind even with --in-memory."""
        return DpdkRuntimeDir(prefix)

    def nic_provenance(self) -> list[dict]:
        """The NICs this path takes, as they were when the plan was made (before any binding)."""
        out = []
        for name, _ in self.nic_names():
            role = ("dut" if name in getattr(self.options, "dut_ports", ()) else
                    "pf" if name == getattr(self.options, "pf", None) else "generator")
            if not (self.on_tester if role == "generator" else self.on_dut):
                continue  # a NIC of the other host: that host describes it
            nic = self.inventory.nic(name)
            if nic is None:
                continue
            pmds = pmd_index().for_nic(nic)
            out.append({"role": role, "name": name, "pci": nic.pci, "vendor_device": nic.vendor_device,
                        "driver": nic.driver, "pmd": pmds[0].name if pmds else None, "numa_node": nic.numa_node,
                        "speed_mbps": nic.netdev.speed_mbps if nic.netdev else None})
        return out

    def versions(self, ctx):
        v = {"nics": self.nic_provenance()}
        if self.side == "tester":  # the DUT's NICs and OVS, as the DUT described them
            facts = self.dut.facts
            v["nics"] += facts.get("nics") or []
            v["ovs_version"] = facts.get("ovs_version")
            return v
        if self.uses_ovs:
            from ..ovs import daemons
            from ..provenance import ovs_version

            v["ovs_version"] = ovs_version(daemons.OVS_VSWITCHD_DPDK)
        return v

    def requirements(self) -> list[dict]:
        """What `pktlab doctor <scenario>` checks for this path."""
        d = self.demand()
        reqs: list[dict] = []
        if self.needs_vfio():
            reqs += [{"check": "iommu"}, {"check": "driver", "name": "vfio-pci"}]
        for name, vfs in self.nic_names():
            dut = name in getattr(self.options, "dut_ports", ()) or name == getattr(self.options, "pf", None)
            if not (self.on_dut if dut else self.on_tester):
                continue  # the other host's NIC: `pktlab doctor --host` judges it there
            req = {"check": "nic", "port": name, "free": name not in self.options.allow_in_use}
            reqs.append({**req, "vfs": vfs} if vfs else req)
        fields = {f.name: getattr(d, f.name) for f in dataclasses.fields(d) if f.name != "source"}
        reqs.append({"check": "placement", **{k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}})
        return reqs
