"""Trials of results as CSV: one row per trial, for a spreadsheet or pandas.

Columns (CSV_COLUMNS, then one dut_<counter> column per DUT counter name found):
run (the result file's stem: scenario-datapath-time), scenario, datapath,
frame_size [B], flows, trial (position in the result), offered_pps (intended
load; "max" for as fast as possible), duration_s and elapsed_s [s], the counts and
derived rates (tx_pps, rx_pps [pps], summed over the ports sending; loss_ratio =
lost / tx_packets), the line-rate basis (link_speed_bps [bit/s] of one port and
sending_ports: line rate is their product, see pktlab.units), latency
percentiles [ns] (empty when the trial measured none), and the DUT's own counters
summed over its interfaces, per direction: dut_rx_packets is every interface's
rx_packets added up, and so on. Results that carry a search (see
pktlab.analysis.compare.search_of) add the search phase and generator_limited
flag of each trial; otherwise those cells are empty.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterable, TextIO

from pktlab.results import Result, result_filename

from .compare import search_of
from .latency import trial_percentiles

CSV_COLUMNS = (
    "run", "scenario", "datapath", "frame_size", "flows", "trial", "offered_pps",
    "duration_s", "elapsed_s", "tx_packets", "rx_packets", "lost", "tx_dropped", "duplicates",
    "reordered", "tx_pps", "rx_pps", "loss_ratio", "link_speed_bps", "sending_ports",
    "lat_min_ns", "lat_p50_ns", "lat_p90_ns", "lat_p99_ns", "lat_p999_ns", "lat_max_ns",
    "ipdv_p50_ns", "ipdv_p99_ns", "ipdv_max_ns", "latency_source",
    "search_phase", "generator_limited",
)
# always present, so that a script can rely on them even for results without counters
DUT_COUNTERS = ("rx_packets", "tx_packets", "rx_dropped", "tx_dropped")


def run_name(result: Result) -> str:
    """The result's file stem: <scenario>-<datapath>-<UTC time>."""
    return result_filename(result)[:-len(".json")]


def dut_counter_names(results: Iterable[Result]) -> list[str]:
    names = set(DUT_COUNTERS)
    for r in results:
        for t in r.trials:
            for counters in t.counters.values():
                names.update(counters)
    return [n for n in DUT_COUNTERS] + sorted(names - set(DUT_COUNTERS))


def trial_rows(results: Iterable[Result]) -> list[dict]:
    """One dict per trial of every result, keyed by the CSV columns."""
    results = list(results)
    counter_names = dut_counter_names(results)
    rows = []
    for r in results:
        search = search_of(r)
        for i, t in enumerate(r.trials):
            s = t.stats
            lat = trial_percentiles(s)
            probe = search.probe_of(i) if search is not None else None
            row = {
                "run": run_name(r), "scenario": r.name, "datapath": r.datapath,
                "frame_size": r.frame_size, "flows": r.flows, "trial": i,
                "offered_pps": "max" if s.offered_pps is None else s.offered_pps,
                "duration_s": s.duration_s, "elapsed_s": s.elapsed_s,
                "tx_packets": s.tx_packets, "rx_packets": s.rx_packets, "lost": s.lost,
                "tx_dropped": s.tx_dropped, "duplicates": s.duplicates, "reordered": s.reordered,
                "tx_pps": s.tx_pps, "rx_pps": s.rx_pps,
                "loss_ratio": s.lost / s.tx_packets if s.tx_packets else 0.0,
                "link_speed_bps": r.line_rate.link_bps, "sending_ports": r.line_rate.ports,
                "search_phase": probe.phase if probe else "",
                "generator_limited": str(probe.generator_limited).lower() if probe else "",
            }
            for key, value in zip(("lat_min_ns", "lat_p50_ns", "lat_p90_ns", "lat_p99_ns",
                                   "lat_p999_ns", "lat_max_ns"),
                                  lat.values_ns if lat else (None,) * 6):
                row[key] = "" if value is None else value
            for key, value in zip(("ipdv_p50_ns", "ipdv_p99_ns", "ipdv_max_ns"),
                                  lat.ipdv_ns if lat else (None,) * 3):
                row[key] = "" if value is None else value
            row["latency_source"] = s.latency_source if lat else ""
            for name in counter_names:
                row[f"dut_{name}"] = sum(c.get(name, 0) for c in t.counters.values())
            rows.append(row)
    return rows


def write_csv(results: Iterable[Result], out) -> Path | None:
    """Write the trials of results as CSV to out: a path (returned, parent created) or
    an open text stream (None returned)."""
    results = list(results)
    columns = list(CSV_COLUMNS) + [f"dut_{n}" for n in dut_counter_names(results)]
    rows = trial_rows(results)
    if hasattr(out, "write"):
        _write(out, columns, rows)
        return None
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        _write(f, columns, rows)
    return path


def to_csv(results: Iterable[Result]) -> str:
    """The CSV as a string."""
    buf = io.StringIO()
    write_csv(results, buf)
    return buf.getvalue()


def _write(f: TextIO, columns: list[str], rows: list[dict]) -> None:
    w = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
