"""Tester and DUT on two hosts, for real: the DUT is the virtual lab server (one boot,
`pktlab vlab start --tap dut0=... --tap dut1=... --ssh-port N`), reached over SSH
through an sshd inside it; its igb DUT NICs are cabled to taps on this machine, which
the generator's kernel backend drives. ovs-kernel-p2p runs across the two (the DUT's
half planned and applied by the server's own pktlab), then a SIGKILLed tester is
restored on both hosts by `pktlab restore`. Slow under TCG: short trials, low rates.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from pktlab import journal
from tests.conftest import PKTLAB, REPO, host_state, release_state_dir, run_cli
from tests.functional.sshlab import keygen
from tests.functional.test_remote_steps import two_host_scenario
from tests.functional.test_vlab import STATE, _qemu_has_igb, pytestmark  # noqa: F401 - skips without QEMU

TAPS = ("pkv2h0", "pkv2h1")
GUEST_STATE = ("pgrep -x ovsdb-server; pgrep ovs-vswitchd; grep -c ^openvswitch /proc/modules; "
               "cat /sys/bus/pci/devices/0000:8[12]:00.0/net/*/operstate; ls {runs}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dut(tmp_path_factory):
    """(state dir of the server, inventory, exec inside): the server up with an sshd inside."""
    from tests.conftest import needs_root

    needs_root()
    if not _qemu_has_igb():
        pytest.skip("this QEMU has no igb device (./setup.sh installs QEMU 10 from bookworm-backports)")
    state = Path("/run") / f"pktlab-t2h{os.getpid() % 100000}"
    state.mkdir()
    d = tmp_path_factory.mktemp("two-hosts")  # seen inside at the same path (the server shares this root)
    port = _free_port()
    host_key, client_key = keygen(d / "host_key"), keygen(d / "client_key")
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    (d / "sshd_config").write_text(
        f"Port 22\nHostKey {host_key}\nAuthorizedKeysFile {d / 'authorized_keys'}\nPidFile /run/sshd-pktlab.pid\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nStrictModes no\n")
    pub = (d / "host_key.pub").read_text().split()
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {pub[0]} {pub[1]}\n")
    inventory = d / "lab.yml"
    inventory.write_text(textwrap.dedent(f"""\
        all:
          hosts:
            vlab-dut:
              ansible_host: 127.0.0.1
              ansible_port: {port}
              ansible_user: root
              ansible_ssh_private_key_file: {client_key}
              ansible_ssh_common_args: "-F /dev/null -o UserKnownHostsFile={d / 'known_hosts'} -o GlobalKnownHostsFile=/dev/null"
              pktlab_command: {Path(PKTLAB[0]).parent / 'pktlab'}
        """))
    before = host_state()
    p = run_cli("vlab", "start", "--out", d, "--tap", f"dut0={TAPS[0]}", "--tap", f"dut1={TAPS[1]}",
                "--ssh-port", port, state_dir=state, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr

    def exec_(cmd: str, timeout=600):
        return run_cli("vlab", "exec", "--", "bash", "-c", cmd, state_dir=state, timeout=timeout)

    # The server's root is this machine's: its root's .bashrc runs pyenv, whose rehash waits 60 s
    # for a lock it cannot take on the read-only share. Emptied in the server's own overlay only.
    # Sessions over SSH know the server is emulated from its /run/pktlab-vlab.json (wait.slowdown:
    # OVSDB 80 s, not 20 s), as the agent's own commands know it from their environment.
    p = exec_(f": > /root/.bashrc; mkdir -p /run/sshd; /usr/sbin/sshd -f {d / 'sshd_config'} -E {d / 'sshd.log'}")
    assert p.returncode == 0, p.stdout + p.stderr
    try:
        yield state, inventory, exec_
    finally:
        p = run_cli("restore", state_dir=state, timeout=300)  # powers the server off (its runner is gone)
        release_state_dir(state)
        assert p.returncode == 0, p.stdout + p.stderr
        assert host_state() == before
        assert not any(Path("/sys/class/net", t).exists() for t in TAPS)


def _scenario(tmp_path: Path, inventory: Path, duration: float = 2.0, rates=(500, 2000),
              kind: str = "ovs-kernel-p2p", extra: str = "") -> Path:
    sc = two_host_scenario(tmp_path, inventory, "vlab-dut", TAPS, rates, duration, kind)
    sc.write_text(sc.read_text() + extra)  # more keys of its [[datapath]], the last table
    return sc


# vlab-ovs-dpdk-p2p.toml's DUT settings: one PMD and OVS's one 1 GiB page on the DUT NICs' node
OVS_DPDK = "pmd_cores = 1\nn_rxq = 1\nsocket_mem = 1024\npage_size = \"1G\"\n"
# a VF on each PF, MACs set by the plan, testpmd's memory on 2 MiB pages (vlab-sriov-vf.toml's)
SRIOV = 'vfs = 1\nvf_macs = ["02:00:00:00:81:00", "02:00:00:00:82:00"]\nforwarder_mem = 256\npage_size = "2M"\n'


def _one_trial(sc: Path, run_state: Path, out: Path) -> tuple[dict, dict]:
    """`pktlab run` of a one-trial scenario, passed: its result and its trial."""
    p = run_cli("run", sc, "--out", out, state_dir=run_state, timeout=1500)
    assert p.returncode == 0, p.stdout + p.stderr
    (result,) = [json.loads(f.read_text()) for f in out.glob("*.json")]
    (trial,) = result["trials"]
    assert result["status"] == "ok", result.get("reason")
    return result, trial


def _guest_clean(exec_, runs: Path):
    p = exec_(GUEST_STATE.format(runs=runs) + " 2>&1; true")
    lines = p.stdout.split()
    # no OVS daemon, openvswitch unloaded (0 lines), both DUT NICs down, no run directory left
    assert lines[:3] == ["0", "down", "down"], p.stdout + p.stderr
    assert "No such file" in p.stdout or lines[3:] == [], p.stdout


def test_ovs_kernel_p2p_across_the_tester_and_the_virtual_server(dut, tmp_path):
    state, inventory, exec_ = dut
    run_state = Path("/run") / f"pktlab-t2r{os.getpid() % 100000}"
    out = tmp_path / "results"
    try:
        p = run_cli("run", _scenario(tmp_path, inventory), "--out", out, state_dir=run_state, timeout=1500)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "hosts restored" in p.stdout
        (result,) = [json.loads(f.read_text()) for f in out.glob("*.json")]
        trials = result["trials"]
        assert result["status"] == "ok" and len(trials) == 2
        # frames went tap -> the server's igb -> its OVS kernel datapath -> igb -> tap
        assert all(t["rx_packets"] > 0 for t in trials), trials
        # and the DUT's own counters, read from the server's OVSDB through the forwarded socket
        assert all(sum(c.get("rx_packets", 0) for c in t["counters"].values()) > 0 for t in trials), trials
        prov = result["provenance"]
        assert prov["dut"]["inventory_name"] == "vlab-dut" and prov["dut"]["kernel"] != prov["kernel"]
        assert prov["dut"]["kernel"].endswith("-amd64") and prov["dut"]["numa_nodes"] == 2
        assert [(n["role"], n["pci"], n["driver"]) for n in prov["nics"] if n["role"] == "dut"] == [
            ("dut", "0000:81:00.0", "igb"), ("dut", "0000:82:00.0", "igb")]
        assert prov["dut"]["ovs_version"] and prov["ovs_version"] == prov["dut"]["ovs_version"]
        assert prov["cabling"] == [{"tester": TAPS[0], "dut": "0000:81:00.0"},
                                   {"tester": TAPS[1], "dut": "0000:82:00.0"}]
        print("two hosts, 64 B, tester -> tap -> server igb -> OVS kernel datapath -> igb -> tap:",
              "; ".join(f"{t['offered_pps']:.0f} pps offered: {t['rx_pps']:.0f} pps received, lost {t['lost']}"
                        for t in trials))
        key = (inventory.parent / "client_key").read_text().splitlines()[1]
        assert key not in json.dumps(result)
        _guest_clean(exec_, run_state / "runs")
        assert all((Path("/sys/class/net", t, "operstate").read_text().strip() == "down") for t in TAPS)
    finally:
        release_state_dir(run_state)


def _tester_running(run_state: Path, sc: Path, out: Path) -> tuple[subprocess.Popen, dict]:
    """`pktlab run` started, once every step of both hosts is applied (the generator runs);
    the journal as it was then."""
    tester = subprocess.Popen(PKTLAB + ["--state-dir", str(run_state), "run", str(sc), "--out", str(out)],
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 1200
    while True:
        files = journal.pending(run_state)
        doc = json.loads(files[0].read_text()) if files else {"steps": []}
        if any(s["kind"] == "generator" and s["status"] == "applied" for s in doc["steps"]):
            return tester, doc
        assert tester.poll() is None, tester.stdout.read()
        assert time.monotonic() < deadline, "the two-host plan was not applied in 1200 s"
        time.sleep(1)


def test_sigkilled_tester_is_restored_on_both_hosts(dut, tmp_path):
    state, inventory, exec_ = dut
    run_state = Path("/run") / f"pktlab-t2k{os.getpid() % 100000}"
    sc = _scenario(tmp_path, inventory, duration=600.0, rates=(1000,))
    try:
        tester, doc = _tester_running(run_state, sc, tmp_path / "out")
        time.sleep(3)  # mid-trial
        tester.send_signal(signal.SIGKILL)
        tester.wait()
        assert {s["host"] for s in doc["steps"]} == {"tester", "dut"}
        p = exec_("pgrep -x ovsdb-server >/dev/null && grep -c ^openvswitch /proc/modules")
        assert p.stdout.strip() == "1", p.stdout + p.stderr  # left running on the server by the kill

        p = run_cli("restore", state_dir=run_state, timeout=1200)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "host vlab-dut (root@127.0.0.1" in p.stdout
        assert journal.pending(run_state) == []
        _guest_clean(exec_, run_state / "runs")
        assert all((Path("/sys/class/net", t, "operstate").read_text().strip() == "down") for t in TAPS)
    finally:
        release_state_dir(run_state)


def test_a_dut_lost_mid_run_fails_the_trial_names_what_it_kept_and_restore_finishes(dut, tmp_path):
    """sshd inside dies during the trials: the trial fails with the lost connection, undo
    cannot reach the server and says which host kept which changes, the journal stays; once
    sshd is back, `pktlab restore` finishes on the server."""
    state, inventory, exec_ = dut
    run_state = Path("/run") / f"pktlab-t2l{os.getpid() % 100000}"
    sc = _scenario(tmp_path, inventory, duration=2.0, rates=tuple(range(500, 500 + 40 * 50, 50)))
    try:
        tester, _ = _tester_running(run_state, sc, tmp_path / "out")
        time.sleep(8)  # a few trials in
        exec_("pkill -KILL -x sshd; true")  # the listener and every session: the DUT stops answering
        said, _ = tester.communicate(timeout=600)
        assert tester.returncode == 1, said
        assert "lost the connection to the DUT, host vlab-dut (root@127.0.0.1" in said
        assert "host vlab-dut (root@127.0.0.1:" in said and "was left with: create run directory" in said
        assert "add OVS bridge br-pktlab" in said.split("was left with:")[1]
        (result,) = [json.loads(f.read_text()) for f in (tmp_path / "out").glob("*.json")]
        assert result["status"] == "failed" and "lost the connection to the DUT" in result["reason"]
        left = json.loads(journal.pending(run_state)[0].read_text())["steps"]
        assert left and {s["host"] for s in left} == {"dut"}  # the tester's own steps were undone
        assert all((Path("/sys/class/net", t, "operstate").read_text().strip() == "down") for t in TAPS)

        p = exec_(f"/usr/sbin/sshd -f {inventory.parent / 'sshd_config'} -E {inventory.parent / 'sshd.log'}")
        assert p.returncode == 0, p.stdout + p.stderr
        p = run_cli("restore", state_dir=run_state, timeout=1200)
        assert p.returncode == 0, p.stdout + p.stderr
        assert journal.pending(run_state) == []
        _guest_clean(exec_, run_state / "runs")
    finally:
        release_state_dir(run_state)


def test_ovs_dpdk_p2p_across_the_tester_and_the_virtual_server(dut, tmp_path):
    """OVS-DPDK on the server's igb NICs (vfio-pci, dpdk ports, its PMD and hugepage on their
    node 1), the generator here on the taps (AF_XDP): OVS's counters are the generator's, and
    drivers, hugepages, modules and daemons inside are as they were."""
    state, inventory, exec_ = dut
    run_state = Path("/run") / f"pktlab-t2d{os.getpid() % 100000}"
    out = tmp_path / "results"
    before = exec_(STATE)
    assert "0000:81:00.0 igb" in before.stdout, before.stdout + before.stderr
    try:
        result, trial = _one_trial(_scenario(tmp_path, inventory, rates=(1000,), kind="ovs-dpdk-p2p",
                                              extra=OVS_DPDK), run_state, out)
        nics = [(n["pci"], n["driver"], n["numa_node"]) for n in result["provenance"]["nics"] if n["role"] == "dut"]
        assert nics == [("0000:81:00.0", "igb", 1), ("0000:82:00.0", "igb", 1)]  # as planned there, before binding
        c = trial["counters"]
        assert set(c) == {"dpdk0", "dpdk1"} and trial["rx_packets"] > 0, trial
        # every frame OVS took in on one dpdk port it sent out of the other, and the generator got
        # back what OVS sent (the taps' own IPv6 chatter, if any, counts on both sides alike)
        assert c["dpdk0"]["rx_packets"] + c["dpdk1"]["rx_packets"] >= trial["tx_packets"] - trial["lost"], trial
        assert c["dpdk0"]["rx_packets"] == c["dpdk1"]["tx_packets"], c
        assert c["dpdk1"]["rx_packets"] == c["dpdk0"]["tx_packets"], c
        print(f"two hosts, 64 B, tester -> tap -> server igb (vfio-pci) -> OVS-DPDK -> igb -> tap: "
              f"{trial['offered_pps']:.0f} pps offered, {trial['rx_pps']:.0f} received, lost {trial['lost']}; "
              f"OVS {c}")
        assert exec_(STATE).stdout == before.stdout  # bindings, hugepages, modules, OVS: as they were
        assert all((Path("/sys/class/net", t, "operstate").read_text().strip() == "down") for t in TAPS)
    finally:
        release_state_dir(run_state)


def test_a_dut_daemon_killed_mid_run_fails_the_trial_naming_host_and_daemon_and_undo_runs(dut, tmp_path):
    """ovs-vswitchd inside the server SIGKILLed during the trials: the tester, which checks
    the DUT's daemons over its SSH master around each read of the DUT's counters, fails the
    trial naming the host and the daemon, and undoes both hosts' steps cleanly."""
    state, inventory, exec_ = dut
    run_state = Path("/run") / f"pktlab-t2v{os.getpid() % 100000}"
    sc = _scenario(tmp_path, inventory, duration=1.0, rates=tuple(range(500, 500 + 40 * 50, 50)))
    try:
        tester, _ = _tester_running(run_state, sc, tmp_path / "out")
        time.sleep(4)  # a trial or two in
        p = exec_("pid=$(pgrep ovs-vswitchd); kill -KILL $pid; echo $pid")
        pid = p.stdout.strip()
        assert pid.isdigit(), p.stdout + p.stderr
        said, _ = tester.communicate(timeout=600)
        assert tester.returncode == 1, said
        assert f"on host vlab-dut (root@127.0.0.1:" in said and f"ovs-vswitchd (pid {pid}) is gone" in said, said
        assert "last lines of" in said and "ovs-vswitchd.log there:" in said
        assert "hosts restored" in said and "UNDO FAILED" not in said
        (result,) = [json.loads(f.read_text()) for f in (tmp_path / "out").glob("*.json")]
        assert result["status"] == "failed" and f"ovs-vswitchd (pid {pid}) is gone" in result["reason"]
        assert journal.pending(run_state) == []
        _guest_clean(exec_, run_state / "runs")
        assert all((Path("/sys/class/net", t, "operstate").read_text().strip() == "down") for t in TAPS)
    finally:
        release_state_dir(run_state)


