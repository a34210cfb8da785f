"""The IOMMU and whether a kernel driver is loaded, loadable or missing.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .attrs import read_attr
from .cmdline import Cmdline


@dataclass(frozen=True)
class Iommu:
    enabled: bool
    units: tuple[str, ...]  # /sys/class/iommu entries (dmar0, ivhd0, ...)
    groups: int  # /sys/kernel/iommu_groups entries
    cmdline: tuple[str, ...]  # intel_iommu=, amd_iommu=, iommu= as booted
    passthrough: bool  # iommu=pt: host DMA untranslated, only vfio devices go through it
    vfio_noiommu: bool  # vfio's enable_unsafe_noiommu_mode is on
    detail: str


def read_iommu(root: str, cmdline: Cmdline) -> Iommu:
    units_dir, groups_dir = Path(root, "sys/class/iommu"), Path(root, "sys/kernel/iommu_groups")
    units = tuple(sorted(p.name for p in units_dir.iterdir())) if units_dir.is_dir() else ()
    groups = sum(1 for _ in groups_dir.iterdir()) if groups_dir.is_dir() else 0
    args = tuple(f"{k}={v}" if v is not None else k for k, v in cmdline.params
                 if k in ("intel_iommu", "amd_iommu", "iommu"))
    noiommu = (read_attr(root, "sys/module/vfio/parameters/enable_unsafe_noiommu_mode") or "N") in ("Y", "1")
    enabled = groups > 0 or bool(units)
    if enabled:
        detail = f"on: {len(units)} IOMMU unit(s), {groups} group(s)" + (", passthrough (iommu=pt)"
                                                                          if "iommu=pt" in args else "")
    elif any(a in ("intel_iommu=on", "amd_iommu=on") for a in args):
        detail = "off: asked for on the command line, but the kernel found no IOMMU (enable VT-d/AMD-Vi in firmware)"
    else:
        detail = "off: no IOMMU groups (boot with intel_iommu=on iommu=pt, or amd_iommu=on iommu=pt)"
    return Iommu(enabled, units, groups, args, "iommu=pt" in args, noiommu, detail)


@dataclass(frozen=True)
class DriverStatus:
    """A PCI driver pktlab may bind a port to: loaded (registered with the PCI bus),
    or a module that modprobe could load."""

    name: str
    loaded: bool
    module: str | None  # "built-in", its path under /lib/modules, or None
    available: bool  # loaded, or loadable by modprobe on this kernel
    detail: str


def modules_disabled(root: str, cmdline: Cmdline) -> str | None:
    """Why this kernel cannot load modules, or None if it can."""
    if not Path(root, "proc/modules").exists():
        return "this kernel has no module support (no /proc/modules)"
    if cmdline.get("nomodule") is not None:
        return "module loading is off (nomodule on the kernel command line)"
    if read_attr(root, "proc/sys/kernel/modules_disabled") == "1":
        return "module loading is off (kernel.modules_disabled=1)"
    return None


def driver_status(name: str, root: str, release: str, cmdline: Cmdline) -> DriverStatus:
    loaded = Path(root, "sys/bus/pci/drivers", name).is_dir()
    stem = name.replace("-", "_")
    mods = f"lib/modules/{release}"
    module = None
    for line in (read_attr(root, f"{mods}/modules.builtin") or "").splitlines():
        if os.path.basename(line).split(".ko")[0].replace("-", "_") == stem:
            module = "built-in"
    for line in (read_attr(root, f"{mods}/modules.dep") or "").splitlines():
        path = line.split(":", 1)[0]
        if module is None and os.path.basename(path).split(".ko")[0].replace("-", "_") == stem:
            module = f"/{mods}/{path}"
    blocked = modules_disabled(root, cmdline)
    if loaded:
        return DriverStatus(name, True, module, True, "loaded")
    if module is None:
        detail = (f"not loaded, and /{mods} has no {name} module" if Path(root, mods).is_dir()
                  else f"not loaded, and there is no /{mods}")
        return DriverStatus(name, False, None, False, detail + (f"; {blocked}" if blocked else ""))
    if blocked:
        return DriverStatus(name, False, module, False, f"not loaded: {module} exists but {blocked}")
    return DriverStatus(name, False, module, True, f"not loaded; `modprobe {name}` loads {module}")
