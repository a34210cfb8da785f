"""What steps share at run time: the run's directories and live connections.

Steps are plain data; live objects (an OVSDB connection, a generator process)
live here so a step rebuilt from a journal by `pktlab restore` still finds a
context to work with, only without the live objects. `watch` holds the
processes the run started (host/watch.py); only a run arms it.

`hosts` are the other hosts a run changes (role -> remote.inventory.Host, e.g. the
DUT's): a step whose `host` names one goes there through executor(role), over the
run's one SSH connection to it (connection(role)), reconnected for undo if it dropped.
"""
from __future__ import annotations

import logging
from pathlib import Path

from .host.watch import Watcher
from .remote.watch import RemoteWatch

log = logging.getLogger(__name__)


class RunContext:
    def __init__(self, state_dir: Path, run_id: str, hosts: dict | None = None, connections: dict | None = None):
        self.state_dir = Path(state_dir)
        self.run_id = run_id
        self.hosts: dict = dict(hosts or {})  # role -> remote.inventory.Host
        # role -> remote.ssh.Connection; given ones are the caller's (shared by its runs), not closed here
        self._conns: dict = dict(connections or {})
        self._own: set[str] = set()
        self.run_dir = self.state_dir / "runs" / run_id
        self.live: dict[str, object] = {}  # key -> object with close()
        self.watch = Watcher()  # the processes this run started; a death ends the run
        self.remote_watch = RemoteWatch()  # those its steps started on other hosts, checked between trials
        self._journal_hook = None

    def journal_state(self) -> None:
        """Persist the applying step's state now (before it changes the host further)."""
        if self._journal_hook is not None:
            self._journal_hook()

    def connection(self, role: str, reconnect: bool = False):
        """The run's SSH connection to host `role`, opened (root checked) on first use;
        reconnect: open it afresh if its master is gone (a lost connection)."""
        from .errors import StepError
        from .remote.ssh import Connection

        if role not in self.hosts:
            raise StepError(f"a step names host {role!r}, which this run does not know "
                            f"(known: tester{''.join(', ' + r for r in self.hosts)})")
        conn = self._conns.get(role)
        if conn is not None and reconnect and not conn.master_running():
            conn.close()
            conn.connect()
        if conn is None:
            conn = self._conns[role] = Connection(self.hosts[role]).connect()
            self._own.add(role)
        return conn

    def executor(self, role: str):
        """Applies and undoes steps on host `role` (remote/executor.py)."""
        from .remote.executor import Remote

        return Remote(self, role)

    def ovsdb(self, sock: str, host: str = "tester"):
        """A connection to the run's ovsdb-server, opened on first use. On another host,
        through its socket forwarded over that host's SSH connection."""
        from .ovs.ovsdb import OvsDb

        key = f"ovsdb:{sock}" if host == "tester" else f"ovsdb:{host}:{sock}"
        if key not in self.live:
            self.live[key] = OvsDb(sock if host == "tester" else self.connection(host).forward_unix(sock))
        return self.live[key]

    def drop(self, key: str) -> None:
        obj = self.live.pop(key, None)
        if obj is not None:
            try:
                obj.close()
            except Exception as e:  # noqa: BLE001 - closing is best effort
                log.debug("closing %s: %s", key, e)

    def close(self) -> None:
        self.watch.disarm()
        for key in list(self.live):
            self.drop(key)
        for role in self._own:
            self._conns.pop(role).close()
        self._own.clear()
