"""Collect the Provenance of a run: the host, the software versions, the cores.

Everything here is read-only and best effort: a missing tool gives None, never an
exception, because a result without an OVS version is still a result.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pktlab
from pktlab.results import Provenance

_TIMEOUT_S = 10


def collect(cores_used: dict[str, list[int]], dpdk_version: str | None = None,
            ovs_version: str | None = None, root: str | os.PathLike = "/",
            guest: dict | None = None, nics: list | None = None, dut: dict | None = None,
            cabling: list | None = None) -> Provenance:
    """Provenance of a run starting now; root prefixes the /proc and /sys reads (tests)."""
    root = Path(root)
    return Provenance(
        host=socket.gethostname() or os.uname().nodename,
        kernel=os.uname().release,
        cpu_model=cpu_model(root),
        cores_used=cores_used,
        numa_nodes=numa_nodes(root),
        dpdk_version=dpdk_version,
        ovs_version=ovs_version,
        pktlab_version=pktlab.__version__,
        git_commit=git_commit(Path(pktlab.__file__).resolve().parent),
        utc_time=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        guest=guest if guest is not None else vlab_guest(),
        nics=nics,
        dut=dut,
        cabling=cabling,
    )


VLAB_ENV = "PKTLAB_VLAB"  # set by the virtual lab server's agent (pktlab.vlab.agent) for commands it runs
# ...and written there for every other process (an SSH session of a two-host run): the server's own /run
VLAB_FILE = Path("/run/pktlab-vlab.json")


def vlab_guest() -> dict | None:
    """Inside the virtual lab server the whole host is a guest: its acceleration (emulated under
    TCG) goes into every result, as a PVP guest's does, so tables and charts mark it."""
    import json

    raw = os.environ.get(VLAB_ENV)
    if not raw:
        try:
            raw = VLAB_FILE.read_text()
        except OSError:
            return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def cpu_model(root: Path = Path("/")) -> str:
    """The first CPU's model from /proc/cpuinfo ("model name" on x86)."""
    try:
        text = (root / "proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    # x86 has "model name"; several Arm/MIPS/POWER kernels name the field differently
    for key in ("model name", "Model", "Hardware", "cpu model", "cpu"):
        m = re.search(rf"^{re.escape(key)}\s*:\s*(\S.*?)\s*$", text, re.MULTILINE)
        if m:
            return m.group(1)
    return os.uname().machine or "unknown"


def numa_nodes(root: Path = Path("/")) -> int:
    """Number of NUMA nodes in sysfs; 1 when the kernel has no NUMA support."""
    base = root / "sys/devices/system/node"
    try:
        n = sum(1 for p in base.iterdir() if re.fullmatch(r"node\d+", p.name))
    except OSError:
        n = 0
    return max(n, 1)


def git_commit(directory: Path) -> str | None:
    """HEAD of the git checkout holding directory, "-dirty" if tracked files changed.

    None when directory is not tracked by git: an installed copy inside some
    unrelated repository (a venv in a home directory under git) must not claim
    that repository's commit.
    """
    if _run(["git", "-C", str(directory), "ls-files", "--error-unmatch", "--", "."]) is None:
        return None
    head = _run(["git", "-C", str(directory), "rev-parse", "--verify", "--quiet", "HEAD"])
    if not head:
        return None  # no commit yet
    status = _run(["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"])
    return head + ("-dirty" if status else "")


def ovs_version(binary: str = "ovs-vswitchd") -> str | None:
    """Version of an OVS binary from its --version, e.g. "3.1.0"."""
    out = _run([binary, "--version"])
    m = re.search(r"\(Open vSwitch\)\s+(\S+)", out or "")
    return m.group(1) if m else None


def dpdk_version() -> str | None:
    """Version of the installed DPDK development package, e.g. "22.11.11"."""
    return _run(["pkg-config", "--modversion", "libdpdk"]) or None


def _run(argv: list[str]) -> str | None:
    """stdout of argv, stripped; None if it cannot run or exits non-zero."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT_S,
                           env={**os.environ, "LC_ALL": "C"})
    except (OSError, subprocess.SubprocessError):
        return None
    return p.stdout.strip() if p.returncode == 0 else None
