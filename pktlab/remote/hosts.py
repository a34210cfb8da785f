"""A run's hosts: the tester (this one) and, with [hosts].dut, the DUT over SSH.

The runner holds one of these. The DUT's inventory entry is read when the run is
built, and the host reached, its root access and software checked, before any
step runs anywhere: each failure is a HostError naming the host (exit 2). One
SSH connection serves every data path of the run.
"""
from __future__ import annotations

from ..errors import PktlabError
from .half import DutHalf
from .ssh import Connection, MissingSoftware, RemoteError


class ConnectionLost(PktlabError):
    """The DUT stopped answering during the run: the trial fails with this."""


class Hosts:
    def __init__(self, scenario):
        self.scenario = scenario
        self.dut = scenario.hosts.dut_host(scenario.file)  # remote.inventory.Host, or None
        self._conn: Connection | None = None
        self._paths: list = []  # split paths: pktlab plans and changes their DUT half there
        self._readers: list = []  # paths that only read the DUT (no pktlab needed there)

    @property
    def remote(self) -> bool:
        return self.dut is not None

    def split(self, path) -> None:
        """Make `path` the tester's half of a two-host data path, its DUT half planned there;
        a path that only reads the DUT (external: builds_dut False) just gets these hosts."""
        if not self.remote:
            return
        path.dut_hosts = self
        if getattr(path, "builds_dut", True):
            path.side, path.dut = "tester", DutHalf(path, self.connection)
            self._paths.append(path)
        else:
            self._readers.append(path)

    def connection(self) -> Connection:
        if self._conn is None:
            conn = Connection(self.dut)
            conn.connect(root=bool(self._paths) or any(p.dut_needs_root for p in self._readers))
            try:
                self._require(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _require(self, conn: Connection) -> None:
        if not self._paths:
            return  # only read there (external's counters): ip and ovs-ofctl are checked by their reader
        p = conn.run([self.dut.pktlab, "--version"], check=False)
        if p.returncode != 0:
            raise MissingSoftware(self.dut, f"pktlab does not run there (`{self.dut.pktlab} --version` exited "
                                            f"{p.returncode}): install it, or set pktlab_command in the "
                                            "inventory to its path (e.g. a venv's bin/pktlab)")
        need = [w for w, used in (("ovs", any(getattr(p, "uses_ovs", False) for p in self._paths)),
                                  ("dpdk", any(getattr(p, "uses_ovs_dpdk", False) for p in self._paths))) if used]
        conn.require(*need)

    def check(self) -> None:
        if self.remote:
            self.connection()

    def hosts(self) -> dict:
        """The other hosts the run changes (journaled for restore): not a DUT it only reads."""
        return {"dut": self.dut} if self._paths else {}

    def connections(self) -> dict:
        return {"dut": self._conn} if self._conn is not None else {}

    def names(self) -> dict[str, str]:
        return {"tester": "tester", "dut": f"dut {self.dut.name}" if self.remote else "dut"}

    def describe(self) -> str:
        return (f"hosts: tester = this host (the generator); dut = {self.dut} over SSH "
                f"(inventory {self.dut.inventory}); each step is tagged with the host it changes")

    def lost(self, e: BaseException) -> ConnectionLost | None:
        """A failure that came from (or with) losing the DUT: the error to report, else None."""
        if not self.remote or self._conn is None or not isinstance(e, Exception):
            return None
        if isinstance(e, ConnectionLost):
            return e
        if isinstance(e, RemoteError) and not isinstance(e, MissingSoftware) and "failed (exit" not in str(e):
            return ConnectionLost(f"lost the connection to the DUT, host {self.dut}, during the run: {e.reason}")
        if not self._conn.master_running():
            return ConnectionLost(f"lost the connection to the DUT, host {self.dut}, during the run "
                                  f"(what failed with it: {type(e).__name__}: {e})")
        return None

    def guard(self, counters, ctx=None):
        """The DUT's counters, read only while its connection holds (OVSDB's client answers
        from its last copy after the link went, so a dropped DUT would pass for a quiet one)
        and the daemons the run started there run (ctx.remote_watch): checked around each read."""
        return _Guarded(counters, self, ctx) if self.remote else counters

    def alive(self, ctx=None) -> None:
        if self._conn is not None and not self._conn.master_running():
            raise ConnectionLost(f"lost the connection to the DUT, host {self.dut}, during the run "
                                 "(its SSH master is gone): the DUT's counters cannot be read")
        if ctx is not None and self._conn is not None:
            ctx.remote_watch.check("dut", self._conn)

    def dut_facts(self, path) -> dict | None:
        """The DUT host's CPU, kernel, NUMA nodes, NICs and versions, as it described them."""
        if not self.remote or getattr(path, "dut", None) is None or "doc" not in vars(path.dut):
            return None
        return {"inventory_name": self.dut.name, **path.dut.facts}

    def cabling(self, path) -> list | None:
        """Which tester NIC is cabled to which DUT NIC (the scenario's gen_ports[i] <-> dut_ports[i])."""
        if not self.remote:
            return None
        opt = path.options
        return [{"tester": g, "dut": d} for g, d in zip(getattr(opt, "gen_ports", ()), getattr(opt, "dut_ports", ()))]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None



class _Guarded:
    """A counters reader (snapshot, settled, source) that checks the DUT's connection around each read."""

    def __init__(self, counters, hosts: Hosts, ctx=None):
        self._counters, self._hosts, self._ctx = counters, hosts, ctx

    def __getattr__(self, name):
        return getattr(self._counters, name)

    def snapshot(self):
        return self._read(self._counters.snapshot)

    def settled(self, *args, **kw):
        return self._read(lambda: self._counters.settled(*args, **kw))

    def _read(self, read):
        self._hosts.alive(self._ctx)
        out = read()
        self._hosts.alive(self._ctx)
        return out
