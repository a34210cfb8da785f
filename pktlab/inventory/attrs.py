"""Small readers of sysfs and procfs under a root: one attribute, a link, a PCI address,
a CPU list. "/" on a real host, a fake tree in tests.
"""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path


PCI_RE = re.compile(r"^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$")
PCI_CLASS_NETWORK = 0x02
IFF_UP = 0x1
HOUSEKEEPING_CPU = 0  # the kernel's timekeeping, most IRQs and pktlab itself land here

# Kernel drivers a DPDK port can sit on: vfio-pci first (needs the IOMMU, or its no-IOMMU mode).
USERSPACE_DRIVERS = ("vfio-pci", "uio_pci_generic", "igb_uio")


def read_attr(root: str, rel: str, default: str | None = None) -> str | None:
    """An attribute's text without the trailing newline; `default` if it cannot be read
    (missing, or an attribute the kernel refuses to show, such as a down link's speed)."""
    try:
        return Path(root, rel).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return default


def parse_int(text: str | None, base: int = 10) -> int | None:
    try:
        return int(text, base) if text is not None else None
    except ValueError:
        return None


def link_name(root: str, rel: str) -> str | None:
    """The last component of a sysfs symlink's target (a driver's or group's name)."""
    try:
        return os.path.basename(os.readlink(Path(root, rel)))
    except OSError:
        return None


def normalize_pci(addr: str) -> str | None:
    """"03:00.0" or "0000:03:00.0" -> "0000:03:00.0"; None if it is not a PCI address."""
    m = PCI_RE.match(addr.strip())
    if not m:
        return None
    dom, bus, dev, fn = m.groups()
    return f"{(dom or '0000').lower()}:{bus.lower()}:{dev.lower()}.{fn}"


def parse_cpulist(text: str, nr_cpus: int | None = None) -> tuple[int, ...]:
    """A kernel cpulist ("0-3,8-11", "2-15:2/4", "1-N", "all") as sorted CPU numbers.

    "N" (the last CPU) and "all" need nr_cpus. Raises ValueError on anything else.
    """
    text = text.strip()
    if not text:
        return ()
    if text == "all":
        if nr_cpus is None:
            raise ValueError("'all' needs the number of CPUs")
        return tuple(range(nr_cpus))
    cpus: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if part == "N" or part.startswith("N-") or part.endswith("-N") or "-N:" in part:
            if nr_cpus is None:
                raise ValueError(f"{part!r}: 'N' needs the number of CPUs")
            part = re.sub(r"\bN\b", str(nr_cpus - 1), part)
        m = re.fullmatch(r"(\d+)(?:-(\d+)(?::(\d+)/(\d+))?)?", part)
        if not m:
            raise ValueError(f"{part!r} is not a CPU list entry")
        lo, hi, used, group = m.groups()
        lo, hi = int(lo), int(hi) if hi is not None else int(lo)
        if hi < lo:
            raise ValueError(f"{part!r}: range runs backwards")
        if used is None:
            cpus.update(range(lo, hi + 1))
        else:
            used, group = int(used), int(group)
            if not 0 < used <= group:
                raise ValueError(f"{part!r}: bad group")
            cpus.update(c for c in range(lo, hi + 1) if (c - lo) % group < used)
    return tuple(sorted(cpus))


def format_cpulist(cpus) -> str:
    """(0, 1, 2, 3, 8) -> "0-3,8"; "" for none."""
    out, run = [], []
    for c in sorted(set(cpus)):
        if run and c == run[-1] + 1:
            run.append(c)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [c]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


def size_label(size_kb: int) -> str:
    return f"{size_kb // 1048576}G" if size_kb >= 1048576 else f"{size_kb // 1024}M"


def plain(v):
    if dataclasses.is_dataclass(v):
        return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, (tuple, list)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    return v
