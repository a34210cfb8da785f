"""The guest step without QEMU: its command line, its checks, its journal form, QMP, pinning."""
from __future__ import annotations

import json
import os
import socket
import threading

import pytest

from pktlab.context import RunContext
from pktlab.errors import PrecheckError
from pktlab.guest import qemu as qemu_mod
from pktlab.guest.accel import KVM_ARGS, TCG_ARGS
from pktlab.guest.qemu import QmpClient, QmpError, StartGuest, qemu_command
from pktlab.plan import Step


def guest(tmp_path, **kw) -> StartGuest:
    params = dict(name="vm0", kernel="/c/vmlinux", initrd="/c/testpmd/initrd.img", run_dir=str(tmp_path / "vm0"),
                  nics=[("/run/x/vhu0.sock", "52:54:00:00:00:01", "server"),
                        ("/run/x/vhu1.sock", "52:54:00:00:00:02", "client")],
                  mem_mb=1024, hugepage_dir="/run/x/huge", vcpus=2, vcpu_pins=(1, 1), emulator_cores=(0,))
    params.update(kw)
    return StartGuest(**params)


def option_values(cmd, opt) -> list[str]:
    return [cmd[i + 1] for i, a in enumerate(cmd) if a == opt]


def test_command_line_shares_hugepage_memory_with_the_switch(tmp_path):
    cmd = qemu_command(guest(tmp_path), TCG_ARGS)
    assert option_values(cmd, "-object") == [
        "memory-backend-file,id=mem0,size=1024M,mem-path=/run/x/huge,share=on,prealloc=on"]
    assert option_values(cmd, "-numa") == ["node,memdev=mem0"]
    assert "-mem-prealloc" in cmd and option_values(cmd, "-m") == ["1024M"] and option_values(cmd, "-smp") == ["2"]
    memfd = qemu_command(guest(tmp_path, hugepage_dir=""), TCG_ARGS)
    assert option_values(memfd, "-object") == ["memory-backend-memfd,id=mem0,size=1024M,share=on"]
    assert "-mem-prealloc" not in memfd


def test_command_line_vhost_user_nics_match_chardev_netdev_and_device(tmp_path):
    cmd = qemu_command(guest(tmp_path), TCG_ARGS)
    chardevs = [c for c in option_values(cmd, "-chardev") if c.startswith("socket,id=vhu")]
    assert chardevs == ["socket,id=vhu0,path=/run/x/vhu0.sock,server=on",
                        "socket,id=vhu1,path=/run/x/vhu1.sock,server=off"]
    assert option_values(cmd, "-netdev") == ["vhost-user,id=net0,chardev=vhu0,vhostforce=on",
                                             "vhost-user,id=net1,chardev=vhu1,vhostforce=on"]
    devices = option_values(cmd, "-device")
    assert len(devices) == 2
    for i, d in enumerate(devices):
        assert d.startswith(f"virtio-net-pci,netdev=net{i},mac=52:54:00:00:00:0{i + 1},addr={0x10 + i:#x},")
        # 256-entry rings drop; vectors=0 was for QEMU 7.2 (vhost_net_start segfault), gone with QEMU 10
        assert "rx_queue_size=1024" in d.split(",") and "tx_queue_size=1024" in d.split(",")
        assert not any(o.startswith("vectors=") for o in d.split(","))


def test_command_line_console_qmp_and_the_rest(tmp_path):
    g = guest(tmp_path, append="pktlab.debug=1")
    cmd = qemu_command(g, KVM_ARGS)
    run = tmp_path / "vm0"
    assert cmd[0] == "qemu-system-x86_64" and cmd[1:3] == ["-name", "vm0,debug-threads=on"]
    assert cmd[3:6] == list(KVM_ARGS)
    assert "-S" in cmd and "-nodefaults" in cmd and "-no-reboot" in cmd
    assert option_values(cmd, "-display") == ["none"]
    assert (f"socket,id=console,path={run}/console.sock,server=on,wait=off,logfile={run}/console.log,logappend=off"
            in option_values(cmd, "-chardev"))
    assert option_values(cmd, "-serial") == ["chardev:console"]
    assert f"socket,id=qmp,path={run}/qmp.sock,server=on,wait=off" in option_values(cmd, "-chardev")
    assert option_values(cmd, "-mon") == ["chardev=qmp,mode=control"]
    assert option_values(cmd, "-kernel") == ["/c/vmlinux"] and option_values(cmd, "-initrd") == ["/c/testpmd/initrd.img"]
    assert option_values(cmd, "-append")[0].startswith("console=ttyS0,115200 ")
    assert option_values(cmd, "-append")[0].endswith(" pktlab.debug=1")


