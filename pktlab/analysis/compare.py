"""Compare runs: rates per data path and frame size, latency, verdicts against a baseline.

compare() decides every number (pure, tested); format_comparison() prints it as a
text table; charts.py draws it. Nothing here plots or runs a command line.

Rates are aggregate over the generator's streams (both directions of a
bidirectional trial), received frames over the measured transmit window, as the
charts draw them: the best trial of the best "ok" run per data path and frame
size (the maximum receive rate). Gbps at L1 count the 20 B of preamble, start
delimiter and inter-frame gap per frame; at L2 the frame itself (FCS included);
both are the same aggregate. "% line" is of the same ports' line rate: link speed
x ports sending (each result records both), as RFC 2544 and CSIT report it.

A result that carries a search (Result.search, a SearchRecord) also gives NDR and PDR; against a baseline, NDR is the metric when both
sides have it, the best received rate otherwise.
"""
from __future__ import annotations

import dataclasses

from dataclasses import dataclass

from pktlab.results import Result, SearchRecord
from pktlab.units import LineRate, l1_bps, l2_bps

from .latency import LatencyPercentiles, trial_percentiles

VERDICTS = ("ok", "regression", "improvement")
_EPS = 1e-9  # a change of exactly the tolerance is "ok", whatever the float rounding


def label(r: Result) -> str:
    """The data path's name, marked when a guest in it ran emulated (TCG): such a
    rate says more about the emulator than about the path."""
    guest = r.provenance.guest or {}
    return f"{r.datapath} [emulated]" if (guest.get("accel") or {}).get("emulated") else r.datapath


def search_of(result: Result) -> SearchRecord | None:
    """The search a result carries, or None (fixed rates)."""
    return result.search


def goal_pps(result: Result, name: str) -> float | None:
    """The lower bound the result's search found for the goal named name (NDR, PDR), or None."""
    g = result.search.goal(name) if result.search is not None else None
    return None if g is None else g.lower_bound_pps


@dataclass(frozen=True)
class PathRate:
    """One data path at one frame size, over its runs."""

    datapath: str
    frame_size: int  # [B] incl. FCS
    rx_pps: float | None  # [pps] best received rate over the "ok" runs; None: none ran
    ndr_pps: float | None = None  # [pps] best NDR over the runs that searched
    pdr_pps: float | None = None  # [pps]
    n_runs: int = 0  # "ok" runs
    note: str = ""  # why there is no number, when there is none
    line: LineRate | None = None  # line-rate basis of the run rx_pps comes from

    @property
    def mpps(self) -> float | None:
        return None if self.rx_pps is None else self.rx_pps / 1e6

    @property
    def gbps_l1(self) -> float | None:
        """On the wire, with 20 B preamble/SFD/IFG per frame, summed over the ports [Gbit/s]."""
        return None if self.rx_pps is None else l1_bps(self.rx_pps, self.frame_size) / 1e9

    @property
    def gbps_l2(self) -> float | None:
        """Frames only, summed over the ports [Gbit/s]."""
        return None if self.rx_pps is None else l2_bps(self.rx_pps, self.frame_size) / 1e9

    @property
    def line_rate_pps(self) -> float | None:
        """Line rate of the ports sending, at this frame size [pps]."""
        return None if self.line is None else self.line.pps(self.frame_size)

    @property
    def line_rate_share(self) -> float | None:
        """Of the line rate of the ports sending (link speed x ports) at this frame size [1]:
        L1 Gbps over the aggregate link capacity."""
        if self.rx_pps is None or self.line is None:
            return None
        return self.line.share(self.rx_pps, self.frame_size)


@dataclass(frozen=True)
class PathLatency:
    """Latency of one data path at one frame size, from one trial (said which)."""

    datapath: str
    frame_size: int  # [B]
    percentiles: LatencyPercentiles
    offered_pps: float | None  # [pps] of that trial; None = as fast as possible
    rx_pps: float  # [pps] of that trial
    lossless: bool  # the trial lost nothing (else: no lossless trial had latency)
    source: str = "load"  # "latency-stream": from the rate-limited stream beside the load


@dataclass(frozen=True)
class Verdict:
    """One data path at one frame size against the baseline."""

    datapath: str
    frame_size: int  # [B]
    metric: str  # "NDR" or "rx" (best received rate)
    baseline_pps: float
    current_pps: float
    change: float  # current / baseline - 1 [1]
    verdict: str  # ok, regression or improvement


