"""pktlab's own ovsdb-server and ovs-vswitchd (DPDK build), in the run's private directory.

Nothing here touches a system OVS: every path (database, sockets, pid files,
logs) is under the run directory, passed both on the command line and through
the OVS_* environment variables the tools consult.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import StepError
from ..host import process
from ..plan import Step

OVSDB_TOOL = "/usr/bin/ovsdb-tool"
OVSDB_SERVER = "/usr/sbin/ovsdb-server"
OVS_VSCTL = "/usr/bin/ovs-vsctl"
OVS_OFCTL = "/usr/bin/ovs-ofctl"
OVS_VSWITCHD_DPDK = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"
VSWITCH_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
BINARIES = (OVSDB_TOOL, OVSDB_SERVER, OVS_VSCTL, OVS_OFCTL, OVS_VSWITCHD_DPDK, VSWITCH_SCHEMA)
APT_HINT = "install the Debian package openvswitch-switch-dpdk (./setup.sh does)"


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if not os.access(b, os.R_OK)]


def ovs_env(ovs_dir: str) -> dict:
    env = dict(os.environ)
    for var in ("OVS_RUNDIR", "OVS_DBDIR", "OVS_LOGDIR", "OVS_SYSCONFDIR"):
        env[var] = ovs_dir
    return env


def db_sock(ovs_dir: str) -> str:
    return f"{ovs_dir}/db.sock"


OVSDB_COMM, VSWITCHD_COMM = "ovsdb-server", "ovs-vswitchd-dpdk"


def ovsdb_running(ovs_dir: str) -> bool:
    """Is the run's ovsdb-server alive? If not, what it held (bridges, ports, keys) died
    with it: undo has nothing to delete there, and nobody to ask."""
    return process.running_from_pidfile(Path(ovs_dir, "ovsdb-server.pid"), OVSDB_COMM)


def vswitchd_running(ovs_dir: str) -> bool:
    """Is the run's ovs-vswitchd alive? If not, its flows, ports and vhost connections
    died with it, and a transaction must not wait for it to catch up."""
    return process.running_from_pidfile(Path(ovs_dir, "ovs-vswitchd.pid"), VSWITCHD_COMM)


def db_for_undo(ctx, ovs_dir: str):
    """(the run's OVSDB, whether a transaction waits for ovs-vswitchd) for an undo step;
    (None, False) when ovsdb-server is dead: what it held went with it."""
    if not ovsdb_running(ovs_dir):
        return None, False
    return ctx.ovsdb(db_sock(ovs_dir)), vswitchd_running(ovs_dir)


@dataclass
class StartOvsdbServer(Step):
    """A fresh database from the installed schema, served on a socket in the run dir."""

    kind = "ovsdb-server"
    ovs_dir: str

    def describe(self):
        return f"create an OVS database and start ovsdb-server on {db_sock(self.ovs_dir)}"

    def describe_undo(self):
        return "stop ovsdb-server and delete its database"

    def apply(self, ctx):
        d = Path(self.ovs_dir)
        d.mkdir(parents=True, exist_ok=True)
        env = ovs_env(self.ovs_dir)
        process.run([OVSDB_TOOL, "create", str(d / "conf.db"), VSWITCH_SCHEMA], env, what="ovsdb-tool create")
        pidfile = d / "ovsdb-server.pid"
        process.run([OVSDB_SERVER, str(d / "conf.db"), f"--remote=punix:{db_sock(self.ovs_dir)}",
                     f"--pidfile={pidfile}", f"--unixctl={d / 'ovsdb-server.ctl'}",
                     f"--log-file={d / 'ovsdb-server.log'}", "--detach", "--no-chdir"],
                    env, what="ovsdb-server")
        self.state["pid"] = process.read_pidfile(pidfile)
        ctx.journal_state()
        ctx.watch.add(self.state["pid"], "ovsdb-server", OVSDB_COMM, (d / "ovsdb-server.log",))
        # The root row everything hangs off; ovs-vsctl init is the documented way to make it.
        process.run([OVS_VSCTL, f"--db=unix:{db_sock(self.ovs_dir)}", "--no-wait", "init"], env,
                    what="ovs-vsctl init")

    def undo(self, ctx):
        ctx.watch.forget(self.state.get("pid", 0))
        ctx.drop(f"ovsdb:{db_sock(self.ovs_dir)}")
        process.stop(self.state.get("pid", 0), OVSDB_COMM)
        for name in ("conf.db", ".conf.db.~lock~", "db.sock", "ovsdb-server.ctl", "ovsdb-server.pid"):
            Path(self.ovs_dir, name).unlink(missing_ok=True)


@dataclass
class SetOvsOtherConfig(Step):
    """Open_vSwitch other_config keys (DPDK init, memory, cores); read by ovs-vswitchd at start."""

    kind = "ovs-other-config"
    ovs_dir: str
    config: dict

    def describe(self):
        return "set OVS other_config " + " ".join(f"{k}={v}" for k, v in self.config.items())

    def describe_undo(self):
        return "remove OVS other_config " + " ".join(self.config)

    def apply(self, ctx):
        db = ctx.ovsdb(db_sock(self.ovs_dir))
        db.execute(db.api.db_set("Open_vSwitch", ".", ("other_config", dict(self.config))),
                   wait_vswitchd=False)

    def undo(self, ctx):
        if not ovsdb_running(self.ovs_dir):
            return  # the database is gone, and the keys with it
        db = ctx.ovsdb(db_sock(self.ovs_dir))
        db.execute(db.api.db_remove("Open_vSwitch", ".", "other_config", *self.config, if_exists=True),
                   wait_vswitchd=False)


@dataclass
class StartOvsVswitchd(Step):
    """ovs-vswitchd from openvswitch-switch-dpdk; done when DPDK reports initialised."""

    kind = "ovs-vswitchd"
    ovs_dir: str
    dpdk: bool = True  # wait for DPDK to initialise (dpdk-init=true in other_config)
    timeout: float = 60.0

    def describe(self):
        wait = "dpdk_initialized" if self.dpdk else "its interface types"
        return f"start ovs-vswitchd against {db_sock(self.ovs_dir)}, wait for {wait}"

    def describe_undo(self):
        return "stop ovs-vswitchd (its DPDK memory and vhost sockets go with it)"

    def apply(self, ctx):
        d = Path(self.ovs_dir)
        pidfile = d / "ovs-vswitchd.pid"
        process.run([OVS_VSWITCHD_DPDK, f"unix:{db_sock(self.ovs_dir)}", f"--pidfile={pidfile}",
                     f"--unixctl={d / 'ovs-vswitchd.ctl'}", f"--log-file={d / 'ovs-vswitchd.log'}",
                     "-vconsole:off", "--detach", "--no-chdir"],
                    ovs_env(self.ovs_dir), timeout=self.timeout, what="ovs-vswitchd")
        self.state["pid"] = process.read_pidfile(pidfile)
        ctx.journal_state()
        ctx.watch.add(self.state["pid"], "ovs-vswitchd", VSWITCHD_COMM, (d / "ovs-vswitchd.log",))
        db = ctx.ovsdb(db_sock(self.ovs_dir))
        deadline = time.monotonic() + self.timeout
        # vswitchd fills iface_types once it runs; with DPDK, dpdk_initialized once EAL is up.
        while not (db.get("Open_vSwitch", ".", "dpdk_initialized") is True if self.dpdk
                   else db.get("Open_vSwitch", ".", "iface_types")):
            if not process.is_running(self.state["pid"], VSWITCHD_COMM):
                raise StepError(f"ovs-vswitchd exited during start: {_tail(d / 'ovs-vswitchd.log')}")
            if time.monotonic() > deadline:
                raise StepError(f"ovs-vswitchd not ready after {self.timeout:.0f} s: "
                                f"{_tail(d / 'ovs-vswitchd.log')}")
            time.sleep(0.1)

    def undo(self, ctx):
        ctx.watch.forget(self.state.get("pid", 0))
        process.stop(self.state.get("pid", 0), VSWITCHD_COMM, timeout=20)
        for name in ("ovs-vswitchd.pid", "ovs-vswitchd.ctl"):
            Path(self.ovs_dir, name).unlink(missing_ok=True)


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"

