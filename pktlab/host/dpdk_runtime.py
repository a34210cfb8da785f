"""DPDK's runtime directory (/var/run/dpdk/<file-prefix>).

EAL creates it even with --in-memory (for its telemetry socket and lock files)
and never removes it; a run owns one per DPDK process and takes it away.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import StepError
from ..plan import Step

RUNTIME_ROOT = "/var/run/dpdk"


@dataclass
class DpdkRuntimeDir(Step):
    kind = "dpdk-runtime-dir"
    prefix: str
    root: str = RUNTIME_ROOT

    def describe(self):
        return f"claim DPDK runtime directory {self.root}/{self.prefix} (EAL --file-prefix={self.prefix})"

    def describe_undo(self):
        return f"remove {self.root}/{self.prefix}"

    def apply(self, ctx):
        d = Path(self.root, self.prefix)
        if d.exists():
            raise StepError(f"{d} exists already: another DPDK process uses --file-prefix={self.prefix}")
        self.state["root_created"] = not Path(self.root).exists()

    def undo(self, ctx):
        shutil.rmtree(Path(self.root, self.prefix), ignore_errors=True)
        root = Path(self.root)
        if self.state.get("root_created") and root.is_dir() and not any(root.iterdir()):
            root.rmdir()
