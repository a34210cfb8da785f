"""Steps for testing the plan machinery itself: each writes what it does to a
file, so order is visible and survives a killed process."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pktlab.errors import StepError
from pktlab.plan import Step


@dataclass
class Mark(Step):
    kind = "test-mark"
    name: str
    log: str
    fail_apply: bool = False
    fail_undo: bool = False

    def describe(self):
        return f"mark {self.name}"

    def describe_undo(self):
        return f"unmark {self.name}"

    def _write(self, what):
        with open(self.log, "a") as fh:
            fh.write(f"{what} {self.name}\n")

    def apply(self, ctx):
        self._write("apply")
        self.state["applied"] = True
        if self.fail_apply:
            raise StepError(f"{self.name} failed on purpose")

    def undo(self, ctx):
        self._write("undo")
        if self.fail_undo:
            raise StepError(f"{self.name} undo failed on purpose")


def events(log) -> list[str]:
    p = Path(log)
    return p.read_text().splitlines() if p.exists() else []
