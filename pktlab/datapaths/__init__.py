"""Data paths: each turns a scenario entry into a plan of host steps, a generator
configuration and a reader of the device under test's own counters."""
from __future__ import annotations

from .base import DataPath
from .kernel import LinuxBridgePath, OvsAfxdpPath, OvsKernelDatapathPath, VethPath
from .ovs_dpdk_vhost import OvsDpdkVhostPath
from .pvp import PvpPath

KINDS: dict[str, type[DataPath]] = {
    "ovs-dpdk-vhost": OvsDpdkVhostPath,
    "ovs-dpdk-pvp": PvpPath,
    "veth": VethPath,
    "linux-bridge": LinuxBridgePath,
    "ovs-afxdp": OvsAfxdpPath,
    "ovs-kernel": OvsKernelDatapathPath,
}


def build(scenario, entry, run_dir, run_id) -> DataPath:
    return KINDS[entry.kind](scenario, entry, run_dir, run_id)
