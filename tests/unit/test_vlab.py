"""The virtual lab server without booting it: its topology, its QEMU command line,
scenarios checked against it, the request channel, the stage-1 init."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from pktlab import scenario as scenario_mod
from pktlab.errors import ScenarioError, StepError
from pktlab.provenance import VLAB_ENV, collect
from pktlab.vlab import command
from pktlab.vlab.channel import Channel
from pktlab.vlab.check import check
from pktlab.vlab.init import stage1_script
from pktlab.vlab.topology import DEFAULT

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _cmd(**kw):
    b = command.Boot(kernel="/k/vmlinux", initrd="/k/initrd", run_dir="/r", io_dir="/r/io", out_dir="/o", **kw)
    return command.qemu_command(DEFAULT, b)


def _devices(cmd):
    return [cmd[i + 1] for i, a in enumerate(cmd) if a == "-device"]


def _opts(dev: str) -> dict:
    return dict(kv.split("=", 1) for kv in dev.split(",")[1:] if "=" in kv)


def test_pci_addresses_follow_the_pxb_bus_numbers_and_nodes():
    assert {n.name: n.pci(DEFAULT) for n in DEFAULT.nics} == {
        "gen0": "0000:41:00.0", "gen1": "0000:42:00.0", "dut0": "0000:81:00.0", "dut1": "0000:82:00.0"}
    assert [DEFAULT.peer(n).name for n in DEFAULT.nics] == ["dut0", "dut1", "gen0", "gen1"]
    assert {n.node for n in DEFAULT.nics if n.role == "dut"} == {1}
    assert {n.node for n in DEFAULT.nics if n.role == "gen"} == {0}


def test_machine_has_an_iommu_for_vfio_two_numa_nodes_and_1g_pages():
    cmd = _cmd()
    assert cmd[cmd.index("-machine") + 1].startswith("q35")
    assert cmd[cmd.index("-cpu") + 1] == "max,pdpe1gb,phys-bits=35" and cmd.count("-cpu") == 1
    assert "intel-iommu,intremap=on,caching-mode=on" in _devices(cmd)
    numa = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-numa"]
    assert numa == ["node,nodeid=0,cpus=0-1,memdev=m0", "node,nodeid=1,cpus=2-3,memdev=m1"]
    assert cmd[cmd.index("-smp") + 1] == "4" and cmd[cmd.index("-m") + 1] == f"{DEFAULT.mem_mb}M"
    append = cmd[cmd.index("-append") + 1]
    assert "intel_iommu=on" in append.split() and "iommu=pt" in append.split()
    assert "hugepagesz=1G" in append.split() and "hugepages=0:1,1:1" in append.split()


def test_the_accels_cpu_gives_way_to_one_with_pdpe1gb():
    cmd = _cmd(accel_args=("-accel", "tcg,thread=multi", "-cpu", "max"))
    assert cmd.count("-cpu") == 1 and cmd[cmd.index("-cpu") + 1] == "max,pdpe1gb,phys-bits=35"
    kvm = _cmd(accel_args=("-enable-kvm", "-cpu", "host"))
    assert kvm[kvm.index("-machine") + 1] == "q35,kernel-irqchip=split"


def test_every_nic_sits_behind_a_root_port_on_its_nodes_pxb_and_every_device_names_its_bus():
    devs = _devices(_cmd())
    pxb = {_opts(d)["id"]: _opts(d) for d in devs if d.startswith("pxb-pcie,")}
    assert {k: (v["numa_node"], v["bus_nr"]) for k, v in pxb.items()} == {"pxb0": ("0", "64"), "pxb1": ("1", "128")}
    ports = {_opts(d)["id"]: _opts(d)["bus"] for d in devs if d.startswith("pcie-root-port,")}
    igb = [_opts(d) for d in devs if d.startswith("igb,")]
    assert len(igb) == 4
    for nic, opts in zip(DEFAULT.nics, igb):
        assert opts["mac"] == nic.mac and ports[opts["bus"]] == f"pxb{nic.node}"
    assert all("bus" in _opts(d) for d in devs if not d.startswith("intel-iommu"))


def test_pci_windows_stay_below_4g_so_qemus_vf_bars_are_reachable():
    """QEMU 10.0 maps a VF's 64-bit BAR at its low 32 bits (seen: 0xc020000000 mapped at
    0x20000000, the VFs' mailbox dead). SeaBIOS keeps windows below 4 GiB for a vCPU with fewer
    than 36 physical address bits; RAM above 4 GiB plus the 64-bit hole must still fit them."""
    cmd = _cmd()
    bits = int(_opts("x," + cmd[cmd.index("-cpu") + 1])["phys-bits"])
    assert bits < 36
    hole = cmd[cmd.index("-global") + 1]
    assert hole.startswith("q35-pcihost.pci-hole64-size=")
    gib = int(hole.split("=")[1].rstrip("G"))
    assert (4 + DEFAULT.mem_mb / 1024 - 2 + gib) * 2 ** 30 <= 2 ** bits  # q35: 2 GiB of RAM below 4 GiB
    ports = [_opts(d) for d in _devices(cmd) if d.startswith("pcie-root-port,")]
    assert len(ports) == 4 and all(p["pref32-reserve"] == command.VF_WINDOW for p in ports)
    assert 7 * 2 * 16 * 2 ** 10 <= int(command.VF_WINDOW.rstrip("M")) * 2 ** 20


def test_cables_join_each_generator_nic_to_its_dut_nic_and_nothing_else():
    cmd = _cmd()
    hubs = {}
    for i, a in enumerate(cmd):
        if a == "-netdev" and cmd[i + 1].startswith("hubport,"):
            o = _opts(cmd[i + 1])
            hubs.setdefault(o["hubid"], []).append(o["id"])
    assert sorted(hubs.values()) == [["gen0", "dut0"], ["gen1", "dut1"]]
    mgmt = [d for d in _devices(cmd) if "netdev=mgmt" in d]
    assert mgmt == [f"virtio-net-pci,netdev=mgmt,mac={DEFAULT.mgmt_mac},bus=pcie.0,addr=0x2"]


def test_host_root_is_shared_read_only_and_only_io_and_out_writable():
    cmd = _cmd()
    fsdev = {_opts(cmd[i + 1])["path"]: cmd[i + 1] for i, a in enumerate(cmd) if a == "-fsdev"}
    assert set(fsdev) == {"/", "/r/io", "/o"}
    assert "readonly=on" in fsdev["/"].split(",")
    assert all("readonly" not in fsdev[p] for p in ("/r/io", "/o"))
    tags = [_opts(d)["mount_tag"] for d in _devices(cmd) if d.startswith("virtio-9p-pci")]
    assert tags == list(command.SHARES)


def test_stage1_mounts_the_shares_and_switches_to_the_agent():
    s = stage1_script(["netfs", "9pnet", "9p", "overlay"])
    assert "insmod /modules/$m.ko" in s and "for m in netfs 9pnet 9p overlay;" in s
    for tag in command.SHARES:
        assert f" {tag} " in s
    assert "lowerdir=/lower,upperdir=/upper/u" in s
    assert s.rstrip().splitlines()[-2].startswith("exec $bb switch_root $n $(param vlab.python) -m pktlab.vlab.agent")


def test_vlab_scenarios_fit_the_server():
    files = sorted(SCENARIOS.glob("vlab-*.toml"))
    assert len(files) >= 6  # whatever is added must fit too
    for f in files:
        check(scenario_mod.load(f))


def _scenario(tmp_path, body: str):
    f = tmp_path / "s.toml"
    f.write_text('[scenario]\nname = "x"\n[traffic]\nframe_size = 64\nflows = 16\n'
                 '[method]\nkind = "fixed-rate"\nrates = [1000]\n' + body)
    return scenario_mod.load(f)


@pytest.mark.parametrize("body, key, reason", [
    ('[[datapath]]\nkind = "ovs-kernel-p2p"\nname = "k"\ndut_ports = ["0000:81:00.0", "0000:83:00.0"]\n'
     'gen_ports = ["0000:41:00.0", "0000:42:00.0"]\n', "datapath[0].dut_ports[1]",
     "0000:83:00.0 is not a NIC of the virtual lab server"),
    ('[[datapath]]\nkind = "ovs-kernel-p2p"\nname = "k"\ndut_ports = ["0000:81:00.0", "0000:82:00.0"]\n'
     'gen_ports = ["0000:00:02.0", "0000:42:00.0"]\n', "datapath[0].gen_ports[0]", "is the management NIC"),
    ('[[datapath]]\nkind = "sriov-vf"\nname = "v"\npf = "0000:81:00.0"\nvfs = 8\n', "datapath[0].vfs",
     "8 VFs asked for; dut0 (0000:81:00.0) offers 7"),
    ('[cpu]\novs_pmd = [5]\n[[datapath]]\nkind = "ovs-dpdk-p2p"\nname = "d"\n'
     'dut_ports = ["0000:81:00.0", "0000:82:00.0"]\ngen_ports = ["0000:41:00.0", "0000:42:00.0"]\n',
     "cpu.ovs_pmd", "core 5: the virtual lab server has vCPUs 0-3"),
    ('[[datapath]]\nkind = "ovs-dpdk-p2p"\nname = "d"\npmd_cores = 3\n'
     'dut_ports = ["0000:81:00.0", "0000:82:00.0"]\ngen_ports = ["0000:41:00.0", "0000:42:00.0"]\n',
     "datapath[0].pmd_cores", "pmd_cores 3 on node 1, which has 2 vCPUs"),
    ('[[datapath]]\nkind = "ovs-kernel-p2p"\nname = "k"\ngen_lcores = 4\n'
     'dut_ports = ["0000:81:00.0", "0000:82:00.0"]\ngen_ports = ["0000:41:00.0", "0000:42:00.0"]\n',
     "datapath[0].gen_lcores", "gen_lcores 4 on node 0, which has 2 vCPUs"),
    ('[[datapath]]\nkind = "ovs-dpdk-p2p"\nname = "d"\nsocket_mem = 4096\npmd_cores = 1\n'
     'dut_ports = ["0000:81:00.0", "0000:82:00.0"]\ngen_ports = ["0000:41:00.0", "0000:42:00.0"]\n',
     "datapath[0].socket_mem", "socket_mem 4096 on node 1, which has 3584 MiB (of 4096 MiB"),
    ('[[datapath]]\nkind = "ovs-dpdk-pvp-phy"\nname = "p"\npmd_cores = 1\nguest_vcpus = 2\n'
     'dut_ports = ["0000:81:00.0", "0000:82:00.0"]\ngen_ports = ["0000:41:00.0", "0000:42:00.0"]\n',
     "datapath[0].guest_vcpus", "pmd_cores 1 + guest_vcpus 2 on node 1, which has 2 vCPUs"),
])
def test_a_scenario_asking_for_what_the_server_lacks_is_refused_with_file_and_key(tmp_path, body, key, reason):
    sc = _scenario(tmp_path, body)
    with pytest.raises(ScenarioError) as e:
        check(sc)
    assert e.value.key == key and reason in e.value.reason and e.value.file == str(sc.file)


def test_channel_round_trip_with_a_fake_agent(tmp_path):
    ch = Channel(tmp_path)

    def agent():
        while True:
            reqs = list((tmp_path / "req").glob("*.json"))
            if reqs:
                doc = json.loads(reqs[0].read_text())
                (tmp_path / "out").mkdir(exist_ok=True)
                (tmp_path / "out" / f"{reqs[0].stem}.log").write_text(" ".join(doc["argv"]) + "\n")
                (tmp_path / "done").mkdir(exist_ok=True)
                (tmp_path / "done" / f"{reqs[0].stem}.json").write_text('{"rc": 3}')
                return
            time.sleep(0.01)

    t = threading.Thread(target=agent)
    t.start()
    import io

    echo = io.StringIO()
    assert ch.call(["pktlab", "doctor"], timeout=5, echo=echo) == 3
    t.join()
    assert echo.getvalue() == "pktlab doctor\n"
    assert not list((tmp_path / "req").glob(".*.tmp"))
    with pytest.raises(StepError, match="stopped during request"):
        ch.wait(ch.run(["true"]), timeout=5, alive=lambda: False)


def test_results_inside_the_server_carry_its_emulated_acceleration(monkeypatch):
    monkeypatch.setenv(VLAB_ENV, json.dumps({"vlab": True, "accel": {"name": "tcg", "emulated": True}}))
    assert collect({"generator": [0]}).guest["accel"]["emulated"] is True
    assert collect({"generator": [0]}, guest={"accel": {"emulated": False}}).guest["accel"]["emulated"] is False
    monkeypatch.delenv(VLAB_ENV)
    assert collect({"generator": [0]}).guest is None


def test_the_generator_waits_longer_for_its_worker_only_inside_an_emulated_server(monkeypatch):
    from pktlab import wait
    from pktlab.provenance import VLAB_ENV

    monkeypatch.delenv(VLAB_ENV, raising=False)
    assert wait.slowdown() == 1
    monkeypatch.setenv(VLAB_ENV, json.dumps({"vlab": True, "accel": {"name": "kvm", "emulated": False}}))
    assert wait.slowdown() == 1
    monkeypatch.setenv(VLAB_ENV, json.dumps({"vlab": True, "accel": {"name": "tcg", "emulated": True}}))
    assert wait.slowdown() == wait.EMULATED_SLOWDOWN > 1


def test_a_process_the_agent_did_not_start_knows_the_server_from_its_run_file(monkeypatch, tmp_path):
    """An SSH session of a two-host run has no PKTLAB_VLAB: the server's /run/pktlab-vlab.json says it."""
    from pktlab import provenance, wait

    monkeypatch.delenv(VLAB_ENV, raising=False)
    monkeypatch.setattr(provenance, "VLAB_FILE", tmp_path / "pktlab-vlab.json")
    assert wait.slowdown() == 1  # no file: this host is not the server
    provenance.VLAB_FILE.write_text(json.dumps({"vlab": True, "accel": {"name": "tcg", "emulated": True}}))
    assert wait.slowdown() == wait.EMULATED_SLOWDOWN
    assert collect({"generator": [0]}).guest["accel"]["name"] == "tcg"
