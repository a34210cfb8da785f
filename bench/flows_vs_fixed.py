#!/usr/bin/env python3
"""What a million flows cost per packet: pktlab's generator sending 1M flows over
four fields (source and destination address, source and destination port) vs
the same generator sending one fixed template, 64-byte frames into net_null.

The peer is the generator itself with nothing varied: the ratio is the share of
the fixed template's rate left once every frame gets its flow's four header
words and both checksums follow them (the stamp and the UDP checksum are
patched in both). Target: >= 0.90 in both orders, sequential and random (a
permutation of the flows: every flow once per million frames). Both send from
the loop's flow table (csrc/pg_flowtab.h), built at set-up and not timed here.

The configurations run at once as worker processes on the same core, each idle
while another sends; a round is one trial of each, back to back, in alternating
order, and its ratio is taken within the round. A rate here is frames per
second of the worker's CPU time (utime + stime from /proc over the trial), not
of wall time: on a shared 2-core host a worker descheduled for another
session's build would otherwise count that time as its own slowness (wall-time
rates are printed too). The figure is the median of the rounds' ratios,
printed with their spread.

    python bench/flows_vs_fixed.py [--core N] [--duration 3] [--rounds 7] [--warmup 1]

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

FLOWS = 1 << 20
# four fields, each stepping with the flow: 1M distinct (src, dst) address pairs, and
# ports over the dynamic range, the shape of CSIT's and NFVbench's multi-flow profiles
FIELDS = (("src_ip", FLOWS), ("dst_ip", FLOWS), ("src_port", 64512), ("dst_port", 64512))
CASES = {"fixed": dict(), "1M sequential": dict(flows=FLOWS, fields=FIELDS),
         "1M random": dict(flows=FLOWS, fields=FIELDS, order="random")}


def config(core: int, name: str, spec: dict):
    from pktlab.gen import GenConfig, StreamSpec, build_frame

    tag = name.split()[-1]
    return GenConfig(eal_args=("--no-pci", "--no-telemetry", "--no-huge", "-m", "512", "--no-shconf",
                               f"--file-prefix=pktlab-bench-flows-{os.getpid()}-{tag}"),
                     ports=("net_null0",), streams=(StreamSpec(0, None, build_frame(64), **spec),), core=core)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all its threads [s]."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    from pktlab.gen import GeneratorProcess

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--core", type=int, default=max(os.sched_getaffinity(0)))
    ap.add_argument("--duration", type=float, default=3.0, help="per trial [s]")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--warmup", type=float, default=1.0, help="a discarded trial per worker first [s]")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (DPDK)")
    logs = Path(tempfile.mkdtemp(prefix="pktlab-bench-flows-"))
    print(f"64 B frames into net_null on core {args.core}, {args.duration:g} s trials; logs in {logs}")
    rates = {name: [] for name in CASES}
    with ExitStack() as stack:
        gens = {}
        for name, spec in CASES.items():
            gen = stack.enter_context(GeneratorProcess(config(args.core, name, spec),
                                                       logs / f"{name.replace(' ', '-')}.log"))
            gen.wait_ready(60)
            if args.warmup > 0:
                gen.trial(None, args.warmup, 0.0)
            gens[name] = gen
        names = list(CASES)
        for r in range(args.rounds):
            wall = {}
            for name in (names if r % 2 == 0 else names[::-1]):
                cpu0 = cpu_seconds(gens[name].pid)
                st = gens[name].trial(None, args.duration, 0.0)
                rates[name].append(st.tx_packets / (cpu_seconds(gens[name].pid) - cpu0))
                wall[name] = st.tx_pps
            fixed = rates["fixed"][-1]
            print(f"  round {r + 1}: " + ", ".join(f"{n} {rates[n][-1] / 1e6:.2f} Mpps/CPU-s "
                                                  f"({wall[n] / 1e6:.2f} wall)" for n in names)
                  + f"; ratios {rates['1M sequential'][-1] / fixed:.3f} / {rates['1M random'][-1] / fixed:.3f}",
                  flush=True)
    for name in names[1:]:
        ratios = [a / b for a, b in zip(rates[name], rates["fixed"])]
        print(f"{name} / fixed: median {statistics.median(ratios):.3f}, min {min(ratios):.3f}, "
              f"max {max(ratios):.3f} over {len(ratios)} rounds")
    for name in names[1:]:
        med = statistics.median(a / b for a, b in zip(rates[name], rates["fixed"]))
        print(f"ratio {name.split()[-1]}={med:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
