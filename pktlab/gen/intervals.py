"""Counters per interval of a running trial, from the loops' snapshot rings.

The C loops take the snapshots themselves (pg_snap.c: cumulative counters, the
latency histogram and the interval's extremes, every interval from the shared
start and once at the end); this drains them while the trial runs, merges the
loops' snapshots of one boundary and turns consecutive ones into interval
records. Counts are differences of cumulative ones, so the intervals add up to
the trial exactly, and a snapshot missed (the ring lapped) only makes one
interval span two. Only the previous boundary is kept, and the one
HdrHistogram the percentiles come from is refilled, not remade (a dropped one
waits for the cyclic garbage collector: pktlab.hdr): memory stays flat however
long the trial.
"""
from __future__ import annotations

import errno

from .latency import summarize

EAGAIN, ESTALE = -errno.EAGAIN, -errno.ESTALE


class _Cum:
    """One loop's (or the merged) cumulative counters at one boundary."""

    __slots__ = ("tx", "tx_dropped", "rx", "unique", "duplicates", "reordered", "lat_count", "lat_sum",
                 "hist", "ipdv_count", "ipdv_abs_sum", "tsc")

    def __init__(self, nb_buckets: int):
        self.tx = self.tx_dropped = self.rx = self.unique = self.duplicates = self.reordered = 0
        self.lat_count = self.lat_sum = self.ipdv_count = self.ipdv_abs_sum = self.tsc = 0
        self.hist = [0] * nb_buckets


class IntervalReader:
    """Drains every loop's snapshots of the trial about to run; poll() returns the
    intervals complete so far as dicts (see interval_record)."""

    def __init__(self, gen):
        self.gen, ffi, lib = gen, gen.ffi, gen.lib
        self.nb_loops = len(gen.config.loop_cores)
        self.next = [int(lib.pg_snap_next_seq(gen.ctx, i)) for i in range(self.nb_loops)]
        self.pending: list[list] = [[] for _ in range(self.nb_loops)]
        self.done = [False] * self.nb_loops
        self.nb = lib.PG_LAT_BUCKETS
        self.cur = [_Cum(self.nb) for _ in range(self.nb_loops)]
        self.prev = _Cum(self.nb)
        self.start_tsc = None
        self.skipped = 0  # snapshots overwritten before they were read (their counts are not lost)
        self.n = 0
        self._snap = ffi.new("struct pg_snap *")
        from ..hdr import new_histogram  # as gen.latency: hdrh only once measuring

        self._hdr = new_histogram()  # refilled every interval
        specs = gen.config.streams
        self.load = [i for i, s in enumerate(specs) if s.fixed_pps <= 0]
        self.expect = {i for i, s in enumerate(specs) if s.rx_port is not None}

    @property
    def finished(self) -> bool:
        return all(self.done) and not any(self.pending)

    def _drain(self) -> None:
        lib, sn = self.gen.lib, self._snap
        for loop in range(self.nb_loops):
            while True:
                rc = lib.pg_read_snap(self.gen.ctx, loop, self.next[loop], sn)
                if rc == EAGAIN:
                    break
                self.next[loop] += 1
                if rc == ESTALE:
                    self.skipped += 1
                    continue
                self.gen._check(rc)
                self.pending[loop].append(self._copy(sn))

    def _copy(self, sn) -> dict:
        c = _Cum(0)
        for i in self.load:
            s = sn.streams[i]
            c.tx += s.tx
            c.tx_dropped += s.tx_dropped
            c.rx += s.unique + s.duplicates
            c.duplicates += s.duplicates
            c.reordered += s.reordered
            if i in self.expect:
                c.unique += s.unique
            else:
                c.unique += s.tx  # TX only: nothing expected back, nothing lost
        c.lat_count, c.lat_sum = sn.lat_count, sn.lat_sum
        c.ipdv_count, c.ipdv_abs_sum, c.tsc = sn.ipdv_count, sn.ipdv_abs_sum, sn.tsc
        c.hist = self.gen.ffi.unpack(sn.lat_hist, self.nb)
        return {"index": sn.index, "final": bool(sn.final), "start": sn.start_tsc, "cum": c,
                "ivl_min": sn.lat_ivl_min, "ivl_max": sn.lat_ivl_max, "ipdv_ivl_max": sn.ipdv_ivl_max}

    def poll(self) -> list[dict]:
        """Intervals every loop has reached since the last poll, in order."""
        self._drain()
        out = []
        while True:
            heads = [p[0] if p else None for p in self.pending]
            if any(h is None and not d for h, d in zip(heads, self.done)) or all(h is None for h in heads):
                return out
            k = min(h["index"] for h in heads if h is not None)
            lo, hi, imax, tsc = None, 0, 0, 0
            for loop, h in enumerate(heads):
                if h is None or h["index"] != k:
                    continue  # ahead (or finished): carries its last counters
                self.pending[loop].pop(0)
                self.cur[loop] = h["cum"]
                self.done[loop] = h["final"]
                if self.start_tsc is None:
                    self.start_tsc = h["start"]
                if h["ivl_min"] != 2**64 - 1:
                    lo = h["ivl_min"] if lo is None else min(lo, h["ivl_min"])
                    hi = max(hi, h["ivl_max"])
                imax = max(imax, h["ipdv_ivl_max"])
                tsc = max(tsc, h["cum"].tsc)
            out.append(self._interval(k, lo, hi, imax, tsc))

    def _interval(self, k: int, lo, hi, ipdv_max, tsc) -> dict:
        m = _Cum(self.nb)
        for c in self.cur:
            for f in ("tx", "tx_dropped", "rx", "unique", "duplicates", "reordered", "lat_count", "lat_sum",
                      "ipdv_count", "ipdv_abs_sum"):
                setattr(m, f, getattr(m, f) + getattr(c, f))
            m.hist = [a + b for a, b in zip(m.hist, c.hist)]
        m.tsc = tsc
        p, hz = self.prev, self.gen.tsc_hz
        rec = interval_record(self.n, k, (p.tsc - self.start_tsc) / hz if self.n else 0.0,
                              (tsc - self.start_tsc) / hz, m, p, lo, hi, ipdv_max, hz, self.finished, self._hdr)
        self.prev = m
        self.n += 1
        return rec


