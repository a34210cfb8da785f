"""Data paths: each turns a scenario entry into a plan of host steps, a generator
configuration and a reader of the device under test's own counters."""
from __future__ import annotations

from .base import DataPath
from .external import ExternalPath
from .kernel import LinuxBridgePath, OvsAfxdpPath, OvsKernelDatapathPath, VethPath
from .ovs_dpdk_p2p import OvsDpdkP2pPath
from .ovs_dpdk_vhost import OvsDpdkVhostPath
from .ovs_dpdk_vlan import OvsDpdkVlanPath
from .ovs_dpdk_vxlan import OvsDpdkVxlanPath
from .ovs_kernel_p2p import OvsKernelP2pPath
from .ovs_kernel_vlan import OvsKernelVlanPath
from .ovs_kernel_vxlan import OvsKernelVxlanPath
from .pvp import PvpPath
from .pvp_phy import OvsDpdkPvpPhyPath
from .sriov_vf import SriovVfPath

# The one registry of data path kinds: each class carries its kind name and Options.
KINDS: dict[str, type[DataPath]] = {cls.kind: cls for cls in (
    OvsDpdkVhostPath, PvpPath, VethPath, LinuxBridgePath, OvsAfxdpPath, OvsKernelDatapathPath,
    OvsKernelP2pPath, OvsDpdkP2pPath, OvsDpdkPvpPhyPath, SriovVfPath, OvsDpdkVlanPath,
    OvsDpdkVxlanPath, OvsKernelVlanPath, OvsKernelVxlanPath, ExternalPath)}


def build(scenario, entry, run_dir, run_id, root="/") -> DataPath:
    """root: where host facts are read (lab paths; "/" unless planning from a copy of a host's sysfs)."""
    return KINDS[entry.kind](scenario, entry, run_dir, run_id, root)
