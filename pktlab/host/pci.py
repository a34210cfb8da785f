"""Binding a PCI function to another driver (vfio-pci for DPDK) as a plan step.

The binding goes through driver_override, so the device can only land on the
driver asked for, whichever other drivers could claim it:

    echo vfio-pci     > /sys/bus/pci/devices/<pci>/driver_override
    echo <pci>        > /sys/bus/pci/drivers/<old>/unbind     (if bound)
    echo <pci>        > /sys/bus/pci/drivers_probe

and undo binds it back to the driver it had, then restores driver_override:

    echo <old>        > /sys/bus/pci/devices/<pci>/driver_override
    echo <pci>        > /sys/bus/pci/drivers/vfio-pci/unbind
    echo <pci>        > /sys/bus/pci/drivers_probe            (if it had a driver)
    echo <before>     > /sys/bus/pci/devices/<pci>/driver_override   ("\\n" clears it)

Before writing anything it refuses the management NIC (the one carrying the
default route, or beneath it), a function whose interfaces are in use (up,
addressed, routed, enslaved) unless allow_in_use, and vfio-pci with the
IOMMU off (unless vfio's no-IOMMU mode was turned on by hand). `bind_refusal`
gives the same verdict read-only, for a precheck before any step runs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .. import wait
from ..errors import StepError
from ..inventory import sysfs as _sysfs
from ..plan import Step
from .sysfs_attr import write as write_attr

WAIT_S = 5.0  # how long the kernel gets to show a bind
POLL_S = 0.01


def _dev(pci: str) -> str:
    return f"sys/bus/pci/devices/{pci}"


def current_driver(pci: str, root: str) -> str | None:
    return _sysfs.link_name(root, f"{_dev(pci)}/driver")


def current_override(pci: str, root: str) -> str | None:
    v = _sysfs.read_attr(root, f"{_dev(pci)}/driver_override")
    return None if v in (None, "", "(null)") else v


def bind_refusal(pci: str, driver: str, root: str = "/", allow_in_use: bool = False,
                 loading: bool = False) -> str | None:
    """Why BindDriver(pci, driver) must not run on this host, or None (reads only).
    loading: an earlier step of the plan loads `driver`, so it need not be loaded now."""
    addr = _sysfs.normalize_pci(pci)
    if addr is None:
        return f"{pci!r} is not a PCI address (expected dddd:bb:dd.f)"
    nic = _sysfs.read_nic(addr, root)
    if nic is None:
        return f"no PCI device {addr} (/{_dev(addr)} is missing)"
    if nic.driver == driver:
        return None  # nothing to change
    if nic.management:
        return (f"{addr} is the management NIC: it carries the default route "
                f"({', '.join(n.name for n in nic.netdevs) or 'through a device beneath it'}); "
                "pktlab never takes it from the kernel")
    if not allow_in_use:
        used = nic.in_use()
        if used:
            return (f"{addr} is in use: {'; '.join(used)} (bring it down and remove its addresses, "
                    "or pass allow_in_use=True)")
    if not loading and not os.path.isdir(os.path.join(root, "sys/bus/pci/drivers", driver)):
        return f"driver {driver} is not loaded (no /sys/bus/pci/drivers/{driver}); load it first (modprobe {driver})"
    if driver == "vfio-pci":
        iommu = _sysfs.read_iommu(root, _sysfs.Cmdline.parse(_sysfs.read_attr(root, "proc/cmdline", "") or ""))
        if not iommu.enabled and not iommu.vfio_noiommu:
            return f"vfio-pci needs the IOMMU, and it is {iommu.detail}"
    if nic.sriov_numvfs and driver != nic.driver:
        return (f"{addr} has {nic.sriov_numvfs} VFs; unbinding the PF would take them away "
                "(set sriov_numvfs to 0 first)")
    return None


def _wait_driver(pci: str, root: str, want: str | None, what: str) -> None:
    wait.until(lambda: current_driver(pci, root) == want, WAIT_S, POLL_S, lambda _: StepError(
        f"{what}: {pci} is bound to {current_driver(pci, root) or 'no driver'} after {WAIT_S:.0f} s, "
        f"not {want or 'none'} (see dmesg)"))


def _restore_ifname(pci: str, root: str, before: list[str], what: str) -> None:
    """A rebound NIC gets the next free ethN (without udev's stable names the order of
    rebinding decides): give it back the name it had, if that name is free."""
    if Path(root).resolve() != Path("/") or len(before) != 1:
        return  # a copy of a host's tree has no netdevs to rename
    net = f"/sys/bus/pci/devices/{pci}/net"
    names = wait.until(lambda: sorted(os.listdir(net)) if os.path.isdir(net) else [], WAIT_S, POLL_S)
    if len(names) != 1 or names[0] == before[0] or os.path.exists(f"/sys/class/net/{before[0]}"):
        return
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        try:
            idx = ipr.link_lookup(ifname=names[0])[0]
            ipr.link("set", index=idx, state="down")
            ipr.link("set", index=idx, ifname=before[0])
        except Exception as e:  # noqa: BLE001 - pyroute2 raises NetlinkError and others
            raise StepError(f"{what}: renaming {names[0]} back to {before[0]}: {e}") from None


@dataclass
class BindDriver(Step):
    """Bind PCI function `pci` to `driver`; undo puts back its driver and driver_override.

    state: pci (normalized), driver_before, override_before, ifnames_before, done.
    """

    kind = "pci-bind"
    pci: str
    driver: str = "vfio-pci"
    root: str = "/"
    allow_in_use: bool = False

    def describe(self):
        return f"bind PCI {self.pci} to {self.driver} (driver_override, unbind, drivers_probe)"

    def describe_undo(self):
        if "driver_before" not in self.state:
            return f"rebind PCI {self.pci} to the driver it had and restore its driver_override"
        before = self.state["driver_before"] or "no driver"
        names = ", ".join(self.state.get("ifnames_before") or ())
        return f"rebind PCI {self.pci} to {before}" + (f" ({names})" if names else "") + \
            " and restore its driver_override"

    def apply(self, ctx):
        why = bind_refusal(self.pci, self.driver, self.root, self.allow_in_use)
        if why:
            raise StepError(f"bind {self.pci} to {self.driver}: {why}")
        pci = _sysfs.normalize_pci(self.pci)
        nic = _sysfs.read_nic(pci, self.root)
        self.state.update(pci=pci, driver_before=nic.driver, override_before=current_override(pci, self.root),
                          ifnames_before=[n.name for n in nic.netdevs])
        ctx.journal_state()  # what to go back to is on disk before the first write
        if nic.driver == self.driver:
            return
        what = f"bind {pci} to {self.driver}"
        write_attr(self.root, f"{_dev(pci)}/driver_override", self.driver, what)
        if nic.driver:
            write_attr(self.root, f"sys/bus/pci/drivers/{nic.driver}/unbind", pci, what)
            _wait_driver(pci, self.root, None, what)
        write_attr(self.root, "sys/bus/pci/drivers_probe", pci, what)
        _wait_driver(pci, self.root, self.driver, what)

    def undo(self, ctx):
        if "driver_before" not in self.state:
            return  # refused or cut off before it learnt anything: nothing was written
        pci, root = self.state["pci"], self.root
        if not os.path.isdir(os.path.join(root, _dev(pci))):
            return  # the device went away (a VF whose PF dropped it): nothing to restore
        before, override = self.state["driver_before"], self.state.get("override_before")
        what = f"rebind {pci} to {before or 'no driver'}"
        now = current_driver(pci, root)
        if now != before:
            write_attr(root, f"{_dev(pci)}/driver_override", before or "\n", what)
            if now:
                write_attr(root, f"sys/bus/pci/drivers/{now}/unbind", pci, what)
                _wait_driver(pci, root, None, what)
            if before:
                write_attr(root, "sys/bus/pci/drivers_probe", pci, what)
                _wait_driver(pci, root, before, what)
                _restore_ifname(pci, root, self.state.get("ifnames_before") or [], what)
        if current_override(pci, root) != override:
            write_attr(root, f"{_dev(pci)}/driver_override", override or "\n", what)
