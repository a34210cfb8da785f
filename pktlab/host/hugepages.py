"""Hugepage reservation and a private hugetlbfs mount, each a plan step with its undo."""
from __future__ import annotations

import ctypes
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import StepError
from ..plan import Step
from ..inventory.cpus import pool_rel, read_pool  # noqa: F401  (read_pool: the one reader, used from here too)
from .sysfs_attr import write as write_attr


def pool_dir(size_kb: int, root: str = "/", node: int | None = None) -> Path:
    return Path(root, pool_rel(size_kb, node))


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
    """Make at least `count` pages free in the pool (system-wide, or on NUMA node
    `node`: memory DPDK takes with --socket-mem must be on that node); undo puts
    nr_hugepages back."""

    kind = "hugepages"
    count: int
    size_kb: int = 2048
    root: str = "/"
    node: int | None = None

    def _where(self):
        return "" if self.node is None else f" on node {self.node}"

    def describe(self):
        return (f"reserve {self.count} x {size_name(self.size_kb)} hugepages{self._where()} "
                "(raise nr_hugepages as needed)")

    def describe_undo(self):
        before = self.state.get("nr_before")
        return (f"restore {size_name(self.size_kb)} nr_hugepages{self._where()} to "
                f"{before if before is not None else 'its value before'}")

    def _set(self, value: int):
        write_attr(self.root, f"{pool_rel(self.size_kb, self.node)}/nr_hugepages", str(value),
                   f"set {size_name(self.size_kb)} hugepages{self._where()}")

    def apply(self, ctx):
        total, free = read_pool(self.size_kb, self.root, self.node)
        self.state["nr_before"] = total
        ctx.journal_state()  # the old value must be on disk before it is changed
        want = total + max(0, self.count - free)
        if want != total:
            self._set(want)
        got, free = read_pool(self.size_kb, self.root, self.node)
        if free < self.count:
            raise StepError(f"asked for {self.count} free {size_name(self.size_kb)} hugepages{self._where()}, "
                            f"the kernel gave {free} (fragmented memory?)")

    def undo(self, ctx):
        before = self.state.get("nr_before")
        if before is not None and read_pool(self.size_kb, self.root, self.node)[0] != before:
            self._set(before)


def size_name(size_kb: int) -> str:
    return f"{size_kb // 1048576} GiB" if size_kb >= 1048576 else f"{size_kb // 1024} MiB"


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
        return f"mount hugetlbfs (pagesize {size_name(self.size_kb)}) on {self.path}"

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
