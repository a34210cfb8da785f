"""The openvswitch module's datapath (ovs-system) as a plan step.

ovs-vswitchd makes the kernel datapath with its first system bridge and deletes
it with its last; a killed one leaves it, with its internal ports and the NICs
still attached (promiscuous), and the module in use (`modprobe -r openvswitch`:
"Module openvswitch is in use"). Put before ovs-vswitchd's start, so its undo
runs after the daemon is stopped: it deletes a datapath the run brought that is
still there.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..host import process
from ..host.netns import get_link, rtnl
from ..plan import Step
from .daemons import vswitchd_running

OVS_DPCTL = "/usr/bin/ovs-dpctl"
DATAPATH = "ovs-system"  # the one datapath ovs-vswitchd makes; its own port has its name


@dataclass
class KernelDatapath(Step):
    kind = "ovs-kernel-datapath"
    ovs_dir: str
    name: str = DATAPATH

    def describe(self):
        return f"note whether the kernel datapath {self.name} exists (ovs-vswitchd makes it with a system bridge)"

    def describe_undo(self):
        return f"delete the kernel datapath {self.name} if the run brought it and a dead ovs-vswitchd left it"

    def _exists(self) -> bool:
        with rtnl(None, "look up", self.name) as ipr:
            return get_link(ipr, self.name) is not None

    def apply(self, ctx):
        self.state["existed"] = self._exists()
        ctx.journal_state()

    def undo(self, ctx):
        if self.state.get("existed", True) or vswitchd_running(self.ovs_dir) or not self._exists():
            return
        process.run([OVS_DPCTL, "del-dp", f"system@{self.name}"], what=f"ovs-dpctl del-dp {self.name}")
