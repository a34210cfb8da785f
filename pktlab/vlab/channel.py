"""The host's end of the request channel to the virtual lab server's agent
(pktlab.vlab.agent): files in the `vlabio` share, one request at a time or several."""
from __future__ import annotations

import itertools
import json
import os
import sys
import time
from pathlib import Path

from ..errors import StepError


class Channel:
    def __init__(self, io_dir: str | Path):
        self.io = Path(io_dir)
        self._ids = itertools.count()

    def _new_id(self) -> str:
        return f"{time.time_ns():x}-{os.getpid()}-{next(self._ids)}"

    def submit(self, doc: dict) -> str:
        rid = self._new_id()
        req = self.io / "req"
        req.mkdir(parents=True, exist_ok=True)
        tmp = req / f".{rid}.tmp"  # the agent reads *.json only: a request appears whole
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, req / f"{rid}.json")
        return rid

    def run(self, argv: list[str], cwd: str = "/", env: dict | None = None) -> str:
        return self.submit({"argv": [str(a) for a in argv], "cwd": cwd, "env": env or {}})

    def log(self, rid: str) -> Path:
        return self.io / "out" / f"{rid}.log"

    def result(self, rid: str) -> dict | None:
        try:
            return json.loads((self.io / "done" / f"{rid}.json").read_text())
        except (OSError, ValueError):
            return None

    def wait(self, rid: str, timeout: float, alive=lambda: True, echo=None, poll: float = 0.2) -> int:
        """The request's exit code; its output goes to echo (a text stream) as it comes."""
        deadline = time.monotonic() + timeout
        pos = 0
        while True:
            pos = self._echo(rid, pos, echo)
            res = self.result(rid)
            if res is not None:
                self._echo(rid, pos, echo)
                return int(res["rc"])
            if not alive():
                raise StepError(f"the virtual lab server stopped during request {rid}")
            if time.monotonic() > deadline:
                raise StepError(f"request {rid} did not finish within {timeout:.0f} s")
            time.sleep(poll)

    def _echo(self, rid: str, pos: int, echo) -> int:
        if echo is None:
            return pos
        try:
            with open(self.log(rid), "rb") as fh:
                fh.seek(pos)
                data = fh.read()
        except OSError:
            return pos
        if data:
            echo.write(data.decode(errors="replace"))
            echo.flush()
        return pos + len(data)

    def call(self, argv: list[str], timeout: float, alive=lambda: True, echo=sys.stdout, cwd: str = "/") -> int:
        return self.wait(self.run(argv, cwd=cwd), timeout, alive, echo)

    def kill(self, rid: str, signal: int = 9, timeout: float = 30.0) -> None:
        k = self.submit({"kill": rid, "signal": signal})
        self.wait(k, timeout)

    def poweroff(self, timeout: float, alive=lambda: True) -> None:
        rid = self.submit({"poweroff": True})
        deadline = time.monotonic() + timeout
        while alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        if alive():
            raise StepError(f"the virtual lab server did not power off within {timeout:.0f} s (request {rid})")
