"""Daemons a run started on the DUT, watched from the tester (remote/watch.py): a
connection that runs its argument lists here stands in for the SSH master, so
`ps` and `tail` are real and so are the processes."""
from __future__ import annotations

import subprocess

import pytest

from pktlab.remote.inventory import Host
from pktlab.remote.watch import DutProcessDied, RemoteWatch, parse_ps, registrations

HOST = Host("compute-3", "192.0.2.7", user="root")


class Here:
    host = HOST

    def run(self, argv, check=True, sudo=False, **kw):
        return subprocess.run(argv, capture_output=True, text=True)


def test_ps_output_is_read_by_pid():
    text = "  812 Ssl  ovs-vswitchd-dp\n  900 Z    ovsdb-server\n"
    assert parse_ps(text) == {812: ("Ssl", "ovs-vswitchd-dp"), 900: ("Z", "ovsdb-server")}


def test_a_running_daemon_passes_and_a_killed_one_fails_naming_host_daemon_pid_and_log(tmp_path):
    log = tmp_path / "ovs-vswitchd.log"
    log.write_text("dpdk|INFO|EAL ready\nbridge|INFO|bridge br-pktlab: added interface dpdk0\n")
    proc = subprocess.Popen(["sleep", "60"])
    try:
        w = RemoteWatch()
        step = object()
        w.add("dut", [{"pid": proc.pid, "name": "ovs-vswitchd", "comm": "sleep", "logs": [str(log)]}], step)
        w.check("dut", Here())  # runs: nothing to say
        proc.kill()
        proc.wait()
        with pytest.raises(DutProcessDied) as e:
            w.check("dut", Here())
        assert str(e.value).startswith(f"on host compute-3 (root@192.0.2.7:22): ovs-vswitchd (pid {proc.pid}) "
                                       "is gone; the run started it there")
        assert f"last lines of {log} there:\n  dpdk|INFO|EAL ready\n  bridge|INFO|" in str(e.value)
        w.check("dut", Here())  # reported once: the run is unwinding
    finally:
        proc.kill()


def test_a_pid_reused_by_another_program_is_a_death_and_an_undone_step_is_not_watched():
    w = RemoteWatch()
    step = object()
    w.add("dut", [{"pid": 1, "name": "ovsdb-server", "comm": "ovsdb-server"}], step)  # pid 1 is init
    with pytest.raises(DutProcessDied, match=r"ovsdb-server \(pid 1\) now runs "):
        w.check("dut", Here())
    w.add("dut", [{"pid": 1, "name": "ovsdb-server", "comm": "ovsdb-server"}], step)
    w.forget_step("dut", step)  # undo stops it on purpose
    assert w.watched("dut") == []
    w.check("dut", Here())


def test_what_a_step_started_on_the_dut_is_sent_back_from_its_watcher():
    from pktlab.host.watch import Watcher

    watcher = Watcher()
    watcher.add(4242, "ovs-vswitchd", "ovs-vswitchd-dpdk", ("/run/x/ovs-vswitchd.log",))
    assert registrations(watcher) == [{"pid": 4242, "name": "ovs-vswitchd", "comm": "ovs-vswitchd-dpdk",
                                       "logs": ["/run/x/ovs-vswitchd.log"]}]
