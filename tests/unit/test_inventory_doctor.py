"""`doctor` on a fake two-node lab server: the table, the JSON, and per-scenario
verdicts from requirements given as plain data. All on fake trees, with a PMD
index built in the test (the installed DPDK libraries are read in
tests/functional/test_doctor_real.py)."""
from __future__ import annotations

import dataclasses
import json

import pytest

from pktlab.errors import ScenarioError
from pktlab.inventory import doctor
from pktlab.inventory.pmdinfo import PciId, Pmd, PmdIndex
from tests import fakesys

PMDS = PmdIndex([
    Pmd("net_ixgbe", "librte_net_ixgbe.so", "* igb_uio | uio_pci_generic | vfio-pci", None, (PciId("8086", "10fb"),)),
    Pmd("net_i40e", "librte_net_i40e.so", "* igb_uio | uio_pci_generic | vfio-pci", None, (PciId("8086", "1572"),)),
    Pmd("mlx5_eth", "librte_net_mlx5.so", "* ib_uverbs & mlx5_core & mlx5_ib", None, (PciId("15b3", "1017"),)),
], sources=["test"])

PHY = [  # what a phy-to-phy scenario on the 82599 could ask for
    {"check": "numa_nodes", "min": 2},
    {"check": "iommu"},
    {"check": "driver", "name": "vfio-pci"},
    {"check": "nic", "port": "enp3s0f0", "free": True, "vfs": 8},
    {"check": "nic", "port": "enp3s0f1", "free": True},
    {"check": "cores", "count": 4, "node": 1, "isolated": True},
    {"check": "hugepages", "size": "1G", "count": 4, "node": 1},
    {"check": "placement", "dut_ports": ["enp3s0f0"], "gen_ports": ["ens2f0"], "pmd_cores": 2, "gen_lcores": 2,
     "ovs_mem_mb": 1024, "gen_mem_mb": 1024},
]


def build(tmp_path, **changes):
    return str(fakesys.build(tmp_path / "root", fakesys.two_node_host(**changes)))


def test_generic_verdict_on_a_ready_host(tmp_path):
    """Fake tree: IOMMU, vfio-pci, free DPDK-capable NICs, 1G pages, isolated cores: READY."""
    r = doctor.diagnose(root=build(tmp_path), pmd_index=PMDS)
    [v] = r.verdicts
    assert v.scenario == doctor.GENERIC and v.ready
    text = r.render()
    assert "scenario dpdk-on-a-nic (generic): READY" in text
    assert "0000:03:00.0  8086:10fb  ixgbe   1     enp3s0f0  down" in text
    assert "net_ixgbe (vfio-pci)" in text and "management (default route)" in text


def test_scenario_verdict_says_what_is_missing_and_how_to_fix_it(tmp_path):
    """Fake tree: enp3s0f1 is up with an address, node 1 has 2 free 1G pages of the 4 asked."""
    r = doctor.diagnose({"phy-p2p": PHY}, root=build(tmp_path), pmd_index=PMDS)
    [v] = r.verdicts
    assert not v.ready
    missing = {f.check: (f.found, f.fix) for f in v.findings if not f.ok and not f.warning}
    assert missing == {
        "enp3s0f1 free for the data path": ("enp3s0f1 is up; enp3s0f1 has address fd00::1/64",
                                            "ip link set enp3s0f1 down; ip addr flush dev enp3s0f1"),
        "4 free 1G hugepage(s) on node 1": ("2 free of 4", "echo 6 > /sys/devices/system/node/node1/hugepages/"
                                            "hugepages-1048576kB/nr_hugepages; 1G pages are surest reserved at "
                                            "boot: default_hugepagesz=1G hugepagesz=1G hugepages=N"),
    }
    ok = [f.check for f in v.findings if f.ok]
    assert "enp3s0f0 takes 8 SR-IOV VFs" in ok and "4 isolated core(s) on node 1" in ok
    assert "a DPDK PMD for 0000:03:00.0 (8086:10fb)" in ok and "placement on NUMA nodes" in ok
    text = r.render()
    assert "scenario phy-p2p: NOT READY" in text
    assert "  MISS 4 free 1G hugepage(s) on node 1: 2 free of 4" in text
    assert "       fix: echo 6 > /sys/devices/system/node/node1" in text


def test_iommu_off_and_missing_driver(tmp_path):
    root = build(tmp_path, iommu=False, loaded_drivers=("ixgbe", "igb", "i40e"), cmdline="ro quiet")
    [v] = doctor.diagnose(root=root, pmd_index=PMDS).verdicts
    miss = {f.check: f.fix for f in v.findings if not f.ok}
    assert miss["IOMMU on (for vfio-pci)"].endswith("boot with intel_iommu=on iommu=pt (or amd_iommu=on iommu=pt)")
    assert "2 isolated core(s) on the host" in miss
    assert miss["2 isolated core(s) on the host"] == "boot with isolcpus=1-2 nohz_full=1-2 rcu_nocbs=1-2 " \
                                                     "(kernel command line) and reboot"
    drv = next(f for f in v.findings if f.check == "driver vfio-pci loaded")
    assert not drv.ok and drv.warning and drv.fix.startswith("modprobe vfio-pci")  # loadable: a warning, not a miss
    assert not v.ready


