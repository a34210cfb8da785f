"""The process watcher: a death raises ProcessDied in the main thread, wherever it waits,
naming the process, the signal and its last log lines; a process stopped on purpose
(forgotten first) or after the watcher stood down is no news. And the undo of OVS
steps whose daemon died asks nothing of it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pktlab.context import RunContext
from pktlab.host import process
from pktlab.host.watch import ProcessDied, Watcher, describe_returncode, log_tail
from pktlab.ovs import daemons
from pktlab.ovs.bridge import AddBridge, AddPort, SetInterface
from pktlab.ovs.daemons import SetOvsOtherConfig, StartOvsdbServer, StartOvsVswitchd
from pktlab.ovs.openflow import AddFlows


def sleeper(seconds=30):
    return subprocess.Popen(["sleep", str(seconds)])


def wait_until_raised(seconds: float, kill=lambda: None) -> float:
    """kill(), then sleep in small steps (as the runner's waits do); returns how long
    until ProcessDied. The kill is inside: the death may raise right after it."""
    t0 = time.monotonic()
    with pytest.raises(ProcessDied) as err:
        kill()
        while time.monotonic() - t0 < seconds:
            time.sleep(0.05)
    wait_until_raised.err = err.value
    return time.monotonic() - t0


@pytest.fixture
def watcher():
    w = Watcher(poll_s=0.2)
    yield w
    w.disarm()


def test_a_killed_child_raises_at_once_with_signal_and_log_tail(watcher, tmp_path):
    log = tmp_path / "d.log"
    log.write_text("".join(f"line {i}\n" for i in range(30)) + "\n  \n")
    p = sleeper()
    watcher.add(p.pid, "some-daemon", "sleep", (log,))
    watcher.arm()
    took = wait_until_raised(5, lambda: os.kill(p.pid, signal.SIGKILL))
    e = wait_until_raised.err
    assert took < 2.0  # "noticed within about 2 s"
    assert (e.name, e.pid) == ("some-daemon", p.pid)
    assert "killed by signal 9 (SIGKILL)" in str(e)
    assert f"some-daemon (pid {p.pid})" in str(e)
    assert "line 29" in str(e) and "line 20" in str(e) and "line 19" not in str(e)  # the last 10 lines
    # the zombie was left for its owner: the Popen still gets the status
    assert p.wait(timeout=5) == -signal.SIGKILL


def test_an_exit_status_is_reported(watcher):
    p = subprocess.Popen(["sh", "-c", "sleep 0.3; exit 3"])
    watcher.add(p.pid, "quitter", "sh")
    watcher.arm()
    wait_until_raised(5)
    assert "exited with status 3" in str(wait_until_raised.err)
    p.wait()


def test_status_from_the_popen_that_reaped_it(watcher):
    p = sleeper()
    watcher.add(p.pid, "worker", "sleep", returncode=lambda: p.returncode)
    os.kill(p.pid, signal.SIGTERM)
    p.wait()  # reaped by its owner before the watcher looked
    died = watcher.death()
    assert died is not None and "killed by signal 15 (SIGTERM)" in str(died)


def test_a_process_that_is_not_our_child_is_found_by_polling(watcher, tmp_path):
    # sh starts sleep in the background and exits: sleep is no child of ours
    out = subprocess.run(["sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!"], capture_output=True, text=True)
    pid = int(out.stdout)
    try:
        watcher.add(pid, "orphan", "sleep", (tmp_path / "missing.log",))
        watcher.arm()
        assert watcher.death() is None
        took = wait_until_raised(5, lambda: os.kill(pid, signal.SIGKILL))
    finally:
        process.stop(pid, "sleep", timeout=1)
    assert took < 2.0  # the poll period is 0.2 s here; 2 s is what a run promises
    text = str(wait_until_raised.err)
    # not our child: how it died is not ours to read (were this process a subreaper, it would be)
    assert f"orphan (pid {pid}) is gone" in text and "no log" in text


def test_forgotten_or_disarmed_deaths_are_no_news(watcher):
    a, b = sleeper(), sleeper()
    watcher.add(a.pid, "a", "sleep")
    watcher.add(b.pid, "b", "sleep")
    watcher.arm()
    watcher.forget(a.pid)
    a.kill()
    a.wait()
    time.sleep(0.5)  # SIGCHLD came and went; a poll too
    watcher.disarm()
    assert signal.getsignal(signal.SIGCHLD) in (signal.SIG_DFL, None)
    b.kill()
    b.wait()
    time.sleep(0.5)
    assert watcher.death() is not None  # b's death is known, only not raised


def test_it_raises_once(watcher):
    a, b = sleeper(), sleeper()
    watcher.add(a.pid, "a", "sleep")
    watcher.add(b.pid, "b", "sleep")
    watcher.arm()
    wait_until_raised(5, a.kill)
    b.kill()
    time.sleep(0.5)  # unwinding: a second death does not interrupt it
    a.wait(), b.wait()


def test_a_forked_child_does_not_act_on_the_parents_watcher(watcher, tmp_path):
    p = sleeper()
    watcher.add(p.pid, "a", "sleep")
    watcher.arm()
    marker = tmp_path / "child"
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # as pyroute2 does to enter a namespace
        try:
            os.read(go_r, 1)
            os.kill(p.pid, signal.SIGKILL)
            time.sleep(0.3)
            watcher._on_sigchld(signal.SIGCHLD, None)  # must not raise here
            marker.write_text("ok")
        finally:
            os._exit(0)
    with pytest.raises(ProcessDied):  # the parent's watcher does act
        os.write(go_w, b"x")
        for _ in range(40):
            time.sleep(0.05)
    os.waitpid(pid, 0)
    os.close(go_r), os.close(go_w)
    assert marker.read_text() == "ok"
    p.wait()


def test_describe_and_tail(tmp_path):
    assert describe_returncode(-9) == "was killed by signal 9 (SIGKILL)"
    assert describe_returncode(1) == "exited with status 1"
    assert log_tail(tmp_path / "nope.log")[0].startswith("(no log")
    e = ProcessDied("x", 1, "exited with status 1", {"/a.log": ["l1", "l2"], "/b.log": []})
    assert str(e) == "x (pid 1) exited with status 1\nlast lines of /a.log:\n  l1\n  l2\nlast lines of /b.log:\n  (empty)"


# -- undo of OVS steps whose daemon is dead ------------------------------------------------

class NoOvsdb(RunContext):
    """A context in which talking to OVSDB is a test failure."""

    def ovsdb(self, sock):
        raise AssertionError(f"undo talked to {sock}")


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_ovs_undo_with_both_daemons_dead_asks_nothing_and_waits_for_nothing(tmp_path):
    ovs = tmp_path / "ovs"
    ovs.mkdir()
    # what a SIGKILL leaves: pid files naming dead processes, sockets nobody listens on
    (ovs / "ovsdb-server.pid").write_text(f"{dead_pid()}\n")
    (ovs / "ovs-vswitchd.pid").write_text(f"{dead_pid()}\n")
    for name in ("db.sock", "br0.mgmt", "ovs-vswitchd.ctl", "conf.db"):
        (ovs / name).write_text("")
    ctx = NoOvsdb(tmp_path, "r")
    steps = [StartOvsdbServer(str(ovs), state={"pid": dead_pid()}),
             SetOvsOtherConfig(str(ovs), {"dpdk-init": "true"}),
             StartOvsVswitchd(str(ovs), state={"pid": dead_pid()}),
             AddBridge(str(ovs), "br0"), AddPort(str(ovs), "br0", "p0", "dpdk", {}),
             SetInterface(str(ovs), "p0", {"mtu_request": 9000}, state={"before": {"mtu_request": []}}),
             AddFlows(str(ovs), "br0", ("priority=1,actions=drop",))]
    assert not daemons.ovsdb_running(str(ovs)) and not daemons.vswitchd_running(str(ovs))
    t0 = time.monotonic()
    for s in reversed(steps):
        s.undo(ctx)
    assert time.monotonic() - t0 < 1.0
    assert not any((ovs / n).exists() for n in ("db.sock", "conf.db", "ovs-vswitchd.pid", "ovsdb-server.pid"))


def test_ovs_undo_waits_for_vswitchd_only_while_it_runs(tmp_path, monkeypatch):
    """ovsdb-server alive, ovs-vswitchd dead: the port is deleted from the database
    without waiting for a switch that will never catch up."""
    ovs = tmp_path / "ovs"
    ovs.mkdir()
    p = subprocess.Popen(["sleep", "30"])  # stands in for a live ovsdb-server (is_running checks comm)
    try:
        calls = []

        class Db:
            class api:
                @staticmethod
                def del_port(name, bridge, if_exists):
                    return ("del_port", name)

            def execute(self, *cmds, wait_vswitchd=True):
                calls.append((cmds, wait_vswitchd))

        class Ctx(RunContext):
            def ovsdb(self, sock):
                return Db()

        (ovs / "ovsdb-server.pid").write_text(f"{p.pid}\n")
        (ovs / "ovs-vswitchd.pid").write_text(f"{dead_pid()}\n")
        monkeypatch.setattr(daemons, "OVSDB_COMM", "sleep")
        AddPort(str(ovs), "br0", "p0", "dpdk", {}).undo(Ctx(tmp_path, "r"))
        assert calls == [((("del_port", "p0"),), False)]
    finally:
        p.kill()
        p.wait()


def test_stop_collects_a_dead_daemons_zombie():
    p = sleeper()
    os.kill(p.pid, signal.SIGKILL)
    time.sleep(0.2)
    assert Path(f"/proc/{p.pid}").exists()  # a zombie until someone collects it
    assert process.stop(p.pid, "sleep") is False
    assert not Path(f"/proc/{p.pid}").exists()


def test_flows_are_left_to_a_switch_that_lost_its_database(tmp_path, monkeypatch):
    """ovs-vswitchd alive, ovsdb-server dead: the switch serves no OpenFlow (it lost its
    database lock), so ovs-ofctl would hang; undo leaves the flows to the switch's own stop."""
    ovs = tmp_path / "ovs"
    ovs.mkdir()
    p = subprocess.Popen(["sleep", "30"])  # stands in for the live ovs-vswitchd
    try:
        (ovs / "ovs-vswitchd.pid").write_text(f"{p.pid}\n")
        (ovs / "ovsdb-server.pid").write_text(f"{dead_pid()}\n")
        (ovs / "br0.mgmt").write_text("")
        monkeypatch.setattr(daemons, "VSWITCHD_COMM", "sleep")
        monkeypatch.setattr(process, "run", lambda *a, **k: pytest.fail(f"ran {a}"))
        assert daemons.vswitchd_running(str(ovs))
        AddFlows(str(ovs), "br0", ("priority=1,actions=drop",)).undo(NoOvsdb(tmp_path, "r"))
    finally:
        p.kill()
        p.wait()


def test_arming_outside_the_main_thread_does_nothing(watcher):
    import threading

    t = threading.Thread(target=watcher.arm)
    t.start()
    t.join()
    assert not watcher.armed and signal.getsignal(signal.SIGCHLD) in (signal.SIG_DFL, None)
