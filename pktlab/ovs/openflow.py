"""OpenFlow rules on the run's bridge, through ovs-ofctl on the bridge's private mgmt socket.

ovs-ofctl is OVS's own client; what it prints is parsed by OVS's own flow parser
(the `ovs` package's ovs.flow), not by regular expressions here.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..host import process
from ..plan import Step
from .daemons import OVS_OFCTL, ovs_env, ovsdb_running, vswitchd_running


def mgmt_sock(ovs_dir: str, bridge: str) -> str:
    return f"unix:{ovs_dir}/{bridge}.mgmt"


def parse_flows(dump: str) -> list:
    """`ovs-ofctl dump-flows` output as ovs.flow.ofp.OFPFlow objects (info: cookie,
    n_packets, ...; match; actions); the reply header and blank lines skipped."""
    from ovs.flow.ofp import OFPFlow

    return [OFPFlow(line) for line in dump.splitlines() if line.strip() and "_FLOW reply" not in line]


def dump_flows(ovs_dir: str, bridge: str) -> list:
    """The bridge's flows with their counters, parsed (see parse_flows)."""
    return parse_flows(process.run([OVS_OFCTL, "dump-flows", "--no-names", mgmt_sock(ovs_dir, bridge)],
                                   ovs_env(ovs_dir), what="ovs-ofctl dump-flows"))


@dataclass
class AddFlows(Step):
    kind = "ovs-flows"
    ovs_dir: str
    bridge: str
    flows: tuple[str, ...]  # ovs-ofctl syntax, "priority=...,MATCH,actions=..."

    def describe(self):
        return f"add flows to {self.bridge}: " + "; ".join(self.flows)

    def describe_undo(self):
        return f"delete those flows from {self.bridge}"

    def apply(self, ctx):
        for flow in self.flows:
            process.run([OVS_OFCTL, "add-flow", mgmt_sock(self.ovs_dir, self.bridge), flow],
                        ovs_env(self.ovs_dir), what="ovs-ofctl add-flow")

    def undo(self, ctx):
        if not Path(self.ovs_dir, f"{self.bridge}.mgmt").exists() or not vswitchd_running(self.ovs_dir):
            return  # bridge or switch already gone, and its flows with it
        if not ovsdb_running(self.ovs_dir):
            # ovs-vswitchd serves no OpenFlow without its database (it lost the lock on it):
            # ovs-ofctl would wait in vain. The flows go when the switch is stopped.
            return
        for flow in self.flows:
            # strict: same match, same priority; a cookie is no match field
            match = ",".join(f for f in flow.split("actions=")[0].rstrip(",").split(",")
                             if not f.startswith("cookie="))
            process.run([OVS_OFCTL, "--strict", "del-flows", mgmt_sock(self.ovs_dir, self.bridge), match],
                        ovs_env(self.ovs_dir), what="ovs-ofctl del-flows")
