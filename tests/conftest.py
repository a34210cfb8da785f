"""Shared fixtures. Tests that change the host need root (CI runs as root); when
they cannot have it they skip and say so."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "scenarios" / "smoke-ovs-dpdk.toml"
PKTLAB = [sys.executable, "-m", "pktlab.cli"]


def needs_root():
    if os.geteuid() != 0:
        pytest.skip("needs root to change the host (hugepages, mounts, daemons); CI runs as root")


def _other_unit_eal(name: str) -> bool:
    """The EAL runtime dir of another process's unit test (tests/unit/test_gen_account.py runs EAL
    in-process, unlocked): it comes and goes with that process, not with the run under test."""
    pid = name.removeprefix("pktlab-unit-")
    return pid != name and pid.isdigit() and int(pid) != os.getpid()


def host_state(state_dir: Path | None = None) -> dict:
    """What a run may leave behind, read from the host."""
    procs = subprocess.run(["ps", "-eo", "stat=,comm=,args="], capture_output=True, text=True).stdout
    # A command still waiting for the host lock (flock/timeout wrapping qemu-system-..., as other
    # sessions queue them) is not something a run started or left behind.
    ours = sorted(line.split(None, 1)[1] for line in procs.splitlines()
                  if not line.startswith("Z") and line.split()[1] not in ("flock", "timeout") and any(w in line for w in
                     ("ovs-vswitchd", "ovsdb-server", "pktlab.gen.worker", "dpdk-testpmd", "qemu-system", "trafgen")))
    with open("/proc/mounts") as fh:
        mounts = sorted(line.split()[1] for line in fh if line.split()[2] == "hugetlbfs")
    state = {
        "nr_hugepages": Path("/proc/sys/vm/nr_hugepages").read_text().strip(),
        "hugetlbfs_mounts": mounts,
        "processes": ours,
        "dpdk_runtime": sorted(p.name for p in Path("/var/run/dpdk").iterdir() if not _other_unit_eal(p.name))
        if Path("/var/run/dpdk").is_dir() else None,
    }
    if state_dir is not None:
        state["state_files"] = sorted(str(p.relative_to(state_dir)) for p in Path(state_dir).rglob("*")
                                      if p.is_file() or p.is_socket())
    return state


@pytest.fixture
def state_dir():
    """A private state dir with a short path: unix sockets live under it (107-byte limit)."""
    base = Path("/run") if os.access("/run", os.W_OK) else Path(tempfile.gettempdir())
    d = Path(tempfile.mkdtemp(prefix="pktlab-t", dir=base))
    yield d
    release_state_dir(d)


def release_state_dir(d: Path) -> None:
    """Undo whatever a failed test's run left (its journal says what), then remove the dir.
    If that undo fails the dir stays, so `pktlab --state-dir D restore` can finish the job."""
    from pktlab import journal
    from pktlab.context import RunContext

    if journal.pending(d):
        errors = journal.restore(d, lambda run_id: RunContext(d, run_id), force=True, out=lambda *_: None)
        if errors:
            pytest.fail(f"could not restore what a run left in {d}: {errors}")
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def clean_host(state_dir):
    """Asserts the host is as it was before the test: no hugepages, mounts, daemons, files left."""
    before = host_state(state_dir)
    yield before
    after = host_state(state_dir)
    assert after == before, f"host not restored:\nbefore {before}\nafter  {after}"


def run_cli(*args, state_dir=None, timeout=300, **kw):
    cmd = list(PKTLAB)
    if state_dir is not None:
        cmd += ["--state-dir", str(state_dir)]
    cmd += [str(a) for a in args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO, **kw)
