"""The run's private directory: created by the first step, removed by the last undo."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ..plan import Step


@dataclass
class MakeRunDir(Step):
    kind = "rundir"
    path: str
    keep: tuple[str, ...] = ()  # files copied to keep_to before removal (logs)
    keep_to: str = ""

    def describe(self):
        return f"create run directory {self.path}"

    def describe_undo(self):
        return f"remove run directory {self.path}" + (f" (logs kept in {self.keep_to})" if self.keep_to else "")

    def apply(self, ctx):
        Path(self.path).mkdir(parents=True, exist_ok=False)

    def undo(self, ctx):
        p = Path(self.path)
        if self.keep_to and p.is_dir():
            dest = Path(self.keep_to)
            dest.mkdir(parents=True, exist_ok=True)
            for pattern in self.keep:
                for f in p.rglob(pattern):
                    if f.is_file():
                        shutil.copy2(f, dest / f.name)
        shutil.rmtree(p, ignore_errors=True)
