"""The virtual lab server as a plan step: boot it (apply), power it off (undo).

apply builds (or finds) the kernel, modules and initramfs, starts QEMU paused,
lets it run and waits for the agent's READY on the serial console; a failure
names the console's last lines. undo asks the agent to power off (it syncs the
results share first), then QMP `quit`, then signals. Journaled like every step,
so `pktlab restore` stops a server whose runner was killed.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PrecheckError, StepError
from ..guest import accel as accel_mod
from ..guest.console import Console, ConsoleFailure
from ..guest.image import DEFAULT_CACHE
from ..guest.qemu import COMM, QmpClient, QmpError, _reap, failure_report, qmp_quit
from ..host import process
from ..plan import Step
from . import command, image
from .channel import Channel
from .topology import DEFAULT

log = logging.getLogger(__name__)


def host_mounts() -> list[str]:
    """The host's mount points other than / (and what the guest mounts itself): hidden inside."""
    own = ("/proc", "/sys", "/dev", "/run")
    out = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        mnt = line.split()[1].replace("\\040", " ")
        if mnt != "/" and not any(mnt == o or mnt.startswith(o + "/") for o in own) and " " not in mnt:
            out.append(mnt)
    return sorted(set(out))


@dataclass
class StartVlab(Step):
    kind = "vlab"
    name: str
    run_dir: str  # console and QMP sockets, console log, the vlabio share
    out_dir: str  # the host's results directory, writable inside at the same path
    accel: str = "auto"
    ready_timeout: float = 240.0  # [s]
    cache_dir: str = str(DEFAULT_CACHE)
    python: str = sys.executable
    qemu: str = COMM
    taps: dict = field(default_factory=dict)  # NIC name -> tap on this host it is cabled to (command.Boot)
    ssh_port: int = 0  # 127.0.0.1:ssh_port -> the server's port 22 (0: none)

    @property
    def console_log(self) -> Path:
        return Path(self.run_dir) / "console.log"

    @property
    def io_dir(self) -> Path:
        return Path(self.run_dir) / "io"

    def describe(self):
        cabled = "".join(f", {nic} cabled to tap {tap} here" for nic, tap in self.taps.items())
        ssh = f", its port 22 at 127.0.0.1:{self.ssh_port}" if self.ssh_port else ""
        return (f"boot the virtual lab server {self.name} ({DEFAULT.vcpus} vCPUs on 2 NUMA nodes, 4 igb NICs, "
                f"the host's root read-only, results to {self.out_dir}{cabled}{ssh})")

    def describe_undo(self):
        return f"power off the virtual lab server {self.name} and remove {self.run_dir}"

    def precheck(self) -> None:
        if shutil.which(self.qemu) is None:
            raise PrecheckError(self.qemu, "", "not found: ./setup.sh installs it from bookworm-backports")
        if len(str(Path(self.run_dir) / "console.sock").encode()) > 107:
            raise PrecheckError(self.run_dir, "", "too long for a unix socket path")
        names = {n.name for n in DEFAULT.nics}
        for nic, tap in self.taps.items():
            if nic not in names:
                raise PrecheckError("--tap", nic, f"no such NIC in the virtual lab server ({', '.join(sorted(names))})")
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", tap) or Path("/sys/class/net", tap).exists():
                raise PrecheckError("--tap", nic, f"{tap!r}: not a free interface name (1-15 letters, digits, _.-)")
        if self.ssh_port and not 1024 <= self.ssh_port <= 65535:
            raise PrecheckError("--ssh-port", "", f"{self.ssh_port}: not a port from 1024 to 65535")

    def apply(self, ctx):
        img = image.ensure_image(self.cache_dir)
        decision = accel_mod.decide(self.accel, self.qemu, kernel=str(img.kernel))
        self.state["accel"] = decision.to_dict()
        run = Path(self.run_dir)
        run.mkdir(parents=True, exist_ok=True)
        self.state["created_dir"] = True
        self.io_dir.mkdir(exist_ok=True)
        Path(self.out_dir).mkdir(parents=True, exist_ok=True)
        topo = DEFAULT
        append = (f"vlab.python={self.python} vlab.modules={img.modules} vlab.release={img.release} "
                  f"vlab.out={Path(self.out_dir).resolve()} vlab.mgmt_mac={topo.mgmt_mac} "
                  f"vlab.mgmt_ip={topo.mgmt_ip} vlab.mgmt_gw={topo.mgmt_gateway} vlab.accel={decision.name}")
        hide = host_mounts()
        if hide:
            append += " vlab.hide=" + ",".join(hide)
        boot = command.Boot(kernel=str(img.kernel), initrd=str(img.initrd), run_dir=str(run),
                            io_dir=str(self.io_dir), out_dir=str(Path(self.out_dir).resolve()), append=append,
                            accel_args=decision.args, qemu=self.qemu, name=self.name,
                            taps=tuple(self.taps.items()), ssh_port=self.ssh_port or None)
        cmd = command.qemu_command(topo, boot)
        self.state["cmdline"] = cmd
        ctx.journal_state()
        try:
            self._start(ctx, cmd)
        except BaseException:
            self.undo(ctx)
            raise

    def _start(self, ctx, cmd):
        with open(Path(self.run_dir) / "qemu.log", "wb") as out:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.state["pid"] = proc.pid
        ctx.journal_state()
        t0 = time.monotonic()

        def exited():
            rc = proc.poll()
            return None if rc is None else f"QEMU exited with status {rc}"

        qmp = QmpClient(Path(self.run_dir) / "qmp.sock")
        try:
            try:
                qmp.connect(timeout=30, alive=lambda: exited() is None)
                qmp.execute("cont")
            except QmpError as e:
                raise StepError(self.failure(f"QEMU did not come up: {exited() or e}")) from None
        finally:
            qmp.close()
        try:
            line = Console(self.console_log).wait_ready(self.ready_timeout, alive=exited)
        except ConsoleFailure as e:
            raise StepError(self.failure(e.reason)) from None
        self.state["ready"] = line
        self.state["boot_s"] = round(time.monotonic() - t0, 1)
        log.info("virtual lab server %s ready after %.1f s: %s", self.name, self.state["boot_s"], line)

    def failure(self, reason: str, n: int = 25) -> str:
        return failure_report(f"virtual lab server {self.name}", reason, Console(self.console_log).last_lines(n),
                              Path(self.run_dir) / "qemu.log")

    def undo(self, ctx):
        pid = self.state.get("pid", 0)
        if pid and process.is_running(pid, COMM):
            try:
                Channel(self.io_dir).poweroff(timeout=20, alive=lambda: process.is_running(pid, COMM))
            except StepError as e:
                log.info("%s", e)
            if process.is_running(pid, COMM) and not qmp_quit(Path(self.run_dir) / "qmp.sock", pid):
                process.stop(pid, COMM, timeout=5.0)
        if pid:
            _reap(pid)
        if self.state.get("created_dir"):
            shutil.rmtree(self.run_dir, ignore_errors=True)
        os.sync()
