"""The inventory read from a fake tree of a two-node lab server (tests/fakesys.py),
and the parsers behind it. All on fake trees or plain strings."""
from __future__ import annotations

import dataclasses
import os

import pytest

from pktlab.inventory import sysfs
from pktlab.inventory.sysfs import Cmdline, format_cpulist, normalize_pci, parse_cpulist, read_inventory
from tests import fakesys


@pytest.fixture
def two_node(tmp_path):
    return str(fakesys.build(tmp_path / "root", fakesys.two_node_host()))


def test_cpus_nodes_and_isolation(two_node):
    """Fake tree: 16 CPUs on two nodes, hyperthread siblings, isolcpus/nohz_full/rcu_nocbs."""
    inv = read_inventory(two_node)
    assert inv.cpus_online == tuple(range(16))
    assert [(n.id, format_cpulist(n.cpus)) for n in inv.nodes] == [(0, "0-3,8-11"), (1, "4-7,12-15")]
    assert inv.cpu(5).node == 1 and inv.cpu(5).siblings == (5, 13) and inv.cpu(12).core_id == 4
    iso = inv.isolation
    assert format_cpulist(iso.isolcpus) == format_cpulist(iso.nohz_full) == format_cpulist(iso.rcu_nocbs) \
        == format_cpulist(iso.kernel_isolated) == "2-7,10-15"
    assert iso.missing(2) == [] and iso.missing(1) == ["isolcpus", "nohz_full", "rcu_nocbs"]
    assert inv.kernel == "6.1.0-18-amd64"


def test_hugepages_per_node_and_size(two_node):
    """Fake tree: 1 GiB and 2 MiB pools on each node, and the system-wide sums."""
    inv = read_inventory(two_node)
    assert [(p.size, p.total, p.free) for p in inv.node(0).hugepages] == [("2M", 1024, 1024), ("1G", 4, 4)]
    assert [(p.size, p.total, p.free) for p in inv.node(1).hugepages] == [("2M", 512, 512), ("1G", 4, 2)]
    assert [(p.size_kb, p.total, p.free) for p in inv.hugepages] == [(2048, 1536, 1536), (1048576, 8, 6)]
    assert inv.default_hugepage_kb == 1048576
    assert inv.node(1).pool(1048576).free == 2 and inv.node(1).pool(4096) is None


def test_iommu_and_drivers(two_node):
    """Fake tree: IOMMU on with pt, vfio-pci loaded, uio_pci_generic a module, igb_uio absent."""
    inv = read_inventory(two_node)
    assert inv.iommu.enabled and inv.iommu.passthrough and inv.iommu.units == ("dmar0",)
    assert inv.iommu.cmdline == ("intel_iommu=on", "iommu=pt")
    d = inv.drivers
    assert d["vfio-pci"].loaded and d["vfio-pci"].available
    assert not d["uio_pci_generic"].loaded and d["uio_pci_generic"].available
    assert d["uio_pci_generic"].module == "/lib/modules/6.1.0-18-amd64/kernel/drivers/uio/uio_pci_generic.ko"
    assert not d["igb_uio"].available and "has no igb_uio module" in d["igb_uio"].detail


def test_iommu_off_says_how_to_turn_it_on(tmp_path):
    """Fake tree without IOMMU groups, then with intel_iommu=on but no IOMMU found."""
    host = fakesys.two_node_host(iommu=False, cmdline="ro quiet")
    io = read_inventory(str(fakesys.build(tmp_path / "a", host))).iommu
    assert not io.enabled and io.groups == 0 and "boot with intel_iommu=on iommu=pt" in io.detail
    host = fakesys.two_node_host(iommu=False, cmdline="ro intel_iommu=on")
    io = read_inventory(str(fakesys.build(tmp_path / "b", host))).iommu
    assert "enable VT-d/AMD-Vi in firmware" in io.detail


def test_nics(two_node):
    """Fake tree: PCI address, vendor:device, driver, node, link, speed, MAC, SR-IOV; the SATA
    controller is not a NIC."""
    inv = read_inventory(two_node)
    rows = [(n.pci, n.vendor_device, n.driver, n.numa_node, n.ifname, n.netdev.operstate, n.netdev.speed_mbps,
             n.netdev.mac, n.sriov_totalvfs, n.sriov_numvfs, n.iommu_group) for n in inv.nics]
    assert rows == [
        ("0000:01:00.0", "8086:1521", "igb", 0, "eno1", "up", 1000, "3c:ec:ef:00:00:01", None, None, "12"),
        ("0000:02:00.0", "8086:1572", "i40e", 0, "ens2f0", "down", None, "3c:fd:fe:00:00:01", None, None, "20"),
        ("0000:03:00.0", "8086:10fb", "ixgbe", 1, "enp3s0f0", "down", None, "90:e2:ba:00:00:01", 63, 0, "30"),
        ("0000:03:00.1", "8086:10fb", "ixgbe", 1, "enp3s0f1", "up", 10000, "90:e2:ba:00:00:02", 63, 0, "31"),
    ]
    assert inv.nic("enp3s0f0") is inv.nic("03:00.0") is inv.nic("0000:03:00.0")
    assert inv.nic("eth7") is None


def test_management_nic_and_what_is_in_use(two_node):
    """Fake tree: eno1 carries the default route (proc/net/route); enp3s0f1 is up with an address."""
    inv = read_inventory(two_node)
    assert (inv.management.ifname, inv.management.pci, inv.management.family) == ("eno1", ("0000:01:00.0",), "ipv4")
    assert inv.nic("eno1").management
    assert inv.nic("eno1").in_use() == ["it is the management NIC (it carries the default route)",
                                        "eno1 is up", "eno1 has 2 IPv4 route(s)"]
    assert inv.nic("enp3s0f1").in_use() == ["enp3s0f1 is up", "enp3s0f1 has address fd00::1/64"]
    assert inv.nic("enp3s0f0").in_use() == []


