"""Two hosts, planned: the DUT's half (its NICs, OVS) as the DUT's own pktlab plans it
(`pktlab step plan` builds the same side="dut" path there) and the tester's half here,
each from its own sysfs. Fake lab-server trees stand in for both hosts' sysfs (the build
machine has no PCI NICs); the SSH transport is tested for real in
tests/functional/test_remote_steps.py."""
from __future__ import annotations

import json

import pytest

from pktlab import journal
from pktlab.context import RunContext
from pktlab.errors import ScenarioError
from pktlab.plan import Applied, Plan, Step
from pktlab.remote.agent import half_doc
from pktlab.remote.half import DutHalf
from pktlab.remote.hosts import Hosts
from pktlab.remote.inventory import Host
from tests.steps import Mark, events
from tests.unit.test_lab_paths import ALLOW_DUT1, DUT, GEN, fake, kinds, load, path_for  # noqa: F401

TWO_HOSTS = {**ALLOW_DUT1, "[traffic]": '[hosts]\ndut = "compute-3"\ninventory = "lab.yml"\n\n[traffic]'}


def halves(tmp_path, root, edits=None, name="lab-ovs-kernel-p2p.toml"):
    sc = load(tmp_path, name, {**TWO_HOSTS, **(edits or {})})
    dut = path_for(sc, root, run_dir="/run/pktlab-t/r-dut")
    dut.side = "dut"
    dut.precheck = None  # (a fake root is never run; the half is planned as on the DUT)
    doc = json.loads(json.dumps(half_doc(dut)))  # what crosses the wire
    tester = path_for(sc, root)
    tester.side, tester.dut = "tester", DutHalf(tester, connection=None)
    tester.dut.__dict__["doc"] = doc
    return tester, doc


def test_each_host_plans_its_own_half(tmp_path, fake):
    root, _, _ = fake()
    tester, doc = halves(tmp_path, root)
    dut_steps = [Step.from_dict(d) for d in doc["steps"]]
    assert kinds(Plan(dut_steps)) == ["rundir", "kernel-module-autoload", "kernel-module", "link-up", "link-up",
                                      "ovs-kernel-datapath", "ovsdb-server", "ovs-vswitchd", "ovs-bridge", "ovs-port",
                                      "ovs-port", "ovs-flows"]
    assert {s.host for s in dut_steps} == {"dut"} and dut_steps[0].path == "/run/pktlab-t/r-dut"
    assert doc["export"] == {"dut_ifnames": ["enp3s0f0", "enp3s0f1"], "ovs_dir": "/run/pktlab-t/r-dut/ovs"}
    # the DUT describes its NICs, never the generator's
    assert [n["role"] for n in doc["facts"]["nics"]] == ["dut", "dut"]
    plan = tester.plan()
    assert kinds(plan)[:12] == kinds(Plan(dut_steps))
    assert kinds(plan)[12:] == ["rundir", "hugepages", "hugetlbfs", "pci-bind", "pci-bind", "dpdk-runtime-dir",
                                "generator"]
    assert [s.host for s in plan][12:] == ["tester"] * 7
    assert [s.pci for s in plan if s.kind == "pci-bind"] == list(GEN)
    assert tester.cores_used() == {"generator": [2]}  # the tester places only its own lcores
    v = tester.versions(None)
    assert [(n["role"], n["name"]) for n in v["nics"]] == [("generator", "ens2f0"), ("generator", "ens2f1"),
                                                           ("dut", "enp3s0f0"), ("dut", "enp3s0f1")]


def test_dry_run_tags_every_step_with_its_host(tmp_path, fake):
    root, _, _ = fake()
    tester, _ = halves(tmp_path, root)
    text = tester.plan().render({"tester": "tester", "dut": "dut compute-3"})
    assert "   1. [dut compute-3] create run directory /run/pktlab-t/r-dut" in text
    assert "[tester] start the generator" in text or "[tester] start generator" in text.lower()
    undo = text.split("undo, in reverse")[1]
    assert undo.index("[tester]") < undo.index("[dut compute-3]")  # the generator's side goes first
    assert "on the DUT (compute-3), planned there:" in tester.explain()


