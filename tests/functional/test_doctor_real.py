"""The inventory, the doctor and the PMD lookup on this very machine, for real:
they run, report what the host has (checked against independent sources:
netlink, sysconf, dpdk-pmdinfo.py), and change nothing.

Nothing here assumes lab hardware: on a build machine there may be one NUMA
node, no IOMMU and only the management NIC; the assertions hold either way.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pyroute2 import IPRoute

from pktlab.inventory import doctor
from pktlab.inventory.pmdinfo import PmdIndex, default_pmd_dirs
from pktlab.inventory.sysfs import read_inventory
from tests.conftest import REPO


@pytest.fixture(scope="module")
def pmd_index():
    if not default_pmd_dirs():
        pytest.skip("no DPDK driver libraries installed (CI has the Debian dpdk package)")
    return PmdIndex.load()


def test_ixgbe_pmd_claims_the_82599_and_wants_vfio_or_uio(pmd_index):
    """Real: the installed net_ixgbe library, read with pyelftools, claims 8086:10fb."""
    [pmd, *_] = pmd_index.lookup("8086", "10fb")
    assert pmd.name == "net_ixgbe"
    assert os.path.basename(pmd.library).startswith("librte_net_ixgbe.so")
    assert ("vfio-pci",) in pmd.kmod_options() and ("uio_pci_generic",) in pmd.kmod_options()
    assert pmd.binding == "vfio-pci" and not pmd.bifurcated
    # the VF of the same NIC is claimed by the VF PMD, from the same library
    assert pmd_index.lookup("8086", "10ed")[0].name == "net_ixgbe_vf"


def test_mlx5_pmd_is_bifurcated(pmd_index):
    """Real: ConnectX-5 (15b3:1017) stays on mlx5_core and needs the verbs modules."""
    [pmd, *_] = pmd_index.lookup("15b3", "1017")
    assert pmd.bifurcated and pmd.binding is None
    assert set(pmd.needs_modules) == {"ib_uverbs", "mlx5_core", "mlx5_ib"}


def test_same_data_as_dpdk_pmdinfo_py(pmd_index):
    """Real: every PMD, its kmod string and PCI ids, as DPDK's own dpdk-pmdinfo.py prints them."""
    tool = shutil.which("dpdk-pmdinfo.py")
    if tool is None:
        pytest.skip("dpdk-pmdinfo.py is not installed")
    libs = sorted({os.path.realpath(p) for d in default_pmd_dirs() for p in d.glob("librte_*.so*")})
    # DPDK's tool runs on the system Python, which has its own pyelftools (python3-pyelftools).
    out = subprocess.run(["/usr/bin/python3", tool, *libs], capture_output=True, text=True, check=True).stdout
    theirs = sorted((d["name"], d.get("kmod"), sorted(tuple(sorted(i.items())) for i in d.get("pci_ids", [])))
                    for d in json.loads(out))
    ours = sorted((p.name, p.kmod, sorted(tuple(sorted((k, v) for k, v in vars(i).items() if v is not None))
                                          for i in p.pci_ids)) for p in pmd_index.pmds)
    assert ours == theirs
    assert len(ours) > 100


def _default_route_ifname() -> str | None:
    with IPRoute() as ipr:
        for family in (2, 10):
            routes = [r for r in ipr.get_default_routes(family=family) if r.get("RTA_OIF")]
            if routes:
                best = min(routes, key=lambda r: r.get("RTA_PRIORITY") or 0)
                return ipr.get_links(best.get("RTA_OIF"))[0].get("IFLA_IFNAME")
    return None


def test_inventory_of_this_machine_matches_other_sources():
    """Real: CPU count (sysconf), NUMA nodes (sysfs listing), the management NIC (the kernel's
    default route over netlink) and each NIC's MAC (netlink)."""
    inv = read_inventory("/")
    assert len(inv.cpus_online) == os.cpu_count()
    node_dirs = list(Path("/sys/devices/system/node").glob("node[0-9]*"))
    assert len(inv.nodes) == max(1, len(node_dirs))
    want = _default_route_ifname()
    if want is None:
        assert inv.management is None
    else:
        assert want in inv.management.ports
    with IPRoute() as ipr:
        macs = {m.get("IFLA_IFNAME"): m.get("IFLA_ADDRESS") for m in ipr.get_links()}
    for nic in inv.nics:
        for nd in nic.netdevs:
            assert nd.mac == macs[nd.name]
    for n in inv.nodes:
        assert set(n.cpus) <= set(inv.cpus_online)


