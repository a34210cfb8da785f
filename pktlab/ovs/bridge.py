"""A netdev bridge and its ports, through OVSDB."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..host import process
from ..host.netns import get_link, link_kind, rtnl
from ..plan import Step
from .daemons import db_for_undo, db_sock, vswitchd_running

DATAPATH_TAP = "ovs-netdev"  # the userspace datapath's own port, made with its first bridge
KERNEL_DP = "ovs-system"  # the kernel datapath (and its local port), made with the first system bridge


@dataclass
class AddBridge(Step):
    """fail_mode=secure: no default NORMAL flow, only the flows pktlab installs.

    A netdev bridge's own port is a persistent tap in the host (and the first
    netdev bridge brings the datapath's tap, ovs-netdev): ovs-vswitchd removes
    them when the bridge goes, but a killed one leaves them. apply records the
    taps that came with this bridge; undo deletes those still there when the
    switch is dead. Likewise a system bridge's kernel datapath (ovs-system, with
    the NICs it holds as vports, which keeps the openvswitch module in use):
    deleted by ovs-dpctl when this bridge brought it and the switch is dead."""

    kind = "ovs-bridge"
    ovs_dir: str
    name: str
    datapath_type: str = "netdev"
    other_config: dict = field(default_factory=dict)  # Bridge other_config (hwaddr: the bridge's own MAC)

    def describe(self):
        extra = "".join(f", other_config:{k}={v}" for k, v in self.other_config.items())
        return f"add OVS bridge {self.name} (datapath_type={self.datapath_type}, fail_mode=secure{extra})"

    def describe_undo(self):
        return f"delete OVS bridge {self.name}"

    def apply(self, ctx):
        db = ctx.ovsdb(db_sock(self.ovs_dir))
        had = self._taps() if self.datapath_type == "netdev" else {}
        kernel_dp = self.datapath_type == "system" and not self._exists(KERNEL_DP)
        cmds = [db.api.add_br(self.name, may_exist=False, datapath_type=self.datapath_type),
                db.api.set_fail_mode(self.name, "secure")]
        if self.other_config:
            cmds.append(db.api.db_set("Bridge", self.name, ("other_config", dict(self.other_config))))
        db.execute(*cmds)  # waits for ovs-vswitchd: the taps exist now
        if self.datapath_type == "netdev":
            self.state["taps"] = {n: i for n, i in self._taps().items() if n not in had}
            ctx.journal_state()
        if kernel_dp:
            self.state["kernel_dp"] = True
            ctx.journal_state()

    def undo(self, ctx):
        db, wait = db_for_undo(ctx, self.ovs_dir)
        if db is not None:
            db.execute(db.api.del_br(self.name, if_exists=True), wait_vswitchd=wait)
        if self.state.get("taps") and not vswitchd_running(self.ovs_dir):
            with rtnl(None, "delete", self.name, missing_ok=True) as ipr:
                for name, index in self.state["taps"].items():
                    link = get_link(ipr, index=index)
                    if link is not None and link.get_attr("IFLA_IFNAME") == name and link_kind(link) == "tun":
                        ipr.link("del", index=index)
        if self.state.get("kernel_dp") and not vswitchd_running(self.ovs_dir) and self._exists(KERNEL_DP):
            process.run(["ovs-dpctl", "del-dp", f"system@{KERNEL_DP}"], what="ovs-dpctl del-dp")

    def _exists(self, name: str) -> bool:
        with rtnl(None, "look up", name) as ipr:
            return get_link(ipr, name) is not None

    def _taps(self) -> dict[str, int]:
        """{name: ifindex} of this bridge's tap and the datapath's, where they exist."""
        with rtnl(None, "look up", self.name) as ipr:
            return {n: link["index"] for n in (self.name, DATAPATH_TAP) if (link := get_link(ipr, n)) is not None}


@dataclass
class AddPort(Step):
    kind = "ovs-port"
    ovs_dir: str
    bridge: str
    name: str
    type: str
    options: dict
    ofport: int = 0  # requested OpenFlow port number (0: let OVS choose)
    wait_up: float = 0.0  # wait this long [s] for ofport and link up (0: don't wait)
    other_config: dict = field(default_factory=dict)  # Interface other_config (pmd-rxq-affinity, ...)
    mtu_request: int = 0  # Interface mtu_request [B] (0: OVS's default, 1500)
    port_columns: dict = field(default_factory=dict)  # Port columns: tag, trunks, vlan_mode

    def describe(self):
        opts = " ".join(f"{k}={v}" for k, v in self.options.items())
        opts += "".join(f" port:{k}={_ovs_value(v)}" for k, v in self.port_columns.items())
        opts += "".join(f" other_config:{k}={v}" for k, v in self.other_config.items())
        opts += f" mtu_request={self.mtu_request}" if self.mtu_request else ""
        up = ", wait until it is up" if self.wait_up else ""
        return f"add port {self.name} to {self.bridge} (type={self.type} {opts}".rstrip() + f"){up}"

    def describe_undo(self):
        return f"delete port {self.name} from {self.bridge}"

    def apply(self, ctx):
        db = ctx.ovsdb(db_sock(self.ovs_dir))
        attrs = {"type": self.type, "options": dict(self.options)}
        if self.other_config:
            attrs["other_config"] = dict(self.other_config)
        if self.mtu_request:
            attrs["mtu_request"] = self.mtu_request
        if self.ofport:
            attrs["ofport_request"] = self.ofport
        cmds = [db.api.add_port(self.bridge, self.name, may_exist=False),
                db.api.db_set("Interface", self.name, *attrs.items())]
        if self.port_columns:
            cmds.append(db.api.db_set("Port", self.name, *self.port_columns.items()))
        db.execute(*cmds)
        if self.wait_up:
            db.wait_ports_up((self.name,), self.wait_up)

    def undo(self, ctx):
        db, wait = db_for_undo(ctx, self.ovs_dir)
        if db is not None:
            db.execute(db.api.del_port(self.name, bridge=self.bridge, if_exists=True), wait_vswitchd=wait)


@dataclass
class SetInterface(Step):
    """Interface columns (e.g. ingress policing); undo puts back what they were."""

    kind = "ovs-interface-set"
    ovs_dir: str
    name: str
    columns: dict

    def describe(self):
        return f"set on interface {self.name}: " + " ".join(f"{k}={v}" for k, v in self.columns.items())

    def describe_undo(self):
        return f"restore those columns of interface {self.name}"

    def apply(self, ctx):
        db = ctx.ovsdb(db_sock(self.ovs_dir))
        self.state["before"] = {c: db.get("Interface", self.name, c) for c in self.columns}
        ctx.journal_state()
        db.execute(db.api.db_set("Interface", self.name, *self.columns.items()))

    def undo(self, ctx):
        before = self.state.get("before")
        db, wait = db_for_undo(ctx, self.ovs_dir) if before is not None else (None, False)
        if db is not None and db.interface(self.name):
            db.execute(db.api.db_set("Interface", self.name, *before.items()), wait_vswitchd=wait)


def _ovs_value(v) -> str:
    """A column value as ovs-vsctl spells it: trunks=[100,200]."""
    return "[" + ",".join(map(str, v)) + "]" if isinstance(v, (list, tuple)) else str(v)