def test_management_behind_a_bond(tmp_path):
    """Fake tree: the default route is on bond0 whose slave is eno1: eno1's function is the management NIC."""
    host = fakesys.two_node_host(default_route="bond0", ipv4_routes=["bond0"])
    root = fakesys.build(tmp_path / "root", host)
    bond = root / "sys/devices/virtual/net/bond0"
    for name, value in (("ifindex", "9"), ("address", "3c:ec:ef:00:00:01"), ("operstate", "up"), ("flags", "0x1403")):
        fakesys._write(bond / name, value + "\n")
    fakesys._link(root / "sys/class/net/bond0", bond)
    eno1 = os.path.realpath(root / "sys/class/net/eno1")
    fakesys._link(bond / "lower_eno1", eno1)
    fakesys._link(root / eno1 / "master", bond)
    inv = read_inventory(str(root))
    assert inv.management.ports == ("bond0", "eno1") and inv.management.pci == ("0000:01:00.0",)
    assert inv.nic("0000:01:00.0").management
    assert "eno1 is enslaved to bond0" in inv.nic("eno1").in_use()


def test_no_default_route_no_management_nic(tmp_path):
    inv = read_inventory(str(fakesys.build(tmp_path / "r", fakesys.two_node_host(default_route=None))))
    assert inv.management is None and not any(n.management for n in inv.nics)


def test_vfs_and_a_vfio_bound_function_without_netdev(tmp_path):
    """Fake tree: a PF with 2 VFs (listed with physfn) and a port on vfio-pci (no interface)."""
    nics = [dataclasses.replace(n, sriov_num=2) if n.pci == "0000:03:00.0" else
            dataclasses.replace(n, driver="vfio-pci") if n.pci == "0000:02:00.0" else n
            for n in fakesys.two_node_host().nics]
    inv = read_inventory(str(fakesys.build(tmp_path / "r", fakesys.two_node_host(nics=nics))))
    assert inv.nic("0000:03:00.0").vfs == ("0000:03:10.0", "0000:03:10.2")
    vf = inv.nic("0000:03:10.2")
    assert (vf.physfn, vf.device, vf.driver, vf.sriov_totalvfs) == ("0000:03:00.0", "10ed", None, None)
    port = inv.nic("0000:02:00.0")
    assert (port.driver, port.netdevs, port.ifname) == ("vfio-pci", (), None)


def test_a_host_without_numa_gets_one_node(tmp_path):
    """Fake tree without sys/devices/system/node: one node 0 with the global pools."""
    root = fakesys.build(tmp_path / "r", fakesys.two_node_host())
    import shutil

    shutil.rmtree(root / "sys/devices/system/node")
    inv = read_inventory(str(root))
    assert [(n.id, len(n.cpus)) for n in inv.nodes] == [(0, 16)]
    assert inv.nodes[0].pool(1048576).total == 8


def test_as_dict_is_json(two_node):
    import json

    d = json.loads(json.dumps(read_inventory(two_node).as_dict()))
    assert d["nics"][2]["vendor_device"] == "8086:10fb" and d["management"]["ifname"] == "eno1"
    assert d["isolation"]["isolated"][:2] == [2, 3]


def test_reading_changes_nothing(two_node):
    before = fakesys.snapshot(two_node)
    read_inventory(two_node)
    assert fakesys.snapshot(two_node) == before


@pytest.mark.parametrize("text,nr,cpus", [
    ("0-3,8-11", None, (0, 1, 2, 3, 8, 9, 10, 11)),
    ("5", None, (5,)),
    ("0-15:2/4", None, (0, 1, 4, 5, 8, 9, 12, 13)),
    ("2-N", 6, (2, 3, 4, 5)),
    ("all", 3, (0, 1, 2)),
    ("", None, ()),
])
def test_parse_cpulist(text, nr, cpus):
    assert parse_cpulist(text, nr) == cpus


@pytest.mark.parametrize("text", ["3-1", "a", "1-N", "0-7:5/4"])
def test_parse_cpulist_rejects(text):
    with pytest.raises(ValueError):
        parse_cpulist(text)


def test_format_cpulist():
    assert format_cpulist([0, 1, 2, 3, 8, 10, 11]) == "0-3,8,10-11" and format_cpulist([]) == ""


def test_cmdline_isolation_forms():
    c = Cmdline.parse("ro isolcpus=nohz,domain,managed_irq,2-5 nohz_full=2-N rcu_nocbs -- isolcpus=0")
    assert c.cpus("isolcpus", 8) == ((2, 3, 4, 5), ("nohz", "domain", "managed_irq"))
    assert c.cpus("nohz_full", 8)[0] == (2, 3, 4, 5, 6, 7)
    assert c.cpus("rcu_nocbs", 4)[0] == (0, 1, 2, 3)  # bare: every CPU
    assert c.get("isolcpus") == "nohz,domain,managed_irq,2-5"  # what follows -- is init's
    assert c.all("hugepagesz") == []


def test_normalize_pci():
    assert normalize_pci("03:00.1") == "0000:03:00.1" and normalize_pci("0000:AF:00.0") == "0000:af:00.0"
    assert normalize_pci("eth0") is None and normalize_pci("0000:03:00.8") is None


def test_ipv4_addresses_are_not_read_for_a_fake_root(two_node):
    assert sysfs.ipv4_addresses(two_node) == {}
