"""The README's main job: the smoke comparison end to end, for real."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from pktlab.analysis.charts import bars_64b, speedup
from pktlab.results import load_results
from tests.conftest import REPO, host_state, needs_root, release_state_dir, run_cli
from tests.functional.test_kernel_paths import kernel_state

COMPARE = REPO / "scenarios" / "smoke-compare.toml"


@pytest.fixture(scope="module")
def compare_run(tmp_path_factory):
    needs_root()
    out = tmp_path_factory.mktemp("compare") / "out"
    state = Path(tempfile.mkdtemp(prefix="pktlab-t", dir="/run"))
    before = host_state(state), kernel_state()
    p = run_cli("run", COMPARE, "--out", out, state_dir=state, timeout=600)
    after = host_state(state), kernel_state()
    release_state_dir(state)
    return p, out, before, after


def test_every_path_has_a_result_and_one_chart_puts_them_side_by_side(compare_run):
    p, out, _, _ = compare_run
    assert p.returncode == 0, p.stdout + p.stderr
    results = {r.datapath: r for r in load_results(sorted(out.glob("*.json")))}
    assert set(results) == {"veth-floor", "linux-bridge", "ovs-afxdp", "ovs-kernel", "ovs-dpdk-vhostuser",
                            "pvp-bridge"}
    for name in ("veth-floor", "linux-bridge", "ovs-afxdp", "ovs-dpdk-vhostuser", "pvp-bridge"):
        r = results[name]
        assert r.status == "ok" and r.frame_size == 64 and r.best_rx_pps > 0, name
    kernel = results["ovs-kernel"]
    if kernel.status == "not-run":  # no openvswitch module here: said plainly, no number
        assert "openvswitch kernel module" in kernel.reason and kernel.trials == ()
    [png] = out.glob("*.png")
    assert png.stat().st_size > 10000
    fastest, times = speedup(bars_64b(list(results.values())), "linux-bridge")
    assert times > 1 and fastest in results


def test_counters_of_each_path_come_from_the_device_under_test(compare_run):
    _, out, _, _ = compare_run
    files = sorted(out.glob("*.json"))
    measured = [r for r in map(lambda f: json.loads(f.read_text()), files) if r["status"] == "ok"]
    assert len(files) == 6 and len(measured) >= 5, [f.name for f in files]  # ovs-kernel may be not-run
    for r in measured:
        assert r["trials"], r["datapath"]
        for t in r["trials"]:
            want = "ovsdb:" if r["datapath"] in ("ovs-dpdk-vhostuser", "pvp-bridge") else "netlink:"
            assert t["counters_source"].startswith(want) and t["counters"], r["datapath"]


def test_host_is_as_before(compare_run):
    _, _, before, after = compare_run
    assert after == before
