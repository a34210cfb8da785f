"""KVM where it really works, TCG otherwise: decided by booting a trivial guest.

/dev/kvm existing proves nothing (a nested hypervisor may expose it and still
fail on the first MSR or emulated instruction), so the precheck boots a
512-byte boot sector under `-enable-kvm -cpu host` that prints a marker on the
serial port and exits QEMU through isa-debug-exit. Only a guest that ran to the
end counts. That is not enough on every host (QEMU 10 on the build machines runs
it, then stops the Debian kernel with "KVM internal error ... emulation failure"
on a `lock cmpxchg16b`), so when the caller names the kernel it will boot, that
kernel is booted under KVM too, without a root filesystem: it must get as far as
looking for one. The answer is cached per boot (keyed by /proc boot_id and the QEMU
binary) in a tmpfs directory; the decision carries its reason so results can
record that the guest was emulated.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import PrecheckError

# tmpfs: gone at reboot, like the answer. Not in a run's state dir (that must end empty).
DEFAULT_CACHE = Path(os.environ.get("PKTLAB_ACCEL_CACHE", "/run/pktlab-guest"))
QEMU = "qemu-system-x86_64"
KVM_ARGS = ("-enable-kvm", "-cpu", "host")
TCG_ARGS = ("-accel", "tcg,thread=multi", "-cpu", "max")
MARKER = b"PKTLAB-ACCEL-OK"
EXIT_VALUE = 0x31  # written to isa-debug-exit: QEMU exits with (0x31 << 1) | 1
EXIT_CODE = (EXIT_VALUE << 1) | 1
PROBE_TIMEOUT = 20.0  # [s] TCG runs the probe in well under a second
# A kernel that ran its whole start-up under KVM ends here (no initrd, no root device).
KERNEL_REACHED = ("VFS: Unable to mount root fs", "No working init found", "Kernel panic - not syncing")
KVM_FAILURES = ("KVM internal error", "emulation failure", "failed to set MSR")


@dataclass(frozen=True)
class Accel:
    name: str  # "kvm" or "tcg"
    args: tuple[str, ...]  # QEMU arguments selecting it
    reason: str  # why: the probe's verdict, or that it was asked for

    @property
    def emulated(self) -> bool:
        return self.name == "tcg"

    def to_dict(self) -> dict:
        return dict(asdict(self), args=list(self.args), emulated=self.emulated)


def boot_sector() -> bytes:
    """Real-mode code at 0x7c00: print MARKER on COM1, write EXIT_VALUE to port 0xf4, halt."""
    msg = MARKER + b"\r\n\0"
    code = bytes([
        0xFA,                    # cli
        0x31, 0xC0,              # xor ax, ax
        0x8E, 0xD8,              # mov ds, ax
        0xFC,                    # cld
        0xBE, 0x1D, 0x7C,        # mov si, 0x7c00 + 29 (msg)
        0xBA, 0xF8, 0x03,        # mov dx, 0x3f8
        0xAC,                    # loop: lodsb
        0x84, 0xC0,              # test al, al
        0x74, 0x03,              # jz done
        0xEE,                    # out dx, al
        0xEB, 0xF8,              # jmp loop
        0xB0, EXIT_VALUE,        # done: mov al, EXIT_VALUE
        0xBA, 0xF4, 0x00,        # mov dx, 0xf4
        0xEE,                    # out dx, al
        0xF4,                    # hlt
        0xEB, 0xFD,              # jmp hlt
    ])
    assert len(code) == 29
    sector = code + msg
    return sector + b"\0" * (510 - len(sector)) + b"\x55\xaa"


def probe_command(qemu: str, disk: Path, accel_args=KVM_ARGS) -> list[str]:
    return [qemu, *accel_args, "-nodefaults", "-no-user-config", "-display", "none", "-m", "16",
            "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x01",
            "-drive", f"file={disk},format=raw,if=ide", "-no-reboot"]


def judge(returncode: int | None, output: str, timed_out: bool, timeout: float = PROBE_TIMEOUT) -> tuple[bool, str]:
    """Did the probe guest run? (ok, reason). returncode None = did not exit."""
    lines = [line.strip() for line in output.splitlines() if line.strip() and MARKER.decode() not in line]
    detail = "; ".join(lines[:3])[:300]
    if timed_out:
        return False, f"KVM guest did not finish within {timeout:.0f} s" + (f": {detail}" if detail else "")
    if MARKER.decode() in output and returncode == EXIT_CODE:
        return True, "KVM boot probe ran to completion"
    if MARKER.decode() in output:
        return False, f"KVM guest printed its marker but QEMU exited {returncode}" + (f": {detail}" if detail else "")
    return False, f"KVM guest did not run (QEMU exit {returncode})" + (f": {detail}" if detail else "")


def probe_kvm(qemu: str = QEMU, timeout: float = PROBE_TIMEOUT) -> tuple[bool, str]:
    if not os.path.exists("/dev/kvm"):
        return False, "no /dev/kvm"
    if shutil.which(qemu) is None:
        raise PrecheckError(qemu, "", "not found: apt-get install qemu-system-x86")
    with tempfile.TemporaryDirectory(prefix="pktlab-accel-") as tmp:
        disk = Path(tmp) / "probe.img"
        disk.write_bytes(boot_sector())
        try:
            p = subprocess.run(probe_command(qemu, disk), capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"") + (e.stderr or b"")
            return judge(None, out.decode(errors="replace"), True, timeout)
        return judge(p.returncode, (p.stdout + p.stderr).decode(errors="replace"), False, timeout)


def kernel_probe_command(qemu: str, kernel: str) -> list[str]:
    return [qemu, *KVM_ARGS, "-nodefaults", "-no-user-config", "-display", "none", "-m", "256",
            "-serial", "stdio", "-kernel", kernel, "-append", "console=ttyS0 panic=-1 root=/dev/pktlab-none",
            "-no-reboot"]


def judge_kernel(returncode: int | None, output: str, timed_out: bool) -> tuple[bool, str]:
    """Did the kernel run its start-up under KVM? (ok, reason)"""
    failure = next((ln.strip() for ln in output.splitlines() if any(f in ln for f in KVM_FAILURES)), None)
    if failure:
        return False, f"the guest kernel stopped under KVM: {failure}"
    if any(m in output for m in KERNEL_REACHED):
        return True, "KVM boot probe and the guest kernel ran"
    last = [ln.strip() for ln in output.splitlines() if ln.strip()][-2:]
    why = "did not finish its start-up in time" if timed_out else f"QEMU exited {returncode}"
    return False, f"the guest kernel under KVM {why}" + (f": {'; '.join(last)[:300]}" if last else "")


def probe_kernel(qemu: str, kernel: str, timeout: float = PROBE_TIMEOUT) -> tuple[bool, str]:
    """Boot `kernel` under KVM; stop as soon as the output decides (a failed vCPU leaves QEMU paused)."""
    import select

    p = subprocess.Popen(kernel_probe_command(qemu, kernel), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    out, deadline = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([p.stdout], [], [], 0.2)
            if ready:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
                text = out.decode(errors="replace")
                if any(f in text for f in (*KVM_FAILURES, *KERNEL_REACHED)):
                    time.sleep(0.2)  # the rest of the failure line
                    break
            elif p.poll() is not None:
                break
        timed_out = time.monotonic() >= deadline
    finally:
        p.kill()
        rc = p.wait()
        p.stdout.close()
    return judge_kernel(None if timed_out else rc, out.decode(errors="replace"), timed_out)


def _key(qemu: str, kernel: str | None = None) -> dict:
    path = shutil.which(qemu) or qemu
    try:
        st = os.stat(path)
        ident = f"{os.path.realpath(path)}:{st.st_size}:{int(st.st_mtime)}"
    except OSError:
        ident = path
    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot_id = ""
    key = {"boot_id": boot_id, "qemu": ident}
    if kernel:
        try:
            st = os.stat(kernel)
            key["kernel"] = f"{os.path.realpath(kernel)}:{st.st_size}:{int(st.st_mtime)}"
        except OSError:
            key["kernel"] = kernel
    return key


def decide(want: str = "auto", qemu: str = QEMU, cache_dir: Path | str = DEFAULT_CACHE,
           timeout: float = PROBE_TIMEOUT, kernel: str | None = None) -> Accel:
    """want: "auto" (KVM if the probe runs, else TCG), "kvm" (the probe must run) or "tcg".
    kernel: the kernel the guest will boot, probed under KVM too."""
    if want == "tcg":
        return Accel("tcg", TCG_ARGS, "TCG asked for")
    if want not in ("auto", "kvm"):
        raise ValueError(f"accel must be auto, kvm or tcg, not {want!r}")
    ok, reason = cached_probe(qemu, cache_dir, timeout, kernel)
    if ok:
        return Accel("kvm", KVM_ARGS, reason)
    if want == "kvm":
        raise PrecheckError("guest", "accel", f"KVM asked for but it does not work here: {reason}")
    return Accel("tcg", TCG_ARGS, f"emulated (TCG): {reason}")


def cached_probe(qemu: str = QEMU, cache_dir: Path | str = DEFAULT_CACHE,
                 timeout: float = PROBE_TIMEOUT, kernel: str | None = None) -> tuple[bool, str]:
    """probe_kvm() (then probe_kernel() if it ran), remembered until the next boot (or another
    QEMU binary or kernel)."""
    cache = Path(cache_dir) / ("accel.json" if kernel is None else "accel-kernel.json")
    key = _key(qemu, kernel)
    try:
        doc = json.loads(cache.read_text())
        if doc.get("key") == key:
            return bool(doc["kvm"]), doc["reason"]
    except (OSError, ValueError, KeyError):
        pass
    ok, reason = probe_kvm(qemu, timeout)
    if ok and kernel is not None:
        ok, reason = probe_kernel(qemu, kernel, timeout)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.name + f".{os.getpid()}")
        tmp.write_text(json.dumps({"key": key, "kvm": ok, "reason": reason}) + "\n")
        os.replace(tmp, cache)
    except OSError:
        pass  # a cache we cannot write only costs a probe next time
    return ok, reason
