"""What steps share at run time: the run's directories and live connections.

Steps are plain data; live objects (an OVSDB connection, a generator process)
live here so a step rebuilt from a journal by `pktlab restore` still finds a
context to work with, only without the live objects. `watch` holds the
processes the run started (host/watch.py); only a run arms it.
"""
from __future__ import annotations

import logging
from pathlib import Path

from .host.watch import Watcher

log = logging.getLogger(__name__)


class RunContext:
    def __init__(self, state_dir: Path, run_id: str):
        self.state_dir = Path(state_dir)
        self.run_id = run_id
        self.run_dir = self.state_dir / "runs" / run_id
        self.live: dict[str, object] = {}  # key -> object with close()
        self.watch = Watcher()  # the processes this run started; a death ends the run
        self._journal_hook = None

    def journal_state(self) -> None:
        """Persist the applying step's state now (before it changes the host further)."""
        if self._journal_hook is not None:
            self._journal_hook()

    def ovsdb(self, sock: str):
        """A connection to the run's ovsdb-server, opened on first use."""
        from .ovs.ovsdb import OvsDb

        key = f"ovsdb:{sock}"
        if key not in self.live:
            self.live[key] = OvsDb(sock)
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
