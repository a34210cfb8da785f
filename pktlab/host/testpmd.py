"""DPDK testpmd as a run's forwarder on the DUT: started by a step, stopped by its undo.

Where the DUT is a host's NIC functions (the VFs of sriov-vf with the DUT on its
own host), something on the DUT must carry the generator's frames from one port
to the other: testpmd in `mac` mode (each frame's source rewritten to the sending
port's MAC, which the VF's spoof check requires, its destination to that port's
peer, --eth-peer) or `io` mode (frames as they came). It runs on the lcores and
hugepages the planner placed on the ports' NUMA node, with a small mbuf pool, its
own file prefix and --in-memory, and prints its port statistics to its log; the
run's watcher knows its pid, so its death ends the run.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .. import wait
from ..errors import StepError
from ..plan import Step
from . import process

TESTPMD = "/usr/bin/dpdk-testpmd"
COMM = "dpdk-testpmd"
# what testpmd (22.11) prints once its ports forward, without -i (--auto-start: the second)
READY = ("No commandline core given, start packet forwarding", "Start automatic packet forwarding")
START_TIMEOUT = 60.0  # [s] EAL init and two ports started (times wait.slowdown() when emulated)


@dataclass
class StartTestpmd(Step):
    kind = "start-testpmd"
    ports: tuple[str, ...]  # PCI addresses testpmd forwards between (its ports 0 and 1)
    lcores: tuple[int, ...]  # main lcore, then the forwarding lcore
    eal_args: tuple[str, ...]  # memory, hugepage dir, file prefix
    log: str
    forward_mode: str = "mac"  # mac (source := the port's MAC, destination := its peer) or io
    peers: tuple[str, ...] = ()  # mac mode: the destination MAC of frames each port sends
    mbufs: int = 8192  # the mbuf pool (testpmd's default pool does not fit small hugepage budgets)

    def argv(self) -> list[str]:
        eal = ["-l", ",".join(str(c) for c in self.lcores), *self.eal_args]
        eal += [a for pci in self.ports for a in ("-a", pci)]
        app = [f"--forward-mode={self.forward_mode}", "--nb-cores=1", "--rxq=1", "--txq=1",
               f"--total-num-mbufs={self.mbufs}", "--stats-period=5"]
        app += [f"--eth-peer={i},{mac}" for i, mac in enumerate(self.peers) if self.forward_mode == "mac"]
        return [TESTPMD, *eal, "--", *app]

    def describe(self):
        how = (f"mac mode, peers {', '.join(self.peers)}" if self.forward_mode == "mac" else "io mode")
        return (f"start testpmd forwarding between {' and '.join(self.ports)} ({how}; lcores "
                f"{','.join(map(str, self.lcores))}), wait until it forwards")

    def describe_undo(self):
        return "stop testpmd (its ports and memory go with it)"

    def apply(self, ctx):
        log = Path(self.log)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as out:
            # its own session: it outlives the `pktlab step apply` that starts it on a DUT
            proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.state["pid"] = proc.pid
        ctx.journal_state()
        ctx.watch.add(proc.pid, "testpmd", COMM, (log,), returncode=proc.poll)
        timeout = START_TIMEOUT * wait.slowdown()
        deadline = time.monotonic() + timeout
        while not any(r in log.read_text(errors="replace") for r in READY):
            if proc.poll() is not None:
                raise StepError(f"testpmd exited during start (status {proc.returncode}): {_tail(log)}")
            if time.monotonic() > deadline:
                raise StepError(f"testpmd not forwarding after {timeout:.0f} s: {_tail(log)}")
            time.sleep(0.2)

    def undo(self, ctx):
        pid = self.state.get("pid", 0)
        ctx.watch.forget(pid)
        if pid and process.is_running(pid, COMM):
            os.kill(pid, signal.SIGINT)  # testpmd stops its ports and prints its totals
            wait.until(lambda: not _alive(pid), 20 * wait.slowdown(), 0.1)
        process.stop(pid, COMM, timeout=10)  # still there: SIGTERM, then SIGKILL


def _alive(pid: int) -> bool:
    process.reap(pid)
    return process.is_running(pid, COMM)


def _tail(log: Path, n: int = 5) -> str:
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()] if log.exists() else []
    return " | ".join(lines[-n:]) or "(no output)"
