"""The packet generator: a C poll loop (csrc/) run in a worker process.

    cfg = GenConfig(eal_args=(...), ports=("net_ring0",),
                    streams=(StreamSpec(0, 0, build_frame(64)),), core=1)
    with GeneratorProcess(cfg, Path("gen.log")) as gen:
        gen.wait_ready(30)
        stats = gen.trial(1e6, duration_s=5)
"""
from .config import GenConfig, StreamSpec
from .generator import GeneratorProcess, PortInfo
from .latency import summarize
from .stats import LatencySummary, LoopStats, PortStats, TrialStats
from .template import build_frame

__all__ = ["GenConfig", "GeneratorProcess", "LatencySummary", "LoopStats", "PortInfo", "PortStats",
           "StreamSpec", "TrialStats", "build_frame", "summarize"]
