"""One checked OpenSSH connection per host, reused for every command.

The `ssh` client itself, so the user's ssh config, agent and jump hosts work.
connect() opens one ControlMaster per host (its socket in a private directory)
and every later command rides on it; close() ends it. Host keys are checked as
the user's known_hosts says (never turned off here) and BatchMode keeps ssh from
prompting. Commands are argument lists, quoted with shlex.join for the remote
shell. Failures become HostError subclasses that name the host, raised before
anything on it changes: unreachable, authentication refused, host key changed or
unknown, no root, DPDK or OVS missing.
"""
from __future__ import annotations

import logging
import os
import selectors
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ..errors import HostError
from .inventory import Host

log = logging.getLogger(__name__)

# What pktlab itself runs on a DUT (pktlab/ovs/daemons.py), by package.
OVS_PATHS = ("/usr/bin/ovsdb-tool", "/usr/sbin/ovsdb-server", "/usr/bin/ovs-vsctl", "/usr/bin/ovs-ofctl",
             "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk")
HINTS = {"dpdk": "install DPDK there (Debian: dpdk, libdpdk-dev)",
         "ovs": "install Open vSwitch with DPDK there (Debian: openvswitch-switch-dpdk)"}


class RemoteError(HostError):
    """Something about one host: names it and says what."""

    def __init__(self, host: Host, reason: str):
        self.host, self.reason = host, reason
        super().__init__(f"host {host}: {reason}")


class Unreachable(RemoteError):
    """Nothing answers: connection refused, no route, time-out, unknown name."""


class AuthRefused(RemoteError):
    """The host answered but refused every key offered."""


class HostKeyMismatch(RemoteError):
    """The host's key is not the one known_hosts records (changed), or none is recorded (unknown)."""


class NoRoot(RemoteError):
    """The user is not root there and has no passwordless sudo."""


class MissingSoftware(RemoteError):
    """DPDK, OVS or pktlab is not installed on the host."""


_UNREACHABLE = ("connection refused", "no route to host", "timed out", "network is unreachable",
                "could not resolve hostname", "connection closed by", "connection reset",
                "name or service not known")


def classify(host: Host, stderr: str) -> RemoteError:
    """The error an ssh exit status 255 means, from what ssh said."""
    text = stderr.lower()
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.startswith("@")]
    said = lines[-1].removeprefix("ssh: ") if lines else "no message"
    if "remote host identification has changed" in text:
        return HostKeyMismatch(host, "its host key CHANGED since known_hosts recorded it (a reinstalled "
                                     "server or a man in the middle): check it, then fix known_hosts "
                                     f"(ssh-keygen -R); ssh: {said}")
    if "host key verification failed" in text or "no matching host key" in text:
        return HostKeyMismatch(host, "its host key is unknown (not in known_hosts) and pktlab does not accept "
                                     "unknown keys: connect once with ssh and check the fingerprint, or add "
                                     f"it with ssh-keyscan; ssh: {said}")
    if "permission denied" in text or "too many authentication failures" in text:
        return AuthRefused(host, "authentication refused (no key it accepts: check ansible_user, "
                                 f"ansible_ssh_private_key_file, the agent); ssh: {said}")
    if any(s in text for s in _UNREACHABLE):
        return Unreachable(host, f"unreachable; ssh: {said}")
    return RemoteError(host, f"ssh failed: {said}")


