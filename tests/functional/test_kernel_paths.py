"""Kernel data paths end to end, for real: namespaces, veths, a Linux bridge, OVS
with afxdp ports, the generator's kernel backend; counts checked against the
kernel's own interface counters; nothing left afterwards."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import host_state, needs_root, run_cli

BASE = """
[scenario]
name = "kernel-{kind}"

[cpu]
generator = 0
ovs_pmd = [1]

[traffic]
frame_size = 64
flows = 4
direction = "bidirectional"

[method]
duration = 2.0
rates = ["max", 20000]

[[datapath]]
kind = "{kind}"
name = "{kind}"
{extra}
"""


def kernel_state():
    """Namespaces and pktlab-looking interfaces in the root namespace, and XDP programs."""
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    links = json.loads(subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True).stdout)
    return {"netns": sorted(n for n in ns if n.startswith("pktlab")),
            "links": sorted(l["ifname"] for l in links if l["ifname"].startswith("pl")),
            "xdp": sorted(l["ifname"] for l in links if "xdp" in l)}


def run_path(tmp_path, state_dir, kind, extra=""):
    needs_root()
    f = tmp_path / f"{kind}.toml"
    f.write_text(BASE.format(kind=kind, extra=extra))
    before = host_state(state_dir), kernel_state()
    p = run_cli("run", f, "--out", tmp_path / "out", state_dir=state_dir)
    after = host_state(state_dir), kernel_state()
    results = [json.loads(r.read_text()) for r in sorted((tmp_path / "out").glob("*.json"))]
    return p, results, before, after


@pytest.mark.parametrize("kind,links", [
    ("veth", ("a0", "b0")),
    ("linux-bridge", ("a0", "a1", "b1", "b0")),
    ("ovs-afxdp", ("a0", "a1", "b1", "b0")),
])
def test_kernel_path_carries_traffic_and_agrees_with_kernel_counters(tmp_path, state_dir, kind, links):
    p, [r], before, after = run_path(tmp_path, state_dir, kind)
    assert p.returncode == 0, p.stdout + p.stderr
    assert r["status"] == "ok" and r["datapath"] == kind
    fast, slow = r["trials"]
    assert fast["offered_pps"] is None and fast["rx_packets"] > 0

    assert slow["offered_pps"] == 20000
    assert slow["lost"] == 0 and slow["tx_packets"] == slow["rx_packets"] > 0
    assert slow["counters_source"] == "netlink:IFLA_STATS64"
    c = {name[-2:]: v for name, v in slow["counters"].items()}  # by role: a0, a1, b1, b0
    assert sorted(c) == sorted(links)
    a0, b0 = c["a0"], c["b0"]
    ports = slow["ports"]
    # what the generator sent on each end left that veth, and what it received arrived there
    assert a0["tx_packets"] == ports[0]["tx_packets"] and b0["tx_packets"] == ports[1]["tx_packets"]
    assert a0["rx_packets"] == ports[0]["rx_packets"] and b0["rx_packets"] == ports[1]["rx_packets"]
    if "a1" in c:  # through the switch: in on a1, out on b1 (and back)
        assert c["a1"]["rx_packets"] == a0["tx_packets"] and c["b1"]["tx_packets"] == b0["rx_packets"]
    lat = slow["latency"]
    assert 0 < lat["min_ns"] <= lat["p50_ns"] <= lat["p99_ns"] <= lat["max_ns"]
    assert after == before


def test_ovs_kernel_datapath_is_recorded_as_not_run_when_the_module_is_missing(tmp_path, state_dir):
    if Path("/sys/module/openvswitch").is_dir() or subprocess.run(
            ["modprobe", "--dry-run", "openvswitch"], capture_output=True).returncode == 0:
        pytest.skip("this kernel has the openvswitch module: the path runs (covered by the lab tests)")
    p, [r], before, after = run_path(tmp_path, state_dir, "ovs-kernel")
    assert p.returncode == 0, p.stdout + p.stderr
    assert r["status"] == "not-run" and r["trials"] == []
    assert "openvswitch kernel module" in r["reason"] and "not run" in p.stdout
    assert after == before


@pytest.mark.parametrize("extra,key,reason", [
    ('ifname_prefix = "bad/name"', "datapath[0].ifname_prefix", "/"),
    ('ifname_prefix = "muchtoolongname"', "datapath[0].ifname_prefix", "15"),
    ('ifname_prefix = "has space"', "datapath[0].ifname_prefix", "whitespace"),
])
def test_malformed_kernel_scenario_fails_before_anything_is_created(tmp_path, state_dir, extra, key, reason):
    p, results, before, after = run_path(tmp_path, state_dir, "linux-bridge", extra)
    assert p.returncode == 2 and results == []
    assert key in p.stderr and reason in p.stderr, p.stderr
    assert after == before


def test_unknown_path_kind_fails_clearly(tmp_path, state_dir):
    p, results, before, after = run_path(tmp_path, state_dir, "ovs-magic")
    assert p.returncode == 2 and "datapath[0].kind" in p.stderr and "unknown data path" in p.stderr
    assert after == before


def test_a_frame_size_sweep_gives_one_result_per_size_and_a_sizes_chart(tmp_path, state_dir):
    needs_root()
    f = tmp_path / "sweep.toml"
    f.write_text(BASE.format(kind="veth", extra="").replace("frame_size = 64", "frame_sizes = [64, 512, 1518]")
                 .replace('rates = ["max", 20000]', "rates = [20000]").replace("duration = 2.0", "duration = 1.0"))
    p = run_cli("run", f, "--out", tmp_path / "out", state_dir=state_dir)
    assert p.returncode == 0, p.stdout + p.stderr
    results = [json.loads(r.read_text()) for r in (tmp_path / "out").glob("*.json")]
    assert sorted(r["frame_size"] for r in results) == [64, 512, 1518]
    for r in results:
        [t] = r["trials"]
        assert t["lost"] == 0 and t["rx_packets"] == t["tx_packets"] > 0
        a0 = next(v for k, v in t["counters"].items() if k.endswith("a0"))
        assert a0["tx_packets"] == t["ports"][0]["tx_packets"]
    assert len(list((tmp_path / "out").glob("*-sizes.png"))) == 1


@pytest.mark.parametrize("kind", ["veth", "linux-bridge"])
def test_jumbo_frames_run_on_kernel_paths_through_af_packet(tmp_path, state_dir, kind):
    """9018-byte frames do not fit an AF_XDP buffer: the generator takes AF_PACKET and the
    veths an MTU of 9000, and the frames arrive whole (before: a ValueError traceback)."""
    needs_root()
    f = tmp_path / "jumbo.toml"
    f.write_text(BASE.format(kind=kind, extra="").replace("frame_size = 64", "frame_size = 9018")
                 .replace('rates = ["max", 20000]', "rates = [5000]").replace("duration = 2.0", "duration = 1.0"))
    before = host_state(state_dir), kernel_state()
    p = run_cli("run", f, "--out", tmp_path / "out", state_dir=state_dir)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Traceback" not in p.stderr
    [r] = [json.loads(x.read_text()) for x in (tmp_path / "out").glob("*.json")]
    [t] = r["trials"]
    assert r["frame_size"] == 9018
    assert t["lost"] == 0 and t["rx_packets"] == t["tx_packets"] > 0
    a0 = next(v for k, v in t["counters"].items() if k.endswith("a0"))
    # the kernel counted the whole frames leaving a0: 9014 B each without the FCS
    assert a0["tx_bytes"] == a0["tx_packets"] * 9014 > 0
    assert (host_state(state_dir), kernel_state()) == before


def test_jumbo_frames_on_afxdp_ports_are_refused_at_load(tmp_path, state_dir):
    before = host_state(state_dir), kernel_state()
    f = tmp_path / "jumbo.toml"
    f.write_text(BASE.format(kind="ovs-afxdp", extra="").replace("frame_size = 64", "frame_size = 9018"))
    p = run_cli("run", f, "--out", tmp_path / "out", state_dir=state_dir)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert str(f) in p.stderr and "traffic.frame_size" in p.stderr and "afxdp" in p.stderr
    assert not (tmp_path / "out").exists()
    assert (host_state(state_dir), kernel_state()) == before
    # system ports take any frame the veths' MTU takes: the same scenario loads
    ok = tmp_path / "system.toml"
    ok.write_text(f.read_text().replace('name = "ovs-afxdp"', 'name = "ovs-afxdp"\nport_type = "system"'))
    assert run_cli("run", ok, "--dry-run", state_dir=state_dir).returncode == 0
