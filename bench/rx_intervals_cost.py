#!/usr/bin/env python3
"""What soak intervals cost the receive path: pktlab's generator sending 64-byte
frames into net_ring0, a loopback (what one loop sends it receives back), with
1 ms interval snapshots vs the same generator without them, same run.

Both cases do the per-frame receive work: the stamp found, sequence and
duplicate accounting, one-way latency into the histogram and IPDV against the
stream's previous frame (always on, so its own cost is not split out here). The
1 ms case adds a snapshot of every counter at each interval boundary in the C
loop and the worker's thread that drains them (its CPU time is the worker's).
The ratio is frames received per CPU-second of the worker, 1 ms intervals over
none; rounds alternate the order, the figure is the median with its spread
(see flows_vs_fixed.py for why CPU seconds).

    python bench/rx_intervals_cost.py [--core N] [--duration 3] [--rounds 7] [--interval 0.001]

Needs root (DPDK EAL in the workers); no hugepages (--no-huge).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from flows_vs_fixed import cpu_seconds  # noqa: E402

CASES = ("no intervals", "intervals")


def config(core: int, tag: str):
    from pktlab.gen import GenConfig, StreamSpec, build_frame

    return GenConfig(eal_args=("--no-pci", "--no-telemetry", "--no-huge", "-m", "512", "--no-shconf",
                               f"--file-prefix=pktlab-bench-rxint-{os.getpid()}-{tag}"),
                     ports=("net_ring0",), streams=(StreamSpec(0, 0, build_frame(64)),), core=core)


def main() -> int:
    from pktlab.gen import GeneratorProcess

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--core", type=int, default=max(os.sched_getaffinity(0)))
    ap.add_argument("--duration", type=float, default=3.0, help="per trial [s]")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--interval", type=float, default=0.001, help="snapshot interval [s]")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (DPDK)")
    logs = Path(tempfile.mkdtemp(prefix="pktlab-bench-rxint-"))
    print(f"64 B frames through net_ring0 and back on core {args.core}, {args.duration:g} s trials, "
          f"intervals {args.interval * 1e3:g} ms; logs in {logs}")
    rates = {name: [] for name in CASES}
    seen = []
    with ExitStack() as stack:
        gens = {}
        for i, name in enumerate(CASES):
            gens[name] = stack.enter_context(GeneratorProcess(config(args.core, str(i)), logs / f"{i}.log"))
            gens[name].wait_ready(60)
            gens[name].trial(None, 1.0, 0.2)
        for r in range(args.rounds):
            for name in (CASES if r % 2 == 0 else CASES[::-1]):
                kw = dict(interval_s=args.interval, on_interval=seen.append) if name == "intervals" else {}
                cpu0 = cpu_seconds(gens[name].pid)
                st = gens[name].trial(None, args.duration, 0.2, **kw)
                rates[name].append(st.rx_packets / (cpu_seconds(gens[name].pid) - cpu0))
            print(f"  round {r + 1}: " + ", ".join(f"{n} {rates[n][-1] / 1e6:.2f} Mpps rx/CPU-s" for n in CASES)
                  + f"; ratio {rates['intervals'][-1] / rates['no intervals'][-1]:.3f}", flush=True)
    if not seen:
        sys.exit("no interval records came back: the intervals case measured nothing")
    ratios = [a / b for a, b in zip(rates["intervals"], rates["no intervals"])]
    print(f"intervals / none: median {statistics.median(ratios):.3f}, min {min(ratios):.3f}, "
          f"max {max(ratios):.3f} over {len(ratios)} rounds ({len(seen)} interval records)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
