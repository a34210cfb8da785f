"""A DUT switch pktlab knows nothing about, started by the tests with OVS's own tools:
ovsdb-server and ovs-vswitchd (no DPDK) in a private run directory, a netdev bridge
forwarding port to port between two system ports on veths whose other ends sit in a
namespace of the generator's.

  gen ns:  ga ==veth==> oa [OVS netdev bridge xbr, in_port=1 -> 2] ob ==veth==> gb

Its sockets are files, so the test sshd (another network namespace) reaches this OVS
with OVS_RUNDIR set to the run directory. remove() stops both daemons and deletes
everything it made.
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
VSWITCHD = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"  # runs without DPDK unless dpdk-init is set


def _run(*argv, env=None, check=True):
    return subprocess.run([str(a) for a in argv], check=check, capture_output=True, text=True, env=env)


class OvsSwitch:
    def __init__(self, bridge: str = "xbr"):
        tag = f"{random.randrange(36 ** 4):04x}"
        self.gen_ns, self.bridge = f"xgen{tag}", bridge
        self.ga, self.gb, self.oa, self.ob = f"xga{tag}", f"xgb{tag}", f"xoa{tag}", f"xob{tag}"
        self.dir = Path(tempfile.mkdtemp(prefix="xovs", dir="/run"))  # short: unix socket paths
        self.env = {**os.environ, **{v: str(self.dir) for v in ("OVS_RUNDIR", "OVS_DBDIR", "OVS_LOGDIR",
                                                                   "OVS_SYSCONFDIR")}}

    def vsctl(self, *argv):
        return _run("ovs-vsctl", f"--db=unix:{self.dir / 'db.sock'}", *argv, env=self.env)

    def build(self) -> "OvsSwitch":
        d = self.dir
        _run("ip", "netns", "add", self.gen_ns)
        _run("ip", "netns", "exec", self.gen_ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
        for g, o in ((self.ga, self.oa), (self.gb, self.ob)):
            _run("ip", "link", "add", g, "netns", self.gen_ns, "type", "veth", "peer", "name", o)
            _run("sysctl", "-qw", f"net.ipv6.conf.{o}.disable_ipv6=1")
            _run("ip", "link", "set", o, "up")
        _run("ovsdb-tool", "create", d / "conf.db", SCHEMA)
        _run("ovsdb-server", d / "conf.db", f"--remote=punix:{d / 'db.sock'}", f"--pidfile={d / 'ovsdb-server.pid'}",
             f"--unixctl={d / 'ovsdb-server.ctl'}", f"--log-file={d / 'ovsdb-server.log'}", "--detach", "--no-chdir",
             env=self.env)
        self.vsctl("--no-wait", "init")
        _run(VSWITCHD, f"unix:{d / 'db.sock'}", f"--pidfile={d / 'ovs-vswitchd.pid'}",
             f"--unixctl={d / 'ovs-vswitchd.ctl'}", f"--log-file={d / 'ovs-vswitchd.log'}", "-vconsole:off",
             "--detach", "--no-chdir", env=self.env)
        self.vsctl("add-br", self.bridge, "--", "set", "bridge", self.bridge, "datapath_type=netdev")
        for n, o in enumerate((self.oa, self.ob), 1):
            self.vsctl("add-port", self.bridge, o, "--", "set", "interface", o, "type=system", f"ofport_request={n}")
        _run("ovs-ofctl", "del-flows", self.bridge, env=self.env)
        for flow in ("priority=100,in_port=1,actions=output:2", "priority=100,in_port=2,actions=output:1"):
            _run("ovs-ofctl", "add-flow", self.bridge, flow, env=self.env)
        return self

    def remove(self):
        # a netdev bridge is a tap in the kernel, and ovs-vswitchd's exit leaves it there
        if (self.dir / "db.sock").exists():
            _run("ovs-vsctl", f"--db=unix:{self.dir / 'db.sock'}", "--timeout=10", "--if-exists", "del-br",
                 self.bridge, env=self.env, check=False)
        for daemon in ("ovs-vswitchd", "ovsdb-server"):
            pidfile = self.dir / f"{daemon}.pid"
            if not pidfile.exists():
                continue
            pid = int(pidfile.read_text())
            _run("ovs-appctl", "-t", self.dir / f"{daemon}.ctl", "exit", check=False)
            deadline = time.monotonic() + 10
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, 9)
        for o in (self.oa, self.ob, self.bridge):
            _run("ip", "link", "del", o, check=False)
        _run("ip", "netns", "del", self.gen_ns, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
