"""Every figure pktlab draws: the 64-byte comparison chart, Mpps by frame size and
latency percentiles (bare matplotlib Figures on the Agg canvas: no pyplot global
state, no display needed).

What is drawn is decided by pure functions (bars_64b(), compare()); the functions
here only draw it. Rates are summed over the generator ports that send (both
directions of a bidirectional trial) and the line rate is that of the same ports
(link speed x ports sending): each chart says so.
"""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import NamedTuple

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from pktlab.errors import PktlabError
from pktlab.results import Result
from pktlab.units import LineRate

from .compare import Comparison, goal_pps, label
from .latency import LatencyPercentiles

_BAR, _LINE, _MUTED = "#2f6690", "#c0392b", "#6b6b6b"
_COLORS = ("#2f6690", "#d98324", "#3a7d44", "#8e44ad", "#b03a2e", "#16a085", "#7f8c8d")


class Bar(NamedTuple):
    datapath: str
    mpps: float | None  # None: an empty slot, with the reason in note
    note: str
    line: LineRate | None  # the line-rate basis of the run the bar comes from


def bars_with_line_rate(results: list[Result]) -> list[Bar]:
    """bars_64b() with the line rate of the run each bar comes from."""
    by_dp: dict[str, list[Result]] = {}
    for r in results:
        if r.frame_size == 64:
            by_dp.setdefault(label(r), []).append(r)
    bars = []
    for dp, rs in by_dp.items():
        # A search's bar is its NDR (the rate carried without loss), not the best trial,
        # which may have lost frames above it.
        rated = [(ndr, "NDR", r) if ndr is not None else (r.best_rx_pps, "", r)
                 for r in rs if r.status == "ok" for ndr in (goal_pps(r, "NDR"),)]
        ok = [x for x in rated if x[0] is not None]
        if ok:
            best, what, r = max(ok, key=lambda x: x[0])
            runs = f"best of {len(ok)} runs" if len(ok) > 1 else ""
            bars.append(Bar(dp, best / 1e6, ", ".join(x for x in (what, runs) if x), r.line_rate))
        else:
            last = max(rs, key=lambda r: r.provenance.utc_time)
            verb = "not run" if last.status == "not-run" else last.status
            bars.append(Bar(dp, None, f"{verb}: {last.reason}", None))
    return bars


def bars_64b(results: list[Result]) -> list[tuple[str, float | None, str]]:
    """(datapath, Mpps or None, note) per data path: its NDR where it searched, else
    the received rate of its best 64 B trial.

    Data paths keep the order they first appear in. Results at other frame sizes are
    ignored. A data path with no "ok" result gets None and the reason of its latest
    result: an empty slot, never a zero bar that would read as "measured 0 pps".
    """
    return [(b.datapath, b.mpps, b.note) for b in bars_with_line_rate(results)]


def speedup(bars, baseline: str) -> tuple[str, float] | None:
    """(fastest data path, its rate / the baseline's), or None when either is missing."""
    measured = {dp: m for dp, m, *_ in bars if m is not None}
    if baseline not in measured or not measured[baseline]:
        return None
    fastest = max(measured, key=measured.get)
    return fastest, measured[fastest] / measured[baseline]


