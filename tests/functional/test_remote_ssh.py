"""Hosts over SSH, for real: an sshd of the test's own in a network namespace,
reached through generated Ansible inventories (YAML and INI) and the real ssh
client; every failure named with its host, exit 2, and nothing left behind."""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

from pktlab.remote.inventory import load_host
from pktlab.remote.ssh import AuthRefused, Connection, HostKeyMismatch, MissingSoftware, Unreachable
from tests.conftest import run_cli
from tests.functional.sshlab import SshLab, lab  # noqa: F401 - the fixture


def _ssh_dirs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("pktlab-ssh-*")}


def _masters() -> list[str]:
    ps = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if line.startswith("ssh ") and "pktlab-ssh-" in line]


@pytest.fixture
def untouched(lab):
    """Nothing of a connection outlives the test: no control dir, no master process."""
    dirs, masters = _ssh_dirs(), _masters()
    yield
    assert _ssh_dirs() == dirs and _masters() == masters


@pytest.mark.parametrize("fmt", ["yml", "ini"])
def test_host_resolves_from_both_formats(lab, fmt):
    h = load_host("dut", lab.inventory(fmt))
    assert (h.address, h.port, h.user) == (lab.address, 22, "root")
    assert h.identity_file == str(lab.dir / "client_key")
    assert f"UserKnownHostsFile={lab.dir / 'known_hosts'}" in h.ssh_args


def test_connect_reuses_one_control_master(lab, untouched):
    conn = Connection(load_host("dut", lab.inventory("yml")))
    before = lab.accepted()
    try:
        conn.connect()  # checks root: `id -u` over the master
        assert conn.sudo == []
        sock = conn.control_path
        assert sock.is_socket()
        assert conn.master_running()
        # Arguments reach the remote shell quoted: metacharacters stay literal.
        assert conn.run(["echo", "a b; $(id -u) `x`"]).stdout == "a b; $(id -u) `x`\n"
        assert conn.run(["id", "-u"]).stdout.strip() == "0"
        conn.require("dpdk", "ovs")  # this machine has both (setup.sh)
        assert lab.accepted() == before + 1, "a command authenticated again instead of riding the master"
    finally:
        conn.close()
    assert not sock.exists() and not sock.parent.exists() and not conn.master_running()


def test_jump_host_passes_through_to_openssh(lab, untouched):
    h = load_host("dut", lab.jump_inventory())
    assert h.jump == f"root@{lab.address}"
    before = lab.accepted()
    with Connection(h) as conn:
        assert conn.run(["id", "-u"]).stdout.strip() == "0"
        assert conn.run(["true"]).returncode == 0
    assert lab.accepted() == before + 2  # the jump hop, then the host; once each


@pytest.mark.parametrize("fmt", ["yml", "ini"])
def test_doctor_host_returns_the_remote_report(lab, fmt, untouched):
    inv = lab.inventory(fmt)
    p = run_cli("doctor", "--host", "dut", "--inventory", inv, "--json", timeout=120)
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    local = json.loads(run_cli("doctor", "--json", timeout=120).stdout)
    assert report["inventory"]["kernel"] == local["inventory"]["kernel"]  # same machine, another netns
    assert [v["scenario"] for v in report["verdicts"]] == [v["scenario"] for v in local["verdicts"]]
    text = run_cli("doctor", "--host", "dut", "--inventory", inv, timeout=120)
    assert text.returncode == 0, text.stderr
    assert f"host dut (root@{lab.address}:22)" in text.stdout
    assert "scenario dpdk-on-a-nic (generic): " in text.stdout


BAD = [
    ("unreachable", {"port": 2200}, Unreachable, "unreachable; ssh: connect to host"),
    ("auth-refused", {"key": "stranger_key"}, AuthRefused, "authentication refused"),
    ("host-key-changed", {"known_hosts": "known_hosts_changed"}, HostKeyMismatch, "host key CHANGED"),
    ("host-key-unknown", {"known_hosts": "known_hosts_empty"}, HostKeyMismatch, "host key is unknown"),
]


@pytest.mark.parametrize("case,kw,error,says", BAD, ids=[b[0] for b in BAD])
def test_bad_host_is_named_and_nothing_changes(lab, untouched, case, kw, error, says):
    inv = lab.inventory("ini", **kw)
    accepted = lab.accepted()
    conn = Connection(load_host("dut", inv))
    with pytest.raises(error, match=f"host dut .*{says}"):
        conn.connect()
    assert conn.control_path is None  # closed and removed already
    p = run_cli("doctor", "--host", "dut", "--inventory", inv, timeout=120)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.startswith(f"pktlab: error: host dut (root@{lab.address}:") and says in p.stderr
    assert "Traceback" not in p.stderr
    assert lab.accepted() == accepted  # nothing ever ran there


def test_pktlab_missing_on_the_host(lab, untouched):
    inv = lab.inventory("yml", pktlab="/nonexistent/bin/pktlab")
    p = run_cli("doctor", "--host", "dut", "--inventory", inv, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "host dut" in p.stderr and "pktlab is not installed there" in p.stderr


def test_require_names_what_is_missing(lab, untouched, monkeypatch):
    from pktlab.remote import ssh

    monkeypatch.setattr(ssh, "OVS_PATHS", ssh.OVS_PATHS + ("/nonexistent/ovs-vswitchd",))
    with Connection(load_host("dut", lab.inventory("yml"))) as conn:
        with pytest.raises(MissingSoftware, match="host dut .*Open vSwitch \\(/nonexistent/ovs-vswitchd missing\\)"):
            conn.require("dpdk", "ovs")


def test_unknown_host_exits_2_naming_inventory_and_host(lab, tmp_path):
    inv = lab.inventory("yml")
    p = run_cli("doctor", "--host", "compute-9", "--inventory", inv, timeout=120)
    assert p.returncode == 2 and f"{inv}: compute-9: no such host in the inventory (it has: dut)" in p.stderr
