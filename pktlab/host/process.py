"""Starting and stopping the daemons a run owns, by pid, never by name.

Stopping checks that the pid still runs the program we started (pids are
recycled), asks politely (SIGTERM), then insists (SIGKILL).
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from .. import wait
from ..errors import StepError


def become_subreaper() -> None:
    """Daemons started with --detach are re-parented to us instead of init, so
    stop() reaps them and none lingers as a zombie after the run."""
    import ctypes

    PR_SET_CHILD_SUBREAPER = 36
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def exe_name(pid: int) -> str | None:
    """The program a pid runs (comm), or None if there is no such process."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def is_running(pid: int, comm: str) -> bool:
    """Is pid alive and running `comm`? comm is the program name (cut at 15 characters
    by the kernel) or, for a Python module run with -m, a word of its command line."""
    name = exe_name(pid)
    if name is None:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False
    return state != "Z" and (name == comm[:15] or comm.encode() in cmdline)


def running_from_pidfile(pidfile: Path, comm: str) -> bool:
    """Does the process a pid file names still run `comm`? False if there is no pid file."""
    try:
        pid = int(Path(pidfile).read_text().strip())
    except (OSError, ValueError):
        return False
    return is_running(pid, comm)


def reap(pid: int) -> None:
    """Collect a dead child (a killed daemon is our zombie: we are its subreaper)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child (a restore), or collected already


def stop(pid: int, comm: str, timeout: float = 10.0) -> bool:
    """SIGTERM, wait, SIGKILL. Returns True if a process was stopped; one that
    died already is only collected."""
    if not pid:
        return False
    if not is_running(pid, comm):
        reap(pid)
        return False
    os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, comm, timeout):
        return True
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    if not _wait_gone(pid, comm, 5.0):
        raise StepError(f"{comm} (pid {pid}) survived SIGKILL")
    return True


def _wait_gone(pid: int, comm: str, timeout: float) -> bool:
    def gone() -> bool:
        reap(pid)  # if it is our child, so it does not linger as a zombie
        return not is_running(pid, comm)

    return wait.until(gone, timeout, 0.05)


def run(cmd: list[str], env: dict | None = None, timeout: float = 60.0, what: str | None = None,
        cwd=None, error: type[Exception] = StepError) -> str:
    """Run a command to completion; a failure raises `error` (a StepError by default) with its stderr."""
    what = what or cmd[0]
    try:
        p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise error(f"{what}: {cmd[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise error(f"{what}: no answer after {timeout:.0f} s: {' '.join(cmd)}") from None
    if p.returncode != 0:
        raise error(f"{what} failed (exit {p.returncode}): {' '.join(cmd)}: "
                    f"{(p.stderr or p.stdout).strip()[-800:]}")
    return p.stdout


def read_pidfile(path: Path, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return int(Path(path).read_text().strip())
        except (OSError, ValueError):
            time.sleep(0.05)
    raise StepError(f"no pid file {path} after {timeout:.0f} s")
