"""contrib/ansible/campaign.yml for real, with ansible-playbook: three testers, each
with its own install directory and state dir, get this checkout and run ./setup.sh,
then run their scenarios side by side:
- tester-a (the test's own sshd in a network namespace, sshlab.py): a veth loopback;
- tester-b (the same sshd): kind = "external" against a rate-limited router the test
  built (rate_router.py), its DUT named in the same inventory, copied to the tester
  and given to its runs as $ANSIBLE_INVENTORY;
- tester-c (this machine, Ansible's local connection): ovs-kernel-p2p across two hosts,
  the DUT the virtual lab server (one boot, test_vlab_two_hosts.py's fixture) reached
  over SSH, cabled to this machine's taps.
Every result comes back into one directory, where the playbook ran pktlab compare and report.

Stand-in: every tester is this machine (there is one machine here). The sshd's namespace
has no route out, so the testers install from the wheelhouse the playbook downloads here
(pktlab_wheelhouse), as lab testers without a package index would.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pktlab import journal
from tests.conftest import REPO, host_state, run_cli
from tests.functional.rate_router import RateRouter
from tests.functional.sshlab import lab  # noqa: F401 - the fixture
from tests.functional.test_vlab import pytestmark  # noqa: F401 - skips without QEMU's igb
from tests.functional.test_vlab_two_hosts import TAPS, _guest_clean, _scenario
from tests.functional.test_vlab_two_hosts import dut as vlab_dut  # noqa: F401 - the fixture: the server up

PLAYBOOK = REPO / "contrib" / "ansible" / "campaign.yml"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
RATE_PPS = 20_000  # see test_external_dut.py

VETH = """[scenario]
name = "campaign-veth"
[cpu]
generator = 0
[traffic]
frame_size = 64
direction = "unidirectional"
[method]
kind = "fixed-rate"
rates = [20000]
duration = 1.0
[[datapath]]
kind = "veth"
name = "veth-floor"
"""

EXTERNAL = """[scenario]
name = "campaign-external"
[hosts]
dut = "dut"  # in the inventory the campaign gives its runs ($ANSIBLE_INVENTORY)
[cpu]
generator = 1
[traffic]
frame_size = 64
direction = "unidirectional"
[method]
kind = "fixed-rate"
rates = [{half}, {double}]
duration = 1.0
[[datapath]]
kind = "external"
name = "router-tbf"
gen_ports = ["{ga}@{ns}", "{gb}@{ns}"]
dut_macs = ["{mac_a}", "{mac_b}"]
counters = "kernel"
dut_interfaces = ["{da}", "{db}"]
"""


def inventory(lab, tmp_path: Path, scenarios: dict[str, Path], inv: Path, local: tuple[str, ...] = ()) -> Path:
    """The campaign's inventory: every tester of `scenarios` over the test's sshd, those in
    `local` on this machine with Ansible's local connection."""
    ssh = {"ansible_host": lab.address, "ansible_user": "root",
           "ansible_ssh_private_key_file": str(lab.dir / "client_key"),
           "ansible_ssh_common_args": f"-F /dev/null -o UserKnownHostsFile={lab.known_hosts} "
                                      "-o GlobalKnownHostsFile=/dev/null",
           "ansible_python_interpreter": sys.executable}
    here = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    testers = {name: {**(here if name in local else ssh), "pktlab_dir": str(tmp_path / name),
                      "pktlab_state_dir": f"/run/pktlab-{name}-{os.getpid()}",
                      "pktlab_scenarios": [str(f)], "pktlab_inventory": str(inv)}
               for name, f in scenarios.items()}
    inv.write_text(yaml.safe_dump({"all": {"children": {"testers": {"hosts": testers},
                                                         "duts": {"hosts": {"dut": ssh}}}}}))
    return inv