def test_bifurcated_nic_needs_its_modules(tmp_path):
    """Fake tree with a ConnectX-5 on mlx5_core: the PMD keeps it there and needs ib_uverbs, mlx5_ib."""
    host = fakesys.two_node_host()
    cx5 = fakesys.FakeNic("0000:5e:00.0", "15b3", "1017", "mlx5_core", 0, "ens5f0", "b8:59:9f:00:00:01",
                          ifindex=8, root_port="0000:5d:00.0", iommu_group=40)
    root = fakesys.build(tmp_path / "root", dataclasses.replace(host, nics=host.nics + [cx5],
                                                                loaded_drivers=host.loaded_drivers + ("mlx5_core",)))
    (root / "sys/module/mlx5_core").mkdir(parents=True)
    r = doctor.diagnose({"mlx": [{"check": "nic", "port": "ens5f0"}]}, root=str(root), pmd_index=PMDS)
    pmd = next(f for f in r.verdicts[0].findings if f.check.startswith("a DPDK PMD"))
    assert not pmd.ok and pmd.fix == "modprobe ib_uverbs mlx5_ib"
    assert "mlx5_eth (stays on kernel driver)" in r.render()


def test_a_shared_iommu_group_is_a_warning(tmp_path):
    """Fake tree: both 82599 ports in IOMMU group 30; vfio needs the other port off ixgbe too."""
    host = fakesys.two_node_host()
    nics = [dataclasses.replace(n, iommu_group=30) if n.pci == "0000:03:00.1" else n for n in host.nics]
    root = build(tmp_path, nics=nics)
    [v] = doctor.diagnose({"p": [{"check": "nic", "port": "enp3s0f0"}]}, root=root, pmd_index=PMDS).verdicts
    [w] = [f for f in v.findings if f.warning]
    assert (w.check, w.found) == ("IOMMU group 30 of 0000:03:00.0 can go to vfio", "it also holds 0000:03:00.1 (ixgbe)")
    assert v.ready  # a warning: binding the other port too is the fix


def test_json_has_inventory_pmds_and_verdicts(tmp_path):
    d = json.loads(json.dumps(doctor.diagnose({"phy-p2p": PHY}, root=build(tmp_path), pmd_index=PMDS).as_dict()))
    nic = next(n for n in d["inventory"]["nics"] if n["pci"] == "0000:03:00.0")
    assert nic["dpdk_pmds"][0] == {"name": "net_ixgbe", "library": "librte_net_ixgbe.so",
                                   "kmod": "* igb_uio | uio_pci_generic | vfio-pci", "binding": "vfio-pci",
                                   "bifurcated": False, "needs_modules": []}
    assert d["verdicts"][0]["scenario"] == "phy-p2p" and d["verdicts"][0]["ready"] is False
    assert {"check", "ok", "found", "fix", "warning"} == set(d["verdicts"][0]["findings"][0])
    assert d["inventory"]["management"]["ifname"] == "eno1"


@pytest.mark.parametrize("reqs,key,reason", [
    ([{"check": "teleport"}], "requirements[0].check", "unknown check 'teleport'"),
    ([{"check": "hugepages", "size": "4K"}], "requirements[0].size", "must be"),
    ([{"check": "iommu"}, "iommu"], "requirements[1]", "must be a table"),
    ([{"check": "driver"}], "requirements[0]", "driver: 'name'"),
    ([{"check": "placement", "pmd_core": 2}], "requirements[0]", "unknown placement keys"),
])
def test_bad_requirements_name_scenario_and_index(tmp_path, reqs, key, reason):
    with pytest.raises(ScenarioError, match=reason) as e:
        doctor.diagnose({"sc": reqs}, root=build(tmp_path), pmd_index=PMDS)
    assert (e.value.file, e.value.key) == ("sc", key)


def test_doctor_changes_nothing(tmp_path):
    root = build(tmp_path)
    before = fakesys.snapshot(root)
    doctor.diagnose({"phy-p2p": PHY}, root=root, pmd_index=PMDS).render()
    assert fakesys.snapshot(root) == before


def test_main_prints_json_and_exits_1_when_a_scenario_is_not_ready(tmp_path, capsys):
    root = build(tmp_path)
    req = tmp_path / "req.json"
    req.write_text(json.dumps({"phy-p2p": PHY}))
    assert doctor.main(["--root", root, "--json", "--requirements", str(req)]) == 1
    assert json.loads(capsys.readouterr().out)["verdicts"][0]["ready"] is False
    req.write_text(json.dumps({"ok": [{"check": "numa_nodes", "min": 2}]}))
    assert doctor.main(["--root", root, "--requirements", str(req)]) == 0
    assert "scenario ok: READY" in capsys.readouterr().out
    assert doctor.main(["--root", root]) == 0  # the generic verdict alone never fails the command