@dataclass(frozen=True)
class Comparison:
    rates: tuple[PathRate, ...]  # data paths in order of appearance, frame sizes ascending
    latency: tuple[PathLatency, ...]
    verdicts: tuple[Verdict, ...] = ()
    unmatched: tuple[str, ...] = ()  # "<path> @ <size> B: <why no verdict>"
    tolerance: float = 0.05
    has_baseline: bool = False

    @property
    def datapaths(self) -> list[str]:
        return list(dict.fromkeys(r.datapath for r in self.rates))

    @property
    def frame_sizes(self) -> list[int]:
        return sorted({r.frame_size for r in self.rates})

    def at(self, frame_size: int) -> list[PathRate]:
        return [r for r in self.rates if r.frame_size == frame_size]

    def rate(self, datapath: str, frame_size: int) -> PathRate | None:
        return next((r for r in self.rates if (r.datapath, r.frame_size) == (datapath, frame_size)),
                    None)

    def verdict(self, datapath: str, frame_size: int = 64) -> Verdict | None:
        return next((v for v in self.verdicts
                     if (v.datapath, v.frame_size) == (datapath, frame_size)), None)


def path_rates(results: list[Result]) -> tuple[PathRate, ...]:
    groups: dict[tuple[str, int], list[Result]] = {}
    for r in results:
        groups.setdefault((r.datapath, r.frame_size), []).append(r)
    order = list(dict.fromkeys(r.datapath for r in results))
    out = []
    for (dp, size), rs in sorted(groups.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1])):
        ok = [r for r in rs if r.status == "ok" and r.best_rx_pps is not None]
        ndrs = [x for x in (goal_pps(r, "NDR") for r in ok) if x is not None]
        pdrs = [x for x in (goal_pps(r, "PDR") for r in ok) if x is not None]
        note = ""
        if not ok:
            last = max(rs, key=lambda r: r.provenance.utc_time)
            note = f"{'not run' if last.status == 'not-run' else last.status}: {last.reason}"
        best = max(ok, key=lambda r: r.best_rx_pps, default=None)
        out.append(PathRate(dp, size, None if best is None else best.best_rx_pps,
                            max(ndrs, default=None), max(pdrs, default=None), len(ok), note,
                            None if best is None else best.line_rate))
    return tuple(out)


def path_latency(results: list[Result]) -> tuple[PathLatency, ...]:
    """Per data path and frame size: the lossless trial with the highest received rate
    that measured latency (else the highest-rate trial with latency at all). Latency
    of a lossy trial is mostly queue depth; a lossless one is the path's own."""
    best: dict[tuple[str, int], tuple] = {}
    for r in results:
        if r.status != "ok":
            continue
        for t in r.trials:
            s = t.stats
            if not s.latency_histogram:
                continue
            key = (r.datapath, r.frame_size)
            rank = (s.lost == 0, s.rx_pps)
            if key not in best or rank > best[key][0]:
                best[key] = (rank, s)
    order = list(dict.fromkeys(r.datapath for r in results))
    out = []
    for (dp, size), (rank, s) in sorted(best.items(), key=lambda kv: (order.index(kv[0][0]),
                                                                      kv[0][1])):
        p = trial_percentiles(s)
        if p is not None:
            out.append(PathLatency(dp, size, p, s.offered_pps, s.rx_pps, rank[0], s.latency_source))
    return tuple(out)


def judge(baseline_pps: float, current_pps: float, tolerance: float) -> tuple[float, str]:
    """(change [1], verdict): within ±tolerance (inclusive) is ok."""
    change = current_pps / baseline_pps - 1.0
    if change < -tolerance - _EPS:
        return change, "regression"
    if change > tolerance + _EPS:
        return change, "improvement"
    return change, "ok"


def compare(results: list[Result], baseline: list[Result] | None = None,
            tolerance: float = 0.05) -> Comparison:
    """Everything the table, the charts and the report show; see the module doc.

    baseline: results to judge against; per data path and frame size present on
    both sides, a verdict ok / regression / improvement on the change in the metric
    (NDR if both sides searched, else the best received rate) against ±tolerance [1].
    """
    if not 0.0 <= tolerance < 1.0:
        raise ValueError(f"compare: tolerance = {tolerance!r}: must be >= 0 and < 1 "
                         "(a fraction, 0.05 is 5 %)")
    # a guest that ran emulated (TCG) is named so in every table and chart
    results = [dataclasses.replace(r, datapath=label(r)) for r in results]
    if baseline is not None:
        baseline = [dataclasses.replace(r, datapath=label(r)) for r in baseline]
    rates = path_rates(results)
    latency = path_latency(results)
    if baseline is None:
        return Comparison(rates, latency, tolerance=tolerance)
    base = {(r.datapath, r.frame_size): r for r in path_rates(list(baseline))}
    verdicts, unmatched = [], []
    for cur in rates:
        key = (cur.datapath, cur.frame_size)
        old = base.get(key)
        where = f"{cur.datapath} @ {cur.frame_size} B"
        if old is None:
            unmatched.append(f"{where}: not in the baseline")
            continue
        if cur.ndr_pps is not None and old.ndr_pps is not None:
            metric, a, b = "NDR", old.ndr_pps, cur.ndr_pps
        else:
            metric, a, b = "rx", old.rx_pps, cur.rx_pps
        if a is None or b is None or a <= 0:
            side = "baseline" if a is None or a <= 0 else "these results"
            unmatched.append(f"{where}: no measured rate in {side}")
            continue
        change, verdict = judge(a, b, tolerance)
        verdicts.append(Verdict(cur.datapath, cur.frame_size, metric, a, b, change, verdict))
    seen = {(r.datapath, r.frame_size) for r in rates}
    unmatched += [f"{dp} @ {size} B: only in the baseline"
                  for dp, size in base if (dp, size) not in seen]
    return Comparison(rates, latency, tuple(verdicts), tuple(unmatched), tolerance, True)


