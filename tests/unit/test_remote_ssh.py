"""What ssh's failures mean, and the root check, without a network (the real sshd
cases are in tests/functional/test_remote_ssh.py)."""
import subprocess

import pytest

from pktlab.errors import HostError
from pktlab.remote.inventory import Host
from pktlab.remote.ssh import (AuthRefused, Connection, HostKeyMismatch, NoRoot, RemoteError, Unreachable,
                               classify)

DUT = Host(name="compute-3", address="198.18.0.2", user="lab")

CHANGED = """@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
Host key for 198.18.0.2 has changed and you have requested strict checking.
Host key verification failed.
"""


@pytest.mark.parametrize("stderr,error,says", [
    ("ssh: connect to host 198.18.0.2 port 22: Connection refused\n", Unreachable, "Connection refused"),
    ("ssh: connect to host 198.18.0.2 port 22: No route to host\n", Unreachable, "No route"),
    ("ssh: connect to host 198.18.0.2 port 22: Connection timed out\n", Unreachable, "timed out"),
    ("lab@198.18.0.2: Permission denied (publickey).\n", AuthRefused, "authentication refused"),
    (CHANGED, HostKeyMismatch, "CHANGED"),
    ("Host key verification failed.\n", HostKeyMismatch, "unknown"),
    ("kex_exchange_identification: banner line contains invalid characters\n", RemoteError, "ssh failed"),
])
def test_classify_names_the_host(stderr, error, says):
    e = classify(DUT, stderr)
    assert type(e) is error and isinstance(e, HostError)
    assert str(e).startswith("host compute-3 (lab@198.18.0.2:22): ") and says in str(e)


class Scripted(Connection):
    """A connection whose remote answers come from a table (command -> (exit, stdout))."""

    def __init__(self, answers):
        super().__init__(DUT)
        self.answers, self._dir = answers, "connected"

    def run(self, argv, check=True, **kw):
        rc, out = self.answers[" ".join(argv)]
        if check and rc:
            raise RemoteError(self.host, "failed")
        return subprocess.CompletedProcess(argv, rc, out, "")


def test_root_needs_uid_0_or_passwordless_sudo():
    c = Scripted({"id -u": (0, "0\n")})
    c.require_root()
    assert c.sudo == []
    c = Scripted({"id -u": (0, "1000\n"), "sudo -n true": (0, "")})
    c.require_root()
    assert c.sudo == ["sudo", "-n"]
    c = Scripted({"id -u": (0, "1000\n"), "sudo -n true": (1, "")})
    with pytest.raises(NoRoot, match="host compute-3 .*uid 1000 there and has no passwordless sudo"):
        c.require_root()


def test_run_refuses_a_shell_string():
    c = Connection(DUT)
    c._dir = "connected"
    with pytest.raises(TypeError, match="argument list"):
        c.run("id -u; reboot")
