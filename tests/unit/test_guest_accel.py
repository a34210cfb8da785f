"""The KVM-or-TCG decision: the probe guest, how its outcome is judged, the per-boot cache."""
from __future__ import annotations

import pytest

from pktlab.errors import PrecheckError
from pktlab.guest import accel
from pktlab.guest.accel import EXIT_CODE, KVM_ARGS, MARKER, TCG_ARGS, boot_sector, decide, judge


def test_boot_sector_is_a_bootable_512_byte_sector_that_prints_the_marker():
    s = boot_sector()
    assert len(s) == 512 and s[510:] == b"\x55\xaa"
    assert s[6] == 0xBE and s[7] | s[8] << 8 == 0x7C00 + s.index(MARKER)  # mov si, msg
    assert s[21] == accel.EXIT_VALUE and EXIT_CODE == 99


def test_probe_command_runs_kvm_with_the_host_cpu_and_a_debug_exit_device(tmp_path):
    cmd = accel.probe_command("qemu-system-x86_64", tmp_path / "p.img")
    assert cmd[1:4] == list(KVM_ARGS) and "-nodefaults" in cmd
    assert "isa-debug-exit,iobase=0xf4,iosize=0x01" in cmd
    assert any(a.startswith(f"file={tmp_path / 'p.img'},format=raw") for a in cmd)


def test_judge_accepts_only_a_guest_that_ran_to_the_end():
    assert judge(EXIT_CODE, "PKTLAB-ACCEL-OK\r\n", False) == (True, "KVM boot probe ran to completion")


@pytest.mark.parametrize("rc, out, timed_out, expect", [
    (-6, "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\nqemu: kvm.c:3183: Assertion failed.\n",
     False, "did not run (QEMU exit -6): qemu-system-x86_64: error: failed to set MSR 0x10a"),
    (1, "KVM internal error. Suberror: 1\nemulation failure\n", False, "KVM internal error"),
    (1, "Could not access KVM kernel module: Permission denied\n", False, "Permission denied"),
    (None, "", True, "did not finish within 20 s"),
    (0, "PKTLAB-ACCEL-OK\r\n", False, "printed its marker but QEMU exited 0"),
])
def test_judge_explains_a_failed_probe(rc, out, timed_out, expect):
    ok, reason = judge(rc, out, timed_out)
    assert not ok and expect in reason


def test_tcg_asked_for_needs_no_probe(monkeypatch):
    monkeypatch.setattr(accel, "probe_kvm", lambda *a: pytest.fail("probed"))
    a = decide("tcg")
    assert a.name == "tcg" and a.args == TCG_ARGS and a.emulated


def test_auto_uses_kvm_when_the_probe_runs_and_tcg_otherwise(tmp_path, monkeypatch):
    monkeypatch.setattr(accel, "probe_kvm", lambda *a: (True, "ran"))
    a = decide("auto", cache_dir=tmp_path / "ok")
    assert (a.name, a.args, a.emulated) == ("kvm", KVM_ARGS, False)
    monkeypatch.setattr(accel, "probe_kvm", lambda *a: (False, "failed to set MSR 0x10a"))
    a = decide("auto", cache_dir=tmp_path / "bad")
    assert a.name == "tcg" and a.emulated and "emulated (TCG): failed to set MSR" in a.reason
    assert a.to_dict() == {"name": "tcg", "args": list(TCG_ARGS), "reason": a.reason, "emulated": True}
    with pytest.raises(PrecheckError, match="KVM asked for but it does not work here: failed to set MSR"):
        decide("kvm", cache_dir=tmp_path / "bad")
    with pytest.raises(ValueError, match="auto, kvm or tcg"):
        decide("hvf")


def test_the_answer_is_cached_per_boot(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(accel, "probe_kvm", lambda *a: calls.append(1) or (False, "no"))
    monkeypatch.setattr(accel, "_key", lambda q, k=None: {"boot_id": "boot-1", "qemu": "q"})
    decide(cache_dir=tmp_path)
    decide(cache_dir=tmp_path)
    assert len(calls) == 1
    monkeypatch.setattr(accel, "_key", lambda q, k=None: {"boot_id": "boot-2", "qemu": "q"})
    decide(cache_dir=tmp_path)
    assert len(calls) == 2
    (tmp_path / "accel.json").write_text("{not json")
    decide(cache_dir=tmp_path)
    assert len(calls) == 3


def test_no_dev_kvm_means_tcg_without_starting_qemu(monkeypatch):
    monkeypatch.setattr(accel.os.path, "exists", lambda p: False if p == "/dev/kvm" else True)
    assert accel.probe_kvm() == (False, "no /dev/kvm")


def test_kernel_probe_boots_the_guest_kernel_under_kvm_without_a_root(tmp_path):
    cmd = accel.kernel_probe_command("qemu-system-x86_64", "/k/vmlinux")
    assert cmd[1:4] == list(KVM_ARGS) and cmd[cmd.index("-kernel") + 1] == "/k/vmlinux"
    assert "-initrd" not in cmd and "panic=-1" in cmd[cmd.index("-append") + 1] and "-no-reboot" in cmd


@pytest.mark.parametrize("rc, out, timed_out, ok, expect", [
    # what QEMU 10 printed on the build machine for Debian's 6.1 kernel (lock cmpxchg16b)
    (None, "KVM internal error. Suberror: 1\nextra data[0]: 0x1\nemulation failure\nRIP=ffffffff8132ae50\n",
     False, False, "stopped under KVM: KVM internal error. Suberror: 1"),
    (0, "[ 0.9] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n",
     False, True, "guest kernel ran"),
    (None, "[ 0.1] Linux version 6.1\n", True, False, "did not finish its start-up in time: [ 0.1] Linux"),
])
def test_judge_kernel(rc, out, timed_out, ok, expect):
    got, reason = accel.judge_kernel(rc, out, timed_out)
    assert got is ok and expect in reason


def test_a_kernel_that_fails_under_kvm_means_tcg(tmp_path, monkeypatch):
    monkeypatch.setattr(accel, "probe_kvm", lambda *a: (True, "ran"))
    monkeypatch.setattr(accel, "probe_kernel", lambda q, k, t: (False, f"{k} stopped under KVM"))
    a = decide("auto", cache_dir=tmp_path, kernel="/k/vmlinux")
    assert a.name == "tcg" and "/k/vmlinux stopped under KVM" in a.reason
    assert decide("auto", cache_dir=tmp_path).name == "kvm"  # the boot sector alone still runs: cached apart