class Connection:
    """A host reached over one OpenSSH control master. Use as a context manager, or
    connect() ... close()."""

    def __init__(self, host: Host, persist: int = 60, connect_timeout: int = 10):
        self.host = host
        self.persist, self.connect_timeout = persist, connect_timeout
        self.sudo: list[str] = []  # ["sudo", "-n"] when the user is not root but may sudo
        self._dir: Path | None = None

    # ------------------------------------------------------------ ssh command lines

    @property
    def control_path(self) -> Path | None:
        return None if self._dir is None else self._dir / "master"

    def _ssh(self, *opts: str, command: str | None = None) -> list[str]:
        h = self.host
        argv = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={self.connect_timeout}",
                "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
                "-o", f"ControlPath={self.control_path}", "-p", str(h.port)]
        if h.user:
            argv += ["-l", h.user]
        if h.identity_file:
            argv += ["-i", h.identity_file, "-o", "IdentitiesOnly=yes"]
        return argv + list(h.ssh_args) + list(opts) + ["--", h.address] + ([command] if command else [])

    # ------------------------------------------------------------ life cycle

    def connect(self, root: bool = True) -> "Connection":
        """Open the control master; then, if `root`, check root (or passwordless sudo)."""
        if self._dir is not None:
            return self
        self._dir = Path(tempfile.mkdtemp(prefix="pktlab-ssh-"))  # 0700: the socket is private
        err = self._dir / "master.err"
        argv = self._ssh("-o", "ControlMaster=yes", "-o", f"ControlPersist={self.persist}", "-N", "-f")
        log.info("ssh: connecting to %s", self.host)
        # stderr to a file, not a pipe: the backgrounded master must not hold our pipe open.
        with open(err, "w") as f:
            try:
                rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=f,
                                    timeout=self.connect_timeout * 3 + 5).returncode
            except subprocess.TimeoutExpired:
                rc = None
        said = err.read_text() if rc != 0 else ""
        if rc != 0:
            self.close()
            raise classify(self.host, said) if rc is not None else Unreachable(self.host, "ssh timed out")
        if root:
            try:
                self.require_root()
            except BaseException:
                self.close()  # the master and its directory go with the refusal
                raise
        return self

    def close(self):
        """End the control master and remove its directory (safe to repeat)."""
        if self._dir is None:
            return
        if self.control_path.exists():
            subprocess.run(self._ssh("-O", "exit"), stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None

    def __enter__(self):
        return self.connect()

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------ commands

    def run(self, argv: list[str], check: bool = True, sudo: bool = False, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess:
        """Run an argument list on the host over the master; quoted for its shell here.
        check: a non-zero exit raises RemoteError with the command and its stderr."""
        if self._dir is None:
            raise RemoteError(self.host, "not connected")
        if isinstance(argv, str):
            raise TypeError("Connection.run takes an argument list, not a shell string")
        cmd = shlex.join((self.sudo if sudo else []) + [str(a) for a in argv])
        log.info("ssh %s: %s", self.host.name, cmd)
        try:
            p = subprocess.run(self._ssh("-o", "ControlMaster=no", command=cmd), input=input, text=True,
                               capture_output=True, timeout=timeout,
                               stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            err = RemoteError(self.host, f"`{cmd}` did not finish in {timeout:g} s")
            err.stdout = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            raise err from None
        if p.returncode == 255:
            err = classify(self.host, p.stderr)
            err.stdout = p.stdout  # what the command said before the connection went (a step's state)
            raise err
        if check and p.returncode != 0:
            raise RemoteError(self.host, f"`{cmd}` failed (exit {p.returncode}): "
                                         f"{p.stderr.strip().splitlines()[-1:] or 'no message'}")
        return p

    def stream(self, argv: list[str], input: str, on_line, sudo: bool = False,
               timeout: float = 120) -> subprocess.CompletedProcess:
        """Like run(check=False), with each line of the command's standard output handed to
        on_line(line) as it arrives (a batch of steps reporting each one's state as it grows)."""
        if self._dir is None:
            raise RemoteError(self.host, "not connected")
        cmd = shlex.join((self.sudo if sudo else []) + [str(a) for a in argv])
        log.info("ssh %s: %s", self.host.name, cmd)
        p = subprocess.Popen(self._ssh("-o", "ControlMaster=no", command=cmd), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            p.stdin.write(input.encode())
            p.stdin.close()
        except BrokenPipeError:
            pass  # ssh went at once: its exit status and stderr say why
        # raw reads, split here: a buffered reader would sit on lines select() no longer signals
        bufs = {p.stdout.fileno(): bytearray(), p.stderr.fileno(): bytearray()}
        out, deadline = p.stdout.fileno(), time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            for fd in bufs:
                sel.register(fd, selectors.EVENT_READ)
            try:
                self._pump(p, sel, bufs, out, deadline, on_line, cmd, timeout)
            except BaseException:  # Ctrl-C, a death raised by the watcher: the session goes, and
                p.kill()           # the command there stops at its next line (broken pipe)
                p.wait()
                raise
        p.stdout.close()
        p.stderr.close()
        said, err = (b.decode(errors="replace") for b in bufs.values())
        rc = p.wait()
        if rc == 255:
            e = classify(self.host, err)
            e.stdout = said
            raise e
        return subprocess.CompletedProcess(argv, rc, said, err)

    def _pump(self, p, sel, bufs, out, deadline, on_line, cmd, timeout):
        done = 0  # the end of stdout already handed on
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                p.kill()
                p.wait()
                e = RemoteError(self.host, f"`{cmd}` did not finish in {timeout:g} s")
                e.stdout = bufs[out].decode(errors="replace")
                raise e
            for key, _ in sel.select(min(left, 1.0)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fd)
                    continue
                bufs[key.fd] += chunk
                if key.fd == out:
                    end = bufs[out].rfind(b"\n") + 1
                    for line in bufs[out][done:end].decode(errors="replace").splitlines():
                        on_line(line)
                    done = max(done, end)

    def forward_unix(self, remote_path: str) -> str:
        """A local socket forwarded over the master to the unix socket remote_path on the
        host (OpenSSH stream-local forwarding): local clients (ovsdbapp) talk to it as if it
        were here. Gone with the master."""
        if self._dir is None:
            raise RemoteError(self.host, "not connected")
        local = self._dir / f"fwd-{len(list(self._dir.glob('fwd-*')))}.sock"
        p = subprocess.run(self._ssh("-o", "StreamLocalBindUnlink=yes", "-O", "forward",
                                     "-L", f"{local}:{remote_path}"),
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            raise RemoteError(self.host, f"forwarding its socket {remote_path} failed: "
                                         f"{p.stderr.strip() or 'no message'}")
        return str(local)

    def master_running(self) -> bool:
        """Whether this connection's control master is up (`ssh -O check`)."""
        return self._dir is not None and subprocess.run(
            self._ssh("-O", "check"), stdin=subprocess.DEVNULL, capture_output=True).returncode == 0

    def ok(self, argv: list[str]) -> bool:
        return self.run(argv, check=False).returncode == 0

    # ------------------------------------------------------------ checks

    def require_root(self):
        uid = self.run(["id", "-u"]).stdout.strip()
        if uid == "0":
            self.sudo = []
        elif self.ok(["sudo", "-n", "true"]):
            self.sudo = ["sudo", "-n"]
        else:
            raise NoRoot(self.host, f"user {self.host.user or '(ssh default)'} is uid {uid} there and has no "
                                    "passwordless sudo; pktlab changes the DUT as root: use ansible_user=root "
                                    "or allow it sudo without a password")

    def require(self, *what: str):
        """Raise MissingSoftware naming each of "dpdk", "ovs" the host lacks."""
        missing = []
        for w in what:
            if w == "dpdk":
                if not self.ok(["pkg-config", "--modversion", "libdpdk"]):
                    missing.append(f"DPDK (pkg-config --modversion libdpdk fails): {HINTS['dpdk']}")
            elif w == "ovs":
                absent = [p for p in OVS_PATHS if not self.ok(["test", "-x", p])]
                if absent:
                    missing.append(f"Open vSwitch ({', '.join(absent)} missing): {HINTS['ovs']}")
            else:
                raise ValueError(f"require: unknown software {w!r} (dpdk, ovs)")
        if missing:
            raise MissingSoftware(self.host, "; ".join(missing))
