"""Waiting for the host to show a change: one poll loop for every step that waits
(a link up, a driver bound, a VF setting applied, a process gone, OVS ports up)."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def until(check: Callable[[], T], timeout: float, interval: float = 0.05,
          fail: Callable[[T], BaseException] | None = None) -> T:
    """Call check() every `interval` seconds [s] until it returns a true value, and
    return that value. After `timeout` seconds [s] raise fail(last value), or, without
    `fail`, return the last (false) value. check() runs at least once, and once more
    at the deadline, so a slow host gets its last chance."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            break
        time.sleep(min(interval, max(0.0, deadline - time.monotonic()) + 0.001))
    if not got and fail is not None:
        raise fail(got)
    return got


EMULATED_SLOWDOWN = 4  # inside the virtual lab server under TCG, EAL init and port start take minutes


def slowdown() -> float:
    """How much longer to wait where the machine itself is emulated: inside the virtual lab
    server (one TCG thread, an OVS PMD spinning on a vCPU) EAL init of 256 MiB and two igb
    ports missed the generator's 60 s ready (2 lab comparisons in 4), and OVS took over 20 s
    to add a dpdk port. 1 everywhere else."""
    from .provenance import vlab_guest

    g = vlab_guest()
    return EMULATED_SLOWDOWN if g and g.get("accel", {}).get("emulated") else 1
