"""Steps on the DUT's host, for real, against the test's own sshd in a network
namespace (the "DUT": every command over SSH runs in that namespace, so what a
remote step creates is visible there and nowhere else). The DUT's own pktlab
applies them (`pktlab step apply`), the tester's journal records the host, and
`pktlab restore` reaches it: after a SIGKILL, and after the connection was lost.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pktlab import journal
from tests.conftest import REPO, needs_root, run_cli
from tests.functional.sshlab import SshLab, lab  # noqa: F401 - the fixture


def _links(lab) -> set[str]:
    out = subprocess.run(["ip", "-n", lab.ns, "-j", "link", "show"], capture_output=True, text=True, check=True)
    return {link["ifname"] for link in json.loads(out.stdout)}


def _local_links() -> set[str]:
    out = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True, check=True)
    return {link["ifname"] for link in json.loads(out.stdout)}


def _child(state_dir: Path, inventory: Path, tag: str, ready: Path) -> subprocess.Popen:
    """A tester applying a plan on both hosts (a veth pair on each), then waiting to be killed."""
    code = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from pktlab import journal
        from pktlab.context import RunContext
        from pktlab.host.files import MakeRunDir
        from pktlab.host.links import AddVethPair
        from pktlab.plan import Applied
        from pktlab.remote.inventory import load_host
        
        hosts = {{"dut": load_host("dut", {str(inventory)!r})}}
        sd = {str(state_dir)!r}
        a = Applied(journal.Journal.create(sd, "killed", hosts), RunContext(sd, "killed", hosts))
        a.apply(MakeRunDir(sd + "/runs/killed-dut", host="dut"))
        a.apply(AddVethPair("rd{tag}a", "rd{tag}b", host="dut"))
        a.apply(AddVethPair("rt{tag}a", "rt{tag}b"))
        Path({str(ready)!r}).write_text("ready")
        time.sleep(600)
    """)
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO)


def _wait_ready(child, ready: Path):
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert child.poll() is None, f"the tester died before it was ready (exit {child.returncode})"
        assert time.monotonic() < deadline, "the tester did not apply its plan in 120 s"
        time.sleep(0.2)


def _killed_tester(state_dir: Path, inventory: Path, tmp_path: Path) -> str:
    """Run _child until its plan is applied, then SIGKILL it; the tag of its interfaces."""
    tag = f"{os.getpid() % 10000:04d}"
    child = _child(state_dir, inventory, tag, tmp_path / "ready")
    try:
        _wait_ready(child, tmp_path / "ready")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    return tag


def test_sigkilled_tester_restored_on_both_hosts(lab, state_dir, tmp_path):
    tag = _killed_tester(state_dir, lab.inventory("yml"), tmp_path)
    assert {f"rd{tag}a", f"rd{tag}b"} <= _links(lab)  # on the DUT (its namespace) ...
    assert not {f"rd{tag}a", f"rd{tag}b"} & _local_links()  # ... not here
    assert {f"rt{tag}a", f"rt{tag}b"} <= _local_links()
    doc = json.loads((journal.journal_dir(state_dir) / "killed.json").read_text())
    assert [s["host"] for s in doc["steps"]] == ["dut", "dut", "tester"]
    assert doc["hosts"]["dut"]["address"] == lab.address
    private_key = (lab.dir / "client_key").read_text().strip().splitlines()[1]
    assert private_key not in json.dumps(doc)  # the key's path is recorded, never the key

    p = run_cli("restore", state_dir=state_dir)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"host dut ({lab.address}" in p.stdout or f"host dut (root@{lab.address}" in p.stdout
    assert not {f"rd{tag}a", f"rd{tag}b"} & _links(lab)
    assert not {f"rt{tag}a", f"rt{tag}b"} & _local_links()
    assert not Path(state_dir, "runs", "killed-dut").exists()
    assert journal.pending(state_dir) == []


def test_undo_reconnects_when_the_connection_dropped(lab, state_dir):
    """The SSH session dies mid-run (sshd still listening): undo opens a new connection."""
    from pktlab.context import RunContext
    from pktlab.host.links import AddVethPair
    from pktlab.plan import Applied
    from pktlab.remote.inventory import load_host

    tag = f"{os.getpid() % 10000:04d}"
    hosts = {"dut": load_host("dut", lab.inventory("yml"))}
    ctx = RunContext(state_dir, "drop", hosts)
    a = Applied(journal.Journal.create(state_dir, "drop", hosts), ctx)
    try:
        with a:
            a.apply(AddVethPair(f"rc{tag}a", f"rc{tag}b", host="dut"))
            assert {f"rc{tag}a", f"rc{tag}b"} <= _links(lab)
            lab.kill_sessions()
            assert not ctx.connection("dut").master_running()
    finally:
        ctx.close()
    assert a.undo_errors == []
    assert not {f"rc{tag}a", f"rc{tag}b"} & _links(lab)
    assert journal.pending(state_dir) == []


