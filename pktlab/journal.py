"""The on-disk record of applied host changes, so a killed run can be undone.

One JSON file per run under the state directory (/run/pktlab by default:
tmpfs, so it vanishes on reboot together with the state it describes). It is
rewritten atomically after every change and removed once everything is undone.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

from .errors import PktlabError
from .plan import Step, undo_all

DEFAULT_STATE_DIR = Path(os.environ.get("PKTLAB_STATE_DIR", "/run/pktlab"))


def journal_dir(state_dir: Path) -> Path:
    return Path(state_dir) / "journal"


class Journal:
    """hosts: the other hosts the run changes (role -> remote.inventory.Host), recorded so
    `pktlab restore` reaches them: how to connect (address, user, port, the path of the
    identity file, ssh options), never a key or a password."""

    def __init__(self, path: Path, run_id: str, pid: int, hosts: dict | None = None):
        self.path, self.run_id, self.pid = Path(path), run_id, pid
        self.hosts = dict(hosts or {})

    @classmethod
    def create(cls, state_dir: Path, run_id: str, hosts: dict | None = None) -> "Journal":
        d = journal_dir(state_dir)
        d.mkdir(parents=True, exist_ok=True)
        j = cls(d / f"{run_id}.json", run_id, os.getpid(), hosts)
        j.record([])
        return j

    def record(self, steps, applying: Step | None = None) -> None:
        doc = {
            "run_id": self.run_id,
            "pid": self.pid,
            "updated": time.time(),
            "hosts": {role: dataclasses.asdict(h) for role, h in self.hosts.items()},
            "steps": [dict(s.to_dict(), status="applying" if s is applying else "applied") for s in steps],
        }
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as fh:
            json.dump(doc, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        self.path.with_suffix(".tmp").unlink(missing_ok=True)  # a record cut off by a signal

    @classmethod
    def load(cls, path: Path) -> tuple["Journal", list[Step]]:
        try:
            doc = json.loads(Path(path).read_text())
            steps = [Step.from_dict(s) for s in doc["steps"]]
            hosts = {role: _host(h) for role, h in doc.get("hosts", {}).items()}
            return cls(path, doc["run_id"], int(doc["pid"]), hosts), steps
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise PktlabError(f"{path}: unreadable journal: {e}") from None


def _host(d: dict):
    from .remote.inventory import Host

    return Host(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def left_on_hosts(journal: "Journal") -> list[str]:
    """What the journal says each remote host was left with (its steps not undone)."""
    from .remote.executor import left_behind

    if not journal.path.exists():
        return []
    _, steps = Journal.load(journal.path)
    return left_behind(steps, journal.hosts)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie or a recycled pid running something else is not our runner.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"pktlab" in cmdline


def pending(state_dir: Path) -> list[Path]:
    d = journal_dir(state_dir)
    return sorted(d.glob("*.json")) if d.is_dir() else []


def restore(state_dir: Path, ctx_factory, force: bool = False, out=print) -> list[str]:
    """Undo every journal left by a run that is no longer running. Returns undo errors."""
    errors = []
    for path in pending(state_dir):
        journal, steps = Journal.load(path)
        if _alive(journal.pid) and journal.pid != os.getpid() and not force:
            out(f"{path}: run {journal.run_id} is still running (pid {journal.pid}); not touching it "
                "(--force to restore anyway)")
            continue
        on = "".join(f", host {h}" for h in journal.hosts.values() if any(s.host != "tester" for s in steps))
        out(f"restoring run {journal.run_id}: {len(steps)} step(s) to undo (tester{on})")
        ctx = ctx_factory(journal.run_id)
        if journal.hosts:
            ctx.hosts.update(journal.hosts)
        try:
            errs = undo_all(steps, ctx, journal)
        finally:
            ctx.close()
        for e in errs:
            out(f"  failed: {e}")
        for line in left_on_hosts(journal) if errs else ():
            out(f"  {line}; the journal {journal.path} is kept")
        errors += errs
    return errors
