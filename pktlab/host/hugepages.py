"""Hugepage reservation and a private hugetlbfs mount, each a plan step with its undo."""
from __future__ import annotations

import ctypes
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import StepError
from ..plan import Step


def pool_dir(size_kb: int, root: str = "/") -> Path:
    return Path(root, f"sys/kernel/mm/hugepages/hugepages-{size_kb}kB")


def read_pool(size_kb: int, root: str = "/") -> tuple[int, int]:
    """(total, free) pages of one size."""
    d = pool_dir(size_kb, root)
    return int((d / "nr_hugepages").read_text()), int((d / "free_hugepages").read_text())


def mem_available_kb(root: str = "/") -> int:
    for line in Path(root, "proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


def shortfall(count: int, size_kb: int, root: str = "/") -> str | None:
    """Why the host cannot give `count` pages, or None if it can (read-only)."""
    d = pool_dir(size_kb, root)
    if not d.is_dir():
        return f"this kernel has no {size_kb} kB hugepage pool ({d} is missing)"
    _, free = read_pool(size_kb, root)
    need_kb = max(0, count - free) * size_kb
    avail = mem_available_kb(root)
    # Keep a quarter of the available memory for everything else on the host.
    if need_kb > avail * 3 // 4:
        return (f"{count} x {size_kb // 1024} MiB pages need {need_kb // 1024} MiB more; "
                f"the host has {avail // 1024} MiB available and pktlab leaves a quarter of it free")
    return None


@dataclass
class ReserveHugepages(Step):
    """Make at least `count` pages free in the pool; undo puts nr_hugepages back."""

    kind = "hugepages"
    count: int
    size_kb: int = 2048
    root: str = "/"

    def describe(self):
        return f"reserve {self.count} x {self.size_kb // 1024} MiB hugepages (raise nr_hugepages as needed)"

    def describe_undo(self):
        before = self.state.get("nr_before")
        return f"restore {self.size_kb // 1024} MiB nr_hugepages to {before if before is not None else 'its value before'}"

    def apply(self, ctx):
        total, free = read_pool(self.size_kb, self.root)
        self.state["nr_before"] = total
        ctx.journal_state()  # the old value must be on disk before it is changed
        want = total + max(0, self.count - free)
        if want != total:
            (pool_dir(self.size_kb, self.root) / "nr_hugepages").write_text(str(want))
        got, free = read_pool(self.size_kb, self.root)
        if free < self.count:
            raise StepError(f"asked for {self.count} free {self.size_kb // 1024} MiB hugepages, "
                            f"the kernel gave {free} (fragmented memory?)")

    def undo(self, ctx):
        before = self.state.get("nr_before")
        if before is not None:
            (pool_dir(self.size_kb, self.root) / "nr_hugepages").write_text(str(before))


_libc = ctypes.CDLL(None, use_errno=True)
MNT_DETACH = 2


def is_mounted(path: Path) -> bool:
    target = os.path.realpath(path)
    with open("/proc/mounts") as fh:
        return any(line.split()[1] == target for line in fh)


@dataclass
class MountHugetlbfs(Step):
    """A private hugetlbfs, so DPDK's files live (and die) with the run."""

    kind = "hugetlbfs"
    path: str
    size_kb: int = 2048

    def describe(self):
        return f"mount hugetlbfs (pagesize {self.size_kb // 1024} MiB) on {self.path}"

    def describe_undo(self):
        return f"unmount {self.path} and remove the directory"

    def apply(self, ctx):
        Path(self.path).mkdir(parents=True, exist_ok=True)
        opts = f"pagesize={self.size_kb}k".encode()
        if _libc.mount(b"hugetlbfs", self.path.encode(), b"hugetlbfs", 0, opts) != 0:
            e = ctypes.get_errno()
            raise StepError(f"mount hugetlbfs on {self.path}: {os.strerror(e)}")

    def undo(self, ctx):
        if is_mounted(Path(self.path)):
            if _libc.umount2(self.path.encode(), 0) != 0:
                e = ctypes.get_errno()
                # Something still holds a file open: detach now, the kernel frees it when released.
                if _libc.umount2(self.path.encode(), MNT_DETACH) != 0:
                    raise StepError(f"umount {self.path}: {os.strerror(e)}")
        if Path(self.path).is_dir():
            shutil.rmtree(self.path, ignore_errors=True)