def test_lost_dut_named_with_what_it_was_left_with(state_dir, tmp_path):
    """The DUT's sshd dies mid-run: undo cannot reach it, says which host kept which
    changes, and keeps the journal; once it answers again `pktlab restore` finishes."""
    needs_root()
    lab = SshLab().start()
    try:
        tag = _killed_tester(state_dir, lab.inventory("ini"), tmp_path)
        lab.kill_sshd()
        p = run_cli("restore", state_dir=state_dir)
        assert p.returncode == 1
        assert f"host dut (root@{lab.address}:22) was left with: create run directory" in p.stdout
        assert f"veth pair rd{tag}a" in p.stdout.split("was left with:")[1]
        assert "unreachable" in p.stdout
        assert not {f"rt{tag}a", f"rt{tag}b"} & _local_links()  # the tester's own step was undone
        doc = json.loads((journal.journal_dir(state_dir) / "killed.json").read_text())
        assert [s["host"] for s in doc["steps"]] == ["dut", "dut"]  # kept: exactly what is left
        assert {f"rd{tag}a", f"rd{tag}b"} <= _links(lab)

        lab.start_sshd()
        p = run_cli("restore", state_dir=state_dir)
        assert p.returncode == 0, p.stdout + p.stderr
        assert not {f"rd{tag}a", f"rd{tag}b"} & _links(lab)
        assert journal.pending(state_dir) == []
    finally:
        lab.stop()


def test_consecutive_dut_steps_run_in_one_process_there_and_a_failure_still_undoes_each(lab, state_dir, tmp_path):
    """A plan's consecutive DUT steps go to one `pktlab step apply` there (one start-up, not one
    per step; the inventory's pktlab_command logs each start), each journaled as it begins; the
    one that fails ends the batch; undo takes the DUT's steps in one `pktlab step undo`."""
    from pktlab.context import RunContext
    from pktlab.errors import StepError
    from pktlab.host.files import MakeRunDir
    from pktlab.host.links import AddVethPair
    from pktlab.plan import Applied, Plan
    from pktlab.remote.inventory import load_host

    tag, calls = f"{os.getpid() % 10000:04d}", tmp_path / "calls"
    wrapper = tmp_path / "pktlab"
    wrapper.write_text(f"#!/bin/sh\necho \"$*\" >> {calls}\nexec {Path(sys.executable).parent / 'pktlab'} \"$@\"\n")
    wrapper.chmod(0o755)
    hosts = {"dut": load_host("dut", lab.inventory("yml", pktlab=str(wrapper)))}
    ctx = RunContext(state_dir, "batch", hosts)
    a = Applied(journal.Journal.create(state_dir, "batch", hosts), ctx)
    dut = [MakeRunDir(str(state_dir / "runs" / "batch-dut"), host="dut"),
           AddVethPair(f"rb{tag}a", f"rb{tag}b", host="dut"), AddVethPair(f"rb{tag}c", f"rb{tag}d", host="dut"),
           AddVethPair(f"rb{tag}a", f"rb{tag}e", host="dut"),  # its name is taken: fails
           AddVethPair(f"rb{tag}f", f"rb{tag}g", host="dut")]
    try:
        with pytest.raises(StepError, match=f"on host dut: .*rb{tag}a"):
            with a:
                a.apply_all(Plan([AddVethPair(f"rt{tag}a", f"rt{tag}b"), *dut]))
    finally:
        ctx.close()
    assert calls.read_text().splitlines() == ["step apply", "step undo"]  # one process each way
    assert not any(n.startswith(f"rb{tag}") for n in _links(lab)) and f"rt{tag}a" not in _local_links()
    assert dut[-1].state == {}  # the failure ended the batch: the last step never began
    assert journal.pending(state_dir) == [] and not (state_dir / "runs" / "batch-dut").exists()


