"""VLAN and VXLAN through OVS-DPDK end to end, for real: `pktlab run` on the shipped
scenarios at a low rate (loss-free), the generator's counts against OVS's own per
port, the stamps found after OVS pushed, stripped, encapsulated or decapsulated;
then the host exactly as before (the tunnel address, route and neighbour with it)."""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import REPO, host_state, needs_root, release_state_dir, run_cli

RATE = 20_000  # [pps] low: loss-free even with other sessions' pollers on the two cores


def run(tmp_path, name, edits=()):
    """One `pktlab run` of a shipped scenario at RATE only, for 2 s; the results and host states."""
    needs_root()
    text = (REPO / "scenarios" / name).read_text()
    for old, new in (('rates = [100000, "max"]', f"rates = [{RATE}]"), ("duration = 3.0", "duration = 2.0"),
                     *edits):
        assert old in text, old
        text = text.replace(old, new)
    f = tmp_path / name
    f.write_text(text)
    state = Path(tempfile.mkdtemp(prefix="pktlab-t", dir="/run"))  # short: sockets live here
    before = _host(state)
    p = run_cli("run", f, "--out", tmp_path / "out", state_dir=state)
    after = _host(state)
    release_state_dir(state)
    assert p.returncode == 0, p.stdout + p.stderr
    assert after == before
    results = [json.loads(x.read_text()) for x in sorted((tmp_path / "out").glob("*.json"))]
    return {r["datapath"]: r for r in results}


def _host(state):
    """host_state plus interfaces and routes (the bridges' taps, the VTEP address), less the
    processes of other checkouts sharing this machine (their workers, their QEMU): these
    paths start no QEMU, and their generator runs from this checkout's venv."""
    s = host_state(state) | {"links": _links(), "routes": _routes()}
    s["processes"] = [p for p in s["processes"] if "qemu-system" not in p
                      and not ("/.venv/bin/" in p and str(REPO) not in p)]
    return s


def _links():
    return sorted(subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout.split("\n"))


def _routes():
    return subprocess.run(["ip", "route", "show", "table", "all"], capture_output=True, text=True).stdout


def loss_free_and_counted(t, into, out_of):
    """No loss; OVS received on `into` what the generator's port 0 sent and sent out of
    `out_of` what its port 1 received (port names as the generator's ports show them)."""
    assert t["offered_pps"] == RATE
    assert t["lost"] == 0 and t["duplicates"] == 0 and t["rx_packets"] == t["tx_packets"] > 0, t
    ports = {p["name"].split(",")[0]: p for p in t["ports"]}
    c = t["counters"]
    assert c[into]["rx_packets"] == ports["net_virtio_user0"]["tx_packets"] == t["tx_packets"]
    assert c[out_of]["tx_packets"] == ports["net_virtio_user1"]["rx_packets"] == t["rx_packets"]
    assert ports["net_virtio_user1"]["rx_foreign"] == 0  # nothing but the stamped frames (no ARP, no IPv6)
    return c


def test_vlan_push_and_strip_both_ways(tmp_path):
    """Port 0 sends 68 B tagged frames into the trunk, port 1 64 B untagged into the access
    port; each finds its stamps in what the switch stripped or tagged."""
    results = run(tmp_path, "smoke-vlan.toml")
    assert set(results) == {"ovs-dpdk-vlan-normal", "ovs-dpdk-vlan-openflow"}
    for r in results.values():
        [t] = r["trials"]
        assert t["lost"] == 0 and t["duplicates"] == 0 and t["rx_packets"] == t["tx_packets"] > 0, t
        c, ports = t["counters"], [p for p in t["ports"]]
        # bidirectional: each OVS port received what its generator port sent, and sent what it received
        for vhu, gen in zip(("vhu0", "vhu1"), ports):
            assert c[vhu]["rx_packets"] == gen["tx_packets"] > 0 and c[vhu]["tx_packets"] == gen["rx_packets"]
            assert gen["rx_foreign"] == 0
        # bytes say who carried the tag: 64 B frames are 60 B to OVS, the trunk's 64 both ways
        assert c["vhu0"]["rx_bytes"] == 64 * c["vhu0"]["rx_packets"] and c["vhu0"]["tx_bytes"] == 64 * c["vhu0"]["tx_packets"]
        assert c["vhu1"]["rx_bytes"] == 60 * c["vhu1"]["rx_packets"] and c["vhu1"]["tx_bytes"] == 60 * c["vhu1"]["tx_packets"]


@pytest.mark.parametrize("name, into, out_of, in_len, out_len", [
    ("smoke-vxlan-decap.toml", "vhu0", "vhu1", 110, 60),  # VXLAN in, inner frames out
    ("smoke-vxlan-encap.toml", "vhu1", "vhu0", 60, 110),  # inner frames in, VXLAN out
])
def test_vxlan_through_ovs_dpdk(tmp_path, name, into, out_of, in_len, out_len):
    [r] = run(tmp_path, name).values()
    [t] = r["trials"]
    c = loss_free_and_counted(t, into, out_of)
    n = t["tx_packets"]
    assert c[into]["rx_bytes"] == in_len * n and c[out_of]["tx_bytes"] == out_len * n
