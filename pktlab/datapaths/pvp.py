"""PVP: packets through OVS-DPDK into a QEMU guest and back.

  generator -vhu0-> [OVS-DPDK] -vm0-> guest NIC0 -> forwarder -> guest NIC1 -vm1-> [OVS-DPDK] -vhu1-> generator
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

import re
from dataclasses import dataclass

from ..guest.image import DEFAULT_CACHE, ensure_image
from ..guest.qemu import StartGuest
from ..ovs.bridge import AddPort
from ..ovs.counters import OvsCounters
from ..ovs import daemons
from ..host import process
from ..ovs.openflow import AddFlows, mgmt_sock
from .ovs_dpdk_vhost import PORTS, OvsDpdkVhostPath

GUEST_PORTS = ("vm0", "vm1")
# OpenFlow cookie -> (in_port, out_port, hop): the path's rules, each counting its hop
HOPS = {
    1: (1, 3, "vhu0->vm0 (into the guest)"), 2: (4, 2, "vm1->vhu1 (out of the guest)"),
    3: (2, 4, "vhu1->vm1 (into the guest)"), 4: (3, 1, "vm0->vhu0 (out of the guest)"),
}
_COOKIE, _PACKETS = re.compile(r"cookie=0x([0-9a-f]+)"), re.compile(r"n_packets=(\d+)")
GUEST_MACS = ("02:00:00:00:01:00", "02:00:00:00:01:01")


@dataclass
class StartPvpGuest(StartGuest):
    """StartGuest whose image is built (or found in the cache) when the step applies,
    so --dry-run builds nothing."""

    kind = "pvp-guest"
    forwarder: str = "bridge"
    cache_dir: str = str(DEFAULT_CACHE)

    def describe(self):
        return f"build or reuse the {self.forwarder} guest image in {self.cache_dir}; " + super().describe()

    def apply(self, ctx):
        image = ensure_image(self.forwarder, self.cache_dir)
        self.kernel, self.initrd = str(image.kernel), str(image.initrd)
        self.state["image"] = image.info()
        super().apply(ctx)
        ctx.live["guest_state"] = self.state


class PvpPath(OvsDpdkVhostPath):
    def cores_used(self):
        return {**super().cores_used(), "guest_vcpu": [self.guest_core]}

    @property
    def guest_core(self) -> int:
        c = self.options.guest_core
        return self.scenario.cpu.generator if c < 0 else c

    def precheck(self):
        super().precheck()
        hp, opt = self.scenario.hugepages, self.options
        need = opt.socket_mem + opt.generator_mem + opt.guest_mem
        if hp.total_mb < need:
            self.fail("hugepages.count", f"{hp.total_mb} MiB of hugepages is less than OVS {opt.socket_mem} "
                                         f"+ generator {opt.generator_mem} + guest {opt.guest_mem} MiB")
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
                       for ofport, name in enumerate(GUEST_PORTS, 3)]
        guest = StartPvpGuest(
            name=f"pktlab-{self.run_id[-12:]}", kernel="", initrd="", run_dir=str(self.run_dir / "guest"),
            nics=tuple((f"{self.ovs_dir}/{name}", mac, "client") for name, mac in zip(GUEST_PORTS, GUEST_MACS)),
            mem_mb=opt.guest_mem, hugepage_dir=self.huge_dir, vcpus=1, vcpu_pins=(self.guest_core,),
            emulator_cores=(self.guest_core,), accel=opt.accel, log_dir="", forwarder=opt.forwarder)
        # generator A -> guest NIC0, guest NIC1 -> generator B, and the mirror
        pvp_flows = AddFlows(self.ovs_dir, opt.bridge, tuple(
            f"cookie={cookie},priority=100,in_port={a},actions=output:{b}" for cookie, (a, b, _) in HOPS.items()))
        plan.steps[at:at + 1] = [*guest_ports, guest, pvp_flows]
        return plan

    def wait_ready(self, ctx):
        super().wait_ready(ctx)
        ctx.ovsdb(daemons.db_sock(self.ovs_dir)).wait_ports_up(GUEST_PORTS, timeout=30)

    def counters(self, ctx):
        return PvpCounters(ctx.ovsdb(daemons.db_sock(self.ovs_dir)), PORTS, self.ovs_dir, self.options.bridge)

    def versions(self, ctx):
        v = super().versions(ctx)
        state = ctx.live.get("guest_state") or {}
        kernel = state.get("image", {}).get("kernel", {})
        v["guest"] = {"forwarder": self.options.forwarder, "kernel": kernel.get("release"),
                      "kernel_package_version": kernel.get("version"), "vcpus": 1,
                      "vcpu_host_cores": [self.guest_core], "accel": state.get("accel"),
                      "boot_s": state.get("boot_s")}
        return v


class PvpCounters(OvsCounters):
    """The generator-side ports' Interface statistics plus, per hop through the
    guest, the packets its OpenFlow rule carried."""

    source = "ovsdb:Interface.statistics + openflow:flow n_packets"

    def __init__(self, db, interfaces, ovs_dir, bridge):
        super().__init__(db, interfaces)
        self.ovs_dir, self.bridge = ovs_dir, bridge

    def _hops(self) -> dict[str, dict[str, int]]:
        out = process.run([daemons.OVS_OFCTL, "dump-flows", "--no-names", mgmt_sock(self.ovs_dir, self.bridge)],
                          daemons.ovs_env(self.ovs_dir), what="ovs-ofctl dump-flows")
        hops = {}
        for line in out.splitlines():
            cookie, packets = _COOKIE.search(line), _PACKETS.search(line)
            if cookie and packets and int(cookie.group(1), 16) in HOPS:
                hops[f"flow {HOPS[int(cookie.group(1), 16)][2]}"] = {"packets": int(packets.group(1))}
        return hops

    def snapshot(self):  # settled() waits on this too; flow stats are live, OVSDB's lag
        return {**super().snapshot(), **self._hops()}
