#!/usr/bin/env python3
"""What an NDR/PDR search costs: MLRsearch vs a classic RFC 2544 binary search, for the same answer.

Both search the same policed device (OVS-DPDK vhost-user loopback whose ingress
policer lets --policer pps through) with the same goal: deciding trials of
--final seconds, one trial decides a load (exceed ratio 0), zero loss for NDR and
0.5 % for PDR, the same final width. They differ only in how they get there:
MLRsearch with shorter preceding trials and NDR and PDR in one search, the binary
search with every trial full length, one search per goal. Each is a real
`pktlab run`. A cost comparison means something only at the same answer: if the
two NDRs differ by more than the width (plus the generator's 0.5 % tolerance),
the bench says so and exits 1. The last line is ratio=X.XX (MLRsearch trial
seconds / binary trial seconds). Needs root.

    python bench/search_cost.py [--final 10] [--width 0.005] [--policer 1000000]
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "scenarios" / "policed-ndr.toml"
GENERATOR_TOLERANCE = 0.005  # pktlab.search.measurer.GENERATOR_TOLERANCE


def scenario_text(kind: str, args) -> str:
    """policed-ndr.toml with this search kind and the one shared goal."""
    text = SCENARIO.read_text()
    subs = {r'kind = "mlrsearch"': f'kind = "{kind}"',
            r"final_duration = [0-9.]+": f"final_duration = {args.final}",
            r"precision = [0-9.]+": f"precision = {args.width}",
            r"policer_pps = [0-9]+": f"policer_pps = {args.policer}",
            r"max_rate = [0-9]+": f"max_rate = {args.policer * 3}"}
    for pattern, repl in subs.items():
        text, n = re.subn(pattern, repl, text, count=1)
        if n != 1:
            sys.exit(f"{SCENARIO}: no line matches {pattern!r}: the bench and the scenario are out of step")
    return text


def search(kind: str, args, tmp: Path) -> dict:
    f = tmp / f"{kind}.toml"
    f.write_text(scenario_text(kind, args))
    out = tmp / kind
    p = subprocess.run([sys.executable, "-m", "pktlab.cli", "run", str(f), "--out", str(out)], cwd=REPO)
    if p.returncode != 0:
        sys.exit(f"{kind} search failed (exit {p.returncode})")
    [r] = [json.loads(x.read_text()) for x in out.glob("*.json")]
    s = r["search"]
    goals = {g["goal"]["name"]: g for g in s["goals"]}
    return {"trials": s["n_trials"], "seconds": s["total_trial_seconds"],
            "NDR": goals["NDR"]["lower_bound_pps"], "PDR": goals["PDR"]["lower_bound_pps"],
            "goal": {k: goals["NDR"]["goal"][k] for k in ("final_trial_duration", "exceed_ratio", "relative_width",
                                                          "loss_ratio")}}


def disagreement(a: float, b: float) -> float:
    """Relative difference of two bounds [1]."""
    return abs(a - b) / max(a, b)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--final", type=float, default=10.0, help="deciding trial duration for both [s]")
    ap.add_argument("--width", type=float, default=0.005, help="final relative width for both [1]")
    ap.add_argument("--policer", type=int, default=1_000_000, help="device capacity [pps]")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mlr = search("mlrsearch", args, Path(tmp))
        binary = search("binary", args, Path(tmp))
    if mlr["goal"] != binary["goal"]:
        sys.exit(f"the two searches ran different goals: {mlr['goal']} vs {binary['goal']}")
    print(f"goal: {args.final:g} s deciding trials, exceed ratio 0, width {args.width:.1%}; "
          f"policer {args.policer / 1e6:g} Mpps")
    for name, r in (("MLRsearch", mlr), ("binary", binary)):
        print(f"{name:10s} {r['trials']:3d} trials, {r['seconds']:7.1f} trial seconds, "
              f"NDR {r['NDR'] / 1e6:.4f} Mpps, PDR {r['PDR'] / 1e6:.4f} Mpps")
    bound = args.width + GENERATOR_TOLERANCE
    d = disagreement(mlr["NDR"], binary["NDR"])
    print(f"ratio={mlr['seconds'] / binary['seconds']:.2f}")
    if d > bound:
        print(f"DIFFERENT ANSWERS: the NDRs differ by {d:.2%}, more than the width {args.width:.1%} + "
              f"{GENERATOR_TOLERANCE:.1%}: the cost ratio compares different work", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
