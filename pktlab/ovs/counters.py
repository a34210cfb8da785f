"""The device under test's own counters, read from OVSDB, for the same trial as the generator's.

OVS publishes Interface statistics to OVSDB every stats-update-interval (5 s,
its minimum). Counters only move while a trial sends, so a snapshot is final
once a refresh has happened after the traffic stopped: either the values
change after the trial ended, or a full interval passes without a change.
"""
from __future__ import annotations

import time

STATS_INTERVAL_S = 5.0
_MARGIN_S = 1.5  # the refresh has to travel vswitchd -> ovsdb-server -> us


# Of the ~50 counters a vhost-user port has, those that say where packets went;
# per-queue and per-size histograms add nothing to a loss verdict.
KEPT = ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_dropped", "tx_dropped", "rx_errors",
        "tx_errors", "ovs_tx_failure_drops", "ovs_tx_retries", "ovs_rx_qos_drops", "ovs_tx_qos_drops",
        "ovs_tx_mtu_exceeded_drops")


class OvsCounters:
    source = "ovsdb:Interface.statistics"

    def __init__(self, db, interfaces):
        self.db, self.interfaces = db, tuple(interfaces)

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {i: {k: v for k, v in stats.items() if k in KEPT}
                for i, stats in self.db.statistics(self.interfaces).items()}

    def settled(self, poll_s: float = 0.1) -> dict[str, dict[str, int]]:
        """Call after the trial's traffic (and its drain) ended; returns final counters."""
        # Only OVSDB's own counters decide; a subclass may add live ones to snapshot().
        read = lambda: OvsCounters.snapshot(self)  # noqa: E731
        t_end = time.monotonic()
        at_end = read()
        while time.monotonic() - t_end < STATS_INTERVAL_S + _MARGIN_S:
            time.sleep(poll_s)
            if read() != at_end:
                break
        return self.snapshot()


def delta(after: dict, before: dict) -> dict[str, dict[str, int]]:
    """Per interface, after - before for every counter (absent before = 0)."""
    return {iface: {k: int(v) - int(before.get(iface, {}).get(k, 0)) for k, v in sorted(stats.items())}
            for iface, stats in after.items()}
