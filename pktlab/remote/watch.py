"""The daemons a run started on another host, watched from the tester.

On the DUT, `pktlab step apply` registers what a step starts (ovsdb-server,
ovs-vswitchd, a forwarder) with its own watcher, as a local run does; its process
ends with the step, so it sends those registrations back with the step's last line
(agent.py) and the tester keeps them here, per host. Between and after trials
(around each read of the DUT's counters) the tester asks that host, over the run's
SSH master, whether each pid still runs its program (`ps`, one command): a daemon
gone there fails the trial with its host, name, pid and its log's last lines, and
the run undoes its plan as after any failure. Undoing a step forgets its processes
first: they stop because pktlab stops them.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import PktlabError
from ..host.watch import LOG_LINES
from .ssh import Connection


class DutProcessDied(PktlabError):
    """A process the run started on another host died under it."""


@dataclass(frozen=True)
class RemoteProcess:
    pid: int
    name: str  # how the reason names it: "ovs-vswitchd"
    comm: str  # program name as the kernel has it (cut at 15 characters)
    logs: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: dict) -> "RemoteProcess":
        return cls(int(d["pid"]), str(d["name"]), str(d["comm"]), tuple(str(p) for p in d.get("logs", ())))

    def to_dict(self) -> dict:
        return {"pid": self.pid, "name": self.name, "comm": self.comm, "logs": list(self.logs)}


def registrations(watcher) -> list[dict]:
    """What a step just started, from the DUT's own (unarmed) watcher: sent to the tester."""
    return [RemoteProcess(w.pid, w.name, w.comm, tuple(str(p) for p in w.logs)).to_dict()
            for w in watcher._procs.values()]


def parse_ps(text: str) -> dict[int, tuple[str, str]]:
    """`ps -o pid=,stat=,comm= -p ...` -> {pid: (stat, comm)}."""
    out = {}
    for line in text.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0].isdigit():
            out[int(parts[0])] = (parts[1], parts[2].strip())
    return out


class RemoteWatch:
    """Processes started on other hosts, by role; checked on demand (check())."""

    def __init__(self):
        self._procs: dict[str, dict[int, RemoteProcess]] = {}
        self._by_step: dict[int, list[int]] = {}  # id(step) -> the pids it started

    def add(self, role: str, procs, step=None) -> None:
        for d in procs:
            p = RemoteProcess.from_dict(d)
            self._procs.setdefault(role, {})[p.pid] = p
            if step is not None:
                self._by_step.setdefault(id(step), []).append(p.pid)

    def forget_step(self, role: str, step) -> None:
        for pid in self._by_step.pop(id(step), ()):
            self.forget(role, pid)

    def forget(self, role: str, pid) -> None:
        if isinstance(pid, int):
            self._procs.get(role, {}).pop(pid, None)

    def watched(self, role: str) -> list[RemoteProcess]:
        return list(self._procs.get(role, {}).values())

    def check(self, role: str, conn: Connection) -> None:
        """DutProcessDied for the first process of host `role` found gone (or a zombie, or
        its pid now another program's)."""
        procs = self.watched(role)
        if not procs:
            return
        p = conn.run(["ps", "-o", "pid=,stat=,comm=", "-p", ",".join(str(w.pid) for w in procs)], check=False)
        seen = parse_ps(p.stdout)
        for w in procs:
            stat, comm = seen.get(w.pid, ("", ""))
            if stat and not stat.startswith("Z") and comm == w.comm[:15]:
                continue
            self.forget(role, w.pid)  # once: the run is unwinding now
            how = "is gone" if not stat else "is a zombie" if stat.startswith("Z") else f"now runs {comm}"
            text = f"on host {conn.host}: {w.name} (pid {w.pid}) {how}; the run started it there"
            for log in w.logs:
                t = conn.run(["tail", "-n", str(LOG_LINES), log], check=False, sudo=True)
                lines = [ln.strip() for ln in t.stdout.splitlines() if ln.strip()]
                text += f"\nlast lines of {log} there:\n" + ("\n".join(f"  {ln}" for ln in lines) or "  (empty)")
            raise DutProcessDied(text)