def interval_record(n: int, k: int, t0: float, t1: float, m: _Cum, p: _Cum, lo, hi, ipdv_max: int,
                    hz: float, final: bool, hdr=None) -> dict:
    """One interval: counts are m - p; lost is frames sent minus frames received in the
    interval, so frames in flight across a boundary count in the interval they arrive
    in (a few per boundary, either sign); latency over the frames received in it.
    hdr: the caller's histogram to refill (gen.latency.summarize)."""
    ns = 1e9 / hz
    d = {f: getattr(m, f) - getattr(p, f) for f in ("tx", "tx_dropped", "rx", "duplicates", "reordered")}
    d["lost"] = (m.tx - m.unique) - (p.tx - p.unique)
    count = m.lat_count - p.lat_count
    summary, _ = summarize(((i, a - b) for i, (a, b) in enumerate(zip(m.hist, p.hist)) if a != b), count,
                           m.lat_sum - p.lat_sum, lo or 0, hi, hz, hdr)
    pairs = m.ipdv_count - p.ipdv_count
    return {"n": n, "boundary": k, "t_start_s": t0, "t_end_s": t1, **d, "lat_count": count,
            "lat_min_ns": None if summary is None else summary.min_ns,
            "lat_avg_ns": None if summary is None else summary.avg_ns,
            "lat_p50_ns": None if summary is None else summary.p50_ns,
            "lat_p99_ns": None if summary is None else summary.p99_ns,
            "lat_max_ns": None if summary is None else summary.max_ns,
            "ipdv_pairs": pairs,
            "ipdv_abs_mean_ns": (m.ipdv_abs_sum - p.ipdv_abs_sum) / pairs * ns if pairs else None,
            "ipdv_max_ns": ipdv_max * ns if pairs else None, "final": final}
