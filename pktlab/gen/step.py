"""The generator process as a plan step: started after the data path is built,
stopped first on the way back (it holds vhost sockets and hugepage memory)."""
from __future__ import annotations

import base64
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..host import process
from ..plan import Step

WORKER = "pktlab.gen.worker"  # a word of the worker's command line


def config_to_dict(cfg) -> dict:
    return {
        "eal_args": list(cfg.eal_args), "ports": list(cfg.ports), "core": cfg.core, "burst": cfg.burst,
        "nb_mbufs": cfg.nb_mbufs, "ring_size": cfg.ring_size,
        "streams": [{"tx_port": s.tx_port, "rx_port": s.rx_port, "flows": s.flows, "vary": s.vary,
                     "template": base64.b64encode(s.template).decode()} for s in cfg.streams],
    }


def config_from_dict(d: dict):
    from .config import GenConfig, StreamSpec

    streams = tuple(StreamSpec(tx_port=s["tx_port"], rx_port=s["rx_port"], flows=s["flows"], vary=s["vary"],
                               template=base64.b64decode(s["template"])) for s in d["streams"])
    return GenConfig(eal_args=tuple(d["eal_args"]), ports=tuple(d["ports"]), streams=streams, core=d["core"],
                     burst=d["burst"], nb_mbufs=d["nb_mbufs"], ring_size=d["ring_size"])


@dataclass
class StartGenerator(Step):
    kind = "generator"
    config: dict  # config_to_dict(GenConfig)
    log: str
    socket_dir: str = ""  # where its vhost-user server sockets live (removed on undo)
    ready_timeout: float = 60.0

    def describe(self):
        ports = ", ".join(p.split(",")[0] for p in self.config["ports"])
        return (f"start the generator on core {self.config['core']} with ports {ports} "
                f"(EAL {' '.join(self.config['eal_args'])})")

    def describe_undo(self):
        return "stop the generator" + (f" and remove its sockets in {self.socket_dir}" if self.socket_dir else "")

    def apply(self, ctx):
        from .generator import GeneratorProcess

        if self.socket_dir:
            d = Path(self.socket_dir)
            d.mkdir(parents=True, exist_ok=True)
            for stale in d.glob("*.sock"):  # a stale socket makes virtio-user's bind fail
                stale.unlink()
        gen = GeneratorProcess(config_from_dict(self.config), Path(self.log))
        ctx.live["generator"] = gen
        gen.start()
        self.state["pid"] = gen.pid
        ctx.journal_state()
        self.state["ports"] = [p.__dict__ for p in gen.wait_ready(self.ready_timeout)]

    def undo(self, ctx):
        gen = ctx.live.pop("generator", None)
        if gen is not None:
            gen.close()
        process.stop(self.state.get("pid", 0), WORKER)
        if self.socket_dir:
            shutil.rmtree(self.socket_dir, ignore_errors=True)