def test_campaign_installs_runs_in_parallel_and_fetches_everything(tmp_path, lab, vlab_dut):
    assert ANSIBLE_PLAYBOOK.exists(), "ansible-playbook comes with ansible-core (pyproject.toml)"
    _, vlab_inventory, vlab_exec = vlab_dut
    router = RateRouter(lab.ns, RATE_PPS).build()
    try:
        scen = tmp_path / "scenarios"
        scen.mkdir()
        (scen / "veth.toml").write_text(VETH)
        (scen / "external.toml").write_text(EXTERNAL.format(
            half=RATE_PPS // 2, double=RATE_PPS * 2, ga=router.ga, gb=router.gb, ns=router.gen_ns,
            mac_a=router.mac(router.da), mac_b=router.mac(router.db), da=router.da, db=router.db))
        (scen / "vlab").mkdir()
        two_hosts = _scenario(scen / "vlab", vlab_inventory, duration=1.0, rates=(1000,))
        inv = inventory(lab, tmp_path, {"tester-a": scen / "veth.toml", "tester-b": scen / "external.toml",
                                        "tester-c": two_hosts}, scen / "lab.yml", local=("tester-c",))
        results = tmp_path / "results"
        before = host_state()
        env = {**os.environ, "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
               "ANSIBLE_REMOTE_TEMP": str(tmp_path / "ansible-remote"), "ANSIBLE_NOCOLOR": "1",
               "ANSIBLE_SSH_CONTROL_PATH_DIR": str(tmp_path / "cp"), "ANSIBLE_FORKS": "4"}
        p = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(inv), str(PLAYBOOK), "-e", f"pktlab_results={results}",
                            "-e", f"pktlab_src={REPO}", "-e", f"pktlab_local={Path(sys.executable).parent / 'pktlab'}",
                            # the testers sit in a network namespace with no way out: no package index
                            "-e", f"pktlab_wheelhouse={tmp_path / 'wheels'}"],
                           capture_output=True, text=True, timeout=1200, env=env, cwd=tmp_path)
        (tmp_path / "ansible.out").write_text(p.stdout + p.stderr)
        assert p.returncode == 0, p.stdout[-6000:] + p.stderr[-3000:]
        assert "transfer mechanism failed" not in p.stderr  # files went over SFTP, not piped
        assert "failed=0" in p.stdout and all(t in p.stdout for t in ("tester-a", "tester-b", "tester-c"))

        # each tester installed its own pktlab from the tarball and built its venv
        for name in ("tester-a", "tester-b", "tester-c"):
            assert (tmp_path / name / ".venv" / "bin" / "pktlab").exists()
            assert (tmp_path / name / "pktlab" / "datapaths" / "external.py").exists()
            assert not (tmp_path / name / ".git").exists()
            assert journal.pending(Path(f"/run/pktlab-{name}-{os.getpid()}")) == []

        [veth] = [json.loads(f.read_text()) for f in (results / "tester-a").glob("*.json")]
        [ext] = [json.loads(f.read_text()) for f in (results / "tester-b").glob("*.json")]
        assert veth["status"] == "ok" and veth["datapath"] == "veth-floor"
        assert veth["trials"][0]["tx_packets"] == veth["trials"][0]["rx_packets"] > 0
        assert ext["status"] == "ok" and ext["datapath"] == "router-tbf"
        below, above = ext["trials"]
        assert below["rx_packets"] > 0.9 * below["tx_packets"]  # (preempted on a busy machine: a burst may be lost)
        assert above["tx_packets"] - above["rx_packets"] > 0.3 * above["tx_packets"]  # the shaper
        assert above["counters_source"] == "ssh-ip-link:dut"
        assert above["counters"][router.da]["rx_packets"] == above["tx_packets"]
        # what the router sent came back, but for what a preempted receiver missed: three testers and a
        # TCG server share this machine's 2 cores (exact equality: test_external_dut.py)
        sent_back = above["counters"][router.db]["tx_packets"]
        assert above["rx_packets"] <= sent_back <= above["rx_packets"] * 1.002, (sent_back, above["rx_packets"])
        assert (results / "tester-a" / "veth.log").read_text().count("trial at") == 1
        # tester-c's generator on the taps, the DUT's half on the virtual lab server, both put back
        [two] = [json.loads(f.read_text()) for f in (results / "tester-c").glob("*.json")]
        assert two["status"] == "ok" and two["datapath"] == "ovs-kernel-p2p-two-hosts"
        [t] = two["trials"]
        assert t["rx_packets"] > 0 and sum(c.get("rx_packets", 0) for c in t["counters"].values()) > 0, t
        assert two["provenance"]["dut"]["inventory_name"] == "vlab-dut"
        _guest_clean(vlab_exec, Path(f"/run/pktlab-tester-c-{os.getpid()}") / "runs")
        assert all((Path("/sys/class/net", tap, "operstate").read_text().strip() == "down") for tap in TAPS)

        table = (results / "compare.txt").read_text()
        assert "veth-floor" in table and "router-tbf" in table and "ovs-kernel-p2p-two-hosts" in table
        assert (results / "report.html").stat().st_size > 1000
        again = run_cli("compare", results / "tester-a", results / "tester-b", results / "tester-c")
        assert again.returncode == 0 and "router-tbf" in again.stdout
        assert host_state() == before
    finally:
        router.remove()
        for name in ("tester-a", "tester-b", "tester-c"):
            subprocess.run(["rm", "-rf", f"/run/pktlab-{name}-{os.getpid()}"], check=False)
