"""The data paths on physical NICs (ovs-kernel-p2p, ovs-dpdk-p2p, sriov-vf),
planned from the shipped lab scenarios against a fake two-node lab server.

All on fake trees (tests/fakesys.py: lab_server(), the build machine has no PCI
NICs, no second NUMA node and no SR-IOV PF): the plan and its placement, every
refusal (before anything is written), and the exact sysfs writes and undo of
the host steps the fake kernel can play (hugepages per node, VF count, driver
binding; VF settings through a netlink stand-in). The OVS daemons and the
generator are not started here: on real devices they run in the functional tests.
"""
from __future__ import annotations

import dataclasses
import re

import pytest

from pktlab import cli, datapaths, journal
from pktlab import scenario as scenario_mod
from pktlab.context import RunContext
from pktlab.errors import PrecheckError
from pktlab.host import sriov
from pktlab.host.sriov import vf_addresses
from pktlab.inventory import sysfs
from pktlab.plan import Applied
from tests import fakesys
from tests.conftest import REPO

SCENARIOS = REPO / "scenarios"
GEN = ("0000:02:00.0", "0000:02:00.1")  # i40e, node 0: ens2f0, ens2f1
DUT = ("0000:03:00.0", "0000:03:00.1")  # ixgbe, node 1: enp3s0f0, enp3s0f1 (up, with an IPv6 address)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """(root, host, kernel): the fake server, its fake kernel recording every write."""
    def make(**changes):
        host = fakesys.lab_server(**changes)
        root = fakesys.build(tmp_path / "root", host)
        return str(root), host, fakesys.FakeKernel(root, host).install(monkeypatch)
    return make


def load(tmp_path, name, edit=None):
    text = (SCENARIOS / name).read_text()
    for old, new in (edit or {}).items():
        assert old in text, old
        text = text.replace(old, new, 1)
    f = tmp_path / name
    f.write_text(text)
    return scenario_mod.load(f)


def path_for(sc, root, i=0, run_dir="/run/pktlab-t/r"):
    return datapaths.build(sc, sc.datapaths[i], run_dir, "r1", root)


def kinds(plan):
    return [s.kind for s in plan.steps]


ALLOW_DUT1 = {'allow_in_use = []': 'allow_in_use = ["enp3s0f1"]'}


# ---------------------------------------------------------------- plans and placement

def test_ovs_dpdk_p2p_plan_places_pmds_on_the_dut_node_and_pins_queues(tmp_path, fake):
    root, _, kernel = fake()
    p = path_for(load(tmp_path, "lab-ovs-dpdk-p2p.toml", ALLOW_DUT1), root)
    plan = p.plan()
    assert kinds(plan) == ["rundir", "hugepages", "hugepages", "hugetlbfs", "pci-bind", "pci-bind", "pci-bind",
                           "pci-bind", "ovsdb-server", "ovs-other-config", "dpdk-runtime-dir", "dpdk-runtime-dir",
                           "kernel-module-autoload", "ovs-vswitchd", "ovs-bridge", "ovs-port", "ovs-port", "ovs-flows",
                           "generator"]
    steps = plan.steps
    # generator memory on node 0 (its NICs), OVS memory on node 1 (the DUT's), 1 GiB pages
    assert [(s.node, s.count, s.size_kb) for s in steps[1:3]] == [(0, 1, 1048576), (1, 1, 1048576)]
    assert [s.pci for s in steps if s.kind == "pci-bind"] == [*DUT, *GEN]
    assert {s.driver for s in steps if s.kind == "pci-bind"} == {"vfio-pci"}
    # enp3s0f1 is up and addressed: only because the scenario names it may it be taken
    assert [s.allow_in_use for s in steps if s.kind == "pci-bind"] == [False, True, False, False]
    other = steps[9].config
    assert other["pmd-cpu-mask"] == "0x30"  # cores 4 and 5: node 1, isolated, siblings 12 and 13 left free
    assert other["dpdk-socket-mem"] == other["dpdk-socket-limit"] == "0,1024"
    assert other["dpdk-lcore-mask"] == "0x1"
    # OVS's EAL sees the DUT NICs only: the generator's are not for it to probe
    assert re.findall(r"-a (\S+)", other["dpdk-extra"]) == list(DUT)
    ports = [s for s in steps if s.kind == "ovs-port"]
    assert [(s.name, s.type, s.options["dpdk-devargs"], s.options["n_rxq"], s.ofport) for s in ports] == [
        ("dpdk0", "dpdk", DUT[0], "2", 1), ("dpdk1", "dpdk", DUT[1], "2", 2)]
    assert [s.other_config["pmd-rxq-affinity"] for s in ports] == ["0:4,1:5", "0:4,1:5"]
    gen = steps[-1].config
    assert gen["core"] == 2 and gen["ports"] == list(GEN)  # node 0, isolated
    assert "--socket-mem=1024,0" in gen["eal_args"]
    assert kernel.writes == []  # planning reads only


