"""QMP through QEMU's own client library (qemu.qmp), driven synchronously.

QEMU's socket may not exist yet when the launcher first asks, and a QEMU that
dies must not leave the caller waiting: connect() retries until `timeout` [s]
and gives up early when alive() says QEMU is gone; every command has a timeout.
Errors are QmpError (a StepError) naming the socket or the command.
"""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from qemu.qmp import ConnectError, ExecuteError, QMPClient

from ..errors import StepError

logging.getLogger("qemu.qmp").setLevel(logging.CRITICAL)  # failed attempts are expected while QEMU starts


class QmpError(StepError):
    """QMP answered with an error, or not at all."""


class QmpClient:
    """One QMP connection: connect, execute, close. Each client runs its own event loop,
    so it works the same in the runner, in a test or in a signal-driven unwind."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._loop = asyncio.new_event_loop()
        self._qmp: QMPClient | None = None

    def _run(self, coro, timeout: float):
        return self._loop.run_until_complete(asyncio.wait_for(coro, max(0.05, timeout)))

    def connect(self, timeout: float = 10.0, alive=lambda: True) -> dict:
        """Connect (retrying until the socket accepts), read the greeting, negotiate
        capabilities; returns the greeting. alive() False stops the wait early."""
        deadline = time.monotonic() + timeout
        while True:
            qmp = QMPClient(Path(self.path).name)
            try:
                self._run(qmp.connect(self.path), deadline - time.monotonic())
                self._qmp = qmp
                return qmp.greeting._asdict() if qmp.greeting is not None else {}
            except (ConnectError, OSError, asyncio.TimeoutError) as e:
                self._run(qmp.disconnect(), 1.0)
                if time.monotonic() >= deadline or not alive():
                    why = "nobody listening" if isinstance(e, (ConnectError, OSError)) else "no greeting in time"
                    raise QmpError(f"QMP socket {self.path}: {why} ({e})") from None
                time.sleep(0.05)

    def execute(self, command: str, arguments: dict | None = None, timeout: float = 10.0):
        if self._qmp is None:
            raise QmpError("QMP: not connected")
        try:
            return self._run(self._qmp.execute(command, arguments), timeout)
        except ExecuteError as e:
            raise QmpError(f"QMP {command}: {e}") from None
        except asyncio.TimeoutError:
            raise QmpError(f"QMP {self.path}: no answer to {command} in {timeout:g} s") from None
        except Exception as e:  # the connection dropped: qemu.qmp raises its own types
            raise QmpError(f"QMP {self.path}: {command}: {type(e).__name__}: {e}") from None

    def close(self) -> None:
        if self._qmp is not None:
            try:
                self._run(self._qmp.disconnect(), 2.0)
            except Exception:  # already gone: nothing to close
                pass
            self._qmp = None
        if not self._loop.is_closed():
            self._loop.close()
