"""The smoke data path end to end, for real: pktlab's own ovsdb-server and
ovs-vswitchd (DPDK), two vhost-user ports, the C generator on virtio-user,
hugepages, results and chart; then the host exactly as before."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from tests.conftest import SMOKE, host_state, needs_root, release_state_dir, run_cli


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    needs_root()
    out = tmp_path_factory.mktemp("smoke") / "out"
    state = Path(tempfile.mkdtemp(prefix="pktlab-t", dir="/run"))  # short: sockets live here
    before = host_state(state)
    p = run_cli("run", SMOKE, "--out", out, state_dir=state)
    after = host_state(state)
    release_state_dir(state)
    return p, out, before, after


def _result(out):
    [f] = sorted(out.glob("*.json"))
    return json.loads(f.read_text())


def test_run_succeeds_and_writes_a_result_and_a_chart(smoke):
    p, out, _, _ = smoke
    assert p.returncode == 0, p.stdout + p.stderr
    assert len(list(out.glob("*.json"))) == 1
    [png] = out.glob("*.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_result_carries_provenance_and_the_scenario(smoke):
    r = _result(smoke[1])
    assert r["schema_version"] == 1 and r["status"] == "ok"
    assert r["datapath"] == "ovs-dpdk-vhostuser" and r["frame_size"] == 64 and r["flows"] == 4
    prov = r["provenance"]
    assert prov["dpdk_version"] and "22.11" in prov["dpdk_version"]
    assert prov["ovs_version"] and prov["ovs_version"].startswith("3.")
    assert prov["cores_used"]["generator"] == [0] and prov["cores_used"]["ovs_pmd"] == [1]
    assert r["scenario"]["name"] == "smoke-ovs-dpdk"


def test_max_rate_trial_carries_traffic(smoke):
    t = _result(smoke[1])["trials"][0]
    assert t["offered_pps"] is None
    assert t["rx_packets"] > 0 and t["rx_pps"] > 0


def test_low_fixed_rate_is_loss_free_and_matches_ovs_counters(smoke):
    t = _result(smoke[1])["trials"][1]
    assert t["offered_pps"] == 100000
    assert t["lost"] == 0 and t["duplicates"] == 0
    assert t["rx_packets"] == t["tx_packets"] > 0
    # about 100 kpps for 3 s, within the pacing tolerance
    assert abs(t["tx_pps"] - 100000) / 100000 < 0.005
    c, ports = t["counters"], {p["name"].split(",")[0]: p for p in t["ports"]}
    assert t["counters_source"] == "ovsdb:Interface.statistics"
    # OVS receives from the generator what it sent, and sends to the generator what it received
    assert c["vhu0"]["rx_packets"] + c["vhu1"]["rx_packets"] == t["tx_packets"]
    assert c["vhu0"]["tx_packets"] + c["vhu1"]["tx_packets"] == t["rx_packets"]
    assert c["vhu0"]["rx_packets"] == ports["net_virtio_user0"]["tx_packets"]
    assert c["vhu1"]["tx_packets"] == ports["net_virtio_user1"]["rx_packets"]


def test_latency_summary_is_present_and_ordered(smoke):
    trials = _result(smoke[1])["trials"]
    assert trials
    for t in trials:
        lat = t["latency"]
        assert lat is not None
        assert 0 < lat["min_ns"] <= lat["p50_ns"] <= lat["p99_ns"] <= lat["max_ns"]
        assert lat["min_ns"] <= lat["avg_ns"] <= lat["max_ns"]
        assert sum(n for _, n in t["latency_histogram"]) == t["rx_packets"]


def test_host_is_as_before(smoke):
    _, _, before, after = smoke
    assert after == before
    assert after["processes"] == [] and after["hugetlbfs_mounts"] == []
    assert after.get("state_files") == []


def test_imix_goes_on_the_wire_in_its_proportions(tmp_path):
    """IMIX 7:4:1 (64/570/1518 B) through OVS-DPDK: OVS's own byte and packet counts
    give the mix's mean frame (FCS excluded), and nothing is lost at a low rate."""
    needs_root()
    f = tmp_path / "imix.toml"
    f.write_text(SMOKE.read_text().replace("frame_size = 64 ", 'imix = true ')
                 .replace('rates = ["max", 100000]', "rates = [60000]").replace("duration = 3.0", "duration = 2.0"))
    state = Path(tempfile.mkdtemp(prefix="pktlab-t", dir="/run"))
    p = run_cli("run", f, "--out", tmp_path / "out", state_dir=state)
    release_state_dir(state)
    assert p.returncode == 0, p.stdout + p.stderr
    [r] = [json.loads(x.read_text()) for x in (tmp_path / "out").glob("*.json")]
    assert r["frame_size"] == 354 and r["scenario"]["traffic"]["imix"] is True
    [t] = r["trials"]
    assert t["lost"] == 0 and t["rx_packets"] == t["tx_packets"] > 0
    c = t["counters"]["vhu0"]
    mean = (7 * 60 + 4 * 566 + 1514) / 12
    assert abs(c["rx_bytes"] / c["rx_packets"] - mean) / mean < 0.01
