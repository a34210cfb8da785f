"""ovs-dpdk-pvp-phy, the physical-port PVP (generator NIC -> dpdk0 -> OVS-DPDK ->
vhost0 -> guest -> vhost1 -> OVS-DPDK -> dpdk1 -> generator NIC), planned from the
shipped scenario against the fake two-node lab server (tests/fakesys.py): its plan
and order, the dry-run text with reasons, where PMDs, the guest's vCPUs and its
hugepages go, and every refusal before anything is written. It runs for real, with
veth pairs for cables and a TCG guest, in tests/functional/test_pvp_phy_veth.py.
"""
from __future__ import annotations

import re
import types

import pytest

from pktlab import cli, datapaths
from pktlab import scenario as scenario_mod
from pktlab.datapaths import pvp_phy
from pktlab.datapaths.ovs_dpdk_p2p import OvsDpdkP2pPath
from pktlab.datapaths.pvp import PvpCounters, chain
from pktlab.errors import PrecheckError, ScenarioError
from pktlab.guest import accel
from pktlab.guest.qemu import StartGuest, qemu_command
from tests import fakesys
from tests.conftest import REPO
from tests.unit.test_lab_paths import ALLOW_DUT1, DUT, GEN, fake, path_for  # noqa: F401 - fake: a fixture
from tests.unit.test_lab_paths import load as load_lab
from tests.unit.test_lab_paths import test_refusals_name_the_key_and_write_nothing as refused

NAME = "lab-ovs-dpdk-pvp-phy.toml"
SCENARIO = REPO / "scenarios" / NAME
GIB = 1048576


def load(tmp_path, edits=None):
    return load_lab(tmp_path, NAME, edits)


# ---------------------------------------------------------------- the plan

def test_the_kind_is_registered_as_a_lab_path():
    assert datapaths.KINDS["ovs-dpdk-pvp-phy"] is pvp_phy.OvsDpdkPvpPhyPath
    assert datapaths.KINDS["ovs-dpdk-pvp-phy"].lab  # places its own cores: no cpu.generator needed
    sc = scenario_mod.load(SCENARIO)
    opt = sc.datapaths[0].options
    assert (opt.forwarder, opt.guest_vcpus, opt.guest_mem, opt.accel) == ("testpmd", 2, 1024, "kvm")


def test_plan_order_ports_guest_and_flows(tmp_path, fake):
    root, _, kernel = fake()
    plan = path_for(load(tmp_path, ALLOW_DUT1), root).plan()
    assert [s.kind for s in plan.steps] == [
        "rundir", "hugepages", "hugepages", "hugetlbfs", "pci-bind", "pci-bind", "pci-bind", "pci-bind",
        "ovsdb-server", "ovs-other-config", "dpdk-runtime-dir", "dpdk-runtime-dir", "kernel-module-autoload", "ovs-vswitchd", "ovs-bridge",
        "ovs-port", "ovs-port", "ovs-port", "ovs-port", "pvp-guest", "ovs-flows", "generator"]
    steps = plan.steps
    # DUT NICs for OVS, the generator's for the generator, all on vfio-pci
    assert [(s.pci, s.driver) for s in steps if s.kind == "pci-bind"] == [(p, "vfio-pci") for p in (*DUT, *GEN)]
    other = steps[9].config
    assert re.findall(r"-a (\S+)", other["dpdk-extra"]) == list(DUT)  # OVS's EAL probes the DUT NICs only
    # the phy ports 1 and 2, the guest's ports 3 and 4, each RX queue pinned to a PMD on node 1
    ports = [s for s in steps if s.kind == "ovs-port"]
    assert [(s.name, s.type, s.ofport, s.options.get("dpdk-devargs"), s.other_config["pmd-rxq-affinity"])
            for s in ports] == [("dpdk0", "dpdk", 1, DUT[0], "0:4"), ("dpdk1", "dpdk", 2, DUT[1], "0:5"),
                                ("vhost0", "dpdkvhostuser", 3, None, "0:4"),
                                ("vhost1", "dpdkvhostuser", 4, None, "0:5")]
    guest = steps[19]
    assert guest.forwarder == "testpmd" and guest.accel == "kvm"
    assert [(sock.rsplit("/", 1)[1], mode) for sock, _, mode in guest.nics] == [("vhost0", "client"),
                                                                                ("vhost1", "client")]
    assert all(sock.startswith(steps[8].ovs_dir + "/") for sock, _, _ in guest.nics)  # OVS serves them
    assert guest.hugepage_dir == steps[3].path and guest.mem_mb == 1024
    # explicit port-to-port flows through the guest, a cookie per hop
    assert steps[20].flows == ("cookie=1,priority=100,in_port=1,actions=output:3",
                               "cookie=2,priority=100,in_port=4,actions=output:2",
                               "cookie=3,priority=100,in_port=2,actions=output:4",
                               "cookie=4,priority=100,in_port=3,actions=output:1")
    gen = steps[-1].config
    assert gen["ports"] == list(GEN) and gen["core"] == 2
    assert kernel.writes == []  # planning reads only


