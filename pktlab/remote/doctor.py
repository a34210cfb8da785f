"""`pktlab doctor --host NAME`: the doctor run on the host it describes, over SSH.

The host's own pktlab reads its own sysfs and procfs (`pktlab doctor --json`);
this side prints its verdict as the local doctor does. Reads only, there and here.
"""
from __future__ import annotations

import json

from ..inventory.doctor import render_verdicts, verdicts_from_dict
from .inventory import Host
from .ssh import Connection, MissingSoftware, RemoteError


def remote_report(conn: Connection) -> tuple[dict, int]:
    """The host's `pktlab doctor --json` report and its exit status (0 ready, 1 not)."""
    host = conn.host
    p = conn.run([host.pktlab, "doctor", "--json"], check=False)
    if p.returncode in (126, 127):
        raise MissingSoftware(host, f"pktlab is not installed there (`{host.pktlab}` not found or not "
                                    "executable): install it on the host, or set pktlab_command in the "
                                    "inventory to its path (e.g. a venv's bin/pktlab)")
    try:
        report = json.loads(p.stdout) if p.returncode in (0, 1) else None
    except json.JSONDecodeError:
        report = None
    if report is None:
        said = (p.stderr.strip().splitlines() or ["no message"])[-1]
        raise RemoteError(host, f"`{host.pktlab} doctor --json` failed there (exit {p.returncode}): {said}")
    return report, p.returncode


def render(host: Host, report: dict) -> str:
    inv = report.get("inventory", {})
    cpus = inv.get("cpus_online") or []
    head = [f"pktlab doctor: host {host} (kernel {inv.get('kernel') or '?'}, {len(cpus)} CPU(s) online, "
            f"{len(inv.get('nodes') or [])} NUMA node(s), {len(inv.get('nics') or [])} NIC(s)); "
            "reads only, changes nothing"]
    return "\n".join(head + render_verdicts(verdicts_from_dict(report)))


def run(host: Host, as_json: bool = False, out=print) -> int:
    conn = Connection(host)
    try:
        conn.connect(root=False)  # the doctor reads only
        report, rc = remote_report(conn)
    finally:
        conn.close()
    out(json.dumps(report, indent=1) if as_json else render(host, report))
    return rc
