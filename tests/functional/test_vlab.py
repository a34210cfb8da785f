"""The virtual lab server for real: one boot for the module (`pktlab vlab start`),
commands inside through `pktlab vlab exec`, and one `pktlab vlab doctor` (its own
boot and power-off). Slow under TCG: keep what runs inside short."""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import PKTLAB, REPO, host_state, needs_root, release_state_dir, run_cli

pytestmark = pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="no QEMU")


def _qemu_has_igb() -> bool:
    p = subprocess.run(["qemu-system-x86_64", "-device", "help"], capture_output=True, text=True)
    return '"igb"' in p.stdout


@pytest.fixture(scope="module")
def vlab(tmp_path_factory):
    needs_root()
    if not _qemu_has_igb():
        pytest.skip("this QEMU has no igb device (./setup.sh installs QEMU 10 from bookworm-backports)")
    state = Path(tmp_path_factory.mktemp("vlab-state", numbered=True))
    state = Path("/run") / f"pktlab-tv{state.name[-6:]}"
    state.mkdir()
    out = tmp_path_factory.mktemp("vlab-out")
    before = host_state()
    p = run_cli("vlab", "start", "--out", out, state_dir=state, timeout=400)
    assert p.returncode == 0, p.stdout + p.stderr

    def exec_(cmd: str, timeout=400):
        return run_cli("vlab", "exec", "--", "bash", "-c", cmd, state_dir=state, timeout=timeout)

    yield state, out, exec_
    # `vlab start` has exited: its journal names a runner that is gone, so `pktlab restore`
    # powers the server off, as it would after a killed `pktlab vlab run`.
    p = run_cli("restore", state_dir=state, timeout=120)
    release_state_dir(state)
    assert p.returncode == 0 and "restoring run vlab-" in p.stdout, p.stdout + p.stderr
    assert host_state() == before


def test_doctor_inside_sees_two_nodes_four_igb_nics_on_their_nodes_the_iommu_and_the_management_nic(vlab):
    _, _, exec_ = vlab
    p = exec_("pktlab doctor --json")
    assert p.returncode == 0, p.stdout + p.stderr
    inv = json.loads(p.stdout)["inventory"]
    assert [n["id"] for n in inv["nodes"]] == [0, 1] and all(n["cpus"] for n in inv["nodes"])
    assert inv["iommu"]["enabled"] and inv["iommu"]["groups"] > 0 and inv["iommu"]["passthrough"]
    nics = {n["pci"]: n for n in inv["nics"]}
    lab = {pci: (n["numa_node"], n["driver"], n["vendor_device"], n["sriov_totalvfs"],
                 [m["name"] for m in n["dpdk_pmds"]]) for pci, n in nics.items() if not n["management"]}
    assert lab == {pci: (node, "igb", "8086:10c9", 7, ["net_e1000_igb"]) for pci, node in (
        ("0000:41:00.0", 0), ("0000:42:00.0", 0), ("0000:81:00.0", 1), ("0000:82:00.0", 1))}
    assert inv["management"]["pci"] == ["0000:00:02.0"]
    assert "it is the management NIC (it carries the default route)" in nics["0000:00:02.0"]["in_use"]
    pages = exec_("cat /sys/devices/system/node/node[01]/hugepages/hugepages-1048576kB/nr_hugepages")
    assert pages.stdout.split() == ["1", "1"], pages.stdout + pages.stderr  # one 1 GiB page per node, at boot