def two_host_scenario(tmp_path: Path, inventory: Path, dut: str = "dut", gen_ports=("0000:41:00.0", "0000:42:00.0"),
                      rates=(1000,), duration: float = 1.0, kind: str = "ovs-kernel-p2p") -> Path:
    """ovs-kernel-p2p between the virtual lab server's DUT NICs, the DUT on host `dut`."""
    sc = tmp_path / "two-hosts.toml"
    sc.write_text(textwrap.dedent(f"""
        [scenario]
        name = "two-hosts"
        [hosts]
        dut = "{dut}"
        inventory = "{inventory}"
        [traffic]
        link_speed = "1G"
        frame_size = 64
        flows = 4
        direction = "bidirectional"
        [method]
        kind = "fixed-rate"
        rates = {list(rates)}
        duration = {duration}
        [[datapath]]
        kind = "{kind}"
        name = "{kind}-two-hosts"
        dut_ports = ["0000:81:00.0", "0000:82:00.0"]
        gen_ports = {json.dumps(list(gen_ports))}
        generator = "kernel"
    """))
    return sc


@pytest.mark.parametrize("case,reason", [
    ("port", "unreachable"), ("key", "authentication refused"), ("known_hosts", "host key CHANGED"),
    ("pktlab", "pktlab does not run there")])
def test_bad_dut_stops_the_run_before_anything_changes(lab, state_dir, tmp_path, case, reason):
    kw = {"port": {"port": 2222}, "key": {"key": "stranger_key"},
          "known_hosts": {"known_hosts": "known_hosts_changed"}, "pktlab": {"pktlab": "/nonexistent/pktlab"}}[case]
    sc = two_host_scenario(tmp_path, lab.inventory("yml", **kw))
    before = _local_links(), _links(lab)
    p = run_cli("run", sc, "--out", tmp_path / "out", state_dir=state_dir)
    assert p.returncode == 2, p.stdout + p.stderr
    assert f"host dut (root@{lab.address}" in p.stderr and reason in p.stderr
    assert "Traceback" not in p.stderr
    assert journal.pending(state_dir) == [] and not (state_dir / "runs").exists()
    assert (_local_links(), _links(lab)) == before
    assert not (tmp_path / "out").exists()


def test_dry_run_plans_the_dut_half_there(lab, state_dir, tmp_path):
    """The DUT's own pktlab plans its half from its own sysfs: this namespace "DUT" has no
    such NICs (and no openvswitch module), and the plan says so, naming the DUT's host."""
    sc = two_host_scenario(tmp_path, lab.inventory("yml"))
    p = run_cli("run", sc, "--dry-run", state_dir=state_dir)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"dut = dut (root@{lab.address}:22) over SSH" in p.stdout
    assert ("precheck: a real run would stop here: " f"{sc}: datapath[0].kind: on the DUT, host dut: the "
            "openvswitch kernel module is not available") in p.stdout
    assert journal.pending(state_dir) == []


def test_unknown_dut_in_inventory(lab, state_dir, tmp_path):
    sc = two_host_scenario(tmp_path, lab.inventory("yml", name="compute-3"))
    p = run_cli("run", sc, "--dry-run", state_dir=state_dir)
    assert p.returncode == 2
    assert "dut: no such host in the inventory (it has: compute-3)" in p.stderr



def test_the_duts_testpmd_forwarder_starts_is_watched_and_stops_with_its_undo(state_dir):
    """The step sriov-vf's DUT half ends with, on DPDK null vdevs (no NIC, no hugepages here):
    up once testpmd says it forwards, registered with the run's watcher (what the tester then
    watches over SSH), gone after undo, its runtime directory too."""
    from pktlab.context import RunContext
    from pktlab.host import process
    from pktlab.host.dpdk_runtime import DpdkRuntimeDir
    from pktlab.host.testpmd import COMM, StartTestpmd
    from pktlab.plan import Applied, Plan

    prefix = f"pktlab-tpmd-{os.getpid()}"
    eal = ("--no-huge", "-m", "256", "--no-telemetry", "--no-pci", "--vdev=net_null0", "--vdev=net_null1",
           f"--file-prefix={prefix}")
    step = StartTestpmd((), (0, 1), eal, str(state_dir / "testpmd.log"), "mac",
                        ("02:00:00:00:00:01", "02:00:00:00:00:02"))
    ctx = RunContext(state_dir, "tpmd")
    with Applied(journal.Journal.create(state_dir, "tpmd", {}), ctx) as a:
        a.apply_all(Plan([DpdkRuntimeDir(prefix), step]))
        pid = step.state["pid"]
        assert process.is_running(pid, COMM) and [w.name for w in ctx.watch._procs.values()] == ["testpmd"]
        assert "peer=02:00:00:00:00:02" in (state_dir / "testpmd.log").read_text()  # port 1 sends to gen port 1
    ctx.close()
    assert not process.is_running(pid, COMM) and "Bye..." in (state_dir / "testpmd.log").read_text()
    assert not Path("/var/run/dpdk", prefix).exists() and journal.pending(state_dir) == []
