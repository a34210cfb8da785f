"""One self-contained HTML report of a set of runs.

Charts are embedded as base64 PNG data URIs and the style sheet is inline: the
file can be mailed or attached to a ticket and opens anywhere, offline, with
nothing fetched. It holds the 64 B chart, the frame-size and
latency charts, the comparison tables (and verdicts, given a baseline) and each
run's provenance: host, CPU, kernel, DPDK/OVS versions, pktlab version and commit,
scenario and method.
"""
from __future__ import annotations

import base64
import html
import io
import json
from datetime import datetime, timezone
from pathlib import Path

from matplotlib.figure import Figure

from pktlab.results import Result

from .charts import figure_64b, frame_size_figure, latency_figure
from .compare import Comparison, compare, format_comparison, line_text, search_of
from .export import run_name

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:70em;
color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right;vertical-align:top}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
td.l{text-align:left}img{max-width:100%;height:auto}
.ok{color:#2d6a2d}.regression{color:#b03a2e;font-weight:bold}
.improvement{color:#2f6690;font-weight:bold}
.muted{color:#6b6b6b}pre{background:#f8f8f8;padding:.8em;overflow-x:auto;font-size:.8em}
"""


def figure_png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>'


def _chart_64b(results: list[Result]) -> bytes | None:
    if not any(r.frame_size == 64 for r in results):
        return None
    return figure_png(figure_64b(results))


def _e(v) -> str:
    return "-" if v is None or v == "" else html.escape(str(v))


def _rows(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    """An HTML table; cells are escaped here; the first `left` columns align left."""
    th = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td{" class=l" if i < left else ""}>{c}</td>' for i, c in enumerate(r))
        + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _rates_html(c: Comparison) -> str:
    out = []
    for size in c.frame_sizes:
        rows = []
        for r in c.at(size):
            if r.rx_pps is None:
                rows.append([_e(r.datapath), f'<span class="muted">{_e(r.note)}</span>'] + [""] * 7)
                continue
            rows.append([_e(r.datapath), f"{r.mpps:.3f}", f"{r.gbps_l1:.2f}", f"{r.gbps_l2:.2f}",
                         _e(line_text(r)), _e(None if r.line_rate_share is None
                                              else f"{r.line_rate_share * 100:.1f} %"),
                         _e(None if r.ndr_pps is None else f"{r.ndr_pps / 1e6:.3f}"),
                         _e(None if r.pdr_pps is None else f"{r.pdr_pps / 1e6:.3f}"),
                         str(r.n_runs)])
        out.append(f"<h3>{size} B</h3>" + _rows(
            ["data path", "rx Mpps", "L1 Gbps", "L2 Gbps", "line rate", "% of line rate",
             "NDR Mpps", "PDR Mpps", "runs"], rows))
    return ('<p class=muted>Rates and Gbps are summed over the generator ports sending (both '
            'directions of a bidirectional run); line rate = link speed × ports sending.</p>'
            + "".join(out))


def _latency_html(c: Comparison) -> str:
    if not c.latency:
        return '<p class="muted">No trial measured latency.</p>'
    rows = []
    for lat in c.latency:
        at = "max" if lat.offered_pps is None else f"{lat.offered_pps / 1e6:.3f}"
        rows.append([_e(lat.datapath), str(lat.frame_size), at,
                     "yes" if lat.lossless else "no",
                     "latency stream" if lat.source == "latency-stream" else "load"]
                    + [f"{v / 1e3:.2f}" for v in lat.percentiles.values_ns]
                    + [_e(None if v is None else f"{v / 1e3:.2f}") for v in lat.percentiles.ipdv_ns])
    return ('<p class=muted>IPDV: |delay(n+1) - delay(n)| of consecutive frames of a stream (RFC 3393, '
            'RFC 5481), the jitter; "latency stream": measured on a rate-limited stamped stream beside '
            'the load, not on the load\'s own frames.</p>'
            + _rows(["data path", "frame B", "at Mpps", "lossless", "frames", "min µs", "p50 µs", "p90 µs",
                     "p99 µs", "p99.9 µs", "max µs", "IPDV p50 µs", "IPDV p99 µs", "IPDV max µs"], rows))


def _verdicts_html(c: Comparison) -> str:
    rows = [[_e(v.datapath), str(v.frame_size), _e(v.metric), f"{v.baseline_pps / 1e6:.3f}",
             f"{v.current_pps / 1e6:.3f}", f"{v.change * 100:+.1f} %",
             f'<span class="{v.verdict}">{v.verdict}</span>'] for v in c.verdicts]
    out = f"<p>Tolerance ±{c.tolerance * 100:g} %: a larger drop is a regression, a larger " \
          "gain an improvement.</p>" + _rows(
              ["data path", "frame B", "metric", "baseline Mpps", "now Mpps", "change", "verdict"],
              rows)
    if c.unmatched:
        out += "<ul>" + "".join(f"<li class=muted>{_e(u)}</li>" for u in c.unmatched) + "</ul>"
    return out


def _method(r: Result) -> str:
    m = r.scenario.get("method")
    s = search_of(r)
    text = "" if m is None else json.dumps(m, sort_keys=True)
    if s is not None:
        text += f" ({s.method}: {s.n_trials} trials, {s.total_trial_seconds:.0f} s of trials)"
    return text.strip()


def _provenance_html(results: list[Result], role: str) -> str:
    rows = []
    for r in results:
        p = r.provenance
        cores = "; ".join(f"{k} {','.join(map(str, v))}" for k, v in sorted(p.cores_used.items()))
        status = r.status + (f": {r.reason}" if r.reason else "")
        version = f"{p.pktlab_version} ({p.git_commit})" if p.git_commit else p.pktlab_version
        rows.append([_e(run_name(r)), _e(role), _e(status),
                     _e(p.utc_time), _e(p.host), _e(p.cpu_model), _e(cores), _e(p.numa_nodes),
                     _e(p.kernel), _e(p.dpdk_version), _e(p.ovs_version),
                     _e(version),
                     _e(r.name), _e(f"{r.frame_size} B, {r.flows} flow(s)"), _e(_method(r))])
    return _rows(["run", "role", "status", "time (UTC)", "host", "CPU", "cores", "NUMA nodes",
                  "kernel", "DPDK", "OVS", "pktlab (commit)", "scenario", "traffic", "method"],
                 rows, left=15)


def render_report(results: list[Result], baseline: list[Result] | None = None,
                  tolerance: float = 0.05, title: str = "pktlab report") -> str:
    """The report as one HTML string, with no external reference."""
    results = list(results)
    baseline = None if baseline is None else list(baseline)
    c = compare(results, baseline, tolerance)
    made = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = [f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
             f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{_e(title)}</h1><p class=muted>{len(results)} run(s)"
             + (f" against {len(baseline)} baseline run(s)" if baseline else "")
             + f", generated {made}.</p>"]
    if not results:
        parts.append("<p>No results.</p>")
    png = _chart_64b([r for r in results if r.frame_size == 64]) if results else None
    if png:
        parts.append("<h2>64-byte forwarding rate</h2>" + _img(png, "64 B forwarding rate"))
    if c.rates:
        parts.append("<h2>Forwarding rate</h2>" + _rates_html(c))
    if len(c.frame_sizes) > 1:
        parts.append(_img(figure_png(frame_size_figure(c)), "Mpps by frame size"))
    parts.append("<h2>Latency</h2>" + _latency_html(c))
    if c.latency:
        parts.append(_img(figure_png(latency_figure(c)), "latency percentiles"))
    if c.has_baseline:
        parts.append("<h2>Against the baseline</h2>" + _verdicts_html(c))
    parts.append("<h2>Runs</h2>" + _provenance_html(results, "result")
                 + (_provenance_html(baseline, "baseline") if baseline else ""))
    parts.append("<h2>As text</h2><pre>" + html.escape(format_comparison(c)) + "</pre>")
    parts.append("</body></html>\n")
    return "".join(parts)


def write_report(results: list[Result], out, baseline: list[Result] | None = None,
                 tolerance: float = 0.05, title: str = "pktlab report") -> Path:
    """Write render_report() to out (parent created); return the path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(results, baseline, tolerance, title), encoding="utf-8")
    return out