def test_udp_nics_for_tests_without_a_switch(tmp_path):
    g = guest(tmp_path, nics=[("41000:41001", "52:54:00:00:00:01", "udp")], hugepage_dir="")
    cmd = qemu_command(g, TCG_ARGS)
    assert option_values(cmd, "-netdev") == ["socket,id=net0,udp=127.0.0.1:41001,localaddr=127.0.0.1:41000"]
    assert not [c for c in option_values(cmd, "-chardev") if "vhu" in c]


@pytest.mark.parametrize("kw, message", [
    (dict(nics=[("/s", "52:54:00:00:00:01", "listen")]), "mode must be one of server, client, udp"),
    (dict(nics=[("/" + "x" * 120, "52:54:00:00:00:01", "server")]), "longer than 107 bytes"),
    (dict(nics=[("41000", "52:54:00:00:00:01", "udp")]), "LOCAL_PORT:REMOTE_PORT"),
    (dict(nics=[("/s", "52:54:00", "server")]), "bad MAC"),
    (dict(vcpu_pins=(1,)), "1 vcpu_pins for 2 vCPUs"),
    (dict(vcpus=0, vcpu_pins=()), "vcpus must be >= 1"),
    (dict(mem_mb=1023), "multiple of the 2 MiB"),
])
def test_bad_parameters_are_named(tmp_path, kw, message):
    with pytest.raises(ValueError, match=message):
        guest(tmp_path, **kw).validate()


def test_run_dir_too_long_for_sockets(tmp_path):
    with pytest.raises(ValueError, match="run_dir too long"):
        guest(tmp_path, run_dir="/run/" + "d" * 100).validate()


def test_precheck_names_missing_files_cores_and_hugepages(tmp_path, monkeypatch):
    with pytest.raises(PrecheckError, match="guest image file missing"):
        guest(tmp_path).precheck()
    (tmp_path / "k").write_bytes(b"k")
    (tmp_path / "i").write_bytes(b"i")
    ok = dict(kernel=str(tmp_path / "k"), initrd=str(tmp_path / "i"))
    with pytest.raises(PrecheckError, match="core 999 is not usable"):
        guest(tmp_path, **ok, vcpu_pins=(999, 0)).precheck()
    monkeypatch.setattr(qemu_mod, "_hugepage_kb", lambda d: 2048)
    monkeypatch.setattr(qemu_mod, "free_hugepages", lambda d: 100)
    with pytest.raises(PrecheckError, match="needs 512 free hugepages in /run/x/huge, 100 free"):
        guest(tmp_path, **ok, vcpu_pins=(), emulator_cores=()).precheck()


def test_step_round_trips_through_the_journal(tmp_path):
    g = guest(tmp_path, state={"pid": 1234, "vcpu_threads": {"0": 1240}})
    again = Step.from_dict(json.loads(json.dumps(g.to_dict())))
    assert again == g and again.state == g.state
    assert again.nics[0] == ("/run/x/vhu0.sock", "52:54:00:00:00:01", "server")


def test_describe_says_what_and_where(tmp_path):
    g = guest(tmp_path)
    assert g.describe() == (
        "start guest vm0 (testpmd image): 2 vCPU pinned to cores 1,1, emulator threads on 0, 1024 MiB on "
        "hugepages in /run/x/huge, vhost-user /run/x/vhu0.sock (server) 52:54:00:00:00:01, "
        "vhost-user /run/x/vhu1.sock (client) 52:54:00:00:00:02; wait for its ready marker")
    assert g.describe_undo() == f"stop guest vm0 (QMP quit, then SIGTERM/SIGKILL) and remove {tmp_path / 'vm0'}"


def test_undo_before_apply_and_twice_is_harmless(tmp_path):
    g = guest(tmp_path)
    ctx = RunContext(tmp_path / "state", "r")
    g.undo(ctx)
    g.state["pid"] = 2 ** 22 + 7  # no such process
    g.undo(ctx)
    g.undo(ctx)
    assert not (tmp_path / "vm0").exists()


