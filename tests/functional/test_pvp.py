"""PVP for real: a QEMU guest (TCG here) built by pktlab, forwarding with a kernel
bridge between two vhost-user ports of pktlab's own OVS-DPDK."""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from pktlab.analysis.charts import bars_64b
from pktlab.results import load_results
from tests.conftest import REPO, host_state, needs_root, release_state_dir, run_cli

PVP = REPO / "scenarios" / "smoke-pvp.toml"


@pytest.fixture(scope="module")
def pvp_run(tmp_path_factory):
    needs_root()
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("needs qemu-system-x86 (./setup.sh installs it; CI has it)")
    out = tmp_path_factory.mktemp("pvp") / "out"
    state = Path(tempfile.mkdtemp(prefix="pktlab-t", dir="/run"))
    before = host_state(state)
    p = run_cli("run", PVP, "--out", out, state_dir=state, timeout=600)
    after = host_state(state)
    qemu = subprocess.run(["pgrep", "-x", "qemu-system-x86"], capture_output=True).stdout
    release_state_dir(state)
    return p, out, before, after, qemu


def test_pvp_carries_traffic_and_counts_agree_hop_by_hop(pvp_run):
    p, out, *_ = pvp_run
    assert p.returncode == 0, p.stdout + p.stderr
    [f] = out.glob("*.json")
    r = json.loads(f.read_text())
    fast, slow = r["trials"]
    assert fast["rx_packets"] > 0
    assert slow["lost"] == 0 and slow["tx_packets"] == slow["rx_packets"] > 0
    c = slow["counters"]
    into_a, out_b = c["flow vhu0->vm0 (into the guest)"]["packets"], c["flow vm1->vhu1 (out of the guest)"]["packets"]
    into_b, out_a = c["flow vhu1->vm1 (into the guest)"]["packets"], c["flow vm0->vhu0 (out of the guest)"]["packets"]
    ports = {q["name"]: q for q in slow["ports"]}
    # generator A -> OVS -> guest -> OVS -> generator B, every hop the same count (and the mirror)
    assert ports["net_virtio_user0"]["tx_packets"] == c["vhu0"]["rx_packets"] == into_a == out_b \
        == c["vhu1"]["tx_packets"] == ports["net_virtio_user1"]["rx_packets"]
    assert ports["net_virtio_user1"]["tx_packets"] == c["vhu1"]["rx_packets"] == into_b == out_a \
        == c["vhu0"]["tx_packets"] == ports["net_virtio_user0"]["rx_packets"]
    # at max rate the emulated guest is the bottleneck: the loss is on the hop through it
    fc = fast["counters"]
    assert fc["flow vhu0->vm0 (into the guest)"]["packets"] > fc["flow vm1->vhu1 (out of the guest)"]["packets"]


def test_pvp_result_carries_the_guest_and_is_labelled_emulated(pvp_run):
    _, out, *_ = pvp_run
    [r] = load_results(list(out.glob("*.json")))
    g = r.provenance.guest
    assert g["forwarder"] == "bridge" and g["kernel"] and g["vcpus"] == 1 and g["vcpu_host_cores"] == [0]
    if g["accel"]["emulated"]:
        assert bars_64b([r])[0][0].endswith("[emulated]")


def test_guest_is_gone_and_host_restored(pvp_run):
    _, _, before, after, qemu = pvp_run
    assert qemu == b"" and after == before


def test_pvvp_chains_two_guests_and_every_hop_counts_the_same(tmp_path):
    """PVVP: generator -> OVS -> guest 0 -> OVS -> guest 1 -> OVS -> generator, for real (TCG)."""
    needs_root()
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("needs qemu-system-x86 (./setup.sh installs it; CI has it)")
    state = Path(tempfile.mkdtemp(prefix="pktlab-t", dir="/run"))
    before = host_state(state)
    p = run_cli("run", REPO / "scenarios" / "smoke-pvvp.toml", "--out", tmp_path, state_dir=state, timeout=600)
    after = host_state(state)
    release_state_dir(state)
    assert p.returncode == 0, p.stdout + p.stderr
    [r] = [json.loads(f.read_text()) for f in tmp_path.glob("*.json")]
    slow = r["trials"][1]
    assert slow["lost"] == 0 and slow["rx_packets"] == slow["tx_packets"] > 0
    flows = {k: v["packets"] for k, v in slow["counters"].items() if k.startswith("flow")}
    forward = [flows[f"flow {h}"] for h in ("vhu0->vm0 (into the guest)", "vm1->vm2 (guest to guest)",
                                            "vm3->vhu1 (out of the guest)")]
    assert forward == [slow["counters"]["vhu0"]["rx_packets"]] * 3
    assert r["provenance"]["guest"]["guests"] == 2
    assert after == before
