"""The runner's handle on a generator worker process (see worker.py).

Every wait is a select() loop with a short timeout, so Ctrl-C always gets
through; any worker failure or death becomes a GeneratorError whose reason
ends with the worker's last log lines.
"""
from __future__ import annotations

import errno
import json
import os
import select
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import GeneratorError
from .config import GenConfig
from .stats import LoopStats, TrialStats

WORKER_MODULE = "pktlab.gen.worker"
_POLL = 0.2  # [s] between liveness checks while waiting
_LOG_TAIL = 20  # log lines quoted in an error


@dataclass(frozen=True)
class PortInfo:
    """A generator port as its backend sees it once the worker is ready."""

    name: str  # ethdev name; kernel backend: the port as configured, "IFNAME[@NETNS]"
    port_id: int  # DPDK port id; kernel backend: the ifindex in the port's namespace
    mac: str
    link_up: bool


class GeneratorProcess:
    """A worker process running GenConfig; start(), wait_ready(), trial()..., close()."""

    def __init__(self, config: GenConfig, log_path: Path, python: str = sys.executable):
        self.config, self.log_path, self.python = config, Path(log_path), python
        self._proc: subprocess.Popen | None = None
        self._cmd = self._evt = -1
        self._buf = b""
        self._log_start = 0
        self._busy = False  # a command is outstanding (the worker may be in a trial)
        self._closed = False
        self.dpdk_version: str | None = None  # None for the kernel backend
        self.backend_info: str | None = None  # DPDK version, or the kernel mode as set up
        self.tsc_hz: int | None = None
        self.ports: list[PortInfo] = []
        self.loops: tuple[LoopStats, ...] = ()  # each poll loop's share of the last trial

    # -- life cycle ------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        """The worker's exit status once collected (negative: the signal that ended it)."""
        return self._proc.returncode if self._proc is not None else None

    def start(self) -> None:
        """Spawn the worker and hand it the config; returns at once."""
        if self._proc is not None:
            raise RuntimeError("generator already started")
        _remove_stale_sockets(self.config)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd_r, cmd_w = os.pipe()
        evt_r, evt_w = os.pipe()
        with open(self.log_path, "ab") as log:
            self._log_start = log.tell()
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {WORKER_MODULE} start\n".encode())
            log.flush()
            env = dict(os.environ, PYTHONUNBUFFERED="1")
            try:
                self._proc = subprocess.Popen(
                    [self.python, "-m", WORKER_MODULE, "--cmd-fd", str(cmd_r), "--evt-fd", str(evt_w)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    pass_fds=(cmd_r, evt_w), env=env)
            except BaseException:
                os.close(cmd_w)
                os.close(evt_r)
                raise
            finally:
                os.close(cmd_r)  # the worker's ends
                os.close(evt_w)
        self._cmd, self._evt = cmd_w, evt_r
        self._send({"cmd": "config", "config": self.config.to_dict()})

    def wait_ready(self, timeout: float) -> list[PortInfo]:
        """Block until EAL is up and the ports are started (virtio-user in server
        mode waits here for its vhost client); for the kernel backend, until its
        sockets are bound. Raises GeneratorError on timeout."""
        msg = self._wait("ready", timeout, "ready (EAL init and port start)")
        self.dpdk_version, self.tsc_hz = msg["dpdk_version"], msg["tsc_hz"]
        self.backend_info = msg.get("backend", self.dpdk_version)
        self.ports = [PortInfo(name=p["name"], port_id=p["port_id"], mac=p["mac"], link_up=p["link_up"])
                      for p in msg["ports"]]
        return list(self.ports)

    def close(self, timeout: float = 10.0) -> None:
        """Quit, then SIGTERM, then SIGKILL. Idempotent; safe in a finally."""
        if self._closed:
            return
        self._closed = True
        proc = self._proc
        try:
            if proc is not None and proc.poll() is None:
                # a worker still in EAL init (it may wait for a vhost client
                # forever) or inside a trial reads no command: signal it
                polite = bool(self.ports) and not self._busy and self._try_send({"cmd": "quit"})
                if not polite:
                    _signal(proc, signal.SIGTERM)
                gone = self._reap(proc, timeout)
                if not gone and polite:
                    _signal(proc, signal.SIGTERM)
                    gone = self._reap(proc, timeout)
                if not gone:
                    _signal(proc, signal.SIGKILL)
                    self._reap(proc, 5.0)
        except KeyboardInterrupt:
            _signal(proc, signal.SIGKILL)
            self._reap(proc, 5.0, interruptible=False)
            raise
        finally:
            for fd in (self._cmd, self._evt):
                if fd >= 0:
                    os.close(fd)
            self._cmd = self._evt = -1
            if proc is None or proc.poll() is not None:
                _remove_stale_sockets(self.config)
                _remove_runtime_dir(self.config)

    def __enter__(self) -> "GeneratorProcess":
        if self._proc is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- commands ----------------------------------------------------------------
    def link_up(self) -> list[bool]:
        self._send({"cmd": "link"})
        return [bool(u) for u in self._wait("link", 10.0, "link state")["up"]]

    def trial(self, rate_pps: float | None, duration_s: float, drain_s: float = 0.2, frames: int = 0,
              interval_s: float = 0.0, on_interval=None) -> TrialStats:
        """One trial: rate_pps aggregate over the load streams (None: as fast as possible)
        for duration_s [s], then drain_s [s] of receive only. frames > 0: exactly that many
        load frames, the window ending with the last (duration_s a cap). interval_s > 0:
        on_interval(dict) with each interval's counters as the trial runs
        (gen.intervals.interval_record)."""
        if rate_pps is not None and not rate_pps > 0:
            raise ValueError(f"rate_pps: {rate_pps!r} must be > 0 or None")
        if not duration_s > 0 or not drain_s >= 0:
            raise ValueError(f"duration_s {duration_s!r} must be > 0 and drain_s {drain_s!r} >= 0")
        if not isinstance(frames, int) or frames < 0 or not interval_s >= 0:
            raise ValueError(f"frames {frames!r} must be an integer >= 0 and interval_s {interval_s!r} >= 0")
        self._send({"cmd": "trial", "rate_pps": rate_pps, "duration_s": duration_s, "drain_s": drain_s,
                    "frames": frames, "interval_s": interval_s})
        return self.trial_result(duration_s + drain_s + 30.0, on_interval)

    def trial_result(self, timeout: float, on_interval=None) -> TrialStats:
        """Wait for the running trial's result (after interrupt(), too)."""
        msg = self._wait("trial", timeout, "trial result",
                         {"interval": (lambda m: on_interval(m["interval"])) if on_interval else None})
        self.loops = tuple(LoopStats.from_dict(lp) for lp in msg.get("loops", ()))
        return TrialStats.from_dict(msg["stats"])

    def interrupt(self) -> None:
        """End the running trial early, as Ctrl-C does (the worker then reports it
        interrupted and exits): for a parent interrupted by a signal its worker did
        not get."""
        _signal(self._proc, signal.SIGINT)

    # -- plumbing --------------------------------------------------------------
    def _send(self, msg: dict) -> None:
        if self._proc is None or self._closed:
            raise GeneratorError(-errno.ESRCH, "generator not started or already closed")
        if not self._try_send(msg):
            raise self._died(f"worker gone before {msg.get('cmd')!r}")
        self._busy = msg.get("cmd") != "config"

    def _try_send(self, msg: dict) -> bool:
        data = (json.dumps(msg) + "\n").encode()
        try:
            while data:
                data = data[os.write(self._cmd, data):]
        except (BrokenPipeError, OSError):
            return False
        return True

    def _wait(self, event: str, timeout: float, what: str, handlers: dict | None = None) -> dict:
        """The next `event`; other events go to handlers[their name], or are dropped."""
        deadline = time.monotonic() + timeout
        while True:
            line, sep, rest = self._buf.partition(b"\n")
            if sep:
                self._buf = rest
                msg = json.loads(line)
                if msg.get("event") == "error":
                    self._busy = False
                    raise GeneratorError(msg.get("status", -1), msg.get("reason", "?") + self._tail())
                if msg.get("event") == event:
                    self._busy = False
                    return msg
                handler = (handlers or {}).get(msg.get("event"))
                if handler is not None:
                    handler(msg)
                continue  # e.g. "bye"
            left = deadline - time.monotonic()
            if left <= 0:
                raise GeneratorError(-errno.ETIMEDOUT, f"no {what} from the worker after {timeout:g} s"
                                     + self._tail())
            ready, _, _ = select.select([self._evt], [], [], min(_POLL, left))
            if ready:
                data = os.read(self._evt, 1 << 16)
                if not data:
                    raise self._died(f"worker exited while waiting for {what}")
                self._buf += data
            elif self._proc.poll() is not None:
                continue  # read what it wrote before dying; EOF comes next

    def _died(self, what: str) -> GeneratorError:
        try:
            code = self._proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            code = None
        how = "still running" if code is None else (
            f"killed by signal {-code}" if code < 0 else f"exit status {code}")
        return GeneratorError(code if code is not None else -1, f"{what} ({how})" + self._tail())

    def _reap(self, proc, timeout: float, interruptible: bool = True) -> bool:
        """Wait for exit, discarding events so a worker blocked writing one can go on."""
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                if self._evt >= 0:
                    ready, _, _ = select.select([self._evt], [], [], min(0.05, left))
                    if ready and not os.read(self._evt, 1 << 16):
                        os.close(self._evt)  # EOF: nothing more to drain
                        self._evt = -1
                else:
                    time.sleep(min(0.05, left))
            except KeyboardInterrupt:
                if interruptible:
                    raise
        return True

    def _tail(self) -> str:
        """The worker's last log lines, for error messages."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(self._log_start)
                lines = fh.read().decode(errors="replace").splitlines()
        except OSError as e:
            return f"\n(no worker log: {e})"
        lines = [ln for ln in lines if ln.strip()][-_LOG_TAIL:]
        return f"\nlast lines of {self.log_path}:\n" + "\n".join(lines) if lines else ""


def _signal(proc, sig) -> None:
    if proc is not None and proc.poll() is None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass


def _server_socket(port: str) -> Path | None:
    """The socket a virtio-user vdev creates in server mode, if it is one."""
    opts = dict(kv.split("=", 1) for kv in port.split(",")[1:] if "=" in kv)
    if opts.get("server") == "1" and opts.get("path"):
        return Path(opts["path"])
    return None


def _remove_stale_sockets(config: GenConfig) -> None:
    """A socket left by an earlier worker makes virtio-user's bind fail."""
    if not config.io.eal:
        return
    for port in config.ports:
        path = _server_socket(port)
        try:
            if path is not None and stat.S_ISSOCK(path.lstat().st_mode):
                path.unlink()
        except FileNotFoundError:
            pass


def runtime_dir(config: GenConfig) -> Path:
    """EAL's /var/run/dpdk/<file prefix> for this config."""
    prefix, args = "rte", list(config.eal_args)
    for i, a in enumerate(args):
        if a.startswith("--file-prefix="):
            prefix = a.split("=", 1)[1]
        elif a == "--file-prefix" and i + 1 < len(args):
            prefix = args[i + 1]
    if os.geteuid() == 0:
        return Path("/var/run/dpdk") / prefix
    return Path(os.environ.get("XDG_RUNTIME_DIR", "/tmp")) / "dpdk" / prefix


def _remove_runtime_dir(config: GenConfig) -> None:
    """EAL leaves its runtime dir even with --in-memory; the worker removes it
    on a clean exit, this catches a killed one. Only if empty: never another's.
    The kernel backend has none: a killed kernel worker leaves nothing behind
    (its sockets, rings, promiscuous membership and XDP link all die with it)."""
    if not config.io.eal:
        return
    try:
        runtime_dir(config).rmdir()
    except OSError:
        pass
