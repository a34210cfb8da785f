"""The NUMA planner on a fake two-node lab server (tests/fakesys.py):
node 0 = CPUs 0-3,8-11 (ens2f0, eno1), node 1 = CPUs 4-7,12-15 (enp3s0f0/1),
siblings N and N+8, 2-7,10-15 isolated; 1G pages free: 4 on node 0, 2 on node 1.
All on fake trees."""
from __future__ import annotations

import json

import pytest

from pktlab.errors import PrecheckError
from pktlab.inventory.planner import Demand, plan
from pktlab.inventory.sysfs import read_inventory
from tests import fakesys


@pytest.fixture
def root(tmp_path):
    return str(fakesys.build(tmp_path / "root", fakesys.two_node_host()))


@pytest.fixture
def inv(root):
    return read_inventory(root)


def roles(p, role):
    return [(c.value, c.reason) for c in p.choices if c.role == role]


def test_pmds_on_the_nic_node_generator_on_its_own_guest_with_the_pmds(inv):
    """PMDs on node 1 (the 82599's), generator on node 0 (the XL710's), guest on node 1; each
    choice says why; hugepages per node; no cross-NUMA warning but the lcore's."""
    p = plan(inv, Demand(dut_ports=("enp3s0f0", "0000:03:00.1"), gen_ports=("ens2f0",), pmd_cores=2,
                         gen_lcores=2, guest_vcpus=2, ovs_mem_mb=1024, gen_mem_mb=1024, guest_mem_mb=1024))
    assert (p.ovs_pmd, p.generator, p.guest_vcpus, p.ovs_lcore) == ((4, 5), (2, 3), (6, 7), 0)
    assert p.pmd_cpu_mask == "0x30"
    assert roles(p, "ovs_pmd")[0] == (4, "node 1 (ports enp3s0f0, 0000:03:00.1), isolated, sibling 12 left free")
    assert roles(p, "generator")[0] == (2, "node 0 (generator ports ens2f0), isolated, sibling 10 left free")
    assert [(h.node, h.size_kb, h.count, h.users) for h in p.hugepages] == [
        (0, 1048576, 1, ("generator 1024 MiB",)), (1, 1048576, 2, ("OVS 1024 MiB", "guest 1024 MiB"))]
    assert p.ovs_socket_mem == (0, 1024)
    assert p.port_nodes == {"enp3s0f0": 1, "0000:03:00.1": 1, "ens2f0": 0}
    assert p.warnings == ("cross-NUMA: OVS's non-PMD threads on core 0 (node 0), PMDs on node 1: node 1 has no "
                          "housekeeping core (no packet work there)",)
    assert all(c.reason for c in p.choices)
    json.dumps(p.as_dict())


def test_spilling_to_the_other_node_warns_for_each_core(inv):
    """allow_cross_numa: node 1 cannot hold 3 PMDs + 6 vCPUs; the 6th vCPU goes to node 0, with a warning."""
    p = plan(inv, Demand(dut_ports=("enp3s0f0",), pmd_cores=3, guest_vcpus=6, allow_cross_numa=True))
    assert p.ovs_pmd == (4, 5, 6) and len(p.guest_vcpus) == 6 and inv.cpu(p.guest_vcpus[-1]).node == 0
    cross = [w for w in p.warnings if w.startswith("cross-NUMA: guest_vcpu")]
    assert cross == [f"cross-NUMA: guest_vcpu on core {p.guest_vcpus[-1]} (node 0) serves node 1 (the PMDs that "
                     "copy to and from it): node 1 has no core left"]
    assert "cores 4 (ovs_pmd) and 12 (guest_vcpu) are hyperthreads of one physical core and both busy: each " \
           "gets about half of it" in p.warnings


def test_pins_on_the_wrong_node_are_warned(inv):
    """Given cores are kept; a PMD on node 0 for a port on node 1 is a cross-NUMA warning, twice over."""
    p = plan(inv, Demand(dut_ports=("enp3s0f0",), gen_ports=("ens2f0",), pmd_pins=(2,), gen_pins=(4,)))
    assert (p.ovs_pmd, p.generator) == ((2,), (4,))
    assert "cross-NUMA: ovs_pmd core 2 is on node 0, ports enp3s0f0 on node 1" in p.warnings
    assert "cross-NUMA: generator core 4 is on node 1, generator ports ens2f0 on node 0" in p.warnings
    assert ("cross-NUMA: 0000:03:00.0 is on node 1 and no PMD is: OVS polls it from node [0] (give it at least "
            "one PMD per port node)") in p.warnings
    assert roles(p, "ovs_pmd")[0][1].startswith("as given; node 0, not node 1 (ports enp3s0f0)")


