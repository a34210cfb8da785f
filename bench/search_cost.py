#!/usr/bin/env python3
"""What an NDR/PDR search costs: MLRsearch's quick goal vs a classic RFC 2544 binary search.

Both search the same policed device (OVS-DPDK vhost-user loopback whose ingress
policer lets 1 Mpps through) at the same precision (the quick goal's 2 % width):
MLRsearch with the quick goal (short preceding trials, 1 s deciding trials, NDR
and PDR in one search), and a binary search per goal whose every trial lasts
--binary-trial seconds (RFC 2544 asks for at least 60). Each is a real `pktlab run`.
Prints the trials, trial seconds and NDR/PDR of each; the last line is
ratio=X.XX (quick trial seconds / binary trial seconds). Needs root.

    python bench/search_cost.py [--binary-trial 60] [--policer 1000000]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SCENARIO = REPO / "scenarios" / "policed-ndr.toml"


def search(kind: str, final: float, args, tmp: Path) -> dict:
    f = tmp / f"{kind}.toml"
    text = SCENARIO.read_text().replace('kind = "mlrsearch"', f'kind = "{kind}"\nprecision = 0.02')
    text = text.replace("final_duration = 2.0", f"final_duration = {final or 1.0}")
    text = text.replace("policer_pps = 1000000", f"policer_pps = {args.policer}")
    f.write_text(text.replace("max_rate = 3000000", f"max_rate = {args.policer * 3}"))
    out = tmp / kind
    p = subprocess.run([sys.executable, "-m", "pktlab.cli", "run", str(f), "--out", str(out)], cwd=REPO)
    if p.returncode != 0:
        sys.exit(f"{kind} search failed (exit {p.returncode})")
    [r] = [json.loads(x.read_text()) for x in out.glob("*.json")]
    s = r["search"]
    goals = {g["goal"]["name"]: g["lower_bound_pps"] for g in s["goals"]}
    return {"trials": s["n_trials"], "seconds": s["total_trial_seconds"], **goals}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary-trial", type=float, default=60.0, help="binary search trial length [s]")
    ap.add_argument("--policer", type=int, default=1_000_000, help="device capacity [pps]")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        quick = search("mlrsearch", 0.0, args, Path(tmp))  # the quick goal's own 1 s deciding trials
        binary = search("binary", args.binary_trial, args, Path(tmp))
    for name, r in (("MLRsearch quick", quick), (f"binary, {args.binary_trial:g} s trials", binary)):
        print(f"{name:24s} {r['trials']:3d} trials, {r['seconds']:7.1f} trial seconds, "
              f"NDR {r['NDR'] / 1e6:.4f} Mpps, PDR {r['PDR'] / 1e6:.4f} Mpps (policer {args.policer / 1e6:g} Mpps)")
    print(f"ratio={quick['seconds'] / binary['seconds']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
