"""Which DPDK poll-mode driver claims a PCI device, and which kernel module it wants.

Each DPDK driver library carries its PCI id table and kernel-module dependency
as a JSON string, "PMD_INFO_STRING={...}", in its .rodata section (put there by
RTE_PMD_REGISTER_PCI_TABLE / RTE_PMD_REGISTER_KMOD_DEP at build time). This
module reads it with pyelftools: the same data `dpdk-pmdinfo.py` prints, without
running DPDK and without a device.

    index = PmdIndex.load()                  # the installed driver libraries
    [pmd, *_] = index.lookup("8086", "10fb")  # net_ixgbe
    pmd.binding                               # "vfio-pci": bind the port to it
    pmd.kmod_options()                        # (("igb_uio",), ("uio_pci_generic",), ("vfio-pci",))

A bifurcated driver (mlx5, mlx4) keeps the port on its kernel driver: its
kmod string names the kernel modules it needs loaded, not one to bind to.
"""
from __future__ import annotations

import fnmatch
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

log = logging.getLogger(__name__)

WILDCARD = 0xFFFF  # PCI_ANY_ID in a DPDK id table
_INFO = re.compile(rb"PMD_INFO_STRING=([\x20-\x7e]*)\x00")
# Where distributions install DPDK's driver libraries ("plugins"), relative to root.
PMD_DIR_GLOBS = ("usr/lib/*/dpdk/pmds-*", "usr/lib64/dpdk/pmds-*", "usr/lib/dpdk/pmds-*",
                 "usr/local/lib/*/dpdk/pmds-*", "usr/local/lib64/dpdk/pmds-*")
# Kernel drivers that hand a port to userspace, as kmod strings spell them -> the PCI driver's name.
USERSPACE_KMODS = {"vfio-pci": "vfio-pci", "vfio_pci": "vfio-pci", "vfio": "vfio-pci",
                   "uio_pci_generic": "uio_pci_generic", "igb_uio": "igb_uio", "uio_hv_generic": "uio_hv_generic"}
_PREFERENCE = ("vfio-pci", "uio_pci_generic", "igb_uio", "uio_hv_generic")


@dataclass(frozen=True)
class PciId:
    """One id-table entry; None is a wildcard."""

    vendor: str | None
    device: str | None
    subsystem_vendor: str | None = None
    subsystem_device: str | None = None

    @classmethod
    def from_table(cls, ids) -> "PciId":
        vals = [None if v == WILDCARD else f"{v:04x}" for v in list(ids) + [WILDCARD] * (4 - len(ids))]
        return cls(*vals[:4])

    def matches(self, vendor, device, subsystem_vendor=None, subsystem_device=None) -> bool:
        for want, have in ((self.vendor, vendor), (self.device, device),
                           (self.subsystem_vendor, subsystem_vendor), (self.subsystem_device, subsystem_device)):
            if want is not None and (have is None or want != have.lower()):
                return False
        return True

    @property
    def specificity(self) -> int:
        return sum(v is not None for v in (self.vendor, self.device, self.subsystem_vendor, self.subsystem_device))