def _figure(width: float = 7.2, height: float = 4.8) -> Figure:
    fig = Figure(figsize=(width, height), dpi=150, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _common(lines) -> LineRate | None:
    """The one line-rate basis all of lines share (link speed and ports), else None."""
    keys = {(x.link_bps, x.ports): x for x in lines if x is not None}
    return next(iter(keys.values())) if len(keys) == 1 else None


def figure_64b(results: list[Result], baseline: str | None = None) -> Figure:
    """The 64 B comparison: one bar per data path against its line rate (a line across
    the chart when all share one; a mark over each bar otherwise)."""
    bars = bars_with_line_rate(results)
    if not bars:
        raise PktlabError("chart: no 64-byte results to plot")
    rs64 = [r for r in results if r.frame_size == 64]
    measured = [b for b in bars if b.mpps is not None]
    common = _common(b.line for b in measured) if measured else _common(r.line_rate for r in rs64)
    lines = [b.line.pps(64) / 1e6 for b in measured] + ([common.pps(64) / 1e6] if common else [])
    top = max(lines + [b.mpps for b in measured]) * 1.2

    fig = _figure(max(6.4, 1.5 * len(bars) + 2.5), 5.4)
    ax = fig.add_subplot()
    xs = range(len(bars))
    for x, b in zip(xs, bars):
        if b.mpps is None:
            note = textwrap.shorten(b.note, 90, placeholder=" …")  # the full reason is in the JSON
            ax.text(x, top * 0.04, textwrap.fill(note, 26), rotation=90, ha="center", va="bottom",
                    fontsize=8, color=_MUTED, style="italic",
                    bbox=dict(boxstyle="round,pad=0.5", fc="white", ec=_MUTED, ls="--", lw=0.8))
            continue
        ax.bar(x, b.mpps, width=0.6, color=_BAR, zorder=2)
        text = f"{b.mpps:.2f}" if b.mpps >= 1 else f"{b.mpps:.2g}"  # 43 kpps is 0.043, not 0.04
        ax.text(x, b.mpps + top * 0.012, text, ha="center", va="bottom", fontsize=10, fontweight="bold")
        if common is None:  # each bar's own line rate, over it
            own = b.line.pps(64) / 1e6
            ax.hlines(own, x - 0.4, x + 0.4, color=_LINE, ls="--", lw=1.2, zorder=3)
            ax.text(x, own + top * 0.01, f"line rate {own:.2f}", ha="center", va="bottom",
                    fontsize=7, color=_LINE)
        if b.mpps >= top * 0.12:  # room inside the bar for the share of line rate
            # at the foot of the bar: near the top it would cross the line-rate line
            share = b.line.share(b.mpps * 1e6, 64)
            ax.text(x, top * 0.02, f"{share:.0%}\nof {b.line.describe()}", ha="center",
                    va="bottom", fontsize=7.5, color="white")

    ax.set_xticks(list(xs), [b.datapath + (f"\n({b.note})" if b.mpps is not None and b.note else "")
                             for b in bars])
    pad = max(0.0, (3 - len(bars)) / 2)  # a lone bar stays bar-shaped, not a slab
    ax.set_xlim(-0.6 - pad, len(bars) - 0.4 + pad)
    ax.set_ylim(0, top)
    basis = common.basis() if common else "sum over the ports sending"
    ax.set_ylabel(f"Received rate [Mpps], {basis}")
    ax.set_xlabel("Data path")
    ax.grid(axis="y", color="#dddddd", lw=0.6, zorder=0)
    ax.spines[["top", "right"]].set_visible(False)

    if common is not None:
        line_mpps = common.pps(64) / 1e6
        ax.axhline(line_mpps, color=_LINE, ls="--", lw=1.2, zorder=3)
        ax.text(ax.get_xlim()[0] + 0.05, line_mpps + top * 0.01,  # left: bars there are short
                f"line rate @ 64 B, {common.describe()} ({common.basis()}): {line_mpps:.2f} Mpps",
                ha="left", va="bottom", fontsize=8.5, color=_LINE)

    ratio = speedup(bars, baseline) if baseline else None
    if ratio:
        fastest, times = ratio
        ax.text(0.01, 0.98, f"{fastest} / {baseline}: {times:.1f}×", transform=ax.transAxes,
                ha="left", va="top", fontsize=11, fontweight="bold",
                bbox=dict(boxstyle="round,pad=0.4", fc="#fff8e0", ec=_MUTED, lw=0.8))

    fig.suptitle("64-byte packet forwarding rate by data path", fontsize=13, fontweight="bold")
    ax.set_title(_subtitle(rs64), fontsize=8.5, color=_MUTED)
    # supxlabel, unlike a free fig.text, gets room from the layout engine
    fig.supxlabel(_footnote(rs64, common is None), x=0.01, ha="left", fontsize=7, color=_MUTED)
    return fig


def plot_results(results: list[Result], out: Path, baseline: str | None = None) -> Path:
    """Draw the 64 B comparison of results into out (PNG, or any format its suffix names).

    baseline: a data path name; the chart then states the fastest path's rate as a
    multiple of it (the kernel bridge, in the smoke comparison)."""
    return save_figure(figure_64b(results, baseline), out)


def _subtitle(results: list[Result]) -> str:
    """Scenario, host, CPU and dates of the runs: what a reader needs to compare two charts."""
    def names(values):
        return ", ".join(sorted({str(v) for v in values}))
    dates = sorted({r.provenance.utc_time[:10] for r in results})
    flows = sorted({r.flows for r in results})
    return (f"scenario {names(r.name for r in results)}  ·  "
            f"{'/'.join(map(str, flows))} flow{'s' if flows != [1] else ''}  ·  "
            f"{dates[0]}{' to ' + dates[-1] if len(dates) > 1 else ''} (UTC)\n"
            f"host {names(r.provenance.host for r in results)}  ·  "
            f"{names(r.provenance.cpu_model for r in results)}  ·  "
            f"kernel {names(r.provenance.kernel for r in results)}")


def _footnote(results: list[Result], marks: bool = False) -> str:
    versions = sorted({(r.provenance.pktlab_version, r.provenance.git_commit) for r in results},
                      key=str)
    sw = ", ".join(f"pktlab {v}" + (f" ({c[:12]})" if c else "") for v, c in versions)
    ovs = sorted({r.provenance.ovs_version for r in results if r.provenance.ovs_version})
    dpdk = sorted({r.provenance.dpdk_version for r in results if r.provenance.dpdk_version})
    sw += "".join(f", {name} {', '.join(v)}" for name, v in (("OVS", ovs), ("DPDK", dpdk)) if v)
    return ("Bar: frames received / measured transmit window, best trial, summed over the ports "
            "sending; 64 B frames incl. FCS.\nLine rate = link speed × ports sending"
            + (" (dashed over each bar: its own)" if marks else "") + f".  {sw}")


def frame_size_figure(c: Comparison) -> Figure:
    """Received Mpps against frame size, one line per data path, with the line-rate
    curve of each line-rate basis among them."""
    fig = _figure()
    ax = fig.add_subplot()
    sizes = c.frame_sizes or [64]
    lo, hi = min(sizes + [64]), max(sizes + [1518])
    xs = [lo * (hi / lo) ** (i / 200) for i in range(201)]
    bases = {(r.line.link_bps, r.line.ports): r.line for r in c.rates
             if r.line is not None and r.rx_pps is not None}
    for line in bases.values():
        ax.plot(xs, [line.pps(x) / 1e6 for x in xs], color=_LINE, ls="--", lw=1.2,
                label=f"line rate, {line.describe()}")
    for i, dp in enumerate(c.datapaths):
        pts = [(r.frame_size, r.mpps) for r in c.rates if r.datapath == dp and r.mpps is not None]
        if pts:
            ax.plot(*zip(*pts), marker="o", lw=1.6, color=_COLORS[i % len(_COLORS)], label=dp)
    ax.set_xscale("log", base=2)  # 64, 128, 256 ... 1518 B spread evenly
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("Frame size [B, incl. FCS]")
    common = _common(bases.values())
    ax.set_ylabel("Received rate [Mpps], " + (common.basis() if common else "sum over the ports sending"))
    ax.set_ylim(bottom=0)
    ax.grid(color="#dddddd", lw=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, frameon=False)
    fig.suptitle("Forwarding rate by frame size", fontsize=12, fontweight="bold")
    return fig


def latency_figure(c: Comparison, frame_size: int | None = None) -> Figure:
    """Latency percentiles per data path (log y) at frame_size (default 64 B, else the
    smallest size with latency)."""
    sizes = sorted({lat.frame_size for lat in c.latency})
    if frame_size is None:
        frame_size = 64 if 64 in sizes else (sizes[0] if sizes else 64)
    lats = [lat for lat in c.latency if lat.frame_size == frame_size]
    fig = _figure()
    ax = fig.add_subplot()
    labels = LatencyPercentiles.LABELS
    for i, lat in enumerate(lats):
        ax.plot(range(len(labels)), [v / 1e3 for v in lat.percentiles.values_ns], marker="o",
                lw=1.6, color=_COLORS[i % len(_COLORS)],
                label=lat.datapath + ("" if lat.lossless else " (lossy trial)"))
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yscale("log")
    ax.set_ylabel("One-way latency [µs]")
    ax.set_xlabel("Percentile")
    ax.grid(color="#dddddd", lw=0.6, which="both")
    ax.spines[["top", "right"]].set_visible(False)
    if lats:
        ax.legend(fontsize=8, frameon=False)
    else:
        ax.text(0.5, 0.5, "no latency measured", transform=ax.transAxes, ha="center",
                color=_MUTED, style="italic")
    fig.suptitle(f"Latency percentiles at {frame_size} B", fontsize=12, fontweight="bold")
    ax.set_title("lossless trial with the highest received rate per data path", fontsize=8.5,
                 color=_MUTED)
    return fig


def soak_figure(result: Result, directory) -> Figure:
    """A soak's timeline: frames lost per interval, latency p50/p99/max per interval (log),
    and pktlab's and the generator worker's resident memory (flat is what a long run needs)."""
    from .soak import soak_intervals, timeline

    tl = timeline(soak_intervals(result, directory))
    s = result.soak
    fig = _figure(8.0, 7.2)
    loss, lat, mem = fig.subplots(3, 1, sharex=True, height_ratios=(1, 1.4, 0.8))
    loss.bar(tl.t_s, tl.lost, width=s.interval_s, align="edge", color=_LINE, zorder=2)
    loss.set_ylabel("Lost frames\nper interval")
    loss.set_ylim(bottom=min([0, *tl.lost]), top=max([1, *tl.lost]) * 1.1)  # no loss: an empty band from 0
    loss.set_title(f"{result.datapath}: {s.rate_pps:,.0f} pps, {s.interval_s:g} s intervals, "
                   f"{s.n_intervals} intervals, {s.lossy_intervals} with loss"
                   + (" (interrupted)" if s.interrupted else ""), fontsize=8.5, color=_MUTED)
    for name, ys, color in (("max", tl.max_us, _MUTED), ("p99", tl.p99_us, _LINE), ("p50", tl.p50_us, _BAR)):
        pts = [(t, y) for t, y in zip(tl.t_s, ys) if y is not None and y > 0]
        if pts:
            lat.plot(*zip(*pts), lw=1.0, color=color, label=name)
    if lat.get_legend_handles_labels()[0]:
        lat.set_yscale("log")
        lat.legend(fontsize=8, frameon=False, ncol=3)
    lat.set_ylabel("One-way latency [µs]")
    for name, ys, color in (("pktlab", tl.rss_mb, _BAR), ("generator worker", tl.worker_rss_mb, _COLORS[1])):
        pts = [(t, y) for t, y in zip(tl.t_s, ys) if y is not None]
        if pts:
            mem.plot(*zip(*pts), lw=1.2, color=color, label=name)
    mem.set_ylabel("RSS [MB]")
    mem.set_ylim(bottom=0)
    if mem.get_legend_handles_labels()[0]:
        mem.legend(fontsize=8, frameon=False, ncol=2)
    mem.set_xlabel("Time from the start of the soak [s]")
    for ax in (loss, lat, mem):
        ax.grid(color="#dddddd", lw=0.6, zorder=0)
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle("Soak: loss, latency and memory over time", fontsize=12, fontweight="bold")
    return fig


def save_figure(fig: Figure, out) -> Path:
    """Write fig to out (PNG, or the format its suffix names); return the path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out
