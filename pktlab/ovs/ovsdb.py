"""OVSDB through ovsdbapp, plus what ovsdbapp leaves to its callers.

ovsdbapp's Open_vSwitch transactions wait for ovs-vswitchd to catch up
(cur_cfg >= next_cfg). Before ovs-vswitchd runs (the DPDK settings must be in
the database when it starts) that wait would time out, so transactions can opt
out of it. ovsdbapp only logs an interface that failed to come up; pktlab
waits for its ports itself and reports the port's name and error.
"""
from __future__ import annotations


from ovsdbapp import exceptions
from ovsdbapp.backend.ovs_idl import connection, transaction
from ovsdbapp.schema.open_vswitch import impl_idl

from .. import wait
from ..errors import StepError


class _Api(impl_idl.OvsdbIdl):
    # ovsdbapp keeps the connection on the class: every later instance would reuse the
    # first one. pktlab talks to one private ovsdb-server per data path, one after another.
    @property
    def ovsdb_connection(self):
        return self._own_connection

    @ovsdb_connection.setter
    def ovsdb_connection(self, connection):
        self._own_connection = connection

    def create_transaction(self, check_error=False, log_errors=True, wait_vswitchd=True, **kwargs):
        if wait_vswitchd:
            return super().create_transaction(check_error, log_errors, **kwargs)
        return transaction.Transaction(self, self.ovsdb_connection, check_error=check_error,
                                       log_errors=log_errors)


class OvsDb:
    """A client of one ovsdb-server (the run's private one)."""

    def __init__(self, sock: str, timeout: float | None = None):
        """timeout [s]: for a transaction and ovs-vswitchd's catching up with it; 20 s,
        longer in an emulated machine."""
        self.sock = sock
        timeout = 20.0 * wait.slowdown() if timeout is None else timeout
        try:
            idl = connection.OvsdbIdl.from_server(f"unix:{sock}", "Open_vSwitch")
        except Exception as e:  # ovs raises bare Exception when it cannot connect
            raise StepError(f"cannot reach ovsdb-server at {sock}: {e}") from None
        self._conn = connection.Connection(idl=idl, timeout=timeout)
        self.api = _Api(self._conn)

    def execute(self, *commands, wait_vswitchd: bool = True):
        """Run commands in one transaction; errors raise."""
        try:
            with self.api.transaction(check_error=True, wait_vswitchd=wait_vswitchd) as txn:
                for c in commands:
                    txn.add(c)
        except exceptions.TimeoutException:
            what = ", ".join(type(c).__name__.removesuffix("Command") for c in commands)
            raise StepError(f"OVSDB transaction ({what}) at {self.sock} not done"
                            + (" by ovs-vswitchd" if wait_vswitchd else "")
                            + f" within {self._conn.timeout:.0f} s") from None
        return [c.result for c in commands]

    def get(self, table: str, record: str, column: str):
        return self.api.db_get(table, record, column).execute(check_error=True)

    def interface(self, name: str) -> dict:
        """The Interface columns pktlab reads, or {} if there is no such interface."""
        rows = self.api.db_find("Interface", ("name", "=", name),
                                columns=["name", "ofport", "link_state", "error", "statistics",
                                         "admin_state"]).execute(check_error=True)
        return rows[0] if rows else {}

    def statistics(self, names) -> dict[str, dict[str, int]]:
        return {n: dict(self.interface(n).get("statistics", {})) for n in names}

    def wait_ports_up(self, names, timeout: float) -> None:
        """Until each interface has an OpenFlow port number and link up; else say which is not."""
        def down() -> dict:
            state = {n: self.interface(n) for n in names}
            return {n: r for n, r in state.items() if not r or _ofport(r) < 1 or r.get("link_state") != "up"}

        def fail(_):
            why = "; ".join(f"{n}: ofport={_ofport(r)}, link_state={r.get('link_state') or 'unknown'}"
                            + (f", error={r['error']}" if r.get("error") else "") for n, r in down().items())
            return StepError(f"port(s) not up after {timeout:.0f} s: {why}")

        wait.until(lambda: not down(), timeout, 0.2, fail)

    def close(self):
        self._conn.stop(timeout=5)


def _ofport(row: dict) -> int:
    v = row.get("ofport")
    if isinstance(v, list):  # an optional column reads as [] when unset
        v = v[0] if v else -1
    return int(v) if v is not None else -1
