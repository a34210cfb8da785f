"""OVS-DPDK phy->phy: generator NIC -> DUT NIC 0 (dpdk0) -> netdev bridge ->
DUT NIC 1 (dpdk1) -> generator NIC, the way lab servers are cabled for it.

The DUT NICs are bound to vfio-pci (or left on their kernel driver when their
PMD is bifurcated, as mlx5's is) and become OVS `dpdk` ports with
dpdk-devargs, n_rxq and the descriptor counts; PMDs run on the NICs' NUMA
node and each RX queue is pinned to one of them (pmd-rxq-affinity), so the
measured rate does not depend on OVS's rebalancing. OVS's EAL is limited to
the DUT NICs (-a), so it cannot grab the generator's, which the generator's
own EAL drives on lcores of their node.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..host.kmod import UnloadAutoloaded
from ..gen.config import is_pci
from ..host.files import MakeRunDir
from ..ovs.bridge import AddBridge, AddPort
from ..ovs.counters import OvsCounters
from ..ovs.daemons import SetOvsOtherConfig, StartOvsdbServer, StartOvsVswitchd
from ..ovs.openflow import AddFlows
from ..plan import Plan
from .lab import LabPath, P2pOptions
from .p2p_generator import P2pGenerator
from ..scenario.checks import Invalid

PORTS = ("dpdk0", "dpdk1")


def _mask(cores) -> str:
    return hex(sum(1 << c for c in cores))


def rxq_affinity(pmds_by_node: dict[int, list[int]], port_nodes: list[int], n_rxq) -> list[str]:
    """pmd-rxq-affinity per port ("0:3,1:7"): queues dealt round robin over the PMDs
    on the port's node (all PMDs when it has none), carried on from port to port, so
    with one queue per port each port has a PMD of its own. n_rxq: queues of every
    port, or a list of each port's."""
    everyone = sorted(c for cs in pmds_by_node.values() for c in cs)
    queues = [n_rxq] * len(port_nodes) if isinstance(n_rxq, int) else list(n_rxq)
    turn: dict[int, int] = {}
    out = []
    for node, n in zip(port_nodes, queues):
        pmds = sorted(pmds_by_node.get(node) or everyone)
        pairs = []
        for q in range(n):
            i = turn.get(node, 0)
            pairs.append(f"{q}:{pmds[i % len(pmds)]}")
            turn[node] = i + 1
        out.append(",".join(pairs))
    return out


@dataclass(frozen=True)
class OvsDpdkP2pOptions(P2pOptions):
    """OVS-DPDK phy->phy: DUT NICs bound to vfio-pci as OVS `dpdk` ports, polled by
    PMDs on their NUMA node, each RX queue pinned to a PMD (pmd-rxq-affinity)."""

    pmd_cores: int = 2  # PMD threads when cpu.ovs_pmd does not pin them
    n_rxq: int = 1  # RX queues per DUT port, spread over the PMDs
    rxq_desc: int = 2048  # descriptors per RX queue (n_rxq_desc)
    txq_desc: int = 2048  # per TX queue (n_txq_desc)
    socket_mem: int = 1024  # OVS dpdk-socket-mem on each node with a DUT port or a PMD [MiB]

    def check(self):
        super().check()
        if not 1 <= self.pmd_cores <= 64:
            raise Invalid("pmd_cores", "1 to 64 PMD threads")
        if not 1 <= self.n_rxq <= 16:
            raise Invalid("n_rxq", "1 to 16 RX queues per port")
        for key in ("rxq_desc", "txq_desc"):
            v = getattr(self, key)
            if not 64 <= v <= 8192 or v & (v - 1):
                raise Invalid(key, "a power of two, 64 to 8192")
        if self.socket_mem < 256:
            raise Invalid("socket_mem", "must be at least 256 MiB")