def _hardware_state() -> dict:
    """What binding, SR-IOV or link steps would change on this host's PCI devices, read from sysfs.
    (Hugepages, mounts and processes are left out: other test sessions may change them meanwhile;
    the audit hook below shows the doctor writes nothing at all.)"""
    pci = {}
    for d in sorted(Path("/sys/bus/pci/devices").iterdir()):
        drv = d / "driver"
        pci[d.name] = (os.readlink(drv) if drv.is_symlink() else None,
                       (d / "driver_override").read_text() if (d / "driver_override").exists() else None,
                       (d / "sriov_numvfs").read_text() if (d / "sriov_numvfs").exists() else None)
    links = {p.name: ((p / "flags").read_text(), (p / "operstate").read_text(), (p / "address").read_text())
             for p in sorted(Path("/sys/class/net").iterdir()) if (p / "device").exists()}
    return {"pci": pci, "links": links}


# Runs the doctor with an audit hook that records every open for writing and every
# call that changes files or starts a process; prints them as JSON on stderr's last line.
AUDITED = r"""
import json, sys
seen = []
MUTATING = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.symlink", "os.link", "os.chmod", "os.chown",
            "os.truncate", "os.utime", "shutil.rmtree", "shutil.move", "subprocess.Popen", "os.system",
            "os.exec", "os.posix_spawn", "os.fork", "os.kill"}
def hook(event, args):
    if event == "open" and isinstance(args[0], str):
        mode, flags = args[1] or "", args[2] or 0
        if any(c in mode for c in "wax+") or flags & 3:
            seen.append([event, args[0]])
    elif event in MUTATING:
        seen.append([event, str(args[0]) if args else ""])
sys.addaudithook(hook)
from pktlab.inventory import doctor
rc = doctor.main(sys.argv[1:])
sys.stdout.flush()
print(json.dumps(seen), file=sys.stderr)
sys.exit(rc)
"""


def test_doctor_reports_this_machine_and_changes_nothing(capsys):
    """Real: the doctor, table then --json, exits 0; it opens nothing for writing, changes no
    file, starts no process, and the PCI functions and NIC links are as they were."""
    before = _hardware_state()
    cmd = [sys.executable, "-c", AUDITED]
    table = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=60)
    as_json = subprocess.run(cmd + ["--json"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert table.returncode == 0, table.stderr
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(table.stderr.splitlines()[-1]) == []
    assert json.loads(as_json.stderr.splitlines()[-1]) == []
    assert _hardware_state() == before
    with capsys.disabled():
        print("\n" + table.stdout)
    d = json.loads(as_json.stdout)
    inv = read_inventory("/")
    assert d["inventory"]["cpus_online"] == list(inv.cpus_online)
    assert [v["scenario"] for v in d["verdicts"]] == [doctor.GENERIC]
    assert "NUMA nodes" in table.stdout and "scenario dpdk-on-a-nic (generic):" in table.stdout
    if _default_route_ifname() is not None:
        assert d["inventory"]["management"]["ifname"] == inv.management.ifname
        assert f"management       {inv.management.ifname}" in table.stdout
    for nic in inv.nics:
        assert nic.pci in table.stdout


def test_doctor_on_this_machine_judges_a_phy_scenario():
    """Real: a two-node phy scenario's requirements on this host: each one met or with its fix."""
    inv = read_inventory("/")
    reqs = {"phy": [{"check": "numa_nodes", "min": 2}, {"check": "iommu"}, {"check": "driver", "name": "vfio-pci"},
                    {"check": "hugepages", "size": "1G", "count": 2, "node": 0}]}
    [v] = doctor.diagnose(reqs).verdicts
    numa = v.findings[0]
    assert numa.ok == (len(inv.nodes) >= 2)
    for f in v.findings:
        assert f.ok or f.warning or f.fix, f