def test_a_one_host_plan_is_rendered_as_before(tmp_path, fake):
    root, _, _ = fake()
    p = path_for(load(tmp_path, "lab-ovs-kernel-p2p.toml", ALLOW_DUT1), root)
    assert "[" not in p.plan().render().replace("[hosts]", "")


def test_journal_records_each_steps_host_and_how_to_reach_it(tmp_path, state_dir):
    host = Host("compute-3", "192.0.2.7", user="root", port=2222, identity_file="/root/.ssh/lab",
                ssh_args=("-o", "ProxyJump=jump"), inventory="lab.yml")
    log = tmp_path / "log"
    hosts = {"dut": host}
    a = Applied(journal.Journal.create(state_dir, "r", hosts), RunContext(state_dir, "r", hosts))
    a.apply(Mark("here", str(log)))
    j, steps = journal.Journal.load(journal.journal_dir(state_dir) / "r.json")
    assert j.hosts == hosts and [s.host for s in steps] == ["tester"]
    steps[0].host = "dut"
    j.record(steps)
    _, again = journal.Journal.load(j.path)
    assert again[0].host == "dut" and again[0] == steps[0]
    assert journal.left_on_hosts(j) == [f"host {host} was left with: mark here"]
    j.remove()
    assert events(log) == ["apply here"]


def test_a_step_for_an_unknown_host_is_refused_not_run_here(tmp_path, state_dir):
    log = tmp_path / "log"
    a = Applied(journal.Journal.create(state_dir, "r"), RunContext(state_dir, "r"))
    with pytest.raises(Exception, match="names host 'dut', which this run does not know"):
        with a:
            a.apply(Mark("there", str(log), host="dut"))
    assert events(log) == []
    assert a.undo_errors and journal.pending(state_dir)  # kept: nothing ran, nothing claimed undone
    journal.journal_dir(state_dir).joinpath("r.json").unlink()


@pytest.mark.parametrize("table,key,reason", [
    ('tester = "lab-gen-1"', "hosts.tester", "the tester is the host pktlab runs on"),
    ('dut = "-oProxyCommand=x"', "hosts.dut", "is not an inventory host name"),
    ('inventory = "lab.yml"', "hosts.inventory", "no dut host"),
    ('dut = "c3"\nbogus = 1', "hosts.bogus", "unknown key"),
])
def test_bad_hosts_table(tmp_path, table, key, reason):
    with pytest.raises(ScenarioError) as e:
        load(tmp_path, "lab-ovs-kernel-p2p.toml", {"[traffic]": f"[hosts]\n{table}\n\n[traffic]"})
    assert e.value.key == key and reason in e.value.reason


def test_a_one_host_kind_with_a_remote_dut_is_refused(tmp_path):
    with pytest.raises(ScenarioError) as e:
        load(tmp_path, "smoke-ovs-dpdk.toml", {"[traffic]": '[hosts]\ndut = "c3"\n\n[traffic]'})
    assert e.value.key == "datapath[0].kind" and "runs on one host" in e.value.reason
    assert "ovs-kernel-p2p" in e.value.reason


def test_inventory_is_relative_to_the_scenario_and_read_before_anything(tmp_path):
    (tmp_path / "lab.yml").write_text("all:\n  hosts:\n    compute-3:\n      ansible_host: 192.0.2.7\n")
    sc = load(tmp_path, "lab-ovs-kernel-p2p.toml", TWO_HOSTS)
    hosts = Hosts(sc)
    assert hosts.dut.address == "192.0.2.7" and hosts.dut.inventory == str(tmp_path / "lab.yml")
    assert hosts.cabling(path_for(sc, "/")) == [{"tester": "ens2f0", "dut": "enp3s0f0"},
                                                {"tester": "ens2f1", "dut": "enp3s0f1"}]


def test_doctor_judges_only_the_testers_half_here(tmp_path, fake):
    from pktlab.cli import requirements

    root, _, _ = fake()
    sc = load(tmp_path, "lab-ovs-kernel-p2p.toml", TWO_HOSTS)
    reqs = requirements(sc, root)
    assert [r["port"] for r in reqs if r["check"] == "nic"] == ["ens2f0", "ens2f1"]
    assert not [r for r in reqs if r["check"] == "module"]  # openvswitch is the DUT's to have
    (placement,) = [r for r in reqs if r["check"] == "placement"]
    assert placement["dut_ports"] == [] and placement["gen_ports"] == ["ens2f0", "ens2f1"]