def test_a_scenario_the_server_cannot_run_is_refused_before_it_boots(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text((REPO / "scenarios" / "vlab-sriov-vf.toml").read_text().replace("vfs = 2", "vfs = 9")
                   .replace('vf_macs = ["02:00:00:00:01:00", "02:00:00:00:01:01"]', ""))
    t0 = time.monotonic()
    p = subprocess.run(PKTLAB + ["vlab", "run", str(bad), "--out", str(tmp_path / "o")], capture_output=True,
                       text=True, cwd=REPO, timeout=60)
    assert p.returncode == 2, p.stdout + p.stderr
    assert f"{bad}: datapath[0].vfs: 9 VFs asked for; dut0 (0000:81:00.0) offers 7" in p.stderr
    assert time.monotonic() - t0 < 20 and not (tmp_path / "o").exists()


# What a lab run changes inside the server: drivers, VF counts and settings, hugepages per node, modules.
STATE = r"""
for d in 0000:41:00.0 0000:42:00.0 0000:81:00.0 0000:82:00.0; do
  p=/sys/bus/pci/devices/$d; echo "$d $(basename $(readlink $p/driver)) vfs=$(cat $p/sriov_numvfs) \
override=$(cat $p/driver_override)"; ip -d link show $(ls $p/net 2>/dev/null) 2>/dev/null | grep -E 'vf [0-9]'
done
grep . /sys/devices/system/node/node*/hugepages/*/nr_hugepages
lsmod | cut -d' ' -f1 | grep -xE 'openvswitch|vfio_pci|vfio|uio_pci_generic|igbvf' | sort
grep hugetlbfs /proc/mounts; ls /run/pktlab/journal 2>/dev/null; pgrep -a 'ovs-|pktlab' | grep -v 'bash -c'
true
"""


def _channel(state: Path):
    from pktlab.vlab.channel import Channel

    return Channel(json.loads((state / "vlab" / "current.json").read_text())["io_dir"])


def run_until_generator(state: Path, scenario: Path, out: Path, timeout: float = 300):
    """(channel, request id) of `pktlab -v run scenario` started inside, once it started its generator."""
    ch = _channel(state)
    rid = ch.run(["pktlab", "-v", "run", str(scenario), "--out", str(out)], env={"PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + timeout
    while "apply: start the generator" not in (ch.log(rid).read_text() if ch.log(rid).exists() else ""):
        assert ch.result(rid) is None, ch.log(rid).read_text()
        assert time.monotonic() < deadline, "the run never started its generator"
        time.sleep(1)
    return ch, rid


def test_sigkill_mid_trial_then_restore_inside_puts_everything_back(vlab, tmp_path):
    state, out, exec_ = vlab
    before = exec_(STATE)
    assert before.returncode == 0 and "0000:81:00.0 igb vfs=0" in before.stdout, before.stdout + before.stderr
    long = out / "long-sriov.toml"
    long.write_text((REPO / "scenarios" / "vlab-sriov-vf.toml").read_text()
                    .replace("rates = [2000, 10000]", "rates = [2000]").replace("duration = 2.0", "duration = 120.0"))
    ch, rid = run_until_generator(state, long, out / "killed")
    time.sleep(10)  # into the 120 s trial
    during = exec_(STATE)
    assert during.stdout != before.stdout and "vfs=2" in during.stdout, during.stdout
    ch.kill(rid, 9)
    assert ch.wait(rid, 60) == -9
    left = exec_(STATE)
    assert "vfs=2" in left.stdout, left.stdout  # SIGKILL undid nothing
    restore = exec_("pktlab restore")
    assert restore.returncode == 0 and "host restored" in restore.stdout, restore.stdout + restore.stderr
    after = exec_(STATE)
    assert after.stdout == before.stdout


def _server_console(state: Path, out: Path) -> str:
    """The server's console (kept beside the results, its tail for the message): a path stuck
    inside, e.g. a vCPU that stopped under TCG, shows there (RCU stalls), nowhere else."""
    logs = sorted(state.glob("runs/vlab-*/vm/console.log"))
    if not logs:
        return "\n(no server console log found)"
    text = logs[-1].read_text(errors="replace")
    (out / "server-console.log").write_text(text)
    return "\nserver console, last lines:\n" + "\n".join(text.splitlines()[-40:])


def test_the_lab_comparison_runs_inside_and_its_chart_and_results_land_in_the_hosts_out_dir(vlab):
    """The three lab paths one after another inside, for real: OVS kernel and OVS-DPDK between
    the igb NICs, SR-IOV VF to VF through the PF's embedded switch (DPDK's igbvf PMD on vfio-pci).
    Every result and bar says `emulated`."""
    from pktlab.analysis.charts import bars_64b
    from pktlab.results import load_results

    state, out, exec_ = vlab
    dest = out / "compare"
    before = exec_(STATE)
    t0 = time.monotonic()
    p = exec_(f"pktlab run {REPO / 'scenarios' / 'vlab-compare-64b.toml'} --out {dest}", timeout=560)
    took = time.monotonic() - t0
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:] + _server_console(state, out)
    results = {r.datapath: r for r in load_results(sorted(dest.glob("*.json")))}
    assert set(results) == {"OVS kernel", "OVS-DPDK", "SR-IOV VF"}, p.stdout[-3000:] + p.stderr[-3000:]
    for name, r in results.items():
        assert r.provenance.guest["accel"]["emulated"] is True and r.provenance.kernel.endswith("-amd64")
        assert r.provenance.numa_nodes == 2
        assert r.status == "ok" and len(r.trials) == 2, (name, r.status, r.reason)
        # carried, not how fast: under TCG on a shared 2-core machine 10 kpps may lose frames
        assert all(t.stats.rx_packets > 0 for t in r.trials), name
    for name in ("OVS kernel", "OVS-DPDK"):  # every frame the generator got back crossed the switch
        assert all(sum(c.get("rx_packets", 0) for c in t.counters.values()) >= t.stats.rx_packets
                   for t in results[name].trials), name
    # igb keeps no per-VF counters: none recorded, rather than zeros
    assert all(t.counters == {} for t in results["SR-IOV VF"].trials)
    bars = {b[0]: b[1] for b in bars_64b(list(results.values()))}
    assert set(bars) == {"OVS kernel [emulated]", "OVS-DPDK [emulated]", "SR-IOV VF [emulated]"}
    assert all(v is not None and v > 0 for v in bars.values()), bars
    [png] = dest.glob("*.png")
    assert png.stat().st_size > 10000
    # drivers, VFs, hugepages and modules as they were: ovs-vswitchd (the DPDK build too) has the
    # kernel load openvswitch, and the run takes it out again
    assert exec_(STATE).stdout == before.stdout
    print(f"lab comparison inside the virtual lab server: {took:.0f} s; " + ", ".join(
        f"{n} {r.best_rx_pps:.0f} pps" for n, r in results.items()))


def test_a_host_file_changed_after_boot_reads_new_inside(vlab):
    """The host's root is cached loosely inside; each command starts from dropped caches, so an
    edited scenario (or pktlab) is what runs, not the copy seen at boot."""
    _, _, exec_ = vlab
    f = Path("/var/tmp") / f"pktlab-vlab-{time.monotonic_ns()}.txt"
    try:
        f.write_text("one\n")
        assert exec_(f"cat {f}").stdout == "one\n"
        f.write_text("two, longer\n")
        assert exec_(f"cat {f}").stdout == "two, longer\n"
    finally:
        f.unlink(missing_ok=True)
