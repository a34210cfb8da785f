"""The virtual lab server's init after stage 1: the host's own Python as PID 1.

PID 1 sets the machine up (modules for its PCI devices as udev's coldplug
would, the management NIC with the default route), prints READY on the console
and forks the agent, then only reaps orphans; when the agent ends it powers off.
The agent serves requests from the host through the `vlabio` share:

    req/<id>.json   {"argv": [...], "cwd": "..."}       run it; output in out/<id>.log
                    {"kill": "<id>", "signal": 9}       signal a running request's process
                    {"poweroff": true}                  sync and power off
    done/<id>.json  {"rc": N}                           written when the request ended
"""
from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..guest.initramfs import FAILED, READY
from ..provenance import VLAB_ENV, VLAB_FILE
from .init import IO_MOUNT

IO = Path(IO_MOUNT)
POLL = 0.2  # [s]
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def console(msg: str) -> None:
    with open("/dev/console", "w") as c:
        c.write(msg + "\n")


def params() -> dict[str, str]:
    out = {}
    for w in Path("/proc/cmdline").read_text().split():
        if "=" in w:
            k, v = w.split("=", 1)
            out[k] = v
    return out


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run(argv, capture_output=True, text=True)
    if check and p.returncode:
        raise RuntimeError(f"{' '.join(argv)}: exit {p.returncode}: {(p.stderr or p.stdout).strip()}")
    return p


def coldplug() -> None:
    """Load the driver of every PCI device, then of every virtio device (the management
    NIC's virtio_net binds on the virtio bus virtio_pci makes), as udev would at boot."""
    for bus in ("pci", "virtio"):
        for dev in sorted(Path(f"/sys/bus/{bus}/devices").iterdir()):
            alias = (dev / "modalias").read_text().strip()
            sh("modprobe", "-q", "-b", alias, check=False)
    # What systemd-tmpfiles' static nodes (kmod static-nodes) make loadable on first open on a
    # real server: OVS's userspace datapath opens /dev/net/tun for the bridge's internal port
    # ("opening /dev/net/tun failed: No such file or directory" without it).
    sh("modprobe", "tun", check=False)


def network(p: dict[str, str]) -> str:
    """The management NIC (by MAC) up with its address and the default route; returns its name."""
    mac = p["vlab.mgmt_mac"].lower()
    deadline = time.monotonic() + 20
    while True:
        for n in Path("/sys/class/net").iterdir():
            if (n / "address").read_text().strip().lower() == mac:
                sh("ip", "link", "set", "lo", "up")
                sh("ip", "link", "set", n.name, "up")
                sh("ip", "addr", "add", p["vlab.mgmt_ip"], "dev", n.name)
                sh("ip", "route", "add", "default", "via", p["vlab.mgmt_gw"], "dev", n.name)
                return n.name
        if time.monotonic() > deadline:
            raise RuntimeError(f"no NIC with the management MAC {mac}")
        time.sleep(0.2)


def setup() -> str:
    p = params()
    os.environ["PATH"] = f"{Path(sys.executable).parent}:{PATH}"
    os.environ["HOME"] = "/root"
    os.environ["PYTHONUNBUFFERED"] = "1"  # output of pktlab inside reaches the host as it comes
    accel = p.get("vlab.accel", "tcg")
    os.environ[VLAB_ENV] = json.dumps({"vlab": True, "kernel": os.uname().release,
                                       "accel": {"name": accel, "emulated": accel == "tcg"}})
    VLAB_FILE.write_text(os.environ[VLAB_ENV])  # for processes not started by the agent (sshd's)
    for d in ("req", "out", "done"):
        (IO / d).mkdir(exist_ok=True)
    Path("/proc/sys/kernel/hostname").write_text("vlab\n")
    coldplug()
    mgmt = network(p)
    return mgmt


class Agent:
    def __init__(self):
        self.procs: dict[str, subprocess.Popen] = {}
        self.seen: set[str] = set()

    def serve(self) -> None:
        while True:
            for req in sorted((IO / "req").glob("*.json")):
                rid = req.stem
                if rid in self.seen:
                    continue
                self.seen.add(rid)
                try:
                    doc = json.loads(req.read_text())
                except (OSError, ValueError) as e:
                    self.finish(rid, 2, f"unreadable request: {e}")
                    continue
                if doc.get("poweroff"):
                    self.finish(rid, 0)
                    return
                if "kill" in doc:
                    proc = self.procs.get(doc["kill"])
                    if proc is not None and proc.poll() is None:
                        proc.send_signal(int(doc.get("signal", 15)))
                    self.finish(rid, 0 if proc is not None else 1)
                    continue
                threading.Thread(target=self.run, args=(rid, doc), daemon=True).start()
            time.sleep(POLL)

    def run(self, rid: str, doc: dict) -> None:
        log = IO / "out" / f"{rid}.log"
        # The host's root is mounted cache=loose (fast imports): a file edited on the host after
        # boot (a scenario, pktlab itself) read stale inside until its pages and dentries go.
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        with open(log, "wb", buffering=0) as out:
            try:
                proc = subprocess.Popen(doc["argv"], cwd=doc.get("cwd") or "/", stdin=subprocess.DEVNULL,
                                        stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **doc.get("env", {})})
            except OSError as e:
                out.write(f"vlab: cannot start {doc['argv']}: {e}\n".encode())
                self.finish(rid, 127)
                return
            self.procs[rid] = proc
            rc = proc.wait()
        os.sync()
        self.finish(rid, rc)

    @staticmethod
    def finish(rid: str, rc: int, error: str = "") -> None:
        tmp = IO / "done" / f"{rid}.tmp"
        tmp.write_text(json.dumps({"rc": rc, "error": error}))
        os.replace(tmp, IO / "done" / f"{rid}.json")


def poweroff() -> None:
    os.sync()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.reboot(0x4321FEDC)  # LINUX_REBOOT_CMD_POWER_OFF


def main() -> None:
    try:
        mgmt = setup()
    except Exception as e:  # noqa: BLE001 - anything here means the machine is not usable
        console(f"{FAILED}: vlab agent setup: {e}")
        time.sleep(1)
        poweroff()
        return
    pid = os.fork()
    if pid == 0:
        os.setsid()
        try:
            Agent().serve()
        finally:
            os._exit(0)
    console(f"{READY} vlab: {os.uname().release}, management NIC {mgmt}")
    while True:  # PID 1: reap every orphan; the agent's end is the machine's
        try:
            done, _ = os.wait()
        except ChildProcessError:
            done = pid
        if done == pid:
            poweroff()


if __name__ == "__main__":
    main()
