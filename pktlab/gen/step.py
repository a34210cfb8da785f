"""The generator process as a plan step: started after the data path is built,
stopped first on the way back (it holds vhost sockets and hugepage memory)."""
from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from .. import wait
from ..host import process
from ..plan import Step

log = logging.getLogger(__name__)
WORKER = "pktlab.gen.worker"  # a word of the worker's command line


@dataclass
class StartGenerator(Step):
    kind = "generator"
    config: dict  # GenConfig.to_dict()
    log: str
    socket_dir: str = ""  # where its vhost-user server sockets live (removed on undo)
    ready_timeout: float = 60.0
    # False: return once the process runs; its vhost-user server ports wait for
    # clients that later steps add, and the data path waits for ready itself.
    wait_ready: bool = True

    def describe(self):
        ports = ", ".join(p.split(",")[0] for p in self.config["ports"])
        how = (f"kernel backend, {self.config.get('kernel_mode', 'afxdp')}"
               if self.config.get("backend") == "kernel" else f"EAL {' '.join(self.config['eal_args'])}")
        return f"start the generator on core {self.config['core']} with ports {ports} ({how})"

    def describe_undo(self):
        return "stop the generator" + (f" and remove its sockets in {self.socket_dir}" if self.socket_dir else "")

    def apply(self, ctx):
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
        # its GeneratorProcess reaps it (and then says how it ended)
        ctx.watch.add(gen.pid, "generator worker", WORKER, (self.log,), returncode=lambda: gen.returncode)
        if self.wait_ready:
            gen.wait_ready(self.ready_timeout * wait.slowdown())

    def undo(self, ctx):
        ctx.watch.forget(self.state.get("pid", 0))
        gen = ctx.live.pop("generator", None)
        if gen is not None:
            gen.close()
        process.stop(self.state.get("pid", 0), WORKER)
        if self.socket_dir:
            shutil.rmtree(self.socket_dir, ignore_errors=True)
