"""PVP and PVVP: packets through OVS-DPDK into QEMU guests and back.

  PVP   generator -vhu0-> [OVS] -vm0-> guest 0 -vm1-> [OVS] -vhu1-> generator
  PVVP  generator -vhu0-> [OVS] -vm0-> guest 0 -vm1-> [OVS] -vm2-> guest 1 -vm3-> [OVS] -vhu1-> generator
  (and the mirror path when bidirectional)

The generator side is the OVS-DPDK loopback (ovs_dpdk_vhost.py); the guest's NICs
are dpdkvhostuser ports (OVS serves, QEMU connects), its memory on the run's
hugepages, shared with the switch. Flows are explicit port to port: NORMAL would
loop through the guest's bridge. OVS's counters on all four ports give the loss
per hop. OVS 3.1 reports no Interface statistics for dpdkvhostuser ports (its
vhost stats come from rte_vhost_vring_stats_get, which the server-mode
registration does not enable; traffic flows regardless), so the hops into and out
of the guest are counted by the OpenFlow rules that carry them.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..guest.image import DEFAULT_CACHE, ensure_image
from ..guest.qemu import StartGuest
from ..ovs.bridge import AddPort
from ..ovs.counters import OvsCounters
from ..ovs import daemons
from ..ovs.openflow import AddFlows, dump_flows
from .ovs_dpdk_vhost import PORTS, OvsDpdkVhostOptions, OvsDpdkVhostPath
from ..scenario.checks import Invalid, check_guest



def chain(guests: int, ends: tuple[str, str] = PORTS, nic: str = "vm") -> dict[int, tuple[int, int, str]]:
    """OpenFlow cookie -> (in_port, out_port, hop) for a chain of guests, both ways.

    OpenFlow ports: the generator's ends (vhu0, vhu1; dpdk0, dpdk1 on physical ports) = 1 and 2,
    guest g's NICs vm(2g) = 3 + 2g and vm(2g+1) = 4 + 2g (named nic + index).
    Each rule counts its hop, so loss is attributed to the hop where it happened."""
    name = {1: ends[0], 2: ends[1], **{3 + i: f"{nic}{i}" for i in range(2 * guests)}}
    ends = [1] + [p for g in range(guests) for p in (3 + 2 * g, 4 + 2 * g)] + [2]
    forward = list(zip(ends[0::2], ends[1::2]))  # vhu0->vm0, vm1->vm2, ..., vm(2G-1)->vhu1
    hops = forward + [(b, a) for a, b in reversed(forward)]

    def what(a, b):
        kind = "into the guest" if b > 2 and a <= 2 else "out of the guest" if a > 2 and b <= 2 \
            else "guest to guest"
        return f"{name[a]}->{name[b]} ({kind})"

    return {cookie: (a, b, what(a, b)) for cookie, (a, b) in enumerate(hops, 1)}


# PVP's hops, as results name them
HOPS = chain(1)


def guest_mac(nic: int) -> str:
    return f"02:00:00:00:01:{nic:02x}"


@dataclass(frozen=True)
class OvsDpdkPvpOptions(OvsDpdkVhostOptions):
    """PVP: generator -> vhost-user -> OVS-DPDK -> guest NIC0 -> forwarder -> guest NIC1
    -> OVS-DPDK -> vhost-user -> generator. The guest is a QEMU VM pktlab builds."""

    forwarder: str = "bridge"  # bridge, tc or testpmd
    guests: int = 1  # 1: PVP; 2: PVVP (guests chained through the switch); up to 4
    guest_mem: int = 256  # [MiB] per guest, on the run's hugepages, shared with OVS
    guest_core: int = -1  # host core for the vCPU and QEMU's other threads; -1 = the generator's
    accel: str = "auto"  # auto (KVM where it really works, else TCG), kvm or tcg

    def check(self):
        super().check()
        if not 1 <= self.guests <= 4:
            raise Invalid("guests", "1 (PVP) to 4 guests in a chain")
        check_guest(self)
        if self.vhost_mode != "client":
            raise Invalid("vhost_mode", "PVP uses client mode (the generator serves its sockets)")


@dataclass
class StartPvpGuest(StartGuest):
    """StartGuest whose image is built (or found in the cache) when the step applies,
    so --dry-run builds nothing."""

    kind = "pvp-guest"
    forwarder: str = "bridge"
    cache_dir: str = str(DEFAULT_CACHE)

    def describe(self):
        return f"build or reuse the {self.forwarder} guest image in {self.cache_dir}; " + super().describe()

    def image_name(self) -> str:
        return self.forwarder

    def apply(self, ctx):
        image = ensure_image(self.forwarder, self.cache_dir)
        self.kernel, self.initrd = str(image.kernel), str(image.initrd)
        self.state["image"] = image.info()
        super().apply(ctx)
        ctx.live["guest_state"] = self.state


class PvpPath(OvsDpdkVhostPath):
    kind, Options = "ovs-dpdk-pvp", OvsDpdkPvpOptions
    @property
    def guests(self) -> int:
        return self.options.guests

    @property
    def guest_ports(self) -> tuple[str, ...]:
        return tuple(f"vm{i}" for i in range(2 * self.guests))

    def cores_used(self):
        return {**super().cores_used(), "guest_vcpu": [self.guest_core]}

    @property
    def guest_core(self) -> int:
        c = self.options.guest_core
        return self.scenario.cpu.generator if c < 0 else c

    def precheck(self):
        super().precheck()
        hp, opt = self.scenario.hugepages, self.options
        need = opt.socket_mem + opt.generator_mem + opt.guest_mem * self.guests
        if hp.total_mb < need:
            self.fail("hugepages.count", f"{hp.total_mb} MiB of hugepages is less than OVS {opt.socket_mem} "
                                         f"+ generator {opt.generator_mem} + {self.guests} x guest "
                                         f"{opt.guest_mem} MiB")
        if self.guest_core in self.scenario.cpu.ovs_pmd:
            self.fail(f"datapath[{self.scenario.datapaths.index(self.entry)}].guest_core",
                      f"core {self.guest_core} is an OVS PMD core: the guest would starve the switch")

    def host_plan(self):
        raise NotImplementedError  # plan() below orders the guest among the OVS steps

    def plan(self):
        plan = super().plan()
        flows = next(s for s in plan.steps if isinstance(s, AddFlows))
        at = plan.steps.index(flows)
        opt = self.options
        guest_ports = [AddPort(self.ovs_dir, opt.bridge, name, "dpdkvhostuser", {}, ofport)
                       for ofport, name in enumerate(self.guest_ports, 3)]
        guests = [StartPvpGuest(
            name=f"pktlab-{self.run_id[-10:]}-{g}", kernel="", initrd="", run_dir=str(self.run_dir / f"guest{g}"),
            nics=tuple((f"{self.ovs_dir}/vm{n}", guest_mac(n), "client") for n in (2 * g, 2 * g + 1)),
            mem_mb=opt.guest_mem, hugepage_dir=self.huge_dir, vcpus=1, vcpu_pins=(self.guest_core,),
            emulator_cores=(self.guest_core,), accel=opt.accel, log_dir="", forwarder=opt.forwarder)
            for g in range(self.guests)]
        pvp_flows = AddFlows(self.ovs_dir, opt.bridge, tuple(
            f"cookie={cookie},priority=100,in_port={a},actions=output:{b}"
            for cookie, (a, b, _) in chain(self.guests).items()))
        plan.steps[at:at + 1] = [*guest_ports, *guests, pvp_flows]
        return plan

    def wait_ready(self, ctx):
        super().wait_ready(ctx)
        ctx.ovsdb(daemons.db_sock(self.ovs_dir)).wait_ports_up(self.guest_ports, timeout=30)

    def counters(self, ctx):
        return PvpCounters(ctx.ovsdb(daemons.db_sock(self.ovs_dir)), PORTS, self.ovs_dir, self.options.bridge,
                           chain(self.guests))

    def versions(self, ctx):
        return {**super().versions(ctx),
                "guest": guest_provenance(ctx, self.guests, self.options.forwarder, [self.guest_core])}


def guest_provenance(ctx, guests: int, forwarder: str, vcpu_cores: list[int]) -> dict:
    """What results say of the guest: its image's kernel, the forwarder, its vCPUs' host
    cores, and how it ran (KVM, or emulated: charts mark those)."""
    state = ctx.live.get("guest_state") or {}
    kernel = state.get("image", {}).get("kernel", {})
    return {"guests": guests, "forwarder": forwarder, "kernel": kernel.get("release"),
            "kernel_package_version": kernel.get("version"), "vcpus": len(vcpu_cores),
            "vcpu_host_cores": list(vcpu_cores), "accel": state.get("accel"), "boot_s": state.get("boot_s")}


class PvpCounters(OvsCounters):
    """The generator-side ports' Interface statistics plus, per hop through the
    guest, the packets its OpenFlow rule carried."""

    source = "ovsdb:Interface.statistics + openflow:flow n_packets"

    def __init__(self, db, interfaces, ovs_dir, bridge, hops=HOPS):
        super().__init__(db, interfaces)
        self.ovs_dir, self.bridge, self.hops = ovs_dir, bridge, hops

    def _hops(self) -> dict[str, dict[str, int]]:
        hops = {}
        for flow in dump_flows(self.ovs_dir, self.bridge):
            cookie, packets = flow.info.get("cookie"), flow.info.get("n_packets")
            if cookie in self.hops and packets is not None:
                hops[f"flow {self.hops[cookie][2]}"] = {"packets": int(packets)}
        return hops

    def snapshot(self):  # settled() waits on this too; flow stats are live, OVSDB's lag
        return {**super().snapshot(), **self._hops()}
