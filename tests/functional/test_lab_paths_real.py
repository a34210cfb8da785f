"""The lab scenarios on this build machine, for real: it has no NIC pktlab may
take (only the management NIC), no IOMMU and no openvswitch module, so each
lab data path must be refused with file, key and reason before anything
changes, or recorded as not run where the whole kind cannot exist here."""
from __future__ import annotations

import json

import pytest

from tests.conftest import REPO, host_state, needs_root, run_cli

LAB = REPO / "scenarios"


@pytest.mark.parametrize("name,key", [
    ("lab-ovs-dpdk-p2p.toml", "datapath[0]."),
    ("lab-sriov-vf.toml", "datapath[0]."),
    ("lab-compare-64b.toml", "datapath[1]."),  # [0] is the OVS kernel path: not run here (see below)
])
def test_lab_scenarios_are_refused_here_and_touch_nothing(tmp_path, state_dir, name, key):
    needs_root()
    before = host_state(state_dir)
    p = run_cli("run", LAB / name, "--out", tmp_path / "out", state_dir=state_dir)
    assert p.returncode == 2, p.stdout + p.stderr
    assert f"{LAB / name}: {key}" in p.stderr or f"scenarios/{name}: {key}" in p.stderr, p.stderr
    # whichever comes first here: no IOMMU for vfio-pci, or no such NIC
    assert "IOMMU" in p.stderr or "no such NIC" in p.stderr, p.stderr
    assert host_state(state_dir) == before
    assert not (tmp_path / "out").exists()


def test_the_management_nic_is_refused_by_name(tmp_path, state_dir):
    """This machine's own management NIC named as a DUT port: refused as such, even
    listed in allow_in_use, and nothing on the host changes."""
    needs_root()
    from pktlab.inventory.sysfs import read_inventory

    mgmt = next((n for n in read_inventory().nics if n.management and n.ifname), None)
    if mgmt is None:
        pytest.skip("this machine's default route is not on a PCI NIC")
    text = (LAB / "lab-ovs-dpdk-p2p.toml").read_text()
    text = text.replace('dut_ports = ["enp3s0f0", "enp3s0f1"]', f'dut_ports = ["{mgmt.ifname}", "enp3s0f1"]')
    text = text.replace("allow_in_use = []", f'allow_in_use = ["{mgmt.ifname}"]')
    f = tmp_path / "mgmt.toml"
    f.write_text(text)
    before = host_state(state_dir)
    p = run_cli("--sysfs-root", "/", "run", f, "--out", tmp_path / "out", state_dir=state_dir)
    # the IOMMU check comes first on a host without one; the NIC check otherwise
    assert p.returncode == 2
    assert "management NIC" in p.stderr or "IOMMU" in p.stderr, p.stderr
    p = run_cli("run", "--dry-run", f, state_dir=state_dir)
    assert p.returncode == 0
    assert f"{mgmt.ifname} ({mgmt.pci}) is the management NIC" in p.stdout, p.stdout
    assert host_state(state_dir) == before


def test_ovs_kernel_p2p_without_the_module_is_recorded_as_not_run(tmp_path, state_dir):
    needs_root()
    from pktlab.datapaths.kernel import openvswitch_module_missing

    why = openvswitch_module_missing()
    if why is None:
        pytest.skip("this kernel has the openvswitch module: the path would try to run on NICs it lacks")
    before = host_state(state_dir)
    p = run_cli("run", LAB / "lab-ovs-kernel-p2p.toml", "--out", tmp_path / "out", state_dir=state_dir)
    assert p.returncode == 0, p.stdout + p.stderr
    [f] = (tmp_path / "out").glob("*.json")
    r = json.loads(f.read_text())
    assert r["status"] == "not-run" and "openvswitch" in r["reason"] and r["trials"] == []
    assert host_state(state_dir) == before


def test_dry_run_says_when_nothing_can_run_here(state_dir):
    from pktlab.datapaths.kernel import openvswitch_module_missing

    if openvswitch_module_missing() is None:
        pytest.skip("this kernel has the openvswitch module")
    p = run_cli("run", "--dry-run", LAB / "lab-ovs-kernel-p2p.toml", state_dir=state_dir)
    assert p.returncode == 0
    assert "not run here: the openvswitch kernel module is not available" in p.stdout
    assert "precheck: no data path of it can run on this host" in p.stdout
