#!/usr/bin/env python3
"""pktlab's kernel backend vs trafgen (netsniff-ng) vs scapy sendp: 64-byte frames on a veth pair, one core.

The pair (a0 in one namespace, b0 in another) is built and removed with
pktlab's own plan steps (AddNetns, AddVethPair: IPv6 off, up, carrier). Every
tool sends the same 60-byte frame (build_frame(64): a destination MAC nobody
owns, so b0's stack drops it early) out of a0 on the same CPU, and every rate
is measured the same way: b0's rx_packets (IFLA_STATS64, the kernel's own
counter) over the same window after a warm-up. pktlab runs one TX-only stream
(rx_port None), like for like with the others, in both kernel modes; its TX+RX
figure (a stream a0 -> b0 that the same loop receives back on b0) is printed
too. Rounds alternate the tools; medians are compared.

trafgen forks one process per --cpus and pins the i-th to CPU i whatever
taskset said, so with --cpus 1 it always runs on CPU 0: the default core is 0
for every tool. trafgen runs with its defaults otherwise (TX_RING, qdisc
bypass); --trafgen-qdisc adds a second trafgen variant with -q (qdisc path)
and the better of the two is the one compared.

    python bench/kernel_vs_trafgen.py [--core 0] [--duration 5] [--rounds 3]

Prints all figures and, last, ratio=X.XX (pktlab in its default kernel mode,
TX only / trafgen). Needs root, trafgen on PATH.
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
import threading
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pktlab import journal  # noqa: E402
from pktlab.context import RunContext  # noqa: E402
from pktlab.gen import GenConfig, GeneratorProcess, StreamSpec, build_frame  # noqa: E402
from pktlab.gen.config import DEFAULT_KERNEL_MODE, KERNEL_MODES  # noqa: E402
from pktlab.host import names  # noqa: E402
from pktlab.host.links import AddVethPair  # noqa: E402
from pktlab.host.netcounters import LinkCounters  # noqa: E402
from pktlab.host.netns import AddNetns  # noqa: E402
from pktlab.plan import Applied  # noqa: E402

WARMUP_S = 1.0
SCAPY_S = 3.0


class Pair:
    def __init__(self, tag: str):
        self.a0, self.b0 = names.link_name(tag, "a0"), names.link_name(tag, "b0")
        self.na, self.nb = names.netns_name(tag, "a"), names.netns_name(tag, "b")
        self.counters = LinkCounters([(self.b0, self.nb)])

    def rx(self) -> tuple[int, int]:
        c = self.counters.snapshot()[self.b0]
        return c["rx_packets"], c["rx_bytes"]


@contextmanager
def veth_pair(state_dir: Path, tag: str):
    pair = Pair(tag)
    with Applied(journal.Journal.create(state_dir, "bench"), RunContext(state_dir, "bench")) as a:
        a.apply_all([AddNetns(pair.na), AddNetns(pair.nb), AddVethPair(pair.a0, pair.b0, pair.na, pair.nb)])
        yield pair
    if a.undo_errors:
        print(f"could not undo everything: {a.undo_errors}; run pktlab --state-dir {state_dir} restore",
              file=sys.stderr)


def measure(pair: Pair, window: float, out: dict) -> None:
    """b0's receive rate over `window` seconds after the warm-up [pps], and bytes per frame."""
    time.sleep(WARMUP_S)
    p0, b0 = pair.rx()
    t0 = time.monotonic()
    time.sleep(window)
    p1, b1 = pair.rx()
    t1 = time.monotonic()
    out["pps"] = (p1 - p0) / (t1 - t0)
    out["bytes"] = (b1 - b0) / (p1 - p0) if p1 > p0 else 0.0


def run_pktlab(pair: Pair, mode: str, core: int, window: float, log: Path, receive: bool = False):
    """(kernel-counted pps, the generator's TrialStats) for one maximum-rate trial."""
    ports = (f"{pair.a0}@{pair.na}",) + ((f"{pair.b0}@{pair.nb}",) if receive else ())
    cfg = GenConfig(eal_args=(), ports=ports, streams=(StreamSpec(0, 1 if receive else None, build_frame(64)),),
                    core=core, backend="kernel", kernel_mode=mode)
    out: dict = {}
    with GeneratorProcess(cfg, log) as gen:
        gen.wait_ready(30)
        t = threading.Thread(target=measure, args=(pair, window, out))
        t.start()
        stats = gen.trial(None, WARMUP_S + window + 0.5, 0.2)
        t.join()
    return out, stats