def test_pmds_guest_and_its_memory_go_on_the_dut_node(tmp_path, fake):
    root, _, _ = fake()
    p = path_for(load(tmp_path, ALLOW_DUT1), root)
    pl = p.placement
    # node 1 (the DUT NICs'): PMDs 4,5 then the vCPUs 6,7, isolated, one per physical core
    assert pl.ovs_pmd == (4, 5) and pl.guest_vcpus == (6, 7) and pl.generator == (2,)
    # 1 GiB pages: OVS + guest on node 1, the generator's on node 0
    assert [(h.node, h.count, h.size_kb, h.users) for h in pl.hugepages] == [
        (0, 1, GIB, ("generator 1024 MiB",)), (1, 2, GIB, ("OVS 1024 MiB", "guest 1024 MiB"))]
    guest = p.plan().steps[19]
    assert guest.vcpu_pins == (6, 7) and guest.emulator_cores == (6,) and guest.mem_node == 1
    assert p.cores_used() == {"generator": [2], "ovs_pmd": [4, 5], "ovs_lcore": [0], "guest_vcpu": [6, 7]}


def test_guest_pins_override_the_planner_and_cross_numa_is_warned(tmp_path, fake):
    root, _, _ = fake()
    p = path_for(load(tmp_path, {**ALLOW_DUT1, "guest_vcpus = 2 ": "guest_vcpus = 2\nguest_cores = [3, 11]"}), root)
    assert p.placement.guest_vcpus == (3, 11)
    warnings = " ".join(p.placement.warnings)
    assert "cross-NUMA: guest_vcpu core 3 is on node 0" in warnings
    assert "cross-NUMA: guest_vcpu core 11 is on node 0" in warnings
    # the memory follows the vCPUs the user pinned, and the vhost queues the node's PMDs (none there: all PMDs)
    assert p.plan().steps[19].mem_node == 0
    assert p.affinities[2:] == ["0:4", "0:5"]
    assert [h.node for h in p.placement.hugepages if any("guest" in u for u in h.users)] == [0]


def test_more_rx_queues_are_dealt_over_the_pmds_and_the_guest_queues_follow(tmp_path, fake):
    root, _, _ = fake()
    p = path_for(load(tmp_path, {**ALLOW_DUT1, "n_rxq = 1 ": "n_rxq = 2 "}), root)
    assert p.affinities == ["0:4,1:5", "0:4,1:5", "0:4", "0:5"]


