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

    def apply(self, ctx):
        if self._loaded():
            return
        self.state["loaded"] = True
        ctx.journal_state()
        process.run(["modprobe", self.name], what=f"modprobe {self.name}")

    def undo(self, ctx):
        if self.state.get("loaded") and self._loaded():
            process.run(["modprobe", "-r", self.name], what=f"modprobe -r {self.name}")
