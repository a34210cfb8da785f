"""A throwaway SSH server for the remote tests: its own sshd (generated host key,
one authorized key) listening in a network namespace this module creates, reached
over a veth pair whose 198.18.x addresses exist only in that pair. Nothing leaves
the machine; stop() removes the namespace, the daemon and every file."""
from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"
PRIVSEP = Path("/run/sshd")  # sshd insists on it; created only if missing, removed then


def _sh(*argv, check=True):
    return subprocess.run([str(a) for a in argv], check=check, capture_output=True, text=True)


def keygen(path: Path) -> Path:
    _sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", path)
    return path


class SshLab:
    def __init__(self):
        tag = f"{os.getpid() % 10000:04d}{random.randrange(100):02d}"
        self.ns, self.veth, self.peer = f"pktlab-ssh{tag}", f"pkls{tag}", f"pkln{tag}"
        octet = random.randrange(64, 250)
        self.local, self.address = f"198.18.{octet}.1", f"198.18.{octet}.2"
        self.dir = Path(tempfile.mkdtemp(prefix="pktlab-sshlab-"))
        self.proc: subprocess.Popen | None = None
        self.made_privsep = False

    # ------------------------------------------------------------ set-up
    def start(self) -> "SshLab":
        d = self.dir
        self.host_key = keygen(d / "host_key")
        self.other_host_key = keygen(d / "other_host_key")  # for "the host key changed"
        self.client_key = keygen(d / "client_key")
        self.stranger_key = keygen(d / "stranger_key")  # not in authorized_keys
        (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
        self.log = d / "sshd.log"
        (d / "sshd_config").write_text(
            f"ListenAddress {self.address}\nListenAddress 127.0.0.1\nPort 22\nHostKey {self.host_key}\n"
            f"AuthorizedKeysFile {d / 'authorized_keys'}\nPidFile {d / 'sshd.pid'}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "UsePAM no\nStrictModes no\nLogLevel VERBOSE\nMaxStartups 50\n"
            "Subsystem sftp internal-sftp\n")  # Ansible copies files over SFTP
        pub = (d / "host_key.pub").read_text().split()
        other = (d / "other_host_key.pub").read_text().split()
        self.known_hosts = d / "known_hosts"
        # 127.0.0.1: the same sshd as seen from inside its namespace (the far side of a jump host).
        self.known_hosts.write_text(f"{self.address} {pub[0]} {pub[1]}\n127.0.0.1 {pub[0]} {pub[1]}\n")
        (d / "known_hosts_changed").write_text(f"{self.address} {other[0]} {other[1]}\n")
        (d / "known_hosts_empty").write_text("")
        if not PRIVSEP.exists():
            PRIVSEP.mkdir(mode=0o755)
            self.made_privsep = True
        _sh("ip", "netns", "add", self.ns)
        _sh("ip", "link", "add", self.veth, "type", "veth", "peer", "name", self.peer)
        _sh("ip", "link", "set", self.peer, "netns", self.ns)
        _sh("ip", "addr", "add", f"{self.local}/30", "dev", self.veth)
        _sh("ip", "link", "set", self.veth, "up")
        for argv in (("addr", "add", f"{self.address}/30", "dev", self.peer), ("link", "set", self.peer, "up"),
                     ("link", "set", "lo", "up")):
            _sh("ip", "-n", self.ns, *argv)
        return self.start_sshd()

    def start_sshd(self) -> "SshLab":
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, SSHD, "-D", "-f", str(self.dir / "sshd_config"),
                                      "-E", str(self.log)], stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.address, 22), timeout=0.5).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        log = self.log.read_text() if self.log.exists() else ""
        raise RuntimeError(f"test sshd did not start (exit {self.proc.poll()}): {log}")

    # ------------------------------------------------------------ what tests use
    def inventory(self, fmt: str, name: str = "dut", key: str = "client_key", known_hosts: str = "known_hosts",
                  port: int = 22, pktlab: str | None = None) -> Path:
        """An Ansible inventory (fmt "yml" or "ini") with host `name` pointing at this sshd."""
        pktlab = pktlab or str(Path(sys.executable).parent / "pktlab")
        common = f"-F /dev/null -o UserKnownHostsFile={self.dir / known_hosts} -o GlobalKnownHostsFile=/dev/null"
        hv = {"ansible_host": self.address, "ansible_port": port, "ansible_user": "root",
              "ansible_ssh_private_key_file": str(self.dir / key), "ansible_ssh_common_args": common,
              "pktlab_command": pktlab}
        path = self.dir / f"inventory-{name}-{key}-{known_hosts}-{port}.{fmt}"
        if fmt == "ini":
            path.write_text("[duts]\n" + name + " " + " ".join(
                f"{k}='{v}'" if " " in str(v) else f"{k}={v}" for k, v in hv.items()) + "\n")
        else:
            path.write_text("all:\n  children:\n    duts:\n      hosts:\n        " + name + ":\n" + "".join(
                f"          {k}: \"{v}\"\n" if isinstance(v, str) else f"          {k}: {v}\n"
                for k, v in hv.items()))
        return path

    def jump_inventory(self, name: str = "dut") -> Path:
        """An INI inventory reaching `name` at 127.0.0.1 *inside the namespace*, an address only
        the jump host (this same sshd, at its veth address) can reach. The known hosts and key
        come from an ssh config file, which OpenSSH hands to the jump hop too."""
        cfg = self.dir / "ssh_config"
        cfg.write_text(f"Host *\n  UserKnownHostsFile {self.known_hosts}\n  GlobalKnownHostsFile /dev/null\n"
                       f"  IdentityFile {self.dir / 'client_key'}\n  IdentitiesOnly yes\n")
        path = self.dir / "inventory-jump.ini"
        path.write_text(f"{name} ansible_host=127.0.0.1 ansible_user=root "
                        f"ansible_ssh_common_args='-F {cfg} -o ProxyJump=root@{self.address}'\n")
        return path

    def accepted(self) -> int:
        """How many times sshd accepted an authentication so far."""
        return self.log.read_text().count("Accepted publickey") if self.log.exists() else 0

    def kill_sessions(self):
        """Every SSH session dies (a dropped connection); sshd itself keeps listening."""
        for pid in _sh("ip", "netns", "pids", self.ns, check=False).stdout.split():
            if self.proc is None or int(pid) != self.proc.pid:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(_sh("ip", "netns", "pids", self.ns).stdout.split()) > 1:
            time.sleep(0.1)

    def kill_sshd(self):
        """The DUT stops answering: sshd and every session it serves die (the namespace and
        what steps made in it stay), as when a host's network or sshd goes away mid-run."""
        for pid in _sh("ip", "netns", "pids", self.ns, check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc is not None:
            self.proc.wait(timeout=10)

    # ------------------------------------------------------------ tear-down
    def stop(self):
        try:
            pids = _sh("ip", "netns", "pids", self.ns, check=False).stdout.split()
            for pid in pids:  # sshd and its session children: all ours, all in our namespace
                try:
                    os.kill(int(pid), signal.SIGTERM)
                except ProcessLookupError:
                    pass
            if self.proc is not None:
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        finally:
            _sh("ip", "link", "del", self.veth, check=False)
            _sh("ip", "netns", "del", self.ns, check=False)
            if self.made_privsep:
                shutil.rmtree(PRIVSEP, ignore_errors=True)
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def lab():
    """A running SshLab for a test module (import this fixture into it); stopped after."""
    from tests.conftest import needs_root

    needs_root()
    lab = SshLab()
    try:
        yield lab.start()
    finally:
        lab.stop()
