"""Reading the guest's serial console: the ready marker, failure markers, last lines.

QEMU writes everything the guest prints on its serial port to a log file
(`-chardev socket,...,logfile=`), whether or not anyone is attached to the
socket, so the host reads the file: nothing here can stall the guest's UART.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .initramfs import FAILED, READY

# What a guest that will never become ready prints (kernel and /init).
FAILURE_MARKERS = (
    FAILED,
    "Kernel panic - not syncing",
    "---[ end Kernel panic",
    "Attempted to kill init",
    "Unable to mount root fs",
    "No working init found",
    "kernel BUG at",
)


class ConsoleFailure(Exception):
    """The guest printed a failure marker, or stopped, before it was ready."""

    def __init__(self, reason: str, lines: list[str]):
        self.reason, self.lines = reason, lines
        super().__init__(reason)


@dataclass
class Verdict:
    ready: bool = False
    failed: bool = False
    line: str = ""  # the line that decided it


def scan(text: str, ready: str = READY, failures=FAILURE_MARKERS) -> Verdict:
    """The first decisive line of a console text: ready, failed, or neither yet.
    Only whole lines count (a marker cut off mid-write is read on the next poll)."""
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            break
        if any(f in line for f in failures):
            return Verdict(failed=True, line=line.strip())
        if ready in line:
            return Verdict(ready=True, line=line.strip())
    return Verdict()


def clean(text: str) -> str:
    """Console text without terminal escapes and carriage returns."""
    import re

    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r", "")


class Console:
    """A guest console log, read from the start."""

    def __init__(self, path: Path | str, ready: str = READY, failures=FAILURE_MARKERS):
        self.path = Path(path)
        self.ready, self.failures = ready, tuple(failures)

    def text(self) -> str:
        try:
            return clean(self.path.read_bytes().decode("utf-8", "replace"))
        except FileNotFoundError:
            return ""

    def last_lines(self, n: int = 20) -> list[str]:
        return [line for line in self.text().splitlines() if line.strip()][-n:]

    def check(self) -> Verdict:
        return scan(self.text(), self.ready, self.failures)

    def wait_ready(self, timeout: float, alive: Callable[[], str | None] = lambda: None,
                   poll: float = 0.1) -> str:
        """Block until the ready marker; returns its line.

        alive() returns None while the guest runs, or why it stopped (QEMU exited);
        raises ConsoleFailure on a failure marker, a stopped guest or the timeout,
        with the console's last lines.
        """
        deadline = time.monotonic() + timeout
        while True:
            v = self.check()
            if v.ready:
                return v.line
            if v.failed:
                raise ConsoleFailure(f"guest failed: {v.line}", self.last_lines())
            gone = alive()
            if gone is not None:
                v = self.check()  # it may have printed its verdict on the way out
                if v.ready:
                    return v.line
                raise ConsoleFailure(f"guest stopped before it was ready: {gone}"
                                     + (f" ({v.line})" if v.failed else ""), self.last_lines())
            if time.monotonic() >= deadline:
                raise ConsoleFailure(f"guest not ready after {timeout:.0f} s (no {self.ready} on its console)",
                                     self.last_lines())
            time.sleep(poll)
