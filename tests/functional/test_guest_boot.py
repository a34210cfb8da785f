"""Real guests under QEMU (TCG here): each forwarder boots and forwards frames
between its two NICs; broken guests are reported with their console and leave
nothing behind; a killed run's guest is stopped by restore; guest memory on a
private hugetlbfs is preallocated and given back.

The NICs are QEMU `-netdev socket,udp=` (frames as UDP datagrams on loopback),
so the test is the switch: it sends a frame into one NIC and expects it out of
the other. Real vhost-user is in test_guest_vhost_user.py.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pktlab import journal
from pktlab.context import RunContext
from pktlab.errors import StepError
from pktlab.guest import FORWARDERS, READY, StartGuest, ensure_image
from pktlab.guest.image import DEFAULT_CACHE
from pktlab.host.hugepages import MountHugetlbfs, ReserveHugepages, read_pool
from pktlab.plan import Applied
from tests.conftest import REPO

pytestmark = pytest.mark.root

MEM_MB = {"bridge": 256, "tc": 256, "testpmd": 512}  # testpmd reserves 128 x 2 MiB inside


@pytest.fixture(autouse=True)
def root():
    if os.geteuid() != 0:
        pytest.skip("needs root: QEMU guests, hugepages")


@pytest.fixture(scope="module")
def images():
    """Built on first use into the real cache (first time: downloads the kernel package)."""
    return {fwd: ensure_image(fwd, DEFAULT_CACHE) for fwd in FORWARDERS}


def applied(state_dir, run_id="guest"):
    return Applied(journal.Journal.create(state_dir, run_id), RunContext(state_dir, run_id))


class UdpWire:
    """The far ends of two udp NICs: NIC i is local_ports[i] (QEMU binds it), we listen on remote_ports[i]."""

    def __init__(self):
        self.rx = []
        for _ in range(2):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            s.settimeout(0.1)
            self.rx.append(s)
        self.local = [_free_udp_port() for _ in range(2)]
        self.tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def nics(self):
        return [(f"{self.local[i]}:{self.rx[i].getsockname()[1]}", f"52:54:00:12:34:{i + 1:02x}", "udp")
                for i in range(2)]

    def forwarded(self, into: int, count: int = 20, wait: float = 3.0) -> int:
        """Send count frames into NIC `into`; how many came out of the other NIC?"""
        out = self.rx[1 - into]
        frame = bytes.fromhex("020000000b0b" "020000000a0a" "88b5")  # local experimental ethertype
        for i in range(count):
            self.tx.sendto(frame + bytes([into, i]) + b"\0" * 44, ("127.0.0.1", self.local[into]))
        got, deadline = 0, time.monotonic() + wait
        while got < count and time.monotonic() < deadline:
            try:
                data = out.recv(2048)
            except socket.timeout:
                continue
            got += data[14] == into
        return got

    def close(self):
        for s in (*self.rx, self.tx):
            s.close()


def _free_udp_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_guest(images, state_dir, fwd, nics, **kw) -> StartGuest:
    img = images[fwd]
    params = dict(name=f"t-{fwd}", kernel=str(img.kernel), initrd=str(img.initrd), run_dir=str(state_dir / "vm"),
                  nics=nics, mem_mb=MEM_MB[fwd], vcpus=1, ready_timeout=90)
    params.update(kw)
    return StartGuest(**params)


def qemu_pids(marker: str) -> list[int]:
    """QEMU processes whose command line mentions marker (our run dir)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes()
                stat = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if b"qemu-system" in cmd and marker.encode() in cmd and stat != "Z":
                out.append(int(d.name))
    return out


def assert_nothing_left(g: StartGuest):
    assert qemu_pids(g.run_dir) == [], "QEMU still running"
    assert not Path(g.run_dir).exists(), f"{g.run_dir} left behind"
    for e, _, mode in g.nics:
        if mode == "server":
            assert not Path(e).exists(), f"{e} left behind"


@pytest.mark.parametrize("fwd", FORWARDERS)
def test_forwarder_boots_and_forwards_both_ways(images, state_dir, clean_host, fwd):
    wire = UdpWire()
    g = make_guest(images, state_dir, fwd, wire.nics(), vcpu_pins=(max(os.sched_getaffinity(0)),),
                   emulator_cores=(min(os.sched_getaffinity(0)),))
    try:
        with applied(state_dir) as a:
            a.apply(g)
            assert g.state["ready"].startswith(f"{READY} forwarder={fwd}")
            assert g.state["accel"]["name"] in ("kvm", "tcg") and g.state["boot_s"] < 60
            console = g.console_log.read_text()
            setup = {"bridge": "bridge br0: eth0 <-> eth1, learning off", "tc": "ingress matchall + mirred",
                     "testpmd": "testpmd forwarding (io"}[fwd]
            assert setup in console, console
            # the vCPU thread runs where it was pinned, the others on the emulator core
            pid, [vcpu_tid] = g.state["pid"], g.state["vcpu_threads"].values()
            assert os.sched_getaffinity(vcpu_tid) == {max(os.sched_getaffinity(0))}
            assert os.sched_getaffinity(pid) == {min(os.sched_getaffinity(0))}
            assert wire.forwarded(into=0) == 20
            assert wire.forwarded(into=1) == 20
    finally:
        wire.close()
    assert a.undo_errors == []
    assert_nothing_left(g)


