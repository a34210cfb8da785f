"""The C side's counters (struct pg_stats) as the results contract wants them.

Latency streams (StreamSpec.fixed_pps > 0) are counted apart: with one, the
trial's tx/rx/lost and rates are the load's alone, its latency comes from the
latency streams (PG_LAT_PROBE) and the load's own latency is kept beside it.
"""
from __future__ import annotations

import dataclasses

from .config import GenConfig
from .latency import ipdv_fields, summarize
from .stats import LatencySummary, PortStats, StreamCounts, TrialStats

LOAD, PROBE = 0, 1  # PG_LAT_LOAD, PG_LAT_PROBE


def lat_class(ffi, lib, ls, hz: float) -> tuple[LatencySummary | None, tuple, tuple]:
    """One latency class (struct pg_lat_stats): summary with IPDV, latency buckets, |IPDV| buckets."""
    hist = ffi.unpack(ls.hist, lib.PG_LAT_BUCKETS)
    summary, buckets = summarize(((i, n) for i, n in enumerate(hist) if n), ls.count, ls.sum, ls.min,
                                 ls.max, hz)
    if summary is None:
        return None, (), ()
    ihist = ffi.unpack(ls.ipdv_hist, lib.PG_LAT_BUCKETS)
    top = max(abs(ls.ipdv_min), abs(ls.ipdv_max)) if ls.ipdv_count else 0
    fields, ibuckets = ipdv_fields(((i, n) for i, n in enumerate(ihist) if n), ls.ipdv_count,
                                   ls.ipdv_sum, top, hz)
    return dataclasses.replace(summary, **fields), buckets, ibuckets


def trial_stats(ffi, lib, st, config: GenConfig, rate_pps: float | None, duration_s: float,
                rx_missed: list[int]) -> TrialStats:
    """TrialStats of the trial whose merged counters st (struct pg_stats *) holds."""
    hz = st.tsc_hz
    elapsed = st.tx_cycles / hz
    specs = config.streams
    streams = [st.streams[i] for i in range(len(specs))]
    probe = [s.fixed_pps > 0 for s in specs]

    def lost(which):
        # a TX-only stream expects nothing back: it loses nothing
        return sum(max(0, s.tx - s.unique) for s, spec, p in zip(streams, specs, probe)
                   if p == which and spec.rx_port is not None)

    load = [s for s, p in zip(streams, probe) if not p]
    probes = [s for s, p in zip(streams, probe) if p]
    main, buckets, ibuckets = lat_class(ffi, lib, st.lat[PROBE if probes else LOAD], hz)
    load_lat = lat_class(ffi, lib, st.lat[LOAD], hz)[0] if probes else None
    return TrialStats(
        offered_pps=rate_pps, duration_s=duration_s, elapsed_s=elapsed,
        tx_packets=sum(s.tx for s in load),
        rx_packets=sum(s.rx for s in load),
        lost=lost(False),
        duplicates=sum(s.duplicates for s in load),
        reordered=sum(s.reordered for s in load),
        tx_dropped=sum(s.tx_dropped for s in load),
        latency=main, latency_histogram=buckets, ipdv_histogram=ibuckets,
        latency_source="latency-stream" if probes else "load",
        latency_stream=StreamCounts(tx_packets=sum(s.tx for s in probes), rx_packets=sum(s.rx for s in probes),
                                    lost=lost(True), elapsed_s=elapsed) if probes else None,
        load_latency=load_lat,
        ports=tuple(PortStats(name=n, tx_packets=st.ports[i].tx, rx_packets=st.ports[i].rx,
                              rx_foreign=st.ports[i].rx_foreign, rx_missed=missed)
                    for (i, n), missed in zip(enumerate(config.port_names), rx_missed)),
        interrupted=bool(st.interrupted),
    )