def test_placement_reasons_and_cross_numa_warnings_are_in_the_dry_run(tmp_path, fake, capsys):
    root, _, kernel = fake()
    f = load(tmp_path, "lab-ovs-dpdk-p2p.toml", ALLOW_DUT1).file
    before = fakesys.snapshot(root)
    assert cli.main(["--sysfs-root", root, "--state-dir", str(tmp_path / "st"), "run", "--dry-run", str(f)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"ovs_pmd +4 +node 1 \(ports enp3s0f0, enp3s0f1\), isolated, sibling 12 left free", out)
    assert re.search(r"generator +2 +node 0 \(generator ports ens2f0, ens2f1\), isolated", out)
    assert re.search(r"hugepages +1x1G@node1 +OVS 1024 MiB on node 1; 2 free there", out)
    # node 1's cores are all isolated: OVS's other threads go to node 0, and that is said
    assert "! cross-NUMA: OVS's non-PMD threads on core 0 (node 0), PMDs on node 1" in out
    assert "bind PCI 0000:03:00.1 to vfio-pci" in out and "rebind PCI 0000:03:00.1 to" in out
    assert "precheck: a real run would stop here" in out and "a copy: it can be planned (--dry-run), not run" in out
    assert fakesys.snapshot(root) == before and kernel.writes == []


def test_pins_from_cpu_override_the_planner_and_are_warned_across_nodes(tmp_path, fake):
    root, _, _ = fake()
    sc = load(tmp_path, "lab-ovs-dpdk-p2p.toml", {**ALLOW_DUT1, "[traffic]": "[cpu]\ngenerator = 3\novs_pmd = [1]\n\n[traffic]"})
    p = path_for(sc, root)
    assert p.placement.ovs_pmd == (1,) and p.placement.generator == (3,)
    assert any("cross-NUMA: ovs_pmd core 1 is on node 0" in w for w in p.placement.warnings)
    assert "not in isolcpus" in " ".join(p.placement.warnings)  # core 1 is a housekeeping core
    assert p.plan().steps[9].config["pmd-cpu-mask"] == "0x2"


def test_ovs_kernel_p2p_keeps_the_dut_on_its_driver(tmp_path, fake):
    root, _, _ = fake()
    p = path_for(load(tmp_path, "lab-ovs-kernel-p2p.toml", ALLOW_DUT1), root)
    assert p.unavailable() is None  # openvswitch.ko is on the fake server's disk
    plan = p.plan()
    assert kinds(plan) == ["rundir", "kernel-module-autoload", "kernel-module", "hugepages", "hugetlbfs", "pci-bind",
                           "pci-bind", "dpdk-runtime-dir", "link-up", "link-up", "ovs-kernel-datapath", "ovsdb-server", "ovs-vswitchd",
                           "ovs-bridge", "ovs-port", "ovs-port", "ovs-flows", "generator"]
    steps = plan.steps
    assert steps[1].name == steps[2].name == "openvswitch"
    assert [s.ipv6 for s in steps if s.kind == "link-up"] == [False, False]  # switch ports: no IPv6 chatter
    assert [s.pci for s in steps if s.kind == "pci-bind"] == list(GEN)  # the generator's NICs only
    assert [s.ifname for s in steps if s.kind == "link-up"] == ["enp3s0f0", "enp3s0f1"]
    assert steps[13].datapath_type == "system"
    assert [(s.name, s.type) for s in steps if s.kind == "ovs-port"] == [("enp3s0f0", "system"),
                                                                         ("enp3s0f1", "system")]
    assert "IRQ affinity" in p.explain()


def test_ovs_kernel_p2p_with_the_kernel_generator_binds_nothing(tmp_path, fake):
    root, _, _ = fake()
    p = path_for(load(tmp_path, "lab-ovs-kernel-p2p.toml", {**ALLOW_DUT1, 'generator = "dpdk"': 'generator = "kernel"'}),
                 root)
    plan = p.plan()
    assert "pci-bind" not in kinds(plan) and "hugepages" not in kinds(plan)
    assert [s.ifname for s in plan.steps if s.kind == "link-up"] == ["ens2f0", "ens2f1", "enp3s0f0", "enp3s0f1"]
    gen = plan.steps[-1].config
    assert gen["backend"] == "kernel" and gen["ports"] == ["ens2f0", "ens2f1"] and gen["core"] == 2


def test_ovs_kernel_p2p_without_the_module_is_not_run(tmp_path, fake):
    root, host, _ = fake(modules=("kernel/drivers/vfio/pci/vfio-pci.ko",))
    p = path_for(load(tmp_path, "lab-ovs-kernel-p2p.toml"), root)
    assert "openvswitch kernel module is neither loaded nor in /lib/modules/6.1.0-18-amd64" in p.unavailable()


def test_sriov_plan_knows_the_vf_addresses_before_they_exist(tmp_path, fake):
    root, host, _ = fake()
    p = path_for(load(tmp_path, "lab-sriov-vf.toml"), root)
    vfs = [fakesys.vf_address(DUT[0], 128, 2, i) for i in range(2)]
    assert vf_addresses(DUT[0], 2, root) == vfs == ["0000:03:10.0", "0000:03:10.2"]
    plan = p.plan()
    assert kinds(plan) == ["rundir", "hugepages", "hugetlbfs", "link-up", "sriov-numvfs", "sriov-vf", "sriov-vf",
                           "pci-bind", "pci-bind", "dpdk-runtime-dir", "generator"]
    s = plan.steps
    assert (s[1].node, s[1].count) == (1, 1)  # the PF's node
    assert (s[4].pf, s[4].count) == (DUT[0], 2)
    assert [(c.vf, c.mac, c.vlan, c.spoofchk, c.trust) for c in s[5:7]] == [
        (0, "02:00:00:00:01:00", 0, True, False), (1, "02:00:00:00:01:01", 0, True, False)]
    assert [b.pci for b in s[7:9]] == vfs
    gen = s[-1].config
    assert gen["ports"] == vfs and gen["core"] == 4  # node 1, with its PF
    # VF 0 sends from its own MAC (spoofchk) to VF 1's, VF 1 back
    from scapy.layers.l2 import Ether
    import base64

    frames = [Ether(base64.b64decode(st["template"])) for st in gen["streams"]]
    assert [(f.src, f.dst) for f in frames] == [("02:00:00:00:01:00", "02:00:00:00:01:01"),
                                                ("02:00:00:00:01:01", "02:00:00:00:01:00")]


def test_compare_scenario_plans_three_paths(tmp_path, fake):
    root, _, _ = fake()
    sc = load(tmp_path, "lab-compare-64b.toml")
    assert [d.kind for d in sc.datapaths] == ["ovs-kernel-p2p", "ovs-dpdk-p2p", "sriov-vf"]
    for i in range(3):
        assert path_for(sc, root, i).plan().steps[-1].kind == "generator"


# ---------------------------------------------------------------- refusals: before anything is written

REFUSALS = [
    # (scenario, edits, host changes, key, reason)
    ("lab-ovs-dpdk-p2p.toml", {}, {}, "datapath[0].dut_ports",
     "enp3s0f1 (0000:03:00.1) is in use: enp3s0f1 is up; enp3s0f1 has address fd00::1/64"),
    ("lab-ovs-dpdk-p2p.toml", {'"enp3s0f0", "enp3s0f1"]': '"eno1", "enp3s0f0"]'}, {}, "datapath[0].dut_ports",
     "eno1 (0000:01:00.0) is the management NIC"),
    ("lab-ovs-dpdk-p2p.toml", {'allow_in_use = []': 'allow_in_use = ["eno1"]',
                               '"enp3s0f0", "enp3s0f1"]': '"eno1", "enp3s0f0"]'}, {}, "datapath[0].dut_ports",
     "is the management NIC"),
    ("lab-ovs-dpdk-p2p.toml", ALLOW_DUT1, {"iommu": False}, "datapath[0].kind",
     "needs the IOMMU, and it is off"),
    ("lab-ovs-dpdk-p2p.toml", {'"ens2f0", "ens2f1"]': '"ens2f0", "ens9"]'}, {}, "datapath[0].dut_ports",
     "in use"),
    ("lab-ovs-dpdk-p2p.toml", {**ALLOW_DUT1, '"ens2f0", "ens2f1"]': '"ens2f0", "ens9"]'}, {},
     "datapath[0].gen_ports", "ens9: no such NIC on this host"),
    ("lab-ovs-dpdk-p2p.toml", {**ALLOW_DUT1, "socket_mem = 1024": "socket_mem = 4096"}, {}, "datapath[0].page_size",
     "node 1 has 2 free 1G hugepages (4 reserved), the placement needs 4 there (OVS 4096 MiB)"),
    ("lab-ovs-dpdk-p2p.toml", {**ALLOW_DUT1, "pmd_cores = 2": "pmd_cores = 9"}, {}, "datapath[0].pmd_cores",
     "node 1 has no core left for ovs_pmd"),
    ("lab-ovs-dpdk-p2p.toml", {**ALLOW_DUT1, "[traffic]": "[cpu]\novs_pmd = [40]\n\n[traffic]"}, {}, "cpu.ovs_pmd",
     "core 40 is not online"),
    ("lab-sriov-vf.toml", {'pf = "enp3s0f0"': 'pf = "ens2f0"'}, {}, "datapath[0].pf",
     "0000:02:00.0 is not SR-IOV capable"),
    ("lab-sriov-vf.toml", {"vfs = 2 ": "vfs = 64 ", 'vf_macs = ["02:00:00:00:01:00", "02:00:00:00:01:01"]': ""},
     {}, "datapath[0].pf", "takes 0 to 63 VFs"),
    ("lab-sriov-vf.toml", {'pf = "enp3s0f0"': 'pf = "enp3s0f1"'}, {}, "datapath[0].pf", "is in use"),
    ("lab-sriov-vf.toml", {'pf = "enp3s0f0"': 'pf = "eno1"'}, {}, "datapath[0].pf", "management NIC"),
    ("lab-ovs-kernel-p2p.toml", {**ALLOW_DUT1, 'generator = "dpdk"': 'generator = "kernel"',
                                 '"enp3s0f0", "enp3s0f1"]': '"enp3s0f0", "0000:03:00.1"]'},
     {}, "datapath[0].dut_ports", "(0000:03:00.1) has no kernel interface"),
]


@pytest.mark.parametrize("name,edits,changes,key,reason", REFUSALS,
                         ids=[f"{r[0]}:{r[3]}:{r[4][:30]}" for r in REFUSALS])
def test_refusals_name_the_key_and_write_nothing(tmp_path, fake, name, edits, changes, key, reason):
    root, host, kernel = fake(**changes)
    if "(0000:03:00.1) has no kernel interface" in reason:  # a DUT NIC some earlier tool left on vfio-pci
        kernel.write(root, "sys/bus/pci/devices/0000:03:00.1/driver_override", "vfio-pci")
        kernel.write(root, "sys/bus/pci/drivers/ixgbe/unbind", "0000:03:00.1")
        kernel.write(root, "sys/bus/pci/drivers_probe", "0000:03:00.1")
        kernel.writes.clear()
    before = fakesys.snapshot(root)
    sc = load(tmp_path, name, edits)
    with pytest.raises(PrecheckError) as e:
        path_for(sc, root).precheck()
    assert e.value.key == key, e.value
    assert reason in e.value.reason
    assert str(sc.file) in str(e.value)
    assert kernel.writes == [] and fakesys.snapshot(root) == before


def test_a_fake_root_is_planned_never_run(tmp_path, fake):
    root, _, kernel = fake()
    p = path_for(load(tmp_path, "lab-ovs-dpdk-p2p.toml", ALLOW_DUT1), root)
    with pytest.raises(PrecheckError, match="a copy: it can be planned"):
        p.precheck()
    assert kernel.writes == []


# ---------------------------------------------------------------- host steps applied and undone (fake kernel)

SYSFS_STEPS = {"hugepages", "sriov-numvfs", "sriov-vf", "pci-bind"}


def test_sriov_steps_write_then_restore_exactly(tmp_path, fake, monkeypatch, state_dir):
    root, host, kernel = fake()
    nl = fakesys.FakeVfNetlink(fakesys.vf_table())
    monkeypatch.setattr(sriov, "netlink", nl)
    before = fakesys.snapshot(root)
    sc = load(tmp_path, "lab-sriov-vf.toml", {"page_size = \"1G\"": "page_size = \"2M\"", "vlan = 0 ": "vlan = 100 "})
    plan = path_for(sc, root).plan()
    vf0, vf1 = vf_addresses(DUT[0], 2, root)
    ctx = RunContext(state_dir, "r1")
    with Applied(journal.Journal.create(state_dir, "r1"), ctx) as a:
        for step in plan.steps:
            if step.kind in SYSFS_STEPS:
                a.apply(step)
        applied = list(kernel.writes)
        kernel.writes.clear()
        assert fakesys.snapshot(root)[f"sys/bus/pci/devices/{vf0}"][0] == "link"
        assert [c for c in nl.sets()] == [
            ("set", 7, {"vf": 0, "mac": "02:00:00:00:01:00", "vlan": {"vlan": 100, "qos": 0}, "spoofchk": 1,
                        "trust": 0}),
            ("set", 7, {"vf": 1, "mac": "02:00:00:00:01:01", "vlan": {"vlan": 100, "qos": 0}, "spoofchk": 1,
                        "trust": 0})]
    undone = list(kernel.writes)
    assert applied == [
        ("sys/bus/pci/devices/0000:03:00.0/sriov_numvfs", "2"),
        (f"sys/bus/pci/devices/{vf0}/driver_override", "vfio-pci"),
        ("sys/bus/pci/drivers_probe", vf0),
        (f"sys/bus/pci/devices/{vf1}/driver_override", "vfio-pci"),
        ("sys/bus/pci/drivers_probe", vf1),
    ]
    assert undone == [
        (f"sys/bus/pci/devices/{vf1}/driver_override", "\n"),
        ("sys/bus/pci/drivers/vfio-pci/unbind", vf1),
        (f"sys/bus/pci/devices/{vf0}/driver_override", "\n"),
        ("sys/bus/pci/drivers/vfio-pci/unbind", vf0),
        ("sys/bus/pci/devices/0000:03:00.0/sriov_numvfs", "0"),
    ]
    # VF settings back as they were, and the tree byte for byte as before
    assert nl.vfs == fakesys.vf_table()
    assert fakesys.snapshot(root) == before
    assert not journal.pending(state_dir)


def test_hugepages_short_on_a_node_are_reserved_there_and_given_back(tmp_path, fake, state_dir):
    # node 1 has no free 2M pages; the run needs 512 there for OVS and reserves them
    root, host, kernel = fake(pools={0: {2048: (1024, 1024), 1048576: (4, 4)}, 1: {2048: (512, 0), 1048576: (4, 2)}})
    before = fakesys.snapshot(root)
    sc = load(tmp_path, "lab-ovs-dpdk-p2p.toml", {**ALLOW_DUT1, 'page_size = "1G"': 'page_size = "2M"'})
    p = path_for(sc, root)
    assert "OVS 1024 MiB on node 1; 0 free there, the run reserves 512 more and gives them back" in p.explain()
    plan = p.plan()
    node1 = "sys/devices/system/node/node1/hugepages/hugepages-2048kB"
    ctx = RunContext(state_dir, "r1")
    with Applied(journal.Journal.create(state_dir, "r1"), ctx) as a:
        for step in plan.steps:
            if step.kind in SYSFS_STEPS:
                a.apply(step)
        tree = fakesys.snapshot(root)
        assert tree[f"{node1}/free_hugepages"] == ("file", b"512\n")
        assert tree["sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"] == ("file", b"2048\n")
        # the four NICs on vfio-pci, their interfaces gone from the kernel
        for pci in (*DUT, *GEN):
            assert sysfs.link_name(root, f"sys/bus/pci/devices/{pci}/driver") == "vfio-pci"
        assert not any(k.startswith("sys/class/net/ens2f") for k in tree)
    assert kernel.writes[0] == (f"{node1}/nr_hugepages", "1024")
    assert kernel.writes[-1] == (f"{node1}/nr_hugepages", "512")
    assert fakesys.snapshot(root) == before


def test_restore_after_a_killed_run_puts_the_nics_back(tmp_path, fake, state_dir):
    """The journal of a run that died with its NICs bound: `restore` rebuilds the steps
    and rebinds each NIC to its kernel driver (the interfaces come back)."""
    root, host, kernel = fake()
    before = fakesys.snapshot(root)
    p = path_for(load(tmp_path, "lab-ovs-dpdk-p2p.toml", ALLOW_DUT1), root)
    jr = journal.Journal.create(state_dir, "r1")
    a = Applied(jr, RunContext(state_dir, "r1"))
    for step in p.plan().steps:
        if step.kind == "pci-bind":
            a.apply(step)
    assert "sys/class/net/enp3s0f0" not in fakesys.snapshot(root)
    # the process is gone without undoing: only the journal remains
    assert journal.pending(state_dir)
    errors = journal.restore(state_dir, lambda run_id: RunContext(state_dir, run_id), force=True, out=lambda *_: None)
    assert not errors
    assert fakesys.snapshot(root) == before


# ---------------------------------------------------------------- pieces

def test_rxq_affinity_deals_queues_over_the_pmds_of_each_ports_node():
    from pktlab.datapaths.ovs_dpdk_p2p import rxq_affinity

    assert rxq_affinity({1: [4, 5]}, [1, 1], 1) == ["0:4", "0:5"]
    assert rxq_affinity({1: [4, 5]}, [1, 1], 2) == ["0:4,1:5", "0:4,1:5"]
    assert rxq_affinity({0: [2], 1: [4, 5]}, [0, 1], 2) == ["0:2,1:2", "0:4,1:5"]
    # a port on a node without a PMD is polled from the others (the planner warned)
    assert rxq_affinity({1: [4]}, [0, 1], 1) == ["0:4", "0:4"]


def test_doctor_judges_a_lab_scenario_on_the_fake_server(tmp_path, fake):
    from pktlab.inventory import doctor

    root, _, kernel = fake()
    sc = load(tmp_path, "lab-compare-64b.toml")
    report = doctor.diagnose({sc.name: cli.requirements(sc, root)}, root=root)
    [v] = report.verdicts
    missing = [f.check for f in v.findings if not f.ok and not f.warning]
    assert missing == ["enp3s0f1 free for the data path"]  # up, with an address
    checks = [f.check for f in v.findings]
    assert "kernel module openvswitch" in checks and "enp3s0f0 takes 2 SR-IOV VFs" in checks
    assert kernel.writes == []


LAB_BAD = [
    ('gen_ports = ["ens2f0", "ens2f1"]', 'gen_ports = ["ens2f0"]', "datapath[0].gen_ports", "needs 2 NICs"),
    ('gen_ports = ["ens2f0", "ens2f1"]', 'gen_ports = ["ens2f0", "enp3s0f0"]', "datapath[0].gen_ports",
     "either the generator's or the DUT's"),
    ('gen_ports = ["ens2f0", "ens2f1"]', 'gen_ports = ["ens2f0", "bad name"]', "datapath[0].gen_ports",
     "neither a PCI address"),
    ("n_rxq = 2", "n_rxq = 0", "datapath[0].n_rxq", "1 to 16"),
    ('page_size = "1G"', 'page_size = "4K"', "datapath[0].page_size", "must be"),
    ("gen_lcores = 1", "gen_lcores = 2\n[cpu]\ngenerator = 3", "datapath[0].gen_lcores", "pins one generator lcore"),
]


@pytest.mark.parametrize("old,new,key,reason", LAB_BAD)
def test_bad_lab_scenarios_name_file_key_and_reason(tmp_path, old, new, key, reason):
    from pktlab.errors import ScenarioError

    text = (SCENARIOS / "lab-ovs-dpdk-p2p.toml").read_text().replace(old, new, 1)
    if "[cpu]" in new:  # a table must come after the array of tables' keys: move it to the top
        text = text.replace("\n[cpu]\ngenerator = 3", "")
        text = "[cpu]\ngenerator = 3\n" + text
    f = tmp_path / "s.toml"
    f.write_text(text)
    with pytest.raises(ScenarioError) as e:
        scenario_mod.load(f)
    assert e.value.key == key and reason in e.value.reason


@pytest.mark.parametrize("old,new,reason", [
    ('vf_macs = ["02:00:00:00:01:00", "02:00:00:00:01:01"]', 'vf_macs = ["02:00:00:00:01:00"]', "1 MACs for 2 VFs"),
    ('vf_macs = ["02:00:00:00:01:00", "02:00:00:00:01:01"]', 'vf_macs = ["03:00:00:00:01:00", "02:00:00:00:01:01"]',
     "multicast"),
    ('vf_macs = ["02:00:00:00:01:00", "02:00:00:00:01:01"]', 'vf_macs = ["02:00:00:00:01:00", "02:00:00:00:01:00"]',
     "two VFs with one MAC"),
    ("vlan = 0 ", "vlan = 4095 ", "0 (none) to 4094"),
    ("vfs = 2 ", "vfs = 1 ", "2 to 256"),
])
def test_bad_sriov_scenarios(tmp_path, old, new, reason):
    from pktlab.errors import ScenarioError

    f = tmp_path / "s.toml"
    f.write_text((SCENARIOS / "lab-sriov-vf.toml").read_text().replace(old, new, 1))
    with pytest.raises(ScenarioError, match=re.escape(reason)):
        scenario_mod.load(f)


def test_shipped_lab_scenarios_load_with_the_documented_options():
    """The shipped scenarios load, and their options are what the comments say."""
    sc = scenario_mod.load(SCENARIOS / "lab-ovs-dpdk-p2p.toml")
    o = sc.datapaths[0].options
    assert (o.pmd_cores, o.n_rxq, o.socket_mem, o.page_size) == (2, 2, 1024, "1G")
    assert dataclasses.asdict(o)["allow_in_use"] == ()


def test_a_bifurcated_pmds_nic_stays_on_its_kernel_driver(tmp_path, fake):
    """Generator NICs that are ConnectX-5s (15b3:1017, mlx5_core): DPDK's mlx5 PMD works
    on top of the kernel driver, so the plan binds nothing and brings the interfaces up."""
    host = fakesys.lab_server()
    cx5 = [dataclasses.replace(n, vendor="15b3", device="1017", driver="mlx5_core")
           for n in host.nics if n.pci in GEN]
    root, _, _ = fake(nics=[n for n in host.nics if n.pci not in GEN] + cx5,
                      loaded_drivers=host.loaded_drivers + ("mlx5_core",))
    plan = path_for(load(tmp_path, "lab-ovs-dpdk-p2p.toml", ALLOW_DUT1), root).plan()
    assert [s.pci for s in plan.steps if s.kind == "pci-bind"] == list(DUT)
    assert [s.ifname for s in plan.steps if s.kind == "link-up"] == ["ens2f0", "ens2f1"]
    assert plan.steps[-1].config["ports"] == list(GEN)


def test_results_name_the_nics_as_they_were_before_the_run(tmp_path, fake):
    from pktlab.provenance import collect
    from pktlab.results import Provenance

    root, _, _ = fake()
    p = path_for(load(tmp_path, "lab-ovs-dpdk-p2p.toml", ALLOW_DUT1), root)
    nics = p.nic_provenance()
    assert [(n["role"], n["name"], n["pci"], n["vendor_device"], n["driver"], n["pmd"], n["numa_node"])
            for n in nics] == [
        ("dut", "enp3s0f0", DUT[0], "8086:10fb", "ixgbe", "net_ixgbe", 1),
        ("dut", "enp3s0f1", DUT[1], "8086:10fb", "ixgbe", "net_ixgbe", 1),
        ("generator", "ens2f0", GEN[0], "8086:1572", "i40e", "net_i40e", 0),
        ("generator", "ens2f1", GEN[1], "8086:1572", "i40e", "net_i40e", 0)]
    assert nics[1]["speed_mbps"] == 10000 and nics[0]["speed_mbps"] is None  # enp3s0f0 is down
    prov = collect({"generator": [2], "ovs_pmd": [4, 5]}, nics=nics)
    assert Provenance.from_dict(prov.to_dict()) == prov
    sr = path_for(load(tmp_path, "lab-sriov-vf.toml"), root).nic_provenance()
    assert [(n["role"], n["pci"]) for n in sr] == [("pf", DUT[0])]


def test_more_generator_lcores_than_flows_is_refused(tmp_path):
    from pktlab.errors import ScenarioError

    text = (SCENARIOS / "lab-ovs-dpdk-p2p.toml").read_text()
    f = tmp_path / "s.toml"
    f.write_text(text.replace("gen_lcores = 1 ", "gen_lcores = 4 ").replace("flows = 1024", "flows = 2"))
    with pytest.raises(ScenarioError, match="4 generator lcores need at least as many flows") as e:
        scenario_mod.load(f)
    assert e.value.key == "datapath[0].gen_lcores"


def test_generator_lcores_are_placed_on_the_generator_nics_node(tmp_path, fake):
    root, _, _ = fake()
    sc = load(tmp_path, "lab-ovs-dpdk-p2p.toml", {**ALLOW_DUT1, "gen_lcores = 1 ": "gen_lcores = 3 "})
    gen = path_for(sc, root).plan().steps[-1].config
    # node 0's isolated cores, one per physical core first (2, 3), then a sibling (10)
    assert gen["lcores"] == [2, 3, 10] and gen["core"] == 2


def test_pvp_pins_and_the_guests_core_are_judged_on_the_numa_host(tmp_path, fake):
    """A PVP scenario's [cpu] pins and guest_core on the fake two-node server: the guest's
    vCPU is judged against the PMDs' node, the generator's core against it too."""
    root, _, _ = fake()
    sc = load(tmp_path, "lab-ovs-dpdk-pvp.toml")
    text = path_for(sc, root).explain()
    assert re.search(r"guest_vcpu +6 +as given; node 1 \(the PMDs that copy to and from it\), isolated", text)
    assert "! cross-NUMA: generator core 2 is on node 0, the PMDs' node on node 1" in text
    sc = load(tmp_path, "lab-ovs-dpdk-pvp.toml", {"generator = 2": "generator = 5"})
    assert "cross-NUMA: generator" not in path_for(sc, root).explain()


def test_the_kernel_generator_runs_a_loop_per_placed_lcore(tmp_path, fake):
    """Before: the kernel generator of ovs-kernel-p2p was refused more than one loop; the
    engine now runs one per lcore (a queue of each port each), placed as DPDK's are."""
    root, _, _ = fake()
    sc = load(tmp_path, "lab-ovs-kernel-p2p.toml", {'generator = "dpdk"': 'generator = "kernel"',
                                                     "gen_lcores = 1": "gen_lcores = 2"})
    gen = next(s for s in path_for(sc, root).plan().steps if getattr(s, "config", None))
    assert gen.config["backend"] == "kernel" and gen.config["lcores"] == [2, 3] and gen.config["core"] == 2