def test_ovs_dpdk_p2p_pmds_follow_the_duts_nics_and_lcores_the_testers(tmp_path, fake):
    root, _, kernel = fake()
    tester, doc = halves(tmp_path, root, name="lab-ovs-dpdk-p2p.toml")
    dut_steps = [Step.from_dict(d) for d in doc["steps"]]
    assert kinds(Plan(dut_steps)) == ["rundir", "hugepages", "hugetlbfs", "pci-bind", "pci-bind", "ovsdb-server",
                                      "ovs-other-config", "dpdk-runtime-dir", "kernel-module-autoload", "ovs-vswitchd", "ovs-bridge",
                                      "ovs-port", "ovs-port", "ovs-flows"]
    assert [s.pci for s in dut_steps if s.kind == "pci-bind"] == list(DUT)  # only the DUT's NICs there
    assert [(s.node, s.count) for s in dut_steps if s.kind == "hugepages"] == [(1, 1)]  # OVS's, on node 1
    other = next(s for s in dut_steps if s.kind == "ovs-other-config").config
    assert other["pmd-cpu-mask"] == "0x30" and other["dpdk-socket-mem"] == "0,1024"  # node 1, the DUT NICs'
    plan = tester.plan()
    mine = [s for s in plan if s.host == "tester"]
    assert kinds(Plan(mine)) == ["rundir", "hugepages", "hugetlbfs", "pci-bind", "pci-bind", "dpdk-runtime-dir",
                                 "generator"]
    assert [s.pci for s in mine if s.kind == "pci-bind"] == list(GEN)
    assert [(s.node, s.count) for s in mine if s.kind == "hugepages"] == [(0, 1)]  # the generator's, node 0
    assert mine[-1].config["core"] == 2 and "--socket-mem=1024,0" in mine[-1].config["eal_args"]
    assert tester.cores_used() == {"generator": [2]}
    assert kernel.writes == []  # planning reads only


def sriov_halves(tmp_path, root, edits=None):
    return halves(tmp_path, root, {"[traffic]": "[traffic]", **(edits or {})}, "lab-sriov-vf-two-hosts.toml")


def test_sriov_across_two_hosts_vfs_and_testpmd_there_the_generator_here_sending_to_the_vf_macs(tmp_path, fake):
    import base64

    from scapy.layers.l2 import Ether

    root, _, _ = fake()
    tester, doc = sriov_halves(tmp_path, root)
    dut_steps = [Step.from_dict(d) for d in doc["steps"]]
    assert kinds(Plan(dut_steps)) == ["rundir", "hugepages", "hugetlbfs", "link-up", "sriov-numvfs", "sriov-vf",
                                      "link-up", "sriov-numvfs", "sriov-vf", "pci-bind", "pci-bind",
                                      "dpdk-runtime-dir", "start-testpmd"]
    assert {s.host for s in dut_steps} == {"dut"}
    assert doc["export"] == {"vf_macs": ["02:00:00:00:01:00", "02:00:00:00:02:00"]}  # what the tester addresses
    vf = [s for s in dut_steps if s.kind == "sriov-vf"]
    assert [(s.pf_ifname if hasattr(s, "pf_ifname") else s.pf, s.vf, s.mac, s.spoofchk) for s in vf] == [
        ("enp3s0f0", 0, "02:00:00:00:01:00", True), ("enp3s0f1", 0, "02:00:00:00:02:00", True)]
    binds = [s.pci for s in dut_steps if s.kind == "pci-bind"]
    pmd = dut_steps[-1]
    assert pmd.ports == tuple(binds) and len(binds) == 2 and binds[0].startswith("0000:03:")
    assert pmd.forward_mode == "mac" and len(set(pmd.peers)) == 2
    argv = pmd.argv()
    assert argv[argv.index("-a") + 1] == binds[0] and "--forward-mode=mac" in argv
    assert all(a in argv for a in (f"--eth-peer=0,{pmd.peers[0]}", f"--eth-peer=1,{pmd.peers[1]}"))
    assert dut_steps[1].node == 1 and pmd.lcores[1] in (4, 5, 6, 7, 12, 13, 14, 15)  # forwarding on the PFs' node
    tester.pfs = lambda: pytest.fail("the tester looked for the DUT's PFs among its own NICs")
    plan = tester.plan()
    assert kinds(plan)[len(dut_steps):] == ["rundir", "hugepages", "hugetlbfs", "pci-bind", "pci-bind",
                                            "dpdk-runtime-dir", "generator"]
    gen = plan.steps[-1].config
    frames = [Ether(base64.b64decode(st["template"])) for st in gen["streams"]]
    # each generator port sends to VF 0 of the PF it is cabled to; testpmd sends back to its MAC
    assert [(f.src, f.dst) for f in frames] == [(pmd.peers[0], "02:00:00:00:01:00"),
                                                (pmd.peers[1], "02:00:00:00:02:00")]
    assert tester.options.gen_ports == ("ens2f0", "ens2f1") and gen["ports"] == list(GEN)


