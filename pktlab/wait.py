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
