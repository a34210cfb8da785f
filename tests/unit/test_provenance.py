import os
import shutil
import subprocess
from datetime import datetime, timezone

import pytest

import pktlab
from pktlab import provenance

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")


def test_collect_on_this_host():
    p = provenance.collect({"generator": [0], "ovs_pmd": [1]}, dpdk_version="22.11.1",
                           ovs_version="3.1.0")
    assert p.host and p.kernel == os.uname().release and p.cpu_model
    assert p.numa_nodes >= 1
    assert p.pktlab_version == pktlab.__version__
    assert p.cores_used == {"generator": [0], "ovs_pmd": [1]}
    assert (p.dpdk_version, p.ovs_version) == ("22.11.1", "3.1.0")
    assert p.git_commit is None or len(p.git_commit.removesuffix("-dirty")) == 40
    assert p.utc_time.endswith("Z")
    assert abs((datetime.now(timezone.utc) - p.time).total_seconds()) < 60


def fake_root(tmp_path, nodes, cpuinfo="processor\t: 0\nmodel name\t: Fake CPU 9000 @ 3.00GHz\n"):
    base = tmp_path / "sys/devices/system/node"
    base.mkdir(parents=True)
    for n in nodes:
        (base / n).mkdir()
    for f in ("possible", "online", "has_cpu"):  # present on real hosts, not nodes
        (base / f).write_text("0-1\n")
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_text(cpuinfo)
    return tmp_path


def test_collect_reads_fake_root(tmp_path):
    root = fake_root(tmp_path, ["node0", "node1"])
    p = provenance.collect({"generator": [0]}, root=root)
    assert p.numa_nodes == 2
    assert p.cpu_model == "Fake CPU 9000 @ 3.00GHz"


def test_numa_at_least_one(tmp_path):
    assert provenance.numa_nodes(tmp_path) == 1  # no sysfs node dir: a non-NUMA kernel
    assert provenance.numa_nodes(fake_root(tmp_path, [])) == 1


def test_cpu_model_without_model_name(tmp_path):
    root = fake_root(tmp_path, ["node0"], cpuinfo="processor\t: 0\nHardware\t: BCM2835\n")
    assert provenance.cpu_model(root) == "BCM2835"
    (root / "proc/cpuinfo").unlink()
    assert provenance.cpu_model(root) == os.uname().machine


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                    "-c", "commit.gpgsign=false", *args], check=True, capture_output=True)


@needs_git
def test_git_commit(tmp_path):
    repo, pkg = tmp_path / "repo", tmp_path / "repo/pkg"
    pkg.mkdir(parents=True)
    (pkg / "mod.py").write_text("x = 1\n")
    _git(repo, "init", "-q")
    assert provenance.git_commit(pkg) is None  # nothing tracked
    _git(repo, "add", ".")
    assert provenance.git_commit(pkg) is None  # no commit yet
    _git(repo, "commit", "-q", "-m", "one")
    head = provenance.git_commit(pkg)
    assert len(head) == 40 and not head.endswith("-dirty")
    (pkg / "new.py").write_text("")  # untracked files do not make a checkout dirty
    assert provenance.git_commit(pkg) == head
    (pkg / "mod.py").write_text("x = 2\n")
    assert provenance.git_commit(pkg) == head + "-dirty"
    ignored = repo / "venv/site-packages/pkg"  # an installed copy inside the checkout
    ignored.mkdir(parents=True)
    assert provenance.git_commit(ignored) is None
    assert provenance.git_commit(tmp_path) is None  # not a checkout at all


def test_ovs_version(tmp_path):
    fake = tmp_path / "ovs-vswitchd"
    fake.write_text("#!/bin/sh\necho 'ovs-vswitchd (Open vSwitch) 3.1.0'\necho 'DPDK 22.11.1'\n")
    fake.chmod(0o755)
    assert provenance.ovs_version(str(fake)) == "3.1.0"
    assert provenance.ovs_version(str(tmp_path / "absent")) is None
    broken = tmp_path / "broken"
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    assert provenance.ovs_version(str(broken)) is None


def test_dpdk_version_is_a_version_or_none():
    v = provenance.dpdk_version()
    assert v is None or v[0].isdigit()
