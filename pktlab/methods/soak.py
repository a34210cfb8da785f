"""Soak: one trial of hours at a fixed rate, its counters per interval streamed to disk.

The generator's loops snapshot their own counters every interval (no syscall in
the loop; gen.intervals); each interval arrives here as the trial runs and is
appended to a JSON lines file next to the results at once, with pktlab's and
the worker's resident memory, so a soak of days keeps nothing growing in memory
and a Ctrl-C (or a crash) keeps every interval measured. Ctrl-C ends the trial
early: the record is kept with interrupted = true, then the interrupt goes on
(the runner writes the result as "interrupted" and restores the host).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..errors import GeneratorError
from ..results import SoakRecord

_SAY_EVERY = 60.0  # [s] of soak between progress lines
_SYNC_EVERY = 10.0  # [s] between fsyncs of the intervals file


def rss_kb(pid: int | None = None) -> int | None:
    """Resident memory of a process (this one by default) [kB], None if it is gone."""
    try:
        with open(f"/proc/{pid or 'self'}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


class _Sink:
    """Appends intervals to the file as they come; keeps only what the record sums up."""

    def __init__(self, path: Path, worker_pid: int | None, out, interval_s: float):
        self.path, self.worker_pid, self.out = path, worker_pid, out
        self.f = open(path, "a", encoding="utf-8")
        self.n = self.lossy = self.worst = 0
        self.tx = self.rx = self.lost = 0
        self.rss = self.worker_rss = (None, None)
        self.say_every = max(1, round(_SAY_EVERY / interval_s))
        self.synced = time.monotonic()

    def __call__(self, rec: dict) -> None:
        rec = dict(rec, rss_kb=rss_kb(), worker_rss_kb=rss_kb(self.worker_pid))
        self.f.write(json.dumps(rec, allow_nan=False) + "\n")
        self.f.flush()
        if time.monotonic() - self.synced > _SYNC_EVERY:
            os.fsync(self.f.fileno())
            self.synced = time.monotonic()
        self.n += 1
        self.tx, self.rx, self.lost = self.tx + rec["tx"], self.rx + rec["rx"], self.lost + rec["lost"]
        self.lossy += rec["lost"] > 0
        self.worst = max(self.worst, rec["lost"])
        self.rss = (self.rss[0] if self.rss[0] is not None else rec["rss_kb"], rec["rss_kb"])
        self.worker_rss = (self.worker_rss[0] if self.worker_rss[0] is not None else rec["worker_rss_kb"],
                           rec["worker_rss_kb"])
        if self.n % self.say_every == 0 or rec["lost"] > 0 and self.lossy <= 10:
            p99 = rec.get("lat_p99_ns")
            self.out(f"   soak {rec['t_end_s']:8.0f} s: tx {self.tx:,} rx {self.rx:,} lost {self.lost:,} "
                     f"(this interval {rec['lost']})" + ("" if p99 is None else f", p99 {p99 / 1e3:.1f} us")
                     + f", rss {rec['rss_kb']} kB, worker {rec['worker_rss_kb']} kB")

    def close(self) -> None:
        if not self.f.closed:
            self.f.flush()
            os.fsync(self.f.fileno())
            self.f.close()


def run_soak(session, scenario) -> SoakRecord:
    """The soak of scenario.method on session's generator; the intervals go to
    session.stream_path. On Ctrl-C the record is left in session.kept and the
    KeyboardInterrupt goes on."""
    m = scenario.method
    (rate,) = m.offered
    gen = session.gen
    path = Path(session.stream_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sink = _Sink(path, gen.pid, session.out, m.interval)
    session.out(f"   soak at {rate:,.0f} pps for {m.duration:g} s, counters every {m.interval:g} s into {path}")
    session.resync()
    interrupted, stats = False, None
    try:
        try:
            stats = gen.trial(rate, m.duration, session.drain_s, interval_s=m.interval, on_interval=sink)
        except KeyboardInterrupt:
            interrupted = True
            session.out("   soak interrupted: collecting what was measured")
            gen.interrupt()  # a SIGTERM or a kill -INT reached only us
            try:
                stats = gen.trial_result(30.0, sink)
            except (GeneratorError, KeyboardInterrupt):
                stats = None
    finally:
        sink.close()
    interrupted = interrupted or (stats is not None and stats.interrupted)
    trial = None
    if stats is not None:
        session.keep(stats)
        trial = len(session.trials) - 1
        session.say(session.trials[-1], "soak: ")
    record = SoakRecord(
        rate_pps=rate, duration_s=m.duration, interval_s=m.interval, intervals_file=path.name,
        n_intervals=sink.n, trial=trial, interrupted=interrupted,
        sums_match=None if stats is None else (sink.tx, sink.rx, sink.lost) == (
            stats.tx_packets, stats.rx_packets, stats.lost),
        lossy_intervals=sink.lossy, worst_interval_lost=sink.worst,
        rss_start_kb=sink.rss[0], rss_end_kb=sink.rss[1],
        worker_rss_start_kb=sink.worker_rss[0], worker_rss_end_kb=sink.worker_rss[1])
    session.out(f"   soak: {sink.n} intervals in {path.name}; pktlab RSS {record.rss_start_kb} -> "
                f"{record.rss_end_kb} kB, worker {record.worker_rss_start_kb} -> {record.worker_rss_end_kb} kB")
    if interrupted:
        session.kept = record
        raise KeyboardInterrupt("soak interrupted")
    return record

