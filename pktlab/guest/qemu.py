"""The QEMU guest as a plan step (QMP through guest/qmp.py).

`StartGuest` starts `qemu-system-x86_64` paused (-S), pins its vCPU threads
(ids from QMP `query-cpus-fast`) and keeps every other thread on the emulator
cores, lets it run, and waits for the guest's ready marker on the serial console.
Guest memory is a shared file on hugetlbfs (vhost-user needs the switch to map
it); NICs are vhost-user (`server` or `client` end of the socket) or, for tests
without a switch, `udp` (frames as UDP datagrams on loopback).

Undo: `quit` over QMP, then SIGTERM/SIGKILL by pid; the sockets and files it
created are removed. QEMU with a vhost-user NIC blocks in its start-up until the
other end of every socket is connected, so the ready timeout covers the switch.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import PrecheckError, StepError
from ..host import process
from ..plan import Step
from . import accel as accel_mod
from .console import Console, ConsoleFailure
from .qmp import QmpClient, QmpError  # noqa: F401  (QmpError re-exported)

log = logging.getLogger(__name__)

COMM = "qemu-system-x86_64"  # is_running() compares the first 15 characters
NIC_MODES = ("server", "client", "udp")
QUEUE_SIZE = 1024  # 256-entry rings drop under load (HOST-NOTES)
NIC_SLOT = 0x10  # NIC i sits at PCI slot NIC_SLOT + i: the guest sees them in this order
SUN_PATH_MAX = 107


def _nic_tuple(n) -> tuple[str, str, str]:
    endpoint, mac, mode = n
    return (str(endpoint), str(mac), str(mode))


@dataclass
class StartGuest(Step):
    """A QEMU guest whose /init runs a forwarder between its NICs.

    nics: (endpoint, mac, mode) per NIC, in guest order. mode "server": QEMU
    creates the vhost-user socket at endpoint and waits for the switch to connect
    (OVS port type dpdkvhostuserclient); "client": QEMU connects to the switch's
    socket (dpdkvhostuser); "udp": endpoint "LOCAL_PORT:REMOTE_PORT", frames as
    UDP datagrams on 127.0.0.1 (tests; no hugepages needed).
    """

    kind = "guest"
    name: str
    kernel: str
    initrd: str
    run_dir: str  # the step's own directory: QMP and console sockets, logs
    nics: tuple = ()
    mem_mb: int = 1024  # [MiB]
    hugepage_dir: str = ""  # hugetlbfs mount for guest memory; "" = memfd (shared, 4 KiB pages)
    mem_node: int | None = None  # host NUMA node the memory is bound to (host-nodes, policy=bind); None: local
    vcpus: int = 1
    vcpu_pins: tuple = ()  # host core per vCPU, or () for no pinning
    emulator_cores: tuple = ()  # host cores for every other QEMU thread, or () to leave them
    accel: str = "auto"  # auto | kvm | tcg
    append: str = ""  # extra kernel command line (pktlab.hugepages=N, pktlab.debug=1, ...)
    ready_timeout: float = 120.0  # [s] from start to the ready marker, switch connect included
    log_dir: str = ""  # if set, console and QEMU logs are copied here on undo
    qemu: str = COMM

    def __post_init__(self):
        self.nics = tuple(_nic_tuple(n) for n in self.nics)
        self.vcpu_pins = tuple(int(c) for c in self.vcpu_pins)
        self.emulator_cores = tuple(int(c) for c in self.emulator_cores)

    # --- paths ---
    @property
    def console_log(self) -> Path:
        return Path(self.run_dir) / "console.log"

    @property
    def qemu_log(self) -> Path:
        return Path(self.run_dir) / "qemu.log"

    @property
    def qmp_socket(self) -> Path:
        return Path(self.run_dir) / "qmp.sock"

    @property
    def console_socket(self) -> Path:
        return Path(self.run_dir) / "console.sock"

    def describe(self):
        nics = ", ".join(f"{'udp ' + e if m == 'udp' else 'vhost-user ' + e + ' (' + m + ')'} {mac}"
                         for e, mac, m in self.nics) or "no NICs"
        pins = f" pinned to cores {','.join(map(str, self.vcpu_pins))}" if self.vcpu_pins else ""
        emu = f", emulator threads on {','.join(map(str, self.emulator_cores))}" if self.emulator_cores else ""
        mem = f"hugepages in {self.hugepage_dir}" if self.hugepage_dir else "shared memfd"
        mem += f" bound to node {self.mem_node}" if self.mem_node is not None else ""
        return (f"start guest {self.name} ({self.image_name()} image): {self.vcpus} vCPU{pins}{emu}, "
                f"{self.mem_mb} MiB on {mem}, {nics}; wait for its ready marker")

    def image_name(self) -> str:
        return Path(self.initrd).parent.name

    def describe_undo(self):
        return f"stop guest {self.name} (QMP quit, then SIGTERM/SIGKILL) and remove {self.run_dir}"

    # --- checks ---
    def validate(self) -> None:
        where = f"guest {self.name}"
        for e, mac, mode in self.nics:
            if mode not in NIC_MODES:
                raise ValueError(f"{where}: NIC {e}: mode must be one of {', '.join(NIC_MODES)}, not {mode!r}")
            if mode == "udp":
                ports = e.split(":")
                if len(ports) != 2 or not all(p.isdigit() and 0 < int(p) < 65536 for p in ports):
                    raise ValueError(f"{where}: udp NIC endpoint must be LOCAL_PORT:REMOTE_PORT, not {e!r}")
            elif len(e.encode()) > SUN_PATH_MAX:
                raise ValueError(f"{where}: vhost-user socket path longer than {SUN_PATH_MAX} bytes: {e}")
            if len(mac.split(":")) != 6:
                raise ValueError(f"{where}: bad MAC {mac!r}")
        for p in (self.qmp_socket, self.console_socket):
            if len(str(p).encode()) > SUN_PATH_MAX:
                raise ValueError(f"{where}: run_dir too long for unix sockets: {p}")
        if self.vcpus < 1:
            raise ValueError(f"{where}: vcpus must be >= 1")
        if self.vcpu_pins and len(self.vcpu_pins) != self.vcpus:
            raise ValueError(f"{where}: {len(self.vcpu_pins)} vcpu_pins for {self.vcpus} vCPUs")
        if any(m != "udp" for _, _, m in self.nics) and self.mem_mb % 2:
            raise ValueError(f"{where}: mem_mb must be a multiple of the 2 MiB hugepage")

    def precheck(self) -> None:
        """Can this host start the guest? Raises PrecheckError before any change."""
        try:
            self.validate()
        except ValueError as e:
            raise PrecheckError(f"guest {self.name}", "", str(e)) from None
        if shutil.which(self.qemu) is None:
            raise PrecheckError(self.qemu, "", "not found: apt-get install qemu-system-x86")
        for what in (self.kernel, self.initrd):
            if not Path(what).is_file():
                raise PrecheckError(what, "", "guest image file missing (pktlab guest build)")
        usable = os.sched_getaffinity(0)
        for c in (*self.vcpu_pins, *self.emulator_cores):
            if c not in usable:
                raise PrecheckError(f"guest {self.name}", "cores", f"core {c} is not usable here ({sorted(usable)})")
        if self.hugepage_dir:
            need = hugepages_needed(self.mem_mb, self.hugepage_dir)
            free = free_hugepages(self.hugepage_dir)
            if free < need:
                raise PrecheckError(f"guest {self.name}", "hugepages",
                                    f"guest memory needs {need} free hugepages in {self.hugepage_dir}, {free} free")
        for e, _, mode in self.nics:
            if mode == "client" and not Path(e).is_socket():
                log.info("guest %s: vhost-user socket %s does not exist yet (the switch creates it)", self.name, e)

    # --- apply / undo ---
    def apply(self, ctx):
        self.validate()
        decision = accel_mod.decide(self.accel, self.qemu, kernel=self.kernel)  # cached per boot (accel.DEFAULT_CACHE)
        self.state["accel"] = decision.to_dict()
        run = Path(self.run_dir)
        if not run.is_dir():
            run.mkdir(parents=True)
            self.state["created_dir"] = True
        for e, _, mode in self.nics:
            if mode == "server" and (Path(e).is_socket() or Path(e).is_symlink()):
                Path(e).unlink()  # a stale socket from an unclean exit
        for p in (self.qmp_socket, self.console_socket, self.console_log):
            p.unlink(missing_ok=True)
        cmd = qemu_command(self, decision.args)
        self.state["cmdline"] = cmd
        ctx.journal_state()
        try:
            self._start(ctx, cmd)
        except BaseException:
            self.undo(ctx)  # the step cleans up after itself; undo again is harmless
            raise

    def _start(self, ctx, cmd):
        emulator = set(self.emulator_cores)
        with open(self.qemu_log, "wb") as out:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True,  # Ctrl-C reaches the runner, which undoes in order
                                    preexec_fn=(lambda: os.sched_setaffinity(0, emulator)) if emulator else None)
        self.state["pid"] = proc.pid
        ctx.journal_state()
        ctx.watch.add(proc.pid, f"guest {self.name} ({COMM})", COMM, (self.console_log, self.qemu_log),
                      returncode=lambda: proc.returncode)
        t0 = time.monotonic()
        deadline = t0 + self.ready_timeout

        def exited() -> str | None:
            rc = proc.poll()
            return None if rc is None else f"QEMU exited with status {rc}"

        qmp = QmpClient(self.qmp_socket)
        try:
            try:
                qmp.connect(timeout=self.ready_timeout, alive=lambda: exited() is None)
            except QmpError as e:
                raise StepError(self._failure(f"QEMU did not come up: {exited() or self._waiting_for() or e}")) from None
            cpus = qmp.execute("query-cpus-fast")
            self.state["vcpu_threads"] = {str(c["cpu-index"]): c["thread-id"] for c in cpus}
            self._pin(proc.pid, cpus)
            ctx.journal_state()
            qmp.execute("cont")
            t_run = time.monotonic()
            console = Console(self.console_log)
            try:
                line = console.wait_ready(max(1.0, deadline - time.monotonic()), alive=exited)
            except ConsoleFailure as e:
                raise StepError(self._failure(e.reason, e.lines)) from None
        finally:
            qmp.close()
        self.state["ready"] = line
        self.state["boot_s"] = round(time.monotonic() - t_run, 2)
        self.state["start_s"] = round(time.monotonic() - t0, 2)
        log.info("guest %s ready after %.1f s (%s): %s", self.name, self.state["boot_s"],
                 self.state["accel"]["name"], line)

    def _pin(self, pid: int, cpus: list[dict]) -> None:
        vcpu_tids = {c["thread-id"]: c["cpu-index"] for c in cpus}
        if self.emulator_cores:
            for tid in _threads(pid):
                if tid not in vcpu_tids:
                    _set_affinity(tid, self.emulator_cores, f"guest {self.name} emulator thread {tid}")
        if self.vcpu_pins:
            for tid, index in vcpu_tids.items():
                _set_affinity(tid, (self.vcpu_pins[index],), f"guest {self.name} vCPU {index} (thread {tid})")

    def _waiting_for(self) -> str | None:
        """Which vhost-user peer QEMU still waits for, from its log (it blocks in start-up until every
        server socket has a client)."""
        try:
            text = self.qemu_log.read_text(errors="replace")
        except OSError:
            return None
        waiting = re.findall(r"QEMU waiting for connection on: disconnected:unix:([^,\s]+)", text)
        if waiting:
            return (f"still waiting for the switch to connect to vhost-user socket {waiting[-1]} "
                    f"(is its dpdkvhostuserclient port configured?)")
        return None

    def _failure(self, reason: str, console_lines: list[str] | None = None) -> str:
        lines = console_lines if console_lines is not None else Console(self.console_log).last_lines()
        return failure_report(f"guest {self.name}", reason, lines, self.qemu_log)

    def undo(self, ctx):
        pid = self.state.get("pid", 0)
        ctx.watch.forget(pid)
        if pid and process.is_running(pid, COMM):
            if not self._quit(pid):
                process.stop(pid, COMM, timeout=5.0)
        if pid:
            _reap(pid)
        if self.log_dir:
            dest = Path(self.log_dir)
            dest.mkdir(parents=True, exist_ok=True)
            for src, suffix in ((self.console_log, "console.log"), (self.qemu_log, "qemu.log")):
                if src.is_file():
                    shutil.copy(src, dest / f"{self.name}-{suffix}")
        for e, _, mode in self.nics:
            if mode == "server":
                Path(e).unlink(missing_ok=True)
        for p in (self.qmp_socket, self.console_socket, self.console_log, self.qemu_log):
            p.unlink(missing_ok=True)
        if self.state.get("created_dir"):
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def _quit(self, pid: int, timeout: float = 5.0) -> bool:
        return qmp_quit(self.qmp_socket, pid, timeout)


def qmp_quit(qmp_socket, pid: int, timeout: float = 5.0) -> bool:
    """Ask QEMU to quit over QMP; True if it is gone."""
    qmp = QmpClient(qmp_socket)
    try:
        qmp.connect(timeout=2.0)
        qmp.execute("quit", timeout=2.0)
    except (QmpError, OSError, ValueError):
        pass  # QEMU still waiting for a vhost-user peer does not answer; signals will do
    finally:
        qmp.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        if not process.is_running(pid, COMM):
            return True
        time.sleep(0.05)
    return False


def failure_report(what: str, reason: str, console_lines: list[str], qemu_log: Path) -> str:
    """Why a guest failed, with its console's and QEMU's last lines."""
    try:
        qlog = [ln for ln in Path(qemu_log).read_text(errors="replace").splitlines() if ln.strip()][-8:]
    except OSError:
        qlog = []
    msg = f"{what}: {reason}"
    if console_lines:
        msg += "\n  console, last lines:\n" + "\n".join(f"    {ln}" for ln in console_lines)
    if qlog:
        msg += "\n  qemu:\n" + "\n".join(f"    {ln}" for ln in qlog)
    return msg


def qemu_command(g: StartGuest, accel_args) -> list[str]:
    """The QEMU command line for a guest (pure: tests read it)."""
    from .image import KERNEL_CMDLINE

    run = Path(g.run_dir)
    mem = f"{g.mem_mb}M"
    if g.hugepage_dir:
        backend = f"memory-backend-file,id=mem0,size={mem},mem-path={g.hugepage_dir},share=on,prealloc=on"
    else:
        backend = f"memory-backend-memfd,id=mem0,size={mem},share=on"
    if g.mem_node is not None:  # the memory on the node its vCPUs and the polling PMDs are on
        backend += f",host-nodes={g.mem_node},policy=bind"
    cmd = [g.qemu, "-name", f"{g.name},debug-threads=on", *accel_args,
           "-machine", "pc", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-S",
           "-smp", str(g.vcpus), "-m", mem,
           "-object", backend, "-numa", "node,memdev=mem0"]
    if g.hugepage_dir:
        cmd.append("-mem-prealloc")
    cmd += ["-kernel", g.kernel, "-initrd", g.initrd, "-append", f"{KERNEL_CMDLINE} {g.append}".strip(),
            "-chardev", f"socket,id=console,path={run / 'console.sock'},server=on,wait=off,"
                        f"logfile={run / 'console.log'},logappend=off",
            "-serial", "chardev:console",
            "-chardev", f"socket,id=qmp,path={run / 'qmp.sock'},server=on,wait=off",
            "-mon", "chardev=qmp,mode=control"]
    for i, (endpoint, mac, mode) in enumerate(g.nics):
        if mode == "udp":
            local, remote = endpoint.split(":")
            cmd += ["-netdev", f"socket,id=net{i},udp=127.0.0.1:{remote},localaddr=127.0.0.1:{local}"]
        else:
            cmd += ["-chardev", f"socket,id=vhu{i},path={endpoint},server={'on' if mode == 'server' else 'off'}",
                    "-netdev", f"vhost-user,id=net{i},chardev=vhu{i},vhostforce=on"]
        # QEMU takes a TX ring over 256 only with a vhost-user backend (QEMU 10 refuses
        # the rest: "Invalid tx_queue_size (= 1024), must be a power of 2 between 256 and 256")
        tx = QUEUE_SIZE if mode != "udp" else 256
        cmd += ["-device", f"virtio-net-pci,netdev=net{i},mac={mac},addr={NIC_SLOT + i:#x},"
                           f"rx_queue_size={QUEUE_SIZE},tx_queue_size={tx}"]
    return cmd


def _reap(pid: int, timeout: float = 5.0) -> None:
    """Collect a stopped QEMU if it is our child, so no zombie keeps its pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return  # not our child (a restore), or already collected
        if done:
            return
        time.sleep(0.02)


def _threads(pid: int) -> list[int]:
    try:
        return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return []


def _set_affinity(tid: int, cores, what: str) -> None:
    try:
        os.sched_setaffinity(tid, set(cores))
    except ProcessLookupError:
        pass  # a short-lived thread ended meanwhile
    except OSError as e:
        raise StepError(f"{what}: cannot pin to cores {sorted(cores)}: {e}") from None


def hugepages_needed(mem_mb: int, hugepage_dir: str) -> int:
    size_kb = _hugepage_kb(hugepage_dir)
    return -(-mem_mb * 1024 // size_kb)


def free_hugepages(hugepage_dir: str, root: str = "/") -> int:
    """Free pages of the size mounted at hugepage_dir, system-wide (0 without such a pool)."""
    from ..inventory.cpus import read_pool

    try:
        return read_pool(_hugepage_kb(hugepage_dir), root)[1]
    except OSError:
        return 0


def _hugepage_kb(hugepage_dir: str) -> int:
    try:
        return os.statvfs(hugepage_dir).f_bsize // 1024
    except OSError as e:
        raise PrecheckError(hugepage_dir, "", f"hugepage directory not usable: {e}") from None
