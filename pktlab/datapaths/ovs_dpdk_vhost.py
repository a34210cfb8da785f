"""OVS-DPDK loopback over vhost-user: generator -> vhu0 -> netdev bridge -> vhu1 -> generator.

pktlab starts its own ovsdb-server and ovs-vswitchd (DPDK build) in the run
directory, on a private hugetlbfs. The generator is the far end of both ports
through net_virtio_user devices: in "client" mode (the default) OVS's ports are
dpdkvhostuserclient and the generator serves the sockets; in "server" mode OVS
serves them (dpdkvhostuser, deprecated upstream but still what many labs run).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..host.kmod import UnloadAutoloaded
from ..errors import PrecheckError, StepError
from ..gen.step import StartGenerator
from ..host import hugepages
from ..host.dpdk_runtime import DpdkRuntimeDir
from ..host.files import MakeRunDir
from ..ovs import daemons
from ..ovs.bridge import AddBridge, AddPort, SetInterface
from ..ovs.counters import OvsCounters
from ..ovs.daemons import SetOvsOtherConfig, StartOvsdbServer, StartOvsVswitchd
from ..ovs.openflow import AddFlows
from ..plan import Plan
from .base import DataPath
from .streams import streams_for, with_latency_streams
from ..scenario.checks import Invalid, check_bridge

PORTS = ("vhu0", "vhu1")
MAX_SOCKET_PATH = 107  # sizeof(sun_path) - 1
PMD_INFO_DIRS = ("/usr/lib/x86_64-linux-gnu/dpdk",)


def _mask(cores) -> str:
    return hex(sum(1 << c for c in cores))


@dataclass(frozen=True)
class OvsDpdkVhostOptions:
    """Loopback through OVS-DPDK: generator -> vhost-user -> netdev bridge -> vhost-user -> generator."""

    vhost_mode: str = "client"  # OVS port type dpdkvhostuserclient (client) or dpdkvhostuser (server)
    socket_mem: int = 512  # OVS dpdk-socket-mem [MiB]
    generator_mem: int = 256  # generator's DPDK memory [MiB]
    queue_size: int = 1024  # virtio ring size on the generator side
    bridge: str = "br-pktlab"
    # A device of known capacity: OVS polices what it receives on each vhost port at
    # this packet rate [pps] (0 = no policer), with a bucket of policer_burst packets.
    policer_pps: int = 0
    policer_burst: int = 1000

    def check(self):
        if self.policer_pps < 0 or self.policer_burst < 1:
            raise Invalid("policer_pps" if self.policer_pps < 0 else "policer_burst", "must be positive")
        if self.vhost_mode not in ("client", "server"):
            raise Invalid("vhost_mode", f"must be client or server, not {self.vhost_mode!r}")
        for key in ("socket_mem", "generator_mem"):
            if getattr(self, key) < 64:
                raise Invalid(key, "must be at least 64 MiB")
        if self.queue_size not in (256, 512, 1024):
            raise Invalid("queue_size", "must be 256, 512 or 1024")
        check_bridge(self.bridge)


class OvsDpdkVhostPath(DataPath):
    kind, Options = "ovs-dpdk-vhost", OvsDpdkVhostOptions
    def __init__(self, scenario, entry, run_dir, run_id, root="/"):
        super().__init__(scenario, entry, run_dir, run_id, root)
        self.ovs_dir = str(self.run_dir / "ovs")
        self.huge_dir = str(self.run_dir / "hugepages")
        self.sock_dir = str(self.run_dir / "vhost")
        self.ovs_prefix, self.gen_prefix = f"pktlab-ovs-{run_id}", f"pktlab-gen-{run_id}"

    # -- what it needs ------------------------------------------------------
    def cores_used(self):
        cpu = self.scenario.cpu
        cores = {"generator": [cpu.generator], "ovs_pmd": list(cpu.ovs_pmd)}
        if cpu.ovs_lcore is not None:
            cores["ovs_lcore"] = [cpu.ovs_lcore]
        return cores

    def precheck(self):
        super().precheck()
        cpu, hp, opt = self.scenario.cpu, self.scenario.hugepages, self.options
        where = f"datapath[{self.scenario.datapaths.index(self.entry)}]"
        missing = daemons.missing_binaries()
        if missing:
            self.fail(f"{where}.kind", f"ovs-dpdk-vhost needs Open vSwitch with DPDK, missing: "
                                       f"{', '.join(missing)}; {daemons.APT_HINT}")
        try:
            import pktlab._pktgen  # noqa: F401 - the generator's compiled extension
        except ImportError as e:
            self.fail(f"{where}.kind", f"the generator's C extension is not built ({e}); "
                                       "reinstall pktlab (pip install .) with libdpdk-dev present")
        if not any(Path(d).glob("pmds-*/librte_net_virtio.so*") for d in PMD_INFO_DIRS):
            self.fail(f"{where}.kind", "DPDK's virtio PMD (librte_net_virtio) is not installed; "
                                       "install the Debian package dpdk")
        if not cpu.ovs_pmd:
            self.fail("cpu.ovs_pmd", "ovs-dpdk-vhost needs at least one PMD core")
        if hp is None:
            self.fail("hugepages", "ovs-dpdk-vhost needs a [hugepages] table (count of 2M pages)")
        if hp.size != "2M":
            self.fail("hugepages.size", "the loopback path mounts 2M pages; use size = \"2M\"")
        need = opt.socket_mem + opt.generator_mem
        if hp.total_mb < need:
            self.fail("hugepages.count", f"{hp.count} x 2 MiB = {hp.total_mb} MiB is less than OVS "
                                         f"socket_mem {opt.socket_mem} + generator_mem {opt.generator_mem} MiB")
        why = hugepages.shortfall(hp.count, hp.size_kb)
        if why:
            self.fail("hugepages.count", why)
        # The kernel cuts unix socket paths at 107 bytes: vhu0.sock and vhu1.sock would collide.
        for path in self.socket_paths():
            if len(path.encode()) > MAX_SOCKET_PATH:
                raise PrecheckError(self.scenario.file, None,
                                    f"socket path {path} is longer than {MAX_SOCKET_PATH} bytes; "
                                    "use a shorter --state-dir")

    def explain(self):
        """Where the scenario's cores sit on this host (node, isolation, shared physical
        cores), as the planner judges pins; the guest's core when it has one of its own."""
        from ..inventory import planner
        from ..inventory.sysfs import read_inventory

        cores = self.cores_used()
        gen, pmd = tuple(cores["generator"]), tuple(cores.get("ovs_pmd", ()))
        guest = tuple(c for c in dict.fromkeys(cores.get("guest_vcpu", ())) if c not in gen)
        try:
            return planner.plan(read_inventory(self.root), planner.Demand(
                pmd_pins=pmd, gen_pins=gen, guest_pins=guest, source=str(self.scenario.file))).render()
        except PrecheckError as e:
            return f"placement:\n  ! {e.key}: {e.reason}"

    def socket_paths(self) -> list[str]:
        ovs = [f"{self.ovs_dir}/{n}" for n in ("db.sock", "ovs-vswitchd.ctl", f"{self.options.bridge}.mgmt")]
        vhost = [f"{self.sock_dir}/{n}.sock" if self.options.vhost_mode == "client" else f"{self.ovs_dir}/{n}"
                 for n in PORTS]
        return ovs + vhost

    # -- the plan -----------------------------------------------------------
    def ovs_steps(self) -> Plan:
        """Run dir, hugepages, pktlab's own ovsdb-server and ovs-vswitchd (DPDK): what every
        OVS-DPDK loopback path starts from."""
        cpu, hp, opt = self.scenario.cpu, self.scenario.hugepages, self.options
        extra = f"--no-pci --in-memory --no-telemetry --huge-dir={self.huge_dir} --file-prefix={self.ovs_prefix}"
        other = {
            "dpdk-init": "true",
            "dpdk-socket-mem": str(opt.socket_mem),
            "dpdk-socket-limit": str(opt.socket_mem),
            "pmd-cpu-mask": _mask(cpu.ovs_pmd),
            "dpdk-extra": extra,
        }
        if cpu.ovs_lcore is not None:
            other["dpdk-lcore-mask"] = _mask([cpu.ovs_lcore])
        return Plan([
            MakeRunDir(str(self.run_dir)),
            hugepages.ReserveHugepages(hp.count, hp.size_kb),
            hugepages.MountHugetlbfs(self.huge_dir, hp.size_kb),
            StartOvsdbServer(self.ovs_dir),
            SetOvsOtherConfig(self.ovs_dir, other),
            DpdkRuntimeDir(self.ovs_prefix),
            DpdkRuntimeDir(self.gen_prefix),
            UnloadAutoloaded("openvswitch"),  # ovs-vswitchd has the kernel load it
            StartOvsVswitchd(self.ovs_dir),
        ])

    def plan(self):
        plan = self.ovs_steps()
        plan.extend(self.bridge_steps())
        client = self.options.vhost_mode == "client"
        if client:
            # The generator serves the sockets first; each OVS port then connects
            # and is up before the next is added. Two handshakes at once (OVS's
            # reconnect thread finding vhu1 while it sets up vhu0) lost one about
            # one start in fifteen here, with OVS never retrying it.
            plan.add(self.generator_step())
        # In generator port order: the generator's virtio-user servers wait for OVS on their
        # sockets one device after the other, so OVS must connect to port 0's first.
        for name, bridge, ofport, extra in sorted(self.vhost_ports(), key=lambda v: self.gen_ports.index(v[0])):
            if client:
                port = AddPort(self.ovs_dir, bridge, name, "dpdkvhostuserclient",
                               {"vhost-server-path": f"{self.sock_dir}/{name}.sock"}, ofport, wait_up=60.0, **extra)
            else:
                port = AddPort(self.ovs_dir, bridge, name, "dpdkvhostuser", {}, ofport, **extra)
            plan.add(port)
            if self.options.policer_pps:
                plan.add(SetInterface(self.ovs_dir, name, self.policer_columns()))
        plan.extend(self.forwarding_steps())
        if not client:  # OVS serves the sockets: they exist now, the generator connects
            plan.add(self.generator_step())
        return plan

    # What a path built on this one changes: its bridges, where its vhost-user ports go
    # (name, bridge, OpenFlow port, more AddPort fields) and what forwards between them.
    def bridge_steps(self) -> list:
        return [AddBridge(self.ovs_dir, self.options.bridge, "netdev")]

    def vhost_ports(self) -> list[tuple[str, str, int, dict]]:
        return [(name, self.options.bridge, ofport, {}) for ofport, name in enumerate(PORTS, 1)]

    def forwarding_steps(self) -> list:
        # Explicit port-to-port rules: the switch forwards, it does not learn.
        return [AddFlows(self.ovs_dir, self.options.bridge, ("priority=100,in_port=1,actions=output:2",
                                                             "priority=100,in_port=2,actions=output:1"))]

    def policer_columns(self) -> dict:
        """OVS-DPDK's ingress policer meters bits, and counts a frame as its length
        after the Ethernet header (rte_meter on pkt_len - 14; its kpkts_rate column is
        not implemented for DPDK ports in OVS 3.1): a packet rate becomes kbit/s."""
        bits = (self.scenario.traffic.frame_size - 4 - 14) * 8
        opt = self.options
        return {"ingress_policing_rate": opt.policer_pps * bits // 1000,
                "ingress_policing_burst": max(1, opt.policer_burst * bits // 1000)}

    def generator_step(self):
        from ..gen.config import GenConfig

        opt = self.options
        server = opt.vhost_mode == "client"  # OVS is the vhost client: the generator serves
        ports = []
        for i, name in enumerate(self.gen_ports):
            path = f"{self.sock_dir}/{name}.sock" if server else f"{self.ovs_dir}/{name}"
            ports.append(f"net_virtio_user{i},path={path},server={int(server)},queues=1,"
                         f"queue_size={opt.queue_size}")
        eal = ("-l", str(self.scenario.cpu.generator), "--no-pci", "--in-memory", "--single-file-segments",
               "--no-telemetry", f"--huge-dir={self.huge_dir}", "-m", str(opt.generator_mem),
               f"--file-prefix={self.gen_prefix}")
        cfg = GenConfig(eal_args=eal, ports=tuple(ports),
                        streams=with_latency_streams(self.streams(), self.scenario.method),
                        core=self.scenario.cpu.generator)
        return StartGenerator(cfg.to_dict(), log=str(self.run_dir / "generator.log"),
                              socket_dir=self.sock_dir if server else "", wait_ready=not server)

    # The OVS ports the generator's ports 0, 1 face, in that order (also the vhost socket names).
    gen_ports: tuple[str, ...] = PORTS

    def streams(self):
        """The generator's streams: the scenario's traffic, the same frames both ways."""
        return streams_for(self.scenario.traffic, 2)

    # -- while it runs ------------------------------------------------------
    def wait_ready(self, ctx):
        gen = ctx.live["generator"]
        if not gen.ports:
            gen.wait_ready(timeout=30)
        ctx.ovsdb(daemons.db_sock(self.ovs_dir)).wait_ports_up(PORTS, timeout=30)
        deadline = time.monotonic() + 10
        while not all(gen.link_up()):
            if time.monotonic() > deadline:
                raise StepError(f"generator ports not up after 10 s: {gen.link_up()}")
            time.sleep(0.1)

    def counters(self, ctx):
        return OvsCounters(ctx.ovsdb(daemons.db_sock(self.ovs_dir)), PORTS)

    def versions(self, ctx):
        from ..provenance import ovs_version

        return {"ovs_version": ovs_version(daemons.OVS_VSWITCHD_DPDK)}