def test_pinning_puts_vcpus_on_their_cores_and_the_rest_on_the_emulator_cores(tmp_path, monkeypatch):
    pinned = {}
    monkeypatch.setattr(qemu_mod, "_threads", lambda pid: [100, 101, 102, 103])
    monkeypatch.setattr(qemu_mod, "_set_affinity", lambda tid, cores, what: pinned.__setitem__(tid, tuple(cores)))
    g = guest(tmp_path, vcpus=2, vcpu_pins=(1, 0), emulator_cores=(0,))
    g._pin(100, [{"cpu-index": 0, "thread-id": 102}, {"cpu-index": 1, "thread-id": 103}])
    assert pinned == {100: (0,), 101: (0,), 102: (1,), 103: (0,)}


class FakeQmp(threading.Thread):
    """A QMP server speaking just enough, as QEMU does: greeting, capabilities, an event,
    one error; replies carry the command's id."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(str(path))
        self.srv.listen(1)
        self.seen = []

    def messages(self, conn):
        """JSON objects as they come: QEMU parses a stream, clients need not end lines."""
        buf, dec = "", json.JSONDecoder()
        while chunk := conn.recv(4096):
            buf += chunk.decode()
            while buf.strip():
                try:
                    msg, end = dec.raw_decode(buf.lstrip())
                except ValueError:
                    break
                buf = buf.lstrip()[end:]
                yield msg

    def run(self):
        conn, _ = self.srv.accept()

        def send(obj):
            conn.sendall(json.dumps(obj).encode() + b"\r\n")

        send({"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": ""},
                      "capabilities": []}})
        for msg in self.messages(conn):
            cmd, ids = msg["execute"], ({"id": msg["id"]} if "id" in msg else {})
            self.seen.append(cmd)
            if cmd == "query-cpus-fast":
                send({"event": "RESUME", "data": {}, "timestamp": {"seconds": 0, "microseconds": 0}})
                send({"return": [{"cpu-index": 0, "thread-id": 4242}], **ids})
            elif cmd == "nope":
                send({"error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}, **ids})
            else:
                send({"return": {}, **ids})
        conn.close()


def test_qmp_client_negotiates_skips_events_and_reports_errors(tmp_path):
    srv = FakeQmp(tmp_path / "qmp.sock")
    srv.start()
    q = QmpClient(tmp_path / "qmp.sock")
    try:
        greeting = q.connect(timeout=5)
        assert greeting["QMP"]["version"]["qemu"]["major"] == 7
        assert q.execute("query-cpus-fast") == [{"cpu-index": 0, "thread-id": 4242}]
        with pytest.raises(QmpError, match="The command nope has not been found"):
            q.execute("nope")
        assert q.execute("cont") == {}
    finally:
        q.close()
    srv.join(5)
    assert srv.seen == ["qmp_capabilities", "query-cpus-fast", "nope", "cont"]


def test_qmp_client_gives_up_when_nobody_listens(tmp_path):
    with pytest.raises(QmpError, match="nobody listening"):
        QmpClient(tmp_path / "none.sock").connect(timeout=0.2)
    with pytest.raises(QmpError, match="nobody listening"):
        QmpClient(tmp_path / "none.sock").connect(timeout=30, alive=lambda: False)


def test_hugepage_arithmetic(monkeypatch):
    monkeypatch.setattr(qemu_mod, "_hugepage_kb", lambda d: 2048)
    assert qemu_mod.hugepages_needed(1024, "/x") == 512
    monkeypatch.setattr(qemu_mod, "_hugepage_kb", lambda d: 1048576)
    assert qemu_mod.hugepages_needed(1536, "/x") == 2
    assert os.sched_getaffinity(0)  # the precheck reads this


def test_a_qemu_waiting_for_its_vhost_user_peer_is_named(tmp_path):
    g = guest(tmp_path)
    (tmp_path / "vm0").mkdir()
    g.qemu_log.write_text("qemu-system-x86_64: -chardev socket,id=vhu0,path=/run/x/vhu0.sock,server=on: info: "
                          "QEMU waiting for connection on: disconnected:unix:/run/x/vhu0.sock,server=on\n")
    assert g._waiting_for() == ("still waiting for the switch to connect to vhost-user socket /run/x/vhu0.sock "
                                "(is its dpdkvhostuserclient port configured?)")
    assert "qemu:\n    qemu-system-x86_64: -chardev" in g._failure("QEMU did not come up")
