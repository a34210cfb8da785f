#!/usr/bin/env python3
"""pktlab's measured rate through OVS-DPDK vhost-user next to the rate OVS's own counters show.

Runs the smoke scenario (a real run: hugepages, pktlab's own OVS, virtio-user
generator) and prints, per trial, what the generator sent and received and what
OVS says it received from and sent to the generator over the same window. The
last line is `ratio=X.XX`: generator rx pps / OVS tx pps at maximum rate (1.00
means the two independent counts agree).

usage: bench/ovs_vhost_counters.py [SCENARIO]   (as root)
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pktlab.results import load_result  # noqa: E402


def main() -> int:
    scenario = sys.argv[1] if len(sys.argv) > 1 else str(REPO / "scenarios" / "smoke-ovs-dpdk.toml")
    with tempfile.TemporaryDirectory() as out:
        p = subprocess.run([sys.executable, "-m", "pktlab.cli", "run", scenario, "--out", out], cwd=REPO)
        if p.returncode != 0:
            return p.returncode
        [f] = Path(out).glob("*.json")
        result = load_result(f)
    ratio = None
    for t in result.trials:
        s, secs = t.stats, t.stats.elapsed_s
        ovs_rx = sum(c.get("rx_packets", 0) for c in t.counters.values())
        ovs_tx = sum(c.get("tx_packets", 0) for c in t.counters.values())
        offered = "max" if s.offered_pps is None else f"{s.offered_pps / 1e6:.3f} Mpps"
        print(f"{result.datapath} {result.frame_size} B offered {offered}: generator tx {s.tx_pps / 1e6:.3f} "
              f"rx {s.rx_pps / 1e6:.3f} Mpps | OVS rx {ovs_rx / secs / 1e6:.3f} tx {ovs_tx / secs / 1e6:.3f} "
              f"Mpps | lost {s.lost}")
        if s.offered_pps is None and ovs_tx:
            ratio = s.rx_pps / (ovs_tx / secs)
    print(f"ratio={ratio:.2f}" if ratio is not None else "ratio=nan")
    return 0


if __name__ == "__main__":
    sys.exit(main())
