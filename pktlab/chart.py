"""The 64-byte comparison chart: received Mpps per data path against 10 GbE line rate.

bars_64b() decides what is drawn (pure, tested); plot_results() only draws it.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pktlab.errors import PktlabError
from pktlab.results import Result

# preamble (7) + start of frame delimiter (1) + minimum inter-frame gap (12) [B]
WIRE_OVERHEAD_B = 20


def line_rate_pps(link_bps: float, frame_size: int) -> float:
    """Frames/s that fill a link of link_bps [bit/s] with frame_size [B, incl. FCS] frames."""
    if link_bps <= 0 or frame_size <= 0:
        raise ValueError(f"line_rate_pps({link_bps}, {frame_size}): both must be positive")
    return link_bps / ((frame_size + WIRE_OVERHEAD_B) * 8)


LINE_RATE_10G_64B_PPS = line_rate_pps(10e9, 64)  # 14 880 952.4

_BAR, _LINE, _MUTED = "#2f6690", "#c0392b", "#6b6b6b"


def label(r: Result) -> str:
    """The data path's name, marked when a guest in it ran emulated (TCG): such a
    rate says more about the emulator than about the path."""
    guest = r.provenance.guest or {}
    return f"{r.datapath} [emulated]" if (guest.get("accel") or {}).get("emulated") else r.datapath


def bars_64b(results: list[Result]) -> list[tuple[str, float | None, str]]:
    """(datapath, Mpps or None, note) per data path: its NDR where it searched, else
    the received rate of its best 64 B trial.

    Data paths keep the order they first appear in. Results at other frame sizes are
    ignored. A data path with no "ok" result gets None and the reason of its latest
    result: an empty slot, never a zero bar that would read as "measured 0 pps".
    """
    by_dp: dict[str, list[Result]] = {}
    for r in results:
        if r.frame_size == 64:
            by_dp.setdefault(label(r), []).append(r)
    from .analysis.compare import goal_pps

    bars = []
    for dp, rs in by_dp.items():
        # A search's bar is its NDR (the rate carried without loss), not the best trial,
        # which may have lost frames above it.
        rated = [(ndr, "NDR") if ndr is not None else (r.best_rx_pps, "")
                 for r in rs if r.status == "ok" for ndr in (goal_pps(r, "NDR"),)]
        ok = [(v, what) for v, what in rated if v is not None]
        if ok:
            best, what = max(ok)
            runs = f"best of {len(ok)} runs" if len(ok) > 1 else ""
            bars.append((dp, best / 1e6, ", ".join(x for x in (what, runs) if x)))
        else:
            last = max(rs, key=lambda r: r.provenance.utc_time)
            verb = "not run" if last.status == "not-run" else last.status
            bars.append((dp, None, f"{verb}: {last.reason}"))
    return bars


def speedup(bars, baseline: str) -> tuple[str, float] | None:
    """(fastest data path, its rate / the baseline's), or None when either is missing."""
    measured = {dp: m for dp, m, _ in bars if m is not None}
    if baseline not in measured or not measured[baseline]:
        return None
    fastest = max(measured, key=measured.get)
    return fastest, measured[fastest] / measured[baseline]


def plot_results(results: list[Result], out: Path, baseline: str | None = None) -> Path:
    """Draw the 64 B comparison of results into out (PNG, or any format its suffix names).

    baseline: a data path name; the chart then states the fastest path's rate as a
    multiple of it (the kernel bridge, in the smoke comparison)."""
    bars = bars_64b(results)
    if not bars:
        raise PktlabError("chart: no 64-byte results to plot")
    rs64 = [r for r in results if r.frame_size == 64]
    line_mpps = LINE_RATE_10G_64B_PPS / 1e6
    top = max([line_mpps] + [m for _, m, _ in bars if m is not None]) * 1.2

    # a bare Figure on the Agg canvas: no pyplot global state, no display needed
    fig = Figure(figsize=(max(6.4, 1.5 * len(bars) + 2.5), 5.4), dpi=150, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = range(len(bars))
    for x, (dp, mpps, note) in zip(xs, bars):
        if mpps is None:
            note = textwrap.shorten(note, 90, placeholder=" …")  # the full reason is in the JSON
            ax.text(x, top * 0.04, textwrap.fill(note, 26), rotation=90, ha="center", va="bottom",
                    fontsize=8, color=_MUTED, style="italic",
                    bbox=dict(boxstyle="round,pad=0.5", fc="white", ec=_MUTED, ls="--", lw=0.8))
            continue
        ax.bar(x, mpps, width=0.6, color=_BAR, zorder=2)
        label = f"{mpps:.2f}" if mpps >= 1 else f"{mpps:.2g}"  # 43 kpps is 0.043, not 0.04
        ax.text(x, mpps + top * 0.012, label, ha="center", va="bottom",
                fontsize=10, fontweight="bold")
        if mpps >= top * 0.12:  # room inside the bar for the share of line rate
            # at the foot of the bar: near the top it would cross the line-rate line
            ax.text(x, top * 0.02, f"{mpps / line_mpps:.0%}\nof line rate", ha="center",
                    va="bottom", fontsize=7.5, color="white")

    ax.set_xticks(list(xs), [dp + (f"\n({note})" if m is not None and note else "")
                             for dp, m, note in bars])
    pad = max(0.0, (3 - len(bars)) / 2)  # a lone bar stays bar-shaped, not a slab
    ax.set_xlim(-0.6 - pad, len(bars) - 0.4 + pad)
    ax.set_ylim(0, top)
    ax.set_ylabel("Received rate [Mpps]")
    ax.set_xlabel("Data path")
    ax.grid(axis="y", color="#dddddd", lw=0.6, zorder=0)
    ax.spines[["top", "right"]].set_visible(False)

    ax.axhline(line_mpps, color=_LINE, ls="--", lw=1.2, zorder=3)
    ax.text(ax.get_xlim()[0] + 0.05, line_mpps + top * 0.01,  # left: bars there are short
            f"10 GbE line rate @ 64 B ({line_mpps:.2f} Mpps)",
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
    fig.supxlabel(_footnote(rs64), x=0.01, ha="left", fontsize=7, color=_MUTED)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out


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


def _footnote(results: list[Result]) -> str:
    versions = sorted({(r.provenance.pktlab_version, r.provenance.git_commit) for r in results},
                      key=str)
    sw = ", ".join(f"pktlab {v}" + (f" ({c[:12]})" if c else "") for v, c in versions)
    ovs = sorted({r.provenance.ovs_version for r in results if r.provenance.ovs_version})
    dpdk = sorted({r.provenance.dpdk_version for r in results if r.provenance.dpdk_version})
    sw += "".join(f", {name} {', '.join(v)}" for name, v in (("OVS", ovs), ("DPDK", dpdk)) if v)
    return ("Bar: frames received / measured transmit window, best trial; 64 B frames incl. FCS."
            f"\n{sw}")
