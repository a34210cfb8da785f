"""Loading a kernel module for a run, and unloading it only if the run loaded it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..plan import Step
from . import process


@dataclass
class LoadModule(Step):
    kind = "kernel-module"
    name: str
    root: str = "/"  # where /sys/module is read (a fake tree in tests)

    def _loaded(self) -> bool:
        # vfio-pci shows as /sys/module/vfio_pci
        return Path(self.root, "sys/module", self.name.replace("-", "_")).is_dir()

    def describe(self):
        return f"load kernel module {self.name}"

    def describe_undo(self):
        return f"unload kernel module {self.name} if this run loaded it"

    def _modules(self) -> dict[str, int]:
        """Loaded modules and their use counts (/proc/modules), {} where it cannot be read."""
        try:
            lines = Path(self.root, "proc/modules").read_text().splitlines()
        except OSError:
            return {}
        return {f[0]: int(f[2]) for f in (ln.split() for ln in lines) if len(f) > 2 and f[2].isdigit()}

    def apply(self, ctx):
        if self._loaded():
            return
        self.state["loaded"] = True
        before = self._modules()
        ctx.journal_state()
        process.run(["modprobe", self.name], what=f"modprobe {self.name}")
        # what came with it, soft dependencies too (vfio-pci pulls vfio_iommu_type1, which
        # keeps vfio loaded after `modprobe -r vfio-pci`)
        self.state["also_loaded"] = sorted(set(self._modules()) - set(before) - {self.name.replace("-", "_")})
        ctx.journal_state()

    def undo(self, ctx):
        if self.state.get("loaded") and self._loaded():
            process.run(["modprobe", "-r", self.name], what=f"modprobe -r {self.name}")
        left = [m for m in self.state.get("also_loaded", ()) if m in self._modules()]
        while left:  # unused ones first; a module still used by one of them goes on a later pass
            unused = [m for m in left if self._modules().get(m) == 0]
            if not unused:
                break  # used by something this run did not load: not ours to take away
            for m in unused:
                process.run(["modprobe", "-r", m], what=f"modprobe -r {m} (loaded with {self.name})")
            left = [m for m in left if m in self._modules()]


@dataclass
class UnloadAutoloaded(LoadModule):
    """A module the run does not load, but a daemon it starts may make the kernel load:
    ovs-vswitchd, the DPDK build too, asks for OVS's genetlink families, and the kernel
    loads openvswitch on that request. Put before the daemon's start, so its undo runs
    after the daemon is gone: it unloads the module, and what came with it, if the run
    found it unloaded."""

    kind = "kernel-module-autoload"

    def describe(self):
        return f"note whether kernel module {self.name} is loaded (a daemon started next may load it)"

    def describe_undo(self):
        return f"unload kernel module {self.name} if it was loaded during the run"

    def apply(self, ctx):
        if self._loaded():
            return
        self.state["loaded"] = True  # not yet: undo unloads it if it is by then
        self.state["before"] = sorted(self._modules())
        ctx.journal_state()

    def undo(self, ctx):
        if not self.state.get("loaded"):
            return
        ours = self.name.replace("-", "_")
        self.state["also_loaded"] = sorted(set(self._modules()) - set(self.state.get("before", ())) - {ours})
        super().undo(ctx)
