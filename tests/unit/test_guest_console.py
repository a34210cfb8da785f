"""Reading a guest console: ready marker, failure markers, last lines, a guest that stops."""
from __future__ import annotations

import threading
import time

import pytest

from pktlab.guest.console import Console, ConsoleFailure, clean, scan
from pktlab.guest.initramfs import FAILED, READY

BOOT = "pktlab-guest: up after 1.6 s\npktlab-guest: modules loaded: virtio_net bridge\n"


def test_ready_line_is_found():
    v = scan(BOOT + f"{READY} forwarder=bridge nics=eth0,eth1\n")
    assert v.ready and not v.failed and v.line == f"{READY} forwarder=bridge nics=eth0,eth1"


@pytest.mark.parametrize("text", [
    f"{FAILED} forwarder=tc reason=tc qdisc add dev eth0 ingress failed\n",
    "[    2.1] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n",
    "[    2.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\n",
])
def test_failure_markers_are_found(text):
    v = scan(BOOT + text)
    assert v.failed and not v.ready and v.line == text.strip()


def test_first_decisive_line_wins_and_a_partial_line_waits():
    assert scan(f"{FAILED} forwarder=bridge reason=x\n{READY} forwarder=bridge\n").failed
    assert not scan(BOOT + READY).ready  # no newline yet: it may still be written
    assert not scan(BOOT + "PKTLAB-GUEST-REA").ready


def test_escapes_and_carriage_returns_are_cleaned():
    assert clean("\x1b[6nhello\r\n\x1b[2J\x1b[1;1Hworld") == "hello\nworld"


def test_wait_ready_follows_a_growing_file(tmp_path):
    log = tmp_path / "console.log"

    def guest():
        time.sleep(0.2)
        log.write_text(BOOT)
        time.sleep(0.2)
        log.write_text(BOOT + f"{READY} forwarder=bridge\n")

    t = threading.Thread(target=guest)
    t.start()
    try:
        assert Console(log).wait_ready(5, poll=0.02) == f"{READY} forwarder=bridge"
    finally:
        t.join()


def test_wait_ready_raises_with_the_last_lines_on_failure(tmp_path):
    log = tmp_path / "console.log"
    log.write_text("".join(f"line {i}\n" for i in range(40)) + f"{FAILED} forwarder=bridge reason=expected 2 NICs\n")
    with pytest.raises(ConsoleFailure) as e:
        Console(log).wait_ready(5)
    assert "expected 2 NICs" in e.value.reason
    assert len(e.value.lines) == 20 and e.value.lines[-1].startswith(FAILED) and e.value.lines[0] == "line 21"


def test_a_guest_that_stops_or_stays_silent_is_reported(tmp_path):
    log = tmp_path / "console.log"
    log.write_text(BOOT)
    with pytest.raises(ConsoleFailure, match="stopped before it was ready: QEMU exited with status 1"):
        Console(log).wait_ready(5, alive=lambda: "QEMU exited with status 1")
    with pytest.raises(ConsoleFailure, match="not ready after 0 s") as e:
        Console(log).wait_ready(0.2, poll=0.05)
    assert e.value.lines[-1] == "pktlab-guest: modules loaded: virtio_net bridge"
    # it said READY on its way out: that still counts
    log.write_text(BOOT + f"{READY} forwarder=bridge\n")
    assert Console(log).wait_ready(1, alive=lambda: "exited").startswith(READY)


def test_a_missing_log_is_empty(tmp_path):
    c = Console(tmp_path / "nope.log")
    assert c.text() == "" and c.last_lines() == [] and not c.check().ready
