"""What the runner reports when the DUT's host goes away mid-run (Hosts.lost): the
connection's loss named with the host, whatever failed with it; nothing when the
connection is fine (the failure is then the run's own)."""
from __future__ import annotations

from types import SimpleNamespace

from pktlab.errors import StepError
from pktlab.remote.hosts import ConnectionLost, Hosts
from pktlab.remote.inventory import Host
from pktlab.remote.ssh import MissingSoftware, Unreachable

HOST = Host("compute-3", "192.0.2.7", user="root")


class Master:
    def __init__(self, up: bool):
        self.up = up

    def master_running(self):
        return self.up


def hosts(up: bool) -> Hosts:
    h = Hosts.__new__(Hosts)  # no scenario: only the connection matters here
    h.dut, h._conn, h._paths = HOST, Master(up), []
    return h


def test_a_dropped_ssh_command_is_the_connection_lost():
    e = hosts(up=False).lost(Unreachable(HOST, "unreachable; ssh: Connection closed by 192.0.2.7 port 22"))
    assert isinstance(e, ConnectionLost)
    assert str(e) == ("lost the connection to the DUT, host compute-3 (root@192.0.2.7:22), during the run: "
                      "unreachable; ssh: Connection closed by 192.0.2.7 port 22")


def test_whatever_failed_with_a_dead_master_is_blamed_on_the_lost_host():
    e = hosts(up=False).lost(OSError(104, "Connection reset by peer"))  # e.g. OVSDB over the forwarded socket
    assert isinstance(e, ConnectionLost) and "host compute-3" in str(e) and "Connection reset by peer" in str(e)


def test_a_failure_with_the_connection_up_is_the_runs_own():
    assert hosts(up=True).lost(StepError("ovs-vswitchd exited")) is None
    assert hosts(up=True).lost(MissingSoftware(HOST, "no OVS")) is None
    assert hosts(up=False).lost(KeyboardInterrupt()) is None  # Ctrl-C is not a lost host


def test_one_host_runs_have_no_lost_connections():
    h = hosts(up=False)
    h.dut = None
    assert h.lost(OSError("x")) is None and h.cabling(SimpleNamespace(options=None)) is None


def test_provenance_keeps_the_dut_and_the_cabling():
    from pktlab.provenance import collect
    from pktlab.results import Provenance

    dut = {"inventory_name": "compute-3", "host": "c3", "kernel": "6.1.0-57-amd64", "cpu_model": "Xeon",
           "numa_nodes": 2, "nics": [{"role": "dut", "pci": "0000:81:00.0", "driver": "igb"}]}
    cabling = [{"tester": "ens2f0", "dut": "0000:81:00.0"}]
    p = collect({"generator": [1]}, dut=dut, cabling=cabling)
    again = Provenance.from_dict(p.to_dict())
    assert again.dut == dut and again.cabling == cabling and again == p
    one = collect({"generator": [1]}).to_dict()
    assert "dut" not in one and "cabling" not in one  # one host: results as before
    assert Provenance.from_dict(one).dut is None


def test_the_duts_counters_are_not_read_from_a_stale_copy():
    import pytest

    class Counters:
        source, live = "ovsdb:Interface.statistics", False

        def snapshot(self):
            return {"eth0": {"rx_packets": 5}}

        def settled(self):
            return self.snapshot()

    h = hosts(up=True)
    c = h.guard(Counters())
    assert c.snapshot() == {"eth0": {"rx_packets": 5}} and c.source == "ovsdb:Interface.statistics"
    h._conn.up = False  # the link to the DUT went: OVSDB's client would still answer from its copy
    with pytest.raises(ConnectionLost, match="host compute-3 .* the DUT's counters cannot be read"):
        c.settled()