# -- text -----------------------------------------------------------------------------------

def line_text(r: PathRate) -> str:
    """"29.76 Mpps (2 x 10 GbE)": the line rate a row's share is of, and its basis."""
    if r.line is None or r.rx_pps is None:
        return "-"
    return f"{r.line_rate_pps / 1e6:.2f} Mpps ({r.line.describe()})"


def _f(v: float | None, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    def line(cells):
        return "  ".join(str(c).ljust(w) if i == 0 or h == "note" else str(c).rjust(w)
                         for i, (c, w, h) in enumerate(zip(cells, widths, header))).rstrip()
    return [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]


def format_comparison(c: Comparison) -> str:
    """The comparison as plain text tables (fixed width, for a terminal or a log)."""
    out = []
    sizes = c.frame_sizes
    main = 64 if 64 in sizes else (sizes[0] if sizes else None)
    if main is not None:
        out.append(f"Forwarding rate at {main} B (best trial; rates and Gbps summed over the ports "
                   "sending, % of line rate = link speed × ports sending)")
        rows = []
        for r in c.at(main):
            share = None if r.line_rate_share is None else f"{r.line_rate_share * 100:.1f} %"
            rows.append([r.datapath, _f(r.mpps, ".3f"), _f(r.gbps_l1, ".2f"), _f(r.gbps_l2, ".2f"),
                         line_text(r), share or "-",
                         _f(None if r.ndr_pps is None else r.ndr_pps / 1e6, ".3f"),
                         _f(None if r.pdr_pps is None else r.pdr_pps / 1e6, ".3f"), str(r.n_runs),
                         r.note])
        header = ["data path", "rx Mpps", "L1 Gbps", "L2 Gbps", "line rate", "% line", "NDR Mpps",
                  "PDR Mpps", "runs", "note"]
        if not any(r[-1] for r in rows):
            header, rows = header[:-1], [r[:-1] for r in rows]
        out += _table(header, rows)
    if len(sizes) > 1:
        out += ["", "Received Mpps by frame size (summed over the ports sending)"]
        rows = []
        for dp in c.datapaths:
            rows.append([dp] + [_f(getattr(c.rate(dp, s), "mpps", None), ".3f") for s in sizes])
        out += _table(["data path"] + [f"{s} B" for s in sizes], rows)
    if c.latency:
        out += ["", "Latency [us] (lossless trial with the highest rx rate; * = no lossless trial;"
                    " + = on a latency stream beside the load); IPDV = |delay(n+1) - delay(n)| (RFC 3393)"]
        rows = []
        for lat in c.latency:
            at = "max" if lat.offered_pps is None else f"{lat.offered_pps / 1e6:.3f}"
            mark = ("" if lat.lossless else " *") + (" +" if lat.source == "latency-stream" else "")
            rows.append([lat.datapath + mark, f"{lat.frame_size}", at]
                        + [f"{v / 1e3:.2f}" for v in lat.percentiles.values_ns]
                        + [_f(None if v is None else v / 1e3, ".2f") for v in lat.percentiles.ipdv_ns])
        out += _table(["data path", "frame B", "at Mpps"] + list(LatencyPercentiles.LABELS)
                      + list(LatencyPercentiles.IPDV_LABELS), rows)
    if c.has_baseline:
        out += ["", f"Against the baseline (tolerance ±{c.tolerance * 100:g} %)"]
        rows = [[v.datapath, str(v.frame_size), v.metric, f"{v.baseline_pps / 1e6:.3f}",
                 f"{v.current_pps / 1e6:.3f}", f"{v.change * 100:+.1f} %", v.verdict]
                for v in c.verdicts]
        out += _table(["data path", "frame B", "metric", "baseline Mpps", "now Mpps", "change",
                       "verdict"], rows)
        out += [f"  {u}" for u in c.unmatched]
    return "\n".join(out) + "\n"