def trafgen_config(path: Path) -> Path:
    frame = build_frame(64)
    path.write_text("/* pktlab build_frame(64): 60 bytes + FCS */\n{ "
                    + ", ".join(f"0x{b:02x}" for b in frame) + " }\n")
    return path


def run_tool(pair: Pair, argv: list[str], window: float, log: Path, stop=signal.SIGINT) -> tuple[dict, str]:
    """Run argv in a0's namespace until the window is measured; (measurement, its output)."""
    out: dict = {}
    with open(log, "wb") as fh:
        # a session of its own: the signal goes to the whole group, as Ctrl-C
        # would (trafgen's sending child prints its counts when it gets one)
        proc = subprocess.Popen(["ip", "netns", "exec", pair.na, *argv], stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            measure(pair, window, out)
        finally:
            os.killpg(proc.pid, stop)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return out, log.read_text(errors="replace")


def run_trafgen(pair: Pair, core: int, window: float, cfg: Path, log: Path, qdisc: bool) -> tuple[dict, str]:
    argv = ["taskset", "-c", str(core), "trafgen", "--in", str(cfg), "--out", pair.a0, "--cpus", "1"]
    out, text = run_tool(pair, argv + (["--qdisc-path"] if qdisc else []), window, log)
    cpus = sorted(set(re.findall(r"on CPU(\d+)", text)))
    out["cpu"] = ",".join(cpus) or "?"
    if not out.get("pps"):
        print(f"  trafgen sent nothing, see {log}:\n{text}", file=sys.stderr)
    return out, text


SCAPY = """
import sys
from scapy.all import Ether, conf, sendp
conf.verb = 0
frame = Ether(bytes.fromhex(sys.argv[2]))
try:
    sendp(frame, iface=sys.argv[1], loop=1, inter=0, verbose=False)
except KeyboardInterrupt:
    pass
"""


def run_scapy(pair: Pair, core: int, log: Path) -> dict:
    argv = ["taskset", "-c", str(core), sys.executable, "-c", SCAPY, pair.a0, build_frame(64).hex()]
    return run_tool(pair, argv, SCAPY_S, log)[0]


def core_busy(core: int, seconds: float = 0.5) -> float:
    """Fraction of `core` that something else keeps busy right now."""
    def sample():
        with open("/proc/stat") as fh:
            for line in fh:
                if line.startswith(f"cpu{core} "):
                    v = [int(x) for x in line.split()[1:]]
                    return sum(v), v[3] + v[4]  # total, idle + iowait
        raise SystemExit(f"no cpu{core} in /proc/stat")
    t0, i0 = sample()
    time.sleep(seconds)
    t1, i1 = sample()
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--core", type=int, default=0, help="CPU for every tool (trafgen --cpus 1 runs on CPU 0)")
    ap.add_argument("--duration", type=float, default=5.0, help="measured window per run [s]")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--trafgen-qdisc", action="store_true", help="also run trafgen -q (qdisc path)")
    ap.add_argument("--no-scapy", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (namespaces, veths, packet sockets)")
    if shutil.which("trafgen") is None:
        sys.exit("trafgen not found on PATH (apt-get install netsniff-ng)")

    busy = core_busy(args.core)
    if busy > 0.1:
        print(f"WARNING: core {args.core} is {busy:.0%} busy with something else; figures will be low "
              "(an OVS PMD? stop it first)", flush=True)
    work = Path(tempfile.mkdtemp(prefix="pktlab-bench-", dir="/run" if os.access("/run", os.W_OK) else None))
    tag = names.new_tag()
    modes = [DEFAULT_KERNEL_MODE] + [m for m in KERNEL_MODES if m != DEFAULT_KERNEL_MODE]
    tx = {m: [] for m in modes}
    txrx = {m: [] for m in modes}
    gen_rx = {m: [] for m in modes}
    gen_lost = {m: [] for m in modes}
    tg = {False: [], True: []}
    tg_cpu, per_frame = set(), {}
    try:
        with veth_pair(work, tag) as pair:
            cfg = trafgen_config(work / "frame64.cfg")
            print(f"veth {pair.a0} (netns {pair.na}) -> {pair.b0} (netns {pair.nb}); 64 B frames; core {args.core}; "
                  f"{args.duration:g} s windows after {WARMUP_S:g} s warm-up, counted by the kernel on "
                  f"{pair.b0} (rx_packets); logs in {work}", flush=True)
            for r in range(args.rounds):
                line = []
                for m in modes:
                    k, _ = run_pktlab(pair, m, args.core, args.duration, work / f"pktlab-{m}-{r}.log")
                    tx[m].append(k["pps"])
                    per_frame[f"pktlab {m}"] = k["bytes"]
                    line.append(f"pktlab {m} {k['pps'] / 1e6:.3f}")
                for q in ((False, True) if args.trafgen_qdisc else (False,)):
                    k, _ = run_trafgen(pair, args.core, args.duration, cfg, work / f"trafgen-{int(q)}-{r}.log", q)
                    tg[q].append(k["pps"])
                    tg_cpu.add(k["cpu"])
                    per_frame["trafgen"] = k["bytes"]
                    line.append(f"trafgen{' -q' if q else ''} {k['pps'] / 1e6:.3f}")
                for m in modes:
                    k, s = run_pktlab(pair, m, args.core, args.duration, work / f"pktlab-rx-{m}-{r}.log",
                                      receive=True)
                    txrx[m].append(k["pps"])
                    gen_rx[m].append(s.rx_pps)
                    gen_lost[m].append(s.lost / max(1, s.tx_packets))
                    line.append(f"pktlab {m} tx+rx {k['pps'] / 1e6:.3f}")
                print(f"round {r + 1} [Mpps]: " + ", ".join(line), flush=True)
            scapy = None if args.no_scapy else run_scapy(pair, args.core, work / "scapy.log")
    finally:
        if not journal.pending(work):
            shutil.rmtree(work, ignore_errors=True)

    med = {m: statistics.median(v) for m, v in tx.items()}
    n = args.rounds
    for m in modes:
        note = " [default mode]" if m == DEFAULT_KERNEL_MODE else ""
        print(f"pktlab {m:<8} tx    {med[m] / 1e6:.3f} Mpps (median of {n}; TX-only stream){note}")
    for m in modes:
        print(f"pktlab {m:<8} tx+rx {statistics.median(txrx[m]) / 1e6:.3f} Mpps on the wire a0 -> b0; the same "
              f"loop received {statistics.median(gen_rx[m]) / 1e6:.3f} Mpps back on b0, "
              f"lost {statistics.median(gen_lost[m]):.2%}")
    best_q = max(tg, key=lambda q: statistics.median(tg[q]) if tg[q] else 0.0)
    for q in (False, True):
        if tg[q]:
            how = "qdisc path (-q)" if q else "qdisc bypass (default)"
            print(f"trafgen         tx    {statistics.median(tg[q]) / 1e6:.3f} Mpps (median of {n}; --cpus 1, {how}; "
                  f"ran on CPU {'/'.join(sorted(tg_cpu))})")
    if scapy is not None:
        print(f"scapy sendp     tx    {scapy['pps'] / 1e6:.4f} Mpps ({SCAPY_S:g} s; sendp(frame, loop=1): one "
              "dissected frame, whose bytes scapy caches, sent over and over)")
    print("bytes per frame on b0: " + ", ".join(f"{k} {v:.0f}" for k, v in per_frame.items()))
    if tg_cpu - {str(args.core)}:
        print(f"WARNING: trafgen ran on CPU {'/'.join(sorted(tg_cpu))}, not core {args.core}: use --core 0")
    print(f"ratio={med[DEFAULT_KERNEL_MODE] / statistics.median(tg[best_q]):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