def test_dry_run_prints_every_choice_with_its_reason_and_changes_nothing(tmp_path, fake, capsys, state_dir):
    root, _, kernel = fake()
    f = load(tmp_path, ALLOW_DUT1).file
    before = fakesys.snapshot(root)
    assert cli.main(["--sysfs-root", root, "--state-dir", str(state_dir), "run", "--dry-run", str(f)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"ovs_pmd +4 +node 1 \(ports enp3s0f0, enp3s0f1\), isolated", out)
    assert re.search(r"guest_vcpu +6 +node 1 \(the PMDs that copy to and from it\), isolated", out)
    assert re.search(r"hugepages +2x1G@node1 +OVS 1024 MiB \+ guest 1024 MiB on node 1; 2 free there", out)
    assert re.search(r"memory +1024 MiB +1G hugepages bound to node 1", out)
    assert re.search(r"emulator +6 +QEMU's other threads share vCPU 0's core \(testpmd's main lcore", out)
    assert "a PMD with pinned queues polls no others, so the guest's are pinned too" in out
    assert re.search(r"vhost1 +0:5 +guest NIC 1", out)
    assert re.search(r"start guest \S+ \(testpmd image\): 2 vCPU pinned to cores 6,7, emulator threads on 6, "
                     r"1024 MiB on hugepages in \S+ bound to node 1, vhost-user \S+/ovs/vhost0 \(client\)", out)
    assert "add port vhost0 to br-pktlab (type=dpdkvhostuser" in out
    assert "stop guest" in out and "rebind PCI 0000:03:00.0 to" in out
    assert "precheck: a real run would stop here" in out and "a copy: it can be planned (--dry-run), not run" in out
    assert fakesys.snapshot(root) == before and kernel.writes == []


# ---------------------------------------------------------------- refusals: before anything is written

REFUSALS = [
    # (edits, host changes, key, reason)
    ({}, {}, "datapath[0].dut_ports", "enp3s0f1 (0000:03:00.1) is in use: enp3s0f1 is up"),
    ({'["enp3s0f0", "enp3s0f1"]': '["eno1", "enp3s0f0"]'}, {}, "datapath[0].dut_ports", "is the management NIC"),
    (ALLOW_DUT1, {"iommu": False}, "datapath[0].kind", "binds NICs to vfio-pci, which needs the IOMMU, and it is off"),
    ({**ALLOW_DUT1, "guest_mem = 1024 ": "guest_mem = 2048 "}, {}, "datapath[0].page_size",
     "node 1 has 2 free 1G hugepages (4 reserved), the placement needs 3 there (OVS 1024 MiB + guest 2048 MiB)"),
    ({**ALLOW_DUT1, "guest_vcpus = 2 ": "guest_vcpus = 7 "}, {}, "datapath[0].guest_vcpus",
     "node 1 has no core left for guest_vcpu"),
    ({**ALLOW_DUT1, "guest_vcpus = 2 ": "guest_vcpus = 2\nguest_cores = [40, 41]"}, {}, "datapath[0].guest_cores",
     "core 40 is not online"),
    ({**ALLOW_DUT1, "[traffic]": "[cpu]\novs_pmd = [4, 5]\n\n[traffic]",
      "guest_vcpus = 2 ": "guest_vcpus = 2\nguest_cores = [5, 6]"}, {}, "datapath[0].guest_cores",
     "core 5 is also in pmd_pins: two busy pollers on one core starve each other"),
]


@pytest.mark.parametrize("edits,changes,key,reason", REFUSALS, ids=[r[3][:40] for r in REFUSALS])
def test_refusals_name_file_key_and_reason_and_write_nothing(tmp_path, fake, edits, changes, key, reason):
    refused(tmp_path, fake, NAME, edits, changes, key, reason)  # the lab paths' refusal test, on this scenario


def test_socket_paths_the_kernel_would_cut_are_refused(tmp_path, fake):
    root, _, kernel = fake()
    sc = load(tmp_path, ALLOW_DUT1)
    p = datapaths.build(sc, sc.datapaths[0], "/run/" + "d" * 93, "r1", root)
    with pytest.raises(PrecheckError) as e:
        p.precheck()
    assert e.value.key is None and re.search(r"socket path /run/d+/ovs/vhost0 is longer than 107 bytes", e.value.reason)
    assert kernel.writes == []


def test_without_qemu_it_is_refused_naming_the_package(tmp_path, fake, monkeypatch):
    root, _, kernel = fake()
    real = pvp_phy.shutil.which
    monkeypatch.setattr(pvp_phy.shutil, "which", lambda name: None if name == "qemu-system-x86_64" else real(name))
    with pytest.raises(PrecheckError) as e:
        path_for(load(tmp_path, ALLOW_DUT1), root).precheck()
    assert e.value.key == "datapath[0].kind" and "qemu-system-x86_64 not found; apt-get install" in e.value.reason
    assert kernel.writes == []


def test_kvm_asked_for_and_not_working_is_refused_before_any_change(tmp_path, fake, monkeypatch):
    """accel = "kvm" on a host whose KVM cannot run a guest: refused in the precheck, not
    after the NICs were bound (the host checks before it pass here: they are tested above)."""
    root, _, kernel = fake()
    monkeypatch.setattr(OvsDpdkP2pPath, "precheck", lambda self: None)
    monkeypatch.setattr(accel, "cached_probe", lambda *a, **k: (False, "KVM guest did not run (QEMU exit 1)"))
    sc = load(tmp_path, ALLOW_DUT1)
    with pytest.raises(PrecheckError) as e:
        path_for(sc, root).precheck()
    assert e.value.key == "datapath[0].accel" and str(sc.file) in str(e.value)
    assert "KVM asked for but it does not work here: KVM guest did not run" in e.value.reason
    # "auto" runs it emulated instead: no refusal
    path_for(load(tmp_path, {**ALLOW_DUT1, 'accel = "kvm"': 'accel = "auto"'}), root).precheck()
    assert kernel.writes == []


BAD = [
    ("guest_mem = 1024 ", "guest_mem = 1536 ", "datapath[0].guest_mem", "multiple of 1024 MiB"),
    ("guest_mem = 1024 ", "guest_mem = 256 ", "datapath[0].guest_mem", "testpmd in the guest needs at least 512"),
    ('forwarder = "testpmd"', 'forwarder = "ovs"', "datapath[0].forwarder", "must be bridge, tc or testpmd"),
    ("guest_vcpus = 2 ", "guest_vcpus = 0 ", "datapath[0].guest_vcpus", "1 to 8 vCPUs"),
    ("guest_vcpus = 2 ", "guest_vcpus = 2\nguest_cores = [6]", "datapath[0].guest_cores", "1 cores for 2 vCPUs"),
    ("guest_vcpus = 2 ", "guest_vcpus = 2\nguest_cores = [6, 6]", "datapath[0].guest_cores", "distinct"),
    ('accel = "kvm"', 'accel = "hvf"', "datapath[0].accel", "must be auto, kvm or tcg"),
]


@pytest.mark.parametrize("old,new,key,reason", BAD, ids=[b[3] for b in BAD])
def test_bad_options_name_file_key_and_reason(tmp_path, old, new, key, reason):
    with pytest.raises(ScenarioError) as e:
        load(tmp_path, {old: new})
    assert e.value.key == key and reason in e.value.reason


# ---------------------------------------------------------------- counters and pieces

def test_hops_are_named_by_the_physical_and_guest_ports():
    assert pvp_phy.HOPS == {1: (1, 3, "dpdk0->vhost0 (into the guest)"), 2: (4, 2, "vhost1->dpdk1 (out of the guest)"),
                            3: (2, 4, "dpdk1->vhost1 (into the guest)"), 4: (3, 1, "vhost0->dpdk0 (out of the guest)")}
    assert chain(1)[1] == (1, 3, "vhu0->vm0 (into the guest)")  # the virtio-user PVP keeps its names


def test_counters_read_each_hops_flow(monkeypatch):
    flows = {1: (1, 3, 1000), 2: (4, 2, 990), 3: (2, 4, 1000), 4: (3, 1, 1000)}  # cookie: in, out, packets
    dump = "NXST_FLOW reply (xid=0x4):\n" + "".join(
        f" cookie=0x{k}, duration=3.2s, table=0, n_packets={n}, n_bytes={64 * n}, priority=100,in_port={a} "
        f"actions=output:{b}\n" for k, (a, b, n) in flows.items())
    from pktlab.ovs import openflow

    monkeypatch.setattr(openflow.process, "run", lambda argv, env, what: dump)
    c = PvpCounters(None, ("dpdk0", "dpdk1"), "/run/x/ovs", "br-pktlab", pvp_phy.HOPS)
    assert c._hops() == {"flow dpdk0->vhost0 (into the guest)": {"packets": 1000},
                         "flow vhost1->dpdk1 (out of the guest)": {"packets": 990},
                         "flow dpdk1->vhost1 (into the guest)": {"packets": 1000},
                         "flow vhost0->dpdk0 (out of the guest)": {"packets": 1000}}


def test_results_carry_the_guest_and_its_host_cores(tmp_path, fake, monkeypatch):
    root, _, _ = fake()
    import pktlab.provenance

    monkeypatch.setattr(pktlab.provenance, "ovs_version", lambda binary: "3.1.0")
    p = path_for(load(tmp_path, ALLOW_DUT1), root)
    ctx = types.SimpleNamespace(live={"guest_state": {"accel": {"name": "tcg", "emulated": True}, "boot_s": 9.5,
                                                      "image": {"kernel": {"release": "6.1.0-41-amd64"}}}})
    v = p.versions(ctx)
    assert v["guest"]["vcpu_host_cores"] == [6, 7] and v["guest"]["vcpus"] == 2
    assert v["guest"]["forwarder"] == "testpmd" and v["guest"]["accel"]["emulated"]
    assert [(n["role"], n["pci"]) for n in v["nics"]] == [("dut", DUT[0]), ("dut", DUT[1]), ("generator", GEN[0]),
                                                          ("generator", GEN[1])]


def test_guest_memory_is_bound_to_its_node():
    g = StartGuest(name="vm0", kernel="k", initrd="/c/testpmd/initrd", run_dir="/run/x/g", mem_mb=1024,
                   hugepage_dir="/run/x/hp", mem_node=1)
    [backend] = [a for a in qemu_command(g, ()) if a.startswith("memory-backend-file")]
    assert backend.endswith(",host-nodes=1,policy=bind")
    g.mem_node = None
    assert "host-nodes" not in " ".join(qemu_command(g, ()))


def test_doctor_judges_the_guest_placement_too(tmp_path, fake):
    from pktlab.inventory import doctor

    root, _, kernel = fake()
    sc = load(tmp_path)
    [v] = doctor.diagnose({sc.name: cli.requirements(sc, root)}, root=root).verdicts
    placed = next(f for f in v.findings if f.check == "placement on NUMA nodes")
    assert placed.ok and placed.found == "PMDs 4-5, generator 2, guest 6-7; 1x1G on node 0, 2x1G on node 1"
    assert [f.check for f in v.findings if not f.ok and not f.warning] == ["enp3s0f1 free for the data path"]
    assert kernel.writes == []
