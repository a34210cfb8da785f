"""Watching the processes a run started: a death ends the run at once, with its reason.

A run starts daemons (ovsdb-server, ovs-vswitchd), QEMU guests and the generator
worker; if one dies under it the measurement is void and everything after would
wait on a peer that is gone. Each process is registered here (pid, name, logs)
when its step starts it; while the watcher is armed, a death raises
ProcessDied in the runner's main thread, wherever it waits: it names the
process, how it died (the signal) and quotes the last lines of its logs.

How a death is noticed: the runner is the subreaper of everything it starts
(process.become_subreaper), so every watched process is its child and its exit
sends SIGCHLD; the handler looks at the watched pids with waitid(WNOWAIT), which
reads the exit status and leaves the zombie for whoever stops the process. A
thread also polls every POLL_S and raises SIGCHLD itself, for a process that is
not our child or a signal lost in a burst. Raising from a signal handler is what
Ctrl-C already does; the runner unwinds from either at any point.

The watcher stands down (disarm) before the run undoes its plan: from then on
processes stop because pktlab stops them. A process that a step stops on purpose
while the plan applies is forgotten first.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import PktlabError
from . import process

POLL_S = 0.5  # [s] the polling thread's period: the bound on noticing without SIGCHLD
LOG_LINES = 10  # lines of each log quoted in the reason
UNSETTLED_S = 1.0  # [s] wait this long for a status another reaper is about to publish


class ProcessDied(PktlabError):
    """A process the run started died under it."""

    def __init__(self, name: str, pid: int, how: str, logs: dict[str, list[str]]):
        self.name, self.pid, self.how, self.logs = name, pid, how, logs
        self.killed = how.startswith("was killed")  # by a signal, not an exit of its own
        text = f"{name} (pid {pid}) {how}"
        for path, lines in logs.items():
            text += f"\nlast lines of {path}:\n" + ("\n".join(f"  {ln}" for ln in lines) if lines else "  (empty)")
        super().__init__(text)


@dataclass
class Watched:
    pid: int
    name: str  # how the reason names it: "ovs-vswitchd", "guest NAME (qemu-system-x86_64)"
    comm: str  # what process.is_running() compares (program name or a word of its command line)
    logs: tuple[Path, ...] = ()
    # the exit status a subprocess.Popen that owns the process publishes (its returncode), for when
    # the Popen reaped it before us; None when no one else reaps it
    returncode: Callable[[], int | None] | None = None
    first_seen: float | None = field(default=None, repr=False)


def describe_status(code: int, status: int) -> str:
    """How a process ended, from waitid's si_code and si_status."""
    if code in (os.CLD_KILLED, os.CLD_DUMPED):
        return f"was killed by signal {status} ({_signame(status)})" + (" and dumped core" if code == os.CLD_DUMPED else "")
    return f"exited with status {status}"


def describe_returncode(rc: int) -> str:
    """The same from a subprocess returncode (negative: the signal)."""
    return f"was killed by signal {-rc} ({_signame(-rc)})" if rc < 0 else f"exited with status {rc}"


def _signame(n: int) -> str:
    try:
        return signal.Signals(n).name
    except ValueError:
        return f"signal {n}"


def log_tail(path: Path, n: int = LOG_LINES) -> list[str]:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as e:
        return [f"(no log: {e.strerror})"]
    return [ln.strip() for ln in text.splitlines() if ln.strip()][-n:]


class Watcher:
    """The processes one run started; armed, a death raises ProcessDied in the main thread."""

    def __init__(self, poll_s: float = POLL_S):
        self.poll_s = poll_s
        self._procs: dict[int, Watched] = {}
        self._armed = False
        self._fired = False
        self._owner = os.getpid()
        self._old_handler = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the registry ---------------------------------------------------------
    def add(self, pid: int, name: str, comm: str, logs=(), returncode=None) -> None:
        self._procs[pid] = Watched(pid, name, comm, tuple(Path(p) for p in logs), returncode)

    def forget(self, pid: int) -> None:
        """Before stopping a process on purpose."""
        self._procs.pop(pid, None)

    # -- looking --------------------------------------------------------------
    def death(self) -> ProcessDied | None:
        """The first watched process found dead, as the error to report; None if all run."""
        for w in list(self._procs.values()):
            how = self._how_it_ended(w)
            if how is not None:
                return ProcessDied(w.name, w.pid, how, {str(p): log_tail(p) for p in w.logs})
        return None

    def _how_it_ended(self, w: Watched) -> str | None:
        try:
            r = os.waitid(os.P_PID, w.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            # our child: None while it runs, else its status (the zombie stays for its reaper)
            return None if r is None else describe_status(r.si_code, r.si_status)
        except ChildProcessError:  # not our child, or reaped already (by its Popen)
            if w.returncode is not None and w.returncode() is not None:
                return describe_returncode(w.returncode())
            if not _gone(w):
                return None
        # dead, and its status not ours to read
        if w.returncode is not None:  # its Popen reaped it and is about to set returncode
            w.first_seen = w.first_seen or time.monotonic()
            if time.monotonic() - w.first_seen < UNSETTLED_S:
                return None
        return "is gone (its exit status was collected elsewhere)"

    # -- arming ---------------------------------------------------------------
    def arm(self) -> None:
        """From now on a death raises ProcessDied in the main thread. Outside the main
        thread (signal handlers live there) it does nothing: death() still tells."""
        if self._armed or threading.current_thread() is not threading.main_thread():
            return
        self._owner = os.getpid()
        self._fired = False
        self._old_handler = signal.signal(signal.SIGCHLD, self._on_sigchld)
        self._armed = True
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="pktlab-watch", daemon=True)
        self._thread.start()

    def disarm(self) -> None:
        """Deaths are no longer news (the run undoes its plan, or was interrupted). Idempotent."""
        if not self._armed:
            return
        self._armed = False
        self._stop.set()
        if threading.current_thread() is threading.main_thread() and os.getpid() == self._owner:
            signal.signal(signal.SIGCHLD, self._old_handler if self._old_handler is not None else signal.SIG_DFL)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2 * self.poll_s)
        self._thread = None

    @property
    def armed(self) -> bool:
        return self._armed

    def _on_sigchld(self, signum, frame):
        # pyroute2 forks helpers that inherit this handler: not theirs to act on
        if not self._armed or self._fired or os.getpid() != self._owner:
            return
        died = self.death()
        if died is not None:
            self._fired = True  # once: the run is unwinding now
            raise died

    def _poll(self) -> None:
        main = threading.main_thread().ident
        while not self._stop.wait(self.poll_s):
            if self._armed and not self._fired and self.death() is not None:
                try:
                    signal.pthread_kill(main, signal.SIGCHLD)  # the handler raises in the main thread
                except (ProcessLookupError, OSError):
                    return


def _gone(w: Watched) -> bool:
    return not process.is_running(w.pid, w.comm)