@pytest.mark.parametrize("edit,key,reason", [
    ({'dut_ports = ["enp3s0f0", "enp3s0f1"]': 'pf = "enp3s0f0"'}, "datapath[0].gen_ports",
     "name the PFs it is cabled to in dut_ports"),
    ({'forward_mode = "mac"': 'forward_mode = "io"'}, "datapath[0].forward_mode", "spoof check drops"),
    ({'vfs = 1 ': 'vfs = 2 '}, "datapath[0].vf_macs", "2 MACs for 4 VFs"),
])
def test_bad_two_host_sriov_scenarios(tmp_path, edit, key, reason):
    with pytest.raises(ScenarioError) as e:
        load(tmp_path, "lab-sriov-vf-two-hosts.toml", edit)
    assert key in str(e.value) and reason in str(e.value)


def test_a_two_host_sriov_without_dut_ports_is_refused_before_the_dut_is_asked(tmp_path, fake):
    root, _, _ = fake()
    sc = load(tmp_path, "lab-sriov-vf-two-hosts.toml", {
        'dut_ports = ["enp3s0f0", "enp3s0f1"]': 'pf = "enp3s0f0"', 'gen_ports = ["ens2f0", "ens2f1"]': "",
        'vfs = 1 ': 'vfs = 2 '})
    p = path_for(sc, root)
    p.side, p.dut = "tester", DutHalf(p, connection=None)  # asking the DUT would fail: no connection
    from pktlab.errors import PrecheckError

    with pytest.raises(PrecheckError, match=r"datapath\[0\].dut_ports: with the DUT on another host"):
        p.precheck()


def test_the_duts_testpmd_is_named_as_the_forwarder_in_its_cores(tmp_path, fake):
    root, _, _ = fake()
    tester, doc = sriov_halves(tmp_path, root)
    pmd = Step.from_dict(doc["steps"][-1])
    assert doc["facts"]["cores_used"] == {"generator": [], "forwarder": list(pmd.lcores)}
    assert "testpmd forwards between the VFs" in doc["explain"]


def test_forwarded_sriov_on_one_host_reserves_its_hugepages_once(tmp_path, fake):
    root, _, _ = fake()
    sc = load(tmp_path, "lab-sriov-vf-two-hosts.toml", {**ALLOW_DUT1, 'dut = "compute-3"': "", 'inventory = "lab.yml"': ""})
    p = path_for(sc, root)
    assert p.side == "both"
    k = kinds(p.plan())
    assert k.count("hugetlbfs") == 1 and k.count("pci-bind") == 4 and k[-2:] == ["start-testpmd", "generator"]


def test_testpmd_is_ready_when_it_says_it_forwards():
    from pktlab.host.testpmd import READY

    # dpdk-testpmd 22.11 without -i, its ports up (seen on net_null vdevs and in the virtual lab server)
    said = "Checking link statuses...\nDone\nNo commandline core given, start packet forwarding\n"
    assert any(r in said for r in READY)