def test_a_forwarder_that_cannot_start_is_reported_with_its_console(images, state_dir, clean_host):
    wire = UdpWire()
    g = make_guest(images, state_dir, "bridge", wire.nics()[:1], append="pktlab.wait=2")
    t0 = time.monotonic()
    with pytest.raises(StepError) as e:
        with applied(state_dir) as a:
            a.apply(g)
    wire.close()
    msg = str(e.value)
    assert "guest t-bridge: guest" in msg and "expected 2 NICs, found 1 (eth0)" in msg
    assert "console, last lines:" in msg and "pktlab-guest: nic" not in msg.split("console, last lines:")[0]
    assert time.monotonic() - t0 < 60
    assert_nothing_left(g)


def test_testpmd_failing_inside_the_guest_is_reported(images, state_dir, clean_host):
    wire = UdpWire()
    g = make_guest(images, state_dir, "testpmd", wire.nics(), append="pktlab.hugepages=0")
    with pytest.raises(StepError) as e:
        with applied(state_dir) as a:
            a.apply(g)
    wire.close()
    msg = str(e.value)
    assert "dpdk-testpmd exited before forwarding" in msg
    assert "EAL" in msg.split("console, last lines:")[1]  # testpmd's own last words are in the report
    assert_nothing_left(g)


def test_a_kernel_panic_is_reported(images, state_dir, clean_host):
    g = make_guest(images, state_dir, "bridge", [], append="rdinit=/no/such/init")
    with pytest.raises(StepError, match="Kernel panic - not syncing") as e:
        with applied(state_dir) as a:
            a.apply(g)
    assert "console, last lines:" in str(e.value)
    assert_nothing_left(g)


def test_restore_stops_the_guest_of_a_killed_run(images, state_dir, clean_host):
    """The runner is SIGKILLed with its guest up; restore, from the journal alone, stops it."""
    img = images["bridge"]
    run_dir = state_dir / "vm"
    code = textwrap.dedent(f"""
        import os, signal
        from pktlab import journal
        from pktlab.context import RunContext
        from pktlab.guest import StartGuest
        from pktlab.plan import Applied
        sd = {str(state_dir)!r}
        a = Applied(journal.Journal.create(sd, "killed"), RunContext(sd, "killed"))
        a.apply(StartGuest(name="orphan", kernel={str(img.kernel)!r}, initrd={str(img.initrd)!r},
                           run_dir={str(run_dir)!r}, nics=[], mem_mb=256, append="pktlab.nics=0 pktlab.wait=60",
                           ready_timeout=5))
    """)
    # no NICs: /init waits for them, so the guest is up and not ready when the runner dies
    p = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        deadline = time.monotonic() + 60
        while not qemu_pids(str(run_dir)) and time.monotonic() < deadline:
            time.sleep(0.1)
        [pid] = qemu_pids(str(run_dir))
        time.sleep(1)  # the journal holds the pid by now (written before QMP is even tried)
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        assert qemu_pids(str(run_dir)) == [pid], "the guest should outlive its runner"
        errors = journal.restore(state_dir, lambda r: RunContext(state_dir, r), out=lambda *_: None)
        assert errors == []
        assert qemu_pids(str(run_dir)) == [] and not run_dir.exists()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for pid in qemu_pids(str(run_dir)):
            os.kill(pid, signal.SIGKILL)


def test_guest_memory_on_private_hugepages_is_preallocated_and_given_back(images, state_dir, clean_host):
    wire = UdpWire()
    huge = state_dir / "huge"
    pages = MEM_MB["bridge"] // 2
    g = make_guest(images, state_dir, "bridge", wire.nics(), hugepage_dir=str(huge))
    try:
        with applied(state_dir) as a:
            a.apply(ReserveHugepages(pages))
            a.apply(MountHugetlbfs(str(huge)))
            _, free_before = read_pool(2048)
            g.precheck()
            a.apply(g)
            _, free_running = read_pool(2048)
            assert free_before - free_running >= pages, "guest memory not preallocated on hugepages"
            assert wire.forwarded(into=0) == 20
    finally:
        wire.close()
    assert_nothing_left(g)