class OvsDpdkP2pPath(P2pGenerator, LabPath):
    kind, Options = "ovs-dpdk-p2p", OvsDpdkP2pOptions
    uses_ovs = uses_ovs_dpdk = True
    two_hosts = True  # OVS-DPDK on the DUT's NICs there, the generator on the tester's

    def __init__(self, scenario, entry, run_dir, run_id, root="/"):
        super().__init__(scenario, entry, run_dir, run_id, root)
        self.ovs_dir = str(self.run_dir / "ovs")
        self.ovs_prefix = f"pktlab-ovs-{run_id}"

    def demand(self):
        opt = self.options
        return self.gen_demand(self._demand(opt.dut_ports, opt.gen_ports, ovs_mem_mb=opt.socket_mem))

    def needs_vfio(self):
        return self.on_dut or self.dpdk_generator

    def check_ports(self):
        if self.on_dut:
            self.check_ovs()
            self.check_dpdk_ports(self.options.dut_ports, "{where}.dut_ports")
        if self.on_tester:
            self.check_extension()
            self.check_gen_ports()

    def dut_export(self):
        return {"ovs_dir": self.ovs_dir}

    def pmds_by_node(self) -> dict[int, list[int]]:
        by_node: dict[int, list[int]] = {}
        for c in self.placement.ovs_pmd:
            by_node.setdefault(self.inventory.cpu(c).node, []).append(c)
        return by_node

    def affinity(self) -> list[str]:
        """pmd-rxq-affinity of each DUT port."""
        nodes = [self.placement.port_nodes[name] or 0 for name in self.options.dut_ports]
        return rxq_affinity(self.pmds_by_node(), nodes, self.options.n_rxq)

    def dut_devargs(self) -> list[str]:
        """What OVS opens each DUT port by (its dpdk-devargs): the NICs' PCI addresses."""
        return [self.nic(n, "{where}.dut_ports").pci for n in self.options.dut_ports]

    def gen_devices(self) -> list[str]:
        """The generator's devices: its NICs' PCI addresses."""
        return [self.nic(n, "{where}.gen_ports").pci for n in self.options.gen_ports]

    def take_nics(self) -> list:
        groups = (((self.options.dut_ports, "{where}.dut_ports"),) * self.on_dut
                  + ((self.options.gen_ports, "{where}.gen_ports"),) * (self.on_tester and self.dpdk_generator))
        return self.take_for_dpdk(*groups)

    def host_plan(self):
        opt, p = self.options, self.placement
        if self.side == "tester":  # the generator's NICs (and memory); OVS is the DUT's
            return Plan([MakeRunDir(str(self.run_dir)), *self.gen_steps()])
        devargs = self.dut_devargs()
        mem = p.socket_mem(p.ovs_socket_mem)
        # OVS's EAL probes the DUT NICs only (-a): the generator's are not for it
        allow = "".join(f" -a {d}" for d in devargs if is_pci(d))
        other = {
            "dpdk-init": "true",
            "dpdk-socket-mem": mem,
            "dpdk-socket-limit": mem,
            "pmd-cpu-mask": _mask(p.ovs_pmd),
            "dpdk-extra": f"--in-memory --no-telemetry --huge-dir={self.huge_dir} "
                          f"--file-prefix={self.ovs_prefix}{allow}",
        }
        if p.ovs_lcore is not None:
            other["dpdk-lcore-mask"] = _mask([p.ovs_lcore])
        steps = [MakeRunDir(str(self.run_dir)), *self.hugepage_steps(), *self.take_nics(),
                 *self.gen_links(),
                 StartOvsdbServer(self.ovs_dir), SetOvsOtherConfig(self.ovs_dir, other),
                 self.runtime_dir(self.ovs_prefix),
                 *[self.runtime_dir(self.gen_prefix)] * (self.on_tester and self.dpdk_generator),
                 UnloadAutoloaded("openvswitch", self.root), StartOvsVswitchd(self.ovs_dir),
                 AddBridge(self.ovs_dir, opt.bridge, "netdev")]
        for ofport, (name, dev, affinity) in enumerate(zip(PORTS, devargs, self.affinity()), 1):
            options = {"dpdk-devargs": dev, "n_rxq": str(opt.n_rxq), "n_rxq_desc": str(opt.rxq_desc),
                       "n_txq_desc": str(opt.txq_desc)}
            # No waiting for link here: the far end is the generator's NIC, whose PHY may stay
            # down until the generator starts its port; wait_ready waits for both sides.
            steps.append(AddPort(self.ovs_dir, opt.bridge, name, "dpdk", options, ofport,
                                 other_config={"pmd-rxq-affinity": affinity}, mtu_request=self.mtu() or 0))
        steps.append(AddFlows(self.ovs_dir, opt.bridge, ("priority=100,in_port=1,actions=output:2",
                                                         "priority=100,in_port=2,actions=output:1")))
        return Plan(steps)

    def generator_step(self):
        return self.dpdk_generator_step(self.gen_devices()) if self.dpdk_generator else super().generator_step()

    def gen_links(self) -> list:
        """One host, kernel generator: its interfaces up (DPDK's NICs are in take_nics)."""
        return self.gen_steps() if self.side == "both" and not self.dpdk_generator else []

    def wait_ready(self, ctx):
        self.dut_ovsdb(ctx).wait_ports_up(PORTS, timeout=60)
        self.wait_links(ctx, 60, f"check the cabling to {', '.join(self.options.dut_ports)}")

    def counters(self, ctx):
        return OvsCounters(self.dut_ovsdb(ctx), PORTS)