def test_cores_that_are_not_isolated_are_warned(inv):
    """Node 0 has 4 isolated threads (2,3,10,11); a 5th generator lcore is core 1, not isolated."""
    p = plan(inv, Demand(gen_ports=("ens2f0",), gen_lcores=5))
    assert p.generator == (2, 3, 10, 11, 1)
    assert ("core 1 (generator) is not isolated (not in isolcpus, nohz_full, rcu_nocbs): the scheduler and timer "
            "ticks will interrupt it; add it to isolcpus= nohz_full= rcu_nocbs= on the kernel command line") \
        in p.warnings
    assert sum("is not isolated" in w for w in p.warnings) == 1


def test_one_pmd_for_ports_on_two_nodes_warns(inv):
    p = plan(inv, Demand(dut_ports=("ens2f0", "enp3s0f0"), pmd_cores=1))
    assert p.ovs_pmd == (2,)
    assert any(w.startswith("cross-NUMA: 0000:03:00.0 is on node 1 and no PMD is") for w in p.warnings)
    p = plan(inv, Demand(dut_ports=("ens2f0", "enp3s0f0"), pmd_cores=2))
    assert p.ovs_pmd == (2, 4) and not any("no PMD is" in w for w in p.warnings)


@pytest.mark.parametrize("demand,key,reason", [
    (Demand(dut_ports=("enp3s0f0",), pmd_cores=3, guest_vcpus=6), "guest_vcpus",
     r"node 1 has no core left for guest_vcpu .* its 8 core\(s\) are taken by ovs_pmd 4-6, guest_vcpu 7,12-15"),
    (Demand(dut_ports=("enp3s0f0",), pmd_cores=1, ovs_mem_mb=1024, guest_mem_mb=2048), "hugepages",
     r"node 1 has 2 free 1G hugepages \(4 reserved\), the placement needs 3 there \(OVS 1024 MiB \+ guest 2048 "
     r"MiB\); reserve them: echo 5 > /sys/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages"),
    (Demand(dut_ports=("eno1",), pmd_cores=1), "dut_ports",
     r"eno1 \(0000:01:00.0\) is the management NIC"),
    (Demand(dut_ports=("eth9",)), "dut_ports", r"eth9: no such NIC on this host \(NICs: 0000:01:00.0 \(eno1\)"),
    (Demand(gen_pins=(99,)), "gen_pins", r"core 99 is not online \(online: 0-15\)"),
    (Demand(pmd_pins=(4,), gen_pins=(4,)), "gen_pins", r"core 4 is also in pmd_pins"),
    (Demand(dut_ports=("ens2f0",), gen_ports=("ens2f0",)), "gen_ports", r"also in dut_ports"),
    (Demand(page_size="4K"), "page_size", r"must be \"2M\" or \"1G\""),
], ids=["cores", "hugepages", "management", "unknown-nic", "offline-core", "double-pin", "shared-port", "size"])
def test_refusals_name_the_key_and_touch_nothing(root, inv, demand, key, reason):
    """Fake tree: what cannot fit is a PrecheckError naming the key; the tree is as it was."""
    before = fakesys.snapshot(root)
    demand = Demand(**{**demand.__dict__, "source": "scenarios/phy.toml"})
    with pytest.raises(PrecheckError, match=reason) as e:
        plan(inv, demand)
    assert (e.value.file, e.value.key) == ("scenarios/phy.toml", key)
    assert fakesys.snapshot(root) == before


def test_unknown_numa_node_on_a_two_node_host_is_warned(tmp_path):
    import dataclasses

    host = fakesys.two_node_host()
    host = dataclasses.replace(host, nics=[dataclasses.replace(n, node=-1) if n.pci == "0000:02:00.0" else n
                                           for n in host.nics])
    inv = read_inventory(str(fakesys.build(tmp_path / "r", host)))
    p = plan(inv, Demand(dut_ports=("ens2f0",), pmd_cores=1))
    assert p.port_nodes == {"ens2f0": 0}
    assert p.warnings[0].startswith("0000:02:00.0 (ens2f0): firmware does not say its NUMA node")


def test_render_lists_choices_then_warnings(inv):
    text = plan(inv, Demand(dut_ports=("enp3s0f0",), pmd_cores=1, gen_lcores=1)).render().splitlines()
    assert text[0] == "placement:" and text[1].split()[:2] == ["port", "enp3s0f0"]
    assert "warnings:" in text