@dataclass(frozen=True)
class Pmd:
    name: str  # net_ixgbe, net_mlx5, ...
    library: str  # the file it was read from
    kmod: str | None  # as embedded: "* igb_uio | uio_pci_generic | vfio-pci"
    params: str | None  # devargs it takes
    pci_ids: tuple[PciId, ...]

    def kmod_options(self, vendor_device: str | None = None) -> tuple[tuple[str, ...], ...]:
        """The kmod string as alternatives ("|"), each a set of modules needed together ("&").

        Entries are "<device pattern> <expression>" separated by ";"; "*" (or no
        pattern) applies to every device, otherwise it is matched to "vvvv:dddd".
        """
        options = []
        for entry in (self.kmod or "").split(";"):
            entry = entry.strip()
            if not entry:
                continue
            pattern, _, expr = entry.partition(" ")
            if "|" in pattern or "&" in pattern or not expr:  # no pattern: the whole entry is the expression
                pattern, expr = "*", entry
            if pattern != "*" and (vendor_device is None or not fnmatch.fnmatch(vendor_device, pattern)):
                continue
            for alt in expr.split("|"):
                mods = tuple(m.strip() for m in alt.split("&") if m.strip())
                if mods:
                    options.append(mods)
        return tuple(options)

    @property
    def bifurcated(self) -> bool:
        """True when the port stays on its kernel driver (no userspace driver is offered)."""
        opts = self.kmod_options()
        return bool(opts) and not any(len(o) == 1 and o[0] in USERSPACE_KMODS for o in opts)

    @property
    def binding(self) -> str | None:
        """The PCI driver to bind the port to for this PMD (vfio-pci when offered);
        None for a bifurcated PMD or one that names no module."""
        offered = {USERSPACE_KMODS[o[0]] for o in self.kmod_options() if len(o) == 1 and o[0] in USERSPACE_KMODS}
        return next((d for d in _PREFERENCE if d in offered), None)

    @property
    def needs_modules(self) -> tuple[str, ...]:
        """Kernel modules a bifurcated PMD needs loaded (mlx5: ib_uverbs, mlx5_core, mlx5_ib)."""
        return tuple(m for o in self.kmod_options() for m in o) if self.bifurcated else ()

    def as_dict(self) -> dict:
        return {"name": self.name, "library": self.library, "kmod": self.kmod, "binding": self.binding,
                "bifurcated": self.bifurcated, "needs_modules": list(self.needs_modules)}


def read_pmdinfo(path) -> list[Pmd]:
    """The PMDs one ELF file (driver library or statically linked application) declares."""
    pmds = []
    with open(path, "rb") as fh:
        try:
            sec = ELFFile(fh).get_section_by_name(".rodata")
        except ELFError as e:
            log.debug("%s: not ELF: %s", path, e)
            return []
        if sec is None:
            return []
        for m in _INFO.finditer(sec.data()):
            try:
                info = json.loads(m.group(1))
            except ValueError as e:
                log.warning("%s: unreadable PMD_INFO_STRING: %s", path, e)
                continue
            ids = tuple(PciId.from_table(t) for t in info.get("pci_ids", []))
            pmds.append(Pmd(info.get("name", "?"), str(path), info.get("kmod"), info.get("params"),
                            tuple(i for i in ids if i.specificity)))
    return pmds


def default_pmd_dirs(root: str = "/") -> list[Path]:
    dirs = []
    for pattern in PMD_DIR_GLOBS:
        dirs += sorted(p for p in Path(root).glob(pattern) if p.is_dir())
    return dirs


class PmdIndex:
    """Every PMD found in a set of libraries, looked up by PCI id."""

    def __init__(self, pmds, sources=()):
        self.pmds: list[Pmd] = list(pmds)
        self.sources: list[str] = [str(s) for s in sources]

    @classmethod
    def load(cls, paths=None, root: str = "/") -> "PmdIndex":
        """Read the libraries in `paths` (files or directories; default: the installed
        DPDK driver directories under root). Each real file is read once."""
        if paths is None:
            paths = default_pmd_dirs(root)
        files: dict[str, None] = {}
        for p in map(Path, paths):
            if p.is_dir():
                for f in sorted(p.glob("librte_*.so*")):
                    files.setdefault(os.path.realpath(f))
            elif p.is_file():
                files.setdefault(os.path.realpath(p))
        pmds = []
        for f in files:
            try:
                pmds += read_pmdinfo(f)
            except OSError as e:
                log.warning("%s: %s", f, e)
        return cls(pmds, [str(p) for p in paths])

    def lookup(self, vendor: str, device: str, subsystem_vendor: str | None = None,
               subsystem_device: str | None = None) -> list[Pmd]:
        """PMDs claiming the device: most specific id match first, then net_* before other classes."""
        vendor, device = vendor.lower(), device.lower()
        found = []
        for pmd in self.pmds:
            hits = [i for i in pmd.pci_ids if i.matches(vendor, device, subsystem_vendor, subsystem_device)]
            if hits:
                found.append((-max(i.specificity for i in hits), not pmd.name.startswith("net_"), pmd.name, pmd))
        return [f[-1] for f in sorted(found, key=lambda f: f[:3])]

    def for_nic(self, nic) -> list[Pmd]:
        """lookup() for an inventory Nic."""
        return self.lookup(nic.vendor, nic.device, nic.subsystem_vendor, nic.subsystem_device)

    def __len__(self):
        return len(self.pmds)
