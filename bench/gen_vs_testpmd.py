#!/usr/bin/env python3
"""pktlab's generator vs dpdk-testpmd txonly: 64-byte frames into net_null, on one
or more lcores.

Same cores, same duration, same memory mode, same device. pktlab runs one
TX-only stream (rx_port None) through its worker process, exactly as a run
does, with one poll loop per core (GenConfig.lcores) and as many flows as
loops; testpmd runs --forward-mode=txonly --txpkts=64 with one forwarding
lcore per core and as many queues (its main lcore shares the first core: it
only sleeps and prints). Both are measured in the same steady state: pktlab's
worker runs a discarded warm-up trial of --warmup seconds before the measured
one, and testpmd's periodic Tx-pps are averaged after the same warm-up.

A round is one run of each, back to back, in alternating order (pktlab first
in odd rounds, testpmd first in even ones), and its ratio is taken within the
round: what else runs on the machine (on a shared 2-core host: other sessions'
builds and tests) then slows both sides of a ratio alike instead of whichever
tool happened to run while it did. The figure is the median of the rounds'
ratios; the spread of the rounds' ratios is printed with it.

    python bench/gen_vs_testpmd.py [--lcores 1 0,1] [--duration 10] [--rounds 3] [--warmup 2] [--huge-dir DIR]

Prints both figures per round and set and, last, ratio=X.XX (pktlab /
testpmd) of the last set. Needs root. On a 2-core machine two busy lcores
share the CPUs with the kernel and the bench itself: the 2-lcore figures are
noisy.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PREFIX = f"pktlab-bench-{os.getpid()}"


def mem_args(huge_dir: str | None) -> list[str]:
    # --in-memory needs hugepages; without, --no-shconf keeps EAL's files away
    if huge_dir:
        return ["--in-memory", f"--huge-dir={huge_dir}", "-m", "1024"]
    return ["--no-huge", "-m", "1024", "--no-shconf"]


def run_pktlab(cores: tuple[int, ...], duration: float, warmup: float, huge_dir: str | None, log: Path) -> float:
    from pktlab.gen import GenConfig, GeneratorProcess, StreamSpec, build_frame

    cfg = GenConfig(eal_args=("--no-pci", "--no-telemetry", f"--file-prefix={PREFIX}-gen",
                              *mem_args(huge_dir)),
                    ports=("net_null0",), streams=(StreamSpec(0, None, build_frame(64), flows=len(cores)),),
                    core=cores[0], lcores=cores)
    with GeneratorProcess(cfg, log) as gen:
        gen.wait_ready(60)
        if warmup > 0:
            gen.trial(None, warmup, 0.0)
        stats = gen.trial(None, duration, 0.0)
        loops = gen.loops
    if stats.tx_dropped:
        print(f"  (pktlab: {stats.tx_dropped} refused by the TX queue)")
    if len(loops) > 1:
        print("  (pktlab loops: " + ", ".join(f"lcore {lp.lcore} {lp.tx_pps / 1e6:.2f} Mpps" for lp in loops) + ")")
    return stats.tx_pps


def run_testpmd(cores: tuple[int, ...], duration: float, warmup: float, huge_dir: str | None, log: Path) -> float:
    exe = shutil.which("dpdk-testpmd")
    if exe is None:
        sys.exit("dpdk-testpmd not found on PATH")
    # testpmd needs a main lcore besides the forwarding ones: it shares the first core
    lcores = ",".join([f"0@{cores[0]}"] + [f"{i + 1}@{c}" for i, c in enumerate(cores)])
    n = len(cores)
    cmd = [exe, f"--lcores={lcores}", "--main-lcore=0", "--no-pci", "--no-telemetry",
           f"--file-prefix={PREFIX}-tp", *mem_args(huge_dir), "--vdev=net_null0", "--",
           f"--nb-cores={n}", f"--txq={n}", f"--rxq={n}",
           "--forward-mode=txonly", "--txpkts=64", "--stats-period=1"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            # wait for forwarding to start, then give it `duration` seconds
            deadline = time.monotonic() + 60
            while b"Tx-pps" not in log.read_bytes():
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"testpmd did not start, see {log}")
                time.sleep(0.1)
            time.sleep(warmup + duration + 0.5)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    rates = [int(x) for x in re.findall(rb"Tx-pps:\s+(\d+)", log.read_bytes())]
    # the first period includes start-up; then the warm-up, as pktlab's
    rates = [r for r in rates[1 + int(round(warmup)):] if r > 0]
    if not rates:
        sys.exit(f"no Tx-pps in testpmd output, see {log}")
    return statistics.mean(rates)


def cleanup_runtime_dirs() -> None:
    base = Path("/var/run/dpdk")
    for d in base.glob(f"{PREFIX}-*"):
        try:
            d.rmdir()
        except OSError:
            pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lcores", nargs="+", default=[str(max(os.sched_getaffinity(0)))],
                    help="sets of cores, each measured: '1' one loop on CPU 1, '0,1' two loops")
    ap.add_argument("--duration", type=float, default=10.0, help="per run [s]")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=float, default=2.0, help="discarded before each measurement [s]")
    ap.add_argument("--huge-dir", help="hugetlbfs mount with free pages (default: --no-huge)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (DPDK)")

    sets = [tuple(int(c) for c in s.split(",")) for s in args.lcores]
    logs = Path(tempfile.mkdtemp(prefix="pktlab-bench-"))
    mode = f"hugepages in {args.huge_dir}" if args.huge_dir else "--no-huge"
    print(f"64 B frames into net_null, {args.duration:g} s per run, {mode}; logs in {logs}")
    results = []
    try:
        for cores in sets:
            tag = "-".join(map(str, cores))
            print(f"lcores {cores}:", flush=True)
            ours, theirs = [], []
            for r in range(args.rounds):
                runs = {"pktlab": lambda: ours.append(run_pktlab(cores, args.duration, args.warmup, args.huge_dir,
                                                                 logs / f"pktlab-{tag}-{r}.log")),
                        "testpmd": lambda: theirs.append(run_testpmd(cores, args.duration, args.warmup, args.huge_dir,
                                                                     logs / f"testpmd-{tag}-{r}.log"))}
                for name in (("pktlab", "testpmd") if r % 2 == 0 else ("testpmd", "pktlab")):
                    runs[name]()
                print(f"  round {r + 1}: pktlab {ours[-1] / 1e6:.2f} Mpps, testpmd {theirs[-1] / 1e6:.2f} Mpps, "
                      f"ratio {ours[-1] / theirs[-1]:.3f}", flush=True)
            results.append((cores, ours, theirs))
    finally:
        cleanup_runtime_dirs()
    for cores, ours, theirs in results:
        ratios = [p / t for p, t in zip(ours, theirs)]
        print(f"lcores {','.join(map(str, cores))}: pktlab tx {statistics.median(ours) / 1e6:.2f} Mpps, testpmd tx "
              f"{statistics.median(theirs) / 1e6:.2f} Mpps (medians of {args.rounds}), pktlab/testpmd "
              f"{statistics.median(ratios):.2f} (median of the rounds' ratios, which spread "
              f"{(max(ratios) - min(ratios)) / statistics.median(ratios):.1%})")
    _, ours, theirs = results[-1]
    print(f"ratio={statistics.median(p / t for p, t in zip(ours, theirs)):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
