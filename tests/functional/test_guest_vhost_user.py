"""The guest on real vhost-user NICs, with the host's dpdk-testpmd (net_vhost) as
the switch: testpmd io-forwards between its two vhost ports and sends a first
burst, so frames loop host -> guest forwarder -> host -> guest ... and both
ports count them. QEMU is the socket server (OVS dpdkvhostuserclient's case) or
the client (dpdkvhostuser's). Guest memory is a shared memfd here, so the test
leaves the hugepage pool alone; test_guest_boot covers hugetlbfs memory.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pktlab import journal
from pktlab.context import RunContext
from pktlab.errors import StepError
from pktlab.guest import StartGuest, ensure_image
from pktlab.guest.image import DEFAULT_CACHE
from pktlab.plan import Applied
from tests.functional.test_guest_boot import assert_nothing_left

pytestmark = pytest.mark.root
CORES = sorted(os.sched_getaffinity(0))


@pytest.fixture(autouse=True)
def root():
    if os.geteuid() != 0:
        pytest.skip("needs root: QEMU, DPDK")


class HostSwitch:
    """dpdk-testpmd with two net_vhost ports, driven on stdin."""

    def __init__(self, sockets, client: bool, log: Path):
        self.prefix = f"pktlab-gtest-{os.getpid()}"
        vdevs = [f"--vdev=net_vhost{i},iface={s},client={int(client)}" for i, s in enumerate(sockets)]
        core = CORES[0]
        cmd = ["dpdk-testpmd", f"--lcores=0@{core},1@{core}", "--no-huge", "-m", "256", "--no-pci",
               f"--file-prefix={self.prefix}", *vdevs, "--", "-i", "--forward-mode=io", "--nb-cores=1",
               "--total-num-mbufs=8192", "--disable-link-check"]
        self.log = log
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=open(log, "w"), stderr=subprocess.STDOUT)

    def say(self, line: str, wait: float = 0.5):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        time.sleep(wait)

    def rx_per_port(self) -> dict[int, int]:
        text = self.log.read_text()
        return {int(p): int(n) for p, n in
                re.findall(r"Forward statistics for port (\d+)\s+-+\s+RX-packets: (\d+)", text)}

    def close(self):
        if self.proc.poll() is None:
            try:
                self.say("quit", 0)
                self.proc.wait(15)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)


@pytest.mark.parametrize("fwd, qemu_mode", [("bridge", "server"), ("tc", "server"), ("testpmd", "client")])
def test_guest_forwards_over_vhost_user(state_dir, tmp_path, fwd, qemu_mode):
    img = ensure_image(fwd, DEFAULT_CACHE)
    socks = [str(state_dir / f"vhu{i}.sock") for i in range(2)]
    g = StartGuest(name=f"vhu-{fwd}", kernel=str(img.kernel), initrd=str(img.initrd), run_dir=str(state_dir / "vm"),
                   nics=[(s, f"52:54:00:00:01:{i:02x}", qemu_mode) for i, s in enumerate(socks)],
                   mem_mb=512, vcpus=1, vcpu_pins=(CORES[-1],), emulator_cores=(CORES[0],), ready_timeout=90)
    # QEMU as client needs the switch's sockets first; as server, the switch's client retries until they exist
    switch = HostSwitch(socks, client=qemu_mode == "server", log=tmp_path / "switch.log")
    try:
        if qemu_mode == "client":
            deadline = time.monotonic() + 30
            while not all(Path(s).is_socket() for s in socks) and time.monotonic() < deadline:
                time.sleep(0.1)
        with Applied(journal.Journal.create(state_dir, "vhu"), RunContext(state_dir, "vhu")) as a:
            a.apply(g)
            switch.say("start tx_first", 4)
            switch.say("stop", 1)
        rx = switch.rx_per_port()
        assert rx.get(0, 0) > 1000 and rx.get(1, 0) > 1000, f"frames did not loop through the guest: {rx}"
    finally:
        switch.close()
    assert a.undo_errors == []
    assert_nothing_left(g)


def test_a_switch_that_never_connects_is_named_and_the_guest_cleaned_up(state_dir):
    img = ensure_image("bridge", DEFAULT_CACHE)
    sock = str(state_dir / "vhu0.sock")
    g = StartGuest(name="lonely", kernel=str(img.kernel), initrd=str(img.initrd), run_dir=str(state_dir / "vm"),
                   nics=[(sock, "52:54:00:00:01:00", "server")], mem_mb=256, ready_timeout=5)
    t0 = time.monotonic()
    with pytest.raises(StepError, match=f"still waiting for the switch to connect to vhost-user socket {sock}"):
        with Applied(journal.Journal.create(state_dir, "lonely"), RunContext(state_dir, "lonely")) as a:
            a.apply(g)
    assert time.monotonic() - t0 < 30
    assert_nothing_left(g)
