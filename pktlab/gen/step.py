"""The generator process as a plan step: started after the data path is built,
stopped first on the way back (it holds vhost sockets and hugepage memory)."""
from __future__ import annotations

import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import GeneratorError
from ..host import process
from ..plan import Step

log = logging.getLogger(__name__)
WORKER = "pktlab.gen.worker"  # a word of the worker's command line
# virtio-user in server mode sometimes loses the vhost-user handshake with OVS's
# reconnecting client ("Failed to set backend owner: Broken pipe", about one start
# in fifteen here); a fresh start after OVS noticed the disconnect succeeds.
START_ATTEMPTS = 3


@dataclass
class StartGenerator(Step):
    kind = "generator"
    config: dict  # GenConfig.to_dict()
    log: str
    socket_dir: str = ""  # where its vhost-user server sockets live (removed on undo)
    ready_timeout: float = 60.0

    def describe(self):
        ports = ", ".join(p.split(",")[0] for p in self.config["ports"])
        how = (f"kernel backend, {self.config.get('kernel_mode', 'afxdp')}"
               if self.config.get("backend") == "kernel" else f"EAL {' '.join(self.config['eal_args'])}")
        return f"start the generator on core {self.config['core']} with ports {ports} ({how})"

    def describe_undo(self):
        return "stop the generator" + (f" and remove its sockets in {self.socket_dir}" if self.socket_dir else "")

    def apply(self, ctx):
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                return self._start(ctx)
            except GeneratorError as e:
                if attempt == START_ATTEMPTS:
                    raise
                log.warning("generator start %d of %d failed, retrying: %s", attempt, START_ATTEMPTS,
                            str(e).splitlines()[0])
                self.undo(ctx)

    def _start(self, ctx):
        from .config import GenConfig
        from .generator import GeneratorProcess

        if self.socket_dir:
            d = Path(self.socket_dir)
            d.mkdir(parents=True, exist_ok=True)
            for stale in d.glob("*.sock"):  # a stale socket makes virtio-user's bind fail
                stale.unlink()
        gen = GeneratorProcess(GenConfig.from_dict(self.config), Path(self.log))
        ctx.live["generator"] = gen
        gen.start()
        self.state["pid"] = gen.pid
        ctx.journal_state()
        self.state["ports"] = [asdict(p) for p in gen.wait_ready(self.ready_timeout)]

    def undo(self, ctx):
        gen = ctx.live.pop("generator", None)
        if gen is not None:
            gen.close()
        process.stop(self.state.get("pid", 0), WORKER)
        if self.socket_dir:
            shutil.rmtree(self.socket_dir, ignore_errors=True)