def test_sriov_vfs_forwarded_by_testpmd_on_the_server_from_the_tester(dut, tmp_path):
    """sriov-vf across the two: on the server a VF on each igb PF (MACs set by the plan, spoof
    check on), both bound to vfio-pci, testpmd in mac mode between them on the PFs' node; the
    generator here sends to the VF MACs, so each emulated PF's switch must hand the wire's
    frames to its VF by MAC. VFs, bindings, hugepages and modules inside are as they were."""
    state, inventory, exec_ = dut
    run_state = Path("/run") / f"pktlab-t2s{os.getpid() % 100000}"
    out = tmp_path / "results"
    before = exec_(STATE)
    assert "0000:81:00.0 igb vfs=0" in before.stdout, before.stdout + before.stderr
    sc = _scenario(tmp_path, inventory, rates=(1000,), kind="sriov-vf", extra=SRIOV)
    try:
        result, trial = _one_trial(sc, run_state, out)
        # back only through VF -> testpmd -> VF: nothing else on the server forwards between the PFs
        assert trial["rx_packets"] > 0, trial
        print(f"two hosts, 64 B, tester -> tap -> igb PF -> VF -> testpmd (mac) -> VF -> PF -> tap: "
              f"{trial['offered_pps']:.0f} pps offered, {trial['rx_pps']:.0f} received, lost {trial['lost']}")
        assert exec_(STATE).stdout == before.stdout  # VFs, bindings, hugepages, modules: as they were
        assert all((Path("/sys/class/net", t, "operstate").read_text().strip() == "down") for t in TAPS)
    finally:
        release_state_dir(run_state)
